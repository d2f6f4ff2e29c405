"""The application-backend example (examples/app_backend) against a real Tessera
server: the backend authenticates its own users, vends AssumeRole credentials
scoped by a session policy to the user's S3 prefix; the credentials authenticate
as ``assumed-role/<role>/<user>``, and SimulateCustomPolicy over the effective
policies (role policy ∩ session policy) allows s3:PutObject on the user's prefix
and denies it on another user's."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from examples.app_backend.app import BackendConfig, create_app, hash_password, session_policy

from tests.e2e.server import Creds, TesseraServer, free_port

pytestmark = pytest.mark.e2e

BUCKET = "photos"
ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": f"arn:aws:s3:::{BUCKET}/*"}
        ],
    }
)


@pytest.fixture(scope="module")
def backend(server: TesseraServer) -> Iterator[tuple[httpx.Client, str, str]]:
    assert server.root is not None
    acct = server.root.account_id
    iam = server.client("iam")
    iam.create_user(UserName="app-backend")
    key = iam.create_access_key(UserName="app-backend")["AccessKey"]
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{acct}:user/app-backend"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    role_arn = iam.create_role(RoleName="app-users", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.put_role_policy(RoleName="app-users", PolicyName="bucket", PolicyDocument=ROLE_POLICY)
    app = create_app(
        BackendConfig(
            endpoint_url=server.endpoint,
            role_arn=role_arn,
            bucket=BUCKET,
            users={"alice": hash_password("wonderland"), "bob": hash_password("builder")},
            access_key_id=key["AccessKeyId"],
            secret_access_key=key["SecretAccessKey"],
        )
    )
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield client, acct, role_arn
    uv.should_exit = True
    thread.join(timeout=10)


def test_login_required(backend: tuple[httpx.Client, str, str]) -> None:
    client, _acct, _arn = backend
    assert (
        client.post("/credentials", json={"username": "alice", "password": "x"}).status_code == 401
    )
    assert client.post("/credentials", json={"username": "eve", "password": "x"}).status_code == 401
    assert client.post("/credentials", content=b"nope").status_code == 400


def test_vended_credentials_authenticate(
    server: TesseraServer, backend: tuple[httpx.Client, str, str]
) -> None:
    client, acct, _arn = backend
    resp = client.post("/credentials", json={"username": "alice", "password": "wonderland"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    creds = Creds(acct, body["AccessKeyId"], body["SecretAccessKey"], body["SessionToken"])
    ident = server.client("sts", creds).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:sts::{acct}:assumed-role/app-users/alice"
    assert ident["UserId"].endswith(":alice")
    assert body["Prefix"] == f"s3://{BUCKET}/alice/"


def test_effective_policy_limits_each_user_to_their_prefix(
    server: TesseraServer, backend: tuple[httpx.Client, str, str]
) -> None:
    iam = server.client("iam")
    results = iam.simulate_custom_policy(
        PolicyInputList=[ROLE_POLICY],
        PermissionsBoundaryPolicyInputList=[session_policy(BUCKET, "alice")],
        ActionNames=["s3:PutObject"],
        ResourceArns=[
            f"arn:aws:s3:::{BUCKET}/alice/cat.jpg",
            f"arn:aws:s3:::{BUCKET}/bob/dog.jpg",
        ],
    )["EvaluationResults"]
    decisions = {r["EvalResourceName"]: r["EvalDecision"] for r in results}
    assert decisions == {
        f"arn:aws:s3:::{BUCKET}/alice/cat.jpg": "allowed",
        f"arn:aws:s3:::{BUCKET}/bob/dog.jpg": "implicitDeny",
    }
