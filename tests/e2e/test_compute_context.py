"""Compute context (#16): a session delivered to an instance carries the instance's
ARN, network label, private address and delivery channel sealed in its token. The
real server exposes them as ``ec2:SourceInstanceArn``, ``aws:Ec2InstanceSourceVpc``,
``aws:Ec2InstanceSourcePrivateIPv4`` and ``ec2:RoleDelivery`` to policies (present
only on such sessions), and GetWebIdentityToken copies them into the
``https://sts.amazonaws.com/`` claims. ``--network-cidr`` makes requests from a
network carry ``aws:SourceVpc`` and ``aws:VpcSourceIp``, so AWS's "credentials
usable only from their own network" policy works verbatim.

The sessions are minted in the test process with the server's own key ring (the
instance enrolment that delivers them is built on this), then used over the wire."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tessera.app.bootstrap import build_runtime
from tessera.auth.principal import ComputeContext, Session, SessionKind
from tessera.config import ServerConfig
from tests.e2e.server import Creds, TesseraServer

INSTANCE = "i-0123456789abcdef0"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TesseraServer]:
    base: Path = tmp_path_factory.mktemp("compute")
    server = TesseraServer(
        data_dir=base / "data", extra_args=("--network-cidr", "lab-01=127.0.0.0/8")
    )
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _policy(account: str) -> str:
    instance_arn = f"arn:aws:ec2:us-east-1:{account}:instance/{INSTANCE}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:GetWebIdentityToken",
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"ec2:SourceInstanceArn": instance_arn},
                        "NumericGreaterThanEquals": {"ec2:RoleDelivery": "2.0"},
                    },
                },
                {
                    "Effect": "Allow",
                    "Action": "iam:ListRoles",
                    "Resource": "*",
                    "Condition": {"IpAddress": {"aws:VpcSourceIp": "127.0.0.0/8"}},
                },
                {
                    # AWS's pattern: instance credentials usable only from their network
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {
                        "StringNotEquals": {"aws:Ec2InstanceSourceVpc": "${aws:SourceVpc}"},
                        "Null": {"ec2:SourceInstanceArn": "false"},
                    },
                },
            ],
        }
    )


@pytest.fixture(scope="module")
def role(srv: TesseraServer) -> dict[str, Any]:
    assert srv.root is not None
    iam = srv.client("iam")
    iam.enable_outbound_web_identity_federation()
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    created: dict[str, Any] = iam.create_role(
        RoleName="instance-role", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]
    iam.put_role_policy(
        RoleName="instance-role", PolicyName="p", PolicyDocument=_policy(srv.root.account_id)
    )
    return created


def _mint(srv: TesseraServer, role: dict[str, Any], compute: ComputeContext | None) -> Creds:
    assert srv.root is not None
    runtime = build_runtime(ServerConfig(data_dir=srv.data_dir))
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        session = Session(
            kind=SessionKind.ASSUMED_ROLE,
            account_id=srv.root.account_id,
            issued_at=now,
            expires_at=now + timedelta(hours=1),
            source_arn=role["Arn"],
            source_id=role["RoleId"],
            source_name=role["RoleName"],
            session_name=INSTANCE,
            compute=compute,
        )
        issued = runtime.sessions.issue(session, now)
    finally:
        runtime.store.close()
    return Creds(
        srv.root.account_id, issued.access_key_id, issued.secret_access_key, issued.session_token
    )


def _context(account: str, vpc: str = "lab-01") -> ComputeContext:
    return ComputeContext(
        f"arn:aws:ec2:us-east-1:{account}:instance/{INSTANCE}", vpc, "10.0.3.7", "2.0"
    )


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def test_instance_session_claims_and_condition_keys(
    srv: TesseraServer, role: dict[str, Any]
) -> None:
    assert srv.root is not None
    account = srv.root.account_id
    creds = _mint(srv, role, _context(account))
    ident = srv.client("sts", creds).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:sts::{account}:assumed-role/instance-role/{INSTANCE}"
    token = srv.client("sts", creds).get_web_identity_token(
        Audience=["https://rp.example.com"], SigningAlgorithm="RS256"
    )["WebIdentityToken"]
    aws = _claims(token)["https://sts.amazonaws.com/"]
    assert aws["ec2_source_instance_arn"] == f"arn:aws:ec2:us-east-1:{account}:instance/{INSTANCE}"
    assert aws["ec2_instance_source_vpc"] == "lab-01"
    assert aws["ec2_instance_source_private_ipv4"] == "10.0.3.7"
    assert aws["ec2_role_delivery"] == "2.0"
    # aws:VpcSourceIp is set: the request came from the mapped network
    srv.client("iam", creds).list_roles()


def test_credentials_used_outside_their_network_are_denied(
    srv: TesseraServer, role: dict[str, Any]
) -> None:
    assert srv.root is not None
    creds = _mint(srv, role, _context(srv.root.account_id, vpc="other-net"))
    with pytest.raises(ClientError) as exc:
        srv.client("sts", creds).get_web_identity_token(
            Audience=["https://rp.example.com"], SigningAlgorithm="RS256"
        )
    assert exc.value.response["Error"]["Code"] == "AccessDenied"


def test_sessions_without_compute_context_have_no_ec2_keys(
    srv: TesseraServer, role: dict[str, Any]
) -> None:
    creds = _mint(srv, role, None)
    with pytest.raises(ClientError) as exc:  # the Allow needs ec2:SourceInstanceArn
        srv.client("sts", creds).get_web_identity_token(
            Audience=["https://rp.example.com"], SigningAlgorithm="RS256"
        )
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    # and no request can supply them: they come from the sealed session only
    srv.client("iam", creds).list_roles()  # aws:VpcSourceIp: still from the network map


def test_bad_network_cidr_is_refused(tmp_path: Path) -> None:
    server = TesseraServer(
        data_dir=tmp_path / "data", extra_args=("--network-cidr", "lab=300.0.0.0/8")
    )
    server.init()
    import subprocess

    from tests.e2e.server import tessera_cmd

    out = subprocess.run(
        tessera_cmd(
            "serve",
            "--data-dir",
            str(server.data_dir),
            "--port",
            str(server.port),
            "--network-cidr",
            "lab=300.0.0.0/8",
        ),
        capture_output=True,
        text=True,
        timeout=30,
        env=server._env(),
    )
    assert out.returncode == 2
    assert "--network-cidr" in out.stderr
