"""Issue #13 point 2: wildcards must match in linear time.

``*`` and ``?`` used to compile to backtracking regular expressions, so a session
policy action such as ``iam:`` + ``*?`` × 10 + ``X`` (25 characters) took seconds —
minutes against a long enough subject — to *not* match, during which the worker
answered nothing, ``/health`` included.  Any principal allowed to assume a role
could send one as the ``Policy`` parameter of AssumeRole; it is then evaluated on
every call the session makes.

Each case below assumes a role with an adversarial session policy (action,
resource, NotResource, ``StringLike`` and ``ArnLike`` patterns of that shape,
against long subjects), makes a call that forces the evaluation, and requires an
answer — AccessDenied or success, whichever the policy means — within
``BOUND`` seconds while ``GET /health`` keeps answering.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.server import Creds, TesseraServer

pytestmark = pytest.mark.e2e

BOUND = 2.0  # seconds: generous (the fixed server answers in milliseconds)
CLIENT_TIMEOUT = 15.0  # the old code needs far longer than this: the call times out

EVIL = "*?" * 10 + "X"  # never matches a subject that does not end in "X"
#: long subjects make the backtracking explode (C(len, 10) paths)
ROLE_PATH = "/" + "p" * 60 + "/"
ROLE_NAME = "glob-" + "r" * 59  # 64 characters, the maximum
SESSION_NAME = "s" * 64
SLOW_ACTION = "GetOutboundWebIdentityFederationInfo"  # "iam:" + 36 characters


@dataclass(frozen=True)
class Case:
    name: str
    statements: tuple[dict[str, Any], ...]
    call: str  # "get_role" or "outbound_info"
    allowed: bool


def _stmt(**kw: Any) -> dict[str, Any]:
    return {"Effect": "Allow", **kw}


CASES = [
    Case("action", (_stmt(Action="iam:" + EVIL, Resource="*"),), "outbound_info", False),
    Case(
        "action-then-allowed",
        (_stmt(Action=["iam:" + EVIL, "iam:" + EVIL.lower(), "iam:Get*"], Resource="*"),),
        "outbound_info",
        True,
    ),
    Case(
        "resource",
        (
            _stmt(
                Action="iam:GetRole",
                Resource=[
                    "arn:aws:iam::*:role/" + EVIL,
                    # a long pattern too: a hundred wildcards, still no match
                    "arn:aws:iam::*:" + "*?" * 100 + "X",
                ],
            ),
        ),
        "get_role",
        False,
    ),
    Case(
        "resource-then-allowed",
        (
            _stmt(
                Action="iam:GetRole",
                Resource=[
                    "arn:aws:iam::*:role/" + EVIL,
                    "arn:aws:iam::*:role/" + "*?" * 10 + "*" + ROLE_NAME[-3:],
                ],
            ),
        ),
        "get_role",
        True,
    ),
    Case(
        "not-resource",
        (
            _stmt(Action="iam:GetRole", Resource="*"),
            {"Effect": "Deny", "Action": "iam:*", "NotResource": "arn:aws:iam::*:role/" + EVIL},
        ),
        "get_role",
        False,
    ),
    Case(
        "string-like",
        (
            _stmt(
                Action="iam:GetRole",
                Resource="*",
                Condition={"StringLike": {"aws:userid": EVIL}},
            ),
        ),
        "get_role",
        False,
    ),
    Case(
        "string-like-variable",
        (
            _stmt(
                Action="iam:GetRole",
                Resource="*",
                # the variable's value is matched literally, the wildcards around it
                Condition={"StringLike": {"aws:PrincipalArn": "*?*?*?*?*?${aws:userid}*?*?X"}},
            ),
        ),
        "get_role",
        False,
    ),
    Case(
        "arn-like",
        (
            _stmt(
                Action="iam:GetRole",
                Resource="*",
                Condition={"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/" + EVIL}},
            ),
        ),
        "get_role",
        False,
    ),
    Case(
        "arn-like-then-allowed",
        (
            _stmt(
                Action="iam:GetRole",
                Resource="*",
                Condition={
                    "ArnLike": {
                        "aws:PrincipalArn": [
                            "arn:aws:iam::*:role/" + EVIL,
                            "arn:aws:iam::*:role/" + "*?" * 10 + "*" + ROLE_NAME[-3:],
                        ]
                    },
                    "StringLike": {"aws:userid": [EVIL, "*?" * 10 + "*:" + SESSION_NAME]},
                },
            ),
        ),
        "get_role",
        True,
    ),
]


@pytest.fixture(scope="module")
def role_setup(server: TesseraServer) -> tuple[Creds, str]:
    """A user allowed to assume a role that itself may do anything (so the session
    policy alone decides)."""
    assert server.root is not None
    acct = server.root.account_id
    iam = server.client("iam")
    iam.create_user(UserName="glob-attacker")
    key = iam.create_access_key(UserName="glob-attacker")["AccessKey"]
    user = Creds(acct, key["AccessKeyId"], key["SecretAccessKey"])
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{acct}:user/glob-attacker"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role_arn = iam.create_role(
        RoleName=ROLE_NAME, Path=ROLE_PATH, AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=ROLE_NAME,
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    iam.put_user_policy(
        UserName="glob-attacker",
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}
                ],
            }
        ),
    )
    return user, role_arn


def _client(server: TesseraServer, service: str, creds: Creds) -> Any:
    return boto3.client(
        service,
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
        config=Config(
            retries={"max_attempts": 1},
            connect_timeout=5,
            read_timeout=CLIENT_TIMEOUT,
        ),
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_adversarial_wildcards_answer_quickly(
    server: TesseraServer, role_setup: tuple[Creds, str], case: Case
) -> None:
    user, role_arn = role_setup
    policy = json.dumps({"Version": "2012-10-17", "Statement": list(case.statements)})
    out = _client(server, "sts", user).assume_role(
        RoleArn=role_arn, RoleSessionName=SESSION_NAME, Policy=policy
    )
    c = out["Credentials"]
    session = Creds(user.account_id, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    iam = _client(server, "iam", session)

    outcome: dict[str, Any] = {}

    def call() -> None:
        start = time.monotonic()
        try:
            if case.call == "get_role":
                iam.get_role(RoleName=ROLE_NAME)
            else:
                iam.get_outbound_web_identity_federation_info()
            outcome["result"] = "allowed"
        except ClientError as exc:
            outcome["result"] = exc.response["Error"]["Code"]
        except Exception as exc:  # a read timeout on a stalled server
            outcome["result"] = "no answer"
            outcome["error"] = repr(exc)
        outcome["elapsed"] = time.monotonic() - start

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    health: list[float] = []
    health_failures: list[str] = []
    while True:
        start = time.monotonic()
        try:
            status = httpx.get(server.endpoint + "/health", timeout=BOUND).status_code
            if status != 200:
                health_failures.append(f"status {status}")
        except httpx.HTTPError as exc:
            health_failures.append(repr(exc))
        health.append(time.monotonic() - start)
        worker.join(timeout=0.05)
        if not worker.is_alive():
            break
    assert not health_failures, f"/health stalled while the policy was evaluated: {health_failures}"
    assert max(health) < BOUND, f"/health took {max(health):.2f} s"
    elapsed = outcome["elapsed"]
    assert elapsed < BOUND, f"{case.name}: answered {outcome['result']} after {elapsed:.2f} s"
    assert "error" not in outcome, outcome
    if case.allowed:
        # outbound federation may be off (FeatureDisabled): any answer from the
        # operation itself means the policy allowed it
        assert outcome["result"] != "AccessDenied", outcome
    else:
        assert outcome["result"] == "AccessDenied", outcome
