"""Instances (#16) end to end, with no AWS keys anywhere on the "machine": a role
trusting ``ec2.amazonaws.com`` in an instance profile (boto3), ``tessera instance
create``, ``tessera agent join`` and ``tessera agent serve --state-dir``, then
boto3's own IMDS provider and ``aws sts get-caller-identity`` (only
``AWS_EC2_METADATA_SERVICE_ENDPOINT`` set) reach ``assumed-role/<role>/i-…``;
GetWebIdentityToken carries the four ``ec2_*`` claims; a policy on
``ec2:SourceInstanceArn`` works; the instance's metadata paths; join-token replay
and expiry refused; a disabled instance refused; the agent keeps serving across a
Tessera restart; certificate renewal at half-life with shifted clocks."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import httpx
import pytest
from botocore.exceptions import ClientError

from tessera.agent.errors import AgentError
from tessera.agent.instance import InstanceAgent, join
from tessera.cli.main import main
from tests.e2e.server import Creds, TesseraServer, free_port, tessera_cmd

pytestmark = pytest.mark.e2e

ROLE = "web-role"
PROFILE = "web"
IP = "10.0.3.7"
NETWORK = "lab-01"


@dataclass
class World:
    srv: TesseraServer
    account: str
    tmp: Path
    instance_id: str
    state_dir: Path
    imds_port: int
    agent: subprocess.Popen[bytes]

    @property
    def imds(self) -> str:
        return f"http://127.0.0.1:{self.imds_port}/"

    @property
    def instance_arn(self) -> str:
        return f"arn:aws:ec2:us-east-1:{self.account}:instance/{self.instance_id}"


def _scrubbed_env(tmp: Path, **extra: str) -> dict[str, str]:
    """No AWS keys or config from the test machine; a temporary HOME."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "TESSERA_")) and k.lower() not in ("http_proxy", "https_proxy")
    }
    home = tmp / "home"
    (home / ".aws").mkdir(parents=True, exist_ok=True)
    config = home / ".aws" / "config"
    config.write_text("[default]\ncli_follow_urlparam = false\n")
    (home / ".aws" / "credentials").write_text("")
    env.update(
        HOME=str(home),
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(home / ".aws" / "credentials"),
        AWS_DEFAULT_REGION="us-east-1",
        NO_PROXY="127.0.0.1,localhost",
        **extra,
    )
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tessera_cmd(*args), capture_output=True, text=True, env=env, timeout=60, check=False
    )


def _cli(*args: str) -> tuple[int, str, str]:
    """``tessera …`` in this process (the same code, without a Python start-up)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    return rc, out.getvalue(), err.getvalue()


def _create_instance(srv: TesseraServer, account: str, *more: str) -> Any:
    rc, out, err = _cli(
        "instance",
        "create",
        "--data-dir",
        str(srv.data_dir),
        "--account",
        account,
        "--instance-profile",
        PROFILE,
        "--json",
        *more,
    )
    assert rc == 0, err
    return json.loads(out)


def _join_cmd(env: dict[str, str], srv: TesseraServer, token: str, state: Path, *more: str) -> Any:
    return _run(
        env,
        "agent",
        "join",
        "--endpoint",
        srv.endpoint,
        "--token",
        token,
        "--state-dir",
        str(state),
        "--json",
        *more,
    )


def _wait_for(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(400):
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read() if proc.stderr else "agent exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("agent did not start")


def _policy(instance_arn: str) -> str:
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
                    "Condition": {"StringEquals": {"ec2:SourceInstanceArn": instance_arn + "0"}},
                },
            ],
        }
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("instances")
    srv = TesseraServer(
        data_dir=tmp / "data", extra_args=("--network-cidr", f"{NETWORK}=127.0.0.0/8")
    )
    root = srv.init()
    srv.start()
    agent: subprocess.Popen[bytes] | None = None
    try:
        iam = srv.client("iam", root)
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
        iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
        iam.create_instance_profile(InstanceProfileName=PROFILE)
        iam.add_role_to_instance_profile(InstanceProfileName=PROFILE, RoleName=ROLE)
        env = _scrubbed_env(tmp)
        created = _create_instance(
            srv, root.account_id, "--private-ipv4", IP, "--network", NETWORK, "--name", "web-1"
        )
        assert set(created) == {"instance_id", "join_token", "join_token_expires", "ca_fingerprint"}
        iid = created["instance_id"]
        iam.put_role_policy(
            RoleName=ROLE,
            PolicyName="p",
            PolicyDocument=_policy(f"arn:aws:ec2:us-east-1:{root.account_id}:instance/{iid}"),
        )
        state = tmp / "state"
        joined = _join_cmd(
            env, srv, created["join_token"], state, "--ca-fingerprint", created["ca_fingerprint"]
        )
        assert joined.returncode == 0, joined.stderr
        assert json.loads(joined.stdout)["instance_id"] == iid
        port = free_port()
        agent = subprocess.Popen(
            tessera_cmd("agent", "serve", "--state-dir", str(state), "--port", str(port)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        _wait_for(port, agent)
        yield World(srv, root.account_id, tmp, iid, state, port, agent)
    finally:
        if agent is not None:
            agent.send_signal(signal.SIGTERM)
            agent.communicate(timeout=30)
        srv.stop()


def _imds_session(world: World, monkeypatch: pytest.MonkeyPatch) -> boto3.Session:
    for key, value in _scrubbed_env(
        world.tmp, AWS_EC2_METADATA_SERVICE_ENDPOINT=world.imds
    ).items():
        monkeypatch.setenv(key, value)
    for key in list(os.environ):
        if key.startswith("AWS_") and key not in (
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_DEFAULT_REGION",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        ):
            monkeypatch.delenv(key)
    return boto3.Session(botocore_session=botocore.session.Session())


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def test_state_dir_and_key_modes(world: World) -> None:
    assert stat.S_IMODE(world.state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((world.state_dir / "key.pem").stat().st_mode) == 0o600


def test_boto3_imds_provider_identity_claims_and_condition_keys(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = _imds_session(world, monkeypatch)
    creds = session.get_credentials()
    assert creds is not None and creds.method == "iam-role"
    sts = session.client("sts", endpoint_url=world.srv.endpoint, region_name="us-east-1")
    arn = sts.get_caller_identity()["Arn"]
    assert arn == f"arn:aws:sts::{world.account}:assumed-role/{ROLE}/{world.instance_id}"
    token = sts.get_web_identity_token(
        Audience=["https://rp.example.com"], SigningAlgorithm="RS256"
    )["WebIdentityToken"]
    aws = _claims(token)["https://sts.amazonaws.com/"]
    assert aws["ec2_source_instance_arn"] == world.instance_arn
    assert aws["ec2_instance_source_vpc"] == NETWORK
    assert aws["ec2_instance_source_private_ipv4"] == IP
    assert aws["ec2_role_delivery"] == "2.0"
    iam = session.client("iam", endpoint_url=world.srv.endpoint, region_name="us-east-1")
    with pytest.raises(ClientError) as info:  # allowed only for another instance's ARN
        iam.list_roles()
    assert info.value.response["Error"]["Code"] == "AccessDenied"


def test_aws_cli_get_caller_identity(world: World) -> None:
    env = _scrubbed_env(world.tmp, AWS_EC2_METADATA_SERVICE_ENDPOINT=world.imds)
    aws = Path(sys.executable).parent / "aws"
    out = subprocess.run(
        [str(aws), "--endpoint-url", world.srv.endpoint, "sts", "get-caller-identity"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Arn"].endswith(f":assumed-role/{ROLE}/{world.instance_id}")


def _imds_get(world: World, path: str, token: str | None) -> httpx.Response:
    headers = {} if token is None else {"x-aws-ec2-metadata-token": token}
    return httpx.get(world.imds + path, headers=headers, timeout=5)


def test_instance_metadata_paths(world: World) -> None:
    token = httpx.put(
        world.imds + "latest/api/token",
        headers={"x-aws-ec2-metadata-token-ttl-seconds": "60"},
        timeout=5,
    ).text
    assert _imds_get(world, "latest/meta-data/instance-id", None).status_code == 401
    expect = {
        "latest/meta-data/instance-id": world.instance_id,
        "latest/meta-data/local-ipv4": IP,
        "latest/meta-data/placement/region": "us-east-1",
        "latest/meta-data/placement/availability-zone": "us-east-1a",
        "latest/meta-data/placement/availability-zone/": "us-east-1a",
        "latest/meta-data/iam/security-credentials/": ROLE,
    }
    for path, body in expect.items():
        got = _imds_get(world, path, token)
        assert (got.status_code, got.text) == (200, body), path
        assert got.headers["content-type"].startswith("text/plain")
    info = json.loads(_imds_get(world, "latest/meta-data/iam/info", token).text)
    assert info["Code"] == "Success"
    assert info["InstanceProfileArn"] == f"arn:aws:iam::{world.account}:instance-profile/{PROFILE}"
    assert info["InstanceProfileId"].startswith("AIPA")
    doc = json.loads(_imds_get(world, "latest/dynamic/instance-identity/document", token).text)
    assert doc["instanceId"] == world.instance_id
    assert doc["accountId"] == world.account
    assert doc["privateIp"] == IP
    assert doc["region"] == "us-east-1" and doc["availabilityZone"] == "us-east-1a"
    assert doc["version"] == "2017-09-30"
    for missing in ("latest/meta-data/ami-id", "latest/meta-data/iam/security-credentials/other"):
        assert _imds_get(world, missing, token).status_code == 404


def _join(world: World, token: str, name: str, **kw: Any) -> Any:
    return join(world.srv.endpoint, token, world.tmp / name, clock=_Clock(), **kw)


def test_join_token_replay_is_refused(world: World) -> None:
    created = _create_instance(world.srv, world.account)
    assert _join(world, created["join_token"], "replay-1").instance_id == created["instance_id"]
    with pytest.raises(AgentError, match="already used") as info:
        _join(world, created["join_token"], "replay-2")
    assert created["join_token"] not in info.value.reason


def test_wrong_ca_fingerprint_saves_nothing(world: World) -> None:
    created = _create_instance(world.srv, world.account)
    with pytest.raises(AgentError, match="fingerprint"):
        _join(world, created["join_token"], "wrong-fp", ca_fingerprint="sha256:" + "0" * 64)
    assert not (world.tmp / "wrong-fp" / "cert.pem").exists()
    assert not (world.tmp / "wrong-fp" / "key.pem").exists()


def test_disabled_and_deleted_instances_are_refused(world: World) -> None:
    created = _create_instance(world.srv, world.account)
    _join(world, created["join_token"], "disabled")
    agent = InstanceAgent(world.tmp / "disabled", clock=_Clock())
    assert agent.create_session().role_arn.endswith(f":role/{ROLE}")
    data = ["--data-dir", str(world.srv.data_dir), "--json"]
    rc, out, _ = _cli("instance", "disable", created["instance_id"], *data)
    assert rc == 0 and json.loads(out)["state"] == "disabled"
    with pytest.raises(AgentError, match="disabled"):
        agent.create_session()
    with pytest.raises(AgentError, match="disabled"):
        agent.renew()
    assert _cli("instance", "delete", created["instance_id"], *data)[0] == 0
    with pytest.raises(AgentError, match="not a current instance certificate"):
        agent.create_session()


def _api(world: World, method: str, path: str, creds: Any, doc: Any = None) -> httpx.Response:
    """A SigV4-signed call of the automation API (botocore's signer)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = b"" if doc is None else json.dumps(doc).encode()
    request = AWSRequest(
        method=method,
        url=world.srv.endpoint + path,
        data=body,
        headers={"Content-Type": "application/json"},
    )
    SigV4Auth(
        Credentials(creds.access_key_id, creds.secret_access_key, creds.session_token),
        "rolesanywhere",
        "us-east-1",
    ).add_auth(request)
    return httpx.request(
        method, world.srv.endpoint + path, content=body, headers=dict(request.headers), timeout=10
    )


def test_automation_api_is_authorised_by_the_policy_engine(world: World) -> None:
    root = world.srv.root
    assert root is not None
    made = _api(world, "POST", "/tessera/instances", root, {"instanceProfileName": PROFILE})
    assert made.status_code == 201, made.text
    created = made.json()
    assert set(created) == {"instanceId", "joinToken", "joinTokenExpires", "caFingerprint"}
    iid = created["instanceId"]
    got = _api(world, "GET", f"/tessera/instances/{iid}", root).json()["instance"]
    assert got["instanceProfileName"] == PROFILE and got["state"] == "enabled"
    listed = _api(world, "GET", "/tessera/instances?maxResults=1000", root).json()["instances"]
    assert iid in [i["instanceId"] for i in listed]
    stopped = _api(world, "POST", f"/tessera/instances/{iid}/disable", root).json()
    assert stopped["instance"]["state"] == "disabled"
    started = _api(world, "POST", f"/tessera/instances/{iid}/enable", root).json()
    assert started["instance"]["state"] == "enabled"
    # a user allowed ec2:RunInstances but not iam:PassRole on the profile's role
    iam = world.srv.client("iam", root)
    iam.create_user(UserName="ops")
    iam.put_user_policy(
        UserName="ops",
        PolicyName="p",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["ec2:RunInstances", "ec2:DescribeInstances"],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName="ops")["AccessKey"]
    ops = Creds(root.account_id, key["AccessKeyId"], key["SecretAccessKey"])
    denied = _api(world, "POST", "/tessera/instances", ops, {"instanceProfileName": PROFILE})
    assert denied.status_code == 403 and "iam:PassRole" in denied.text
    assert _api(world, "GET", f"/tessera/instances/{iid}", ops).status_code == 200
    gone = _api(world, "DELETE", f"/tessera/instances/{iid}", ops)
    assert gone.status_code == 403 and "ec2:TerminateInstances" in gone.text
    assert _api(world, "DELETE", f"/tessera/instances/{iid}", root).json()["deleted"] is True
    assert _api(world, "GET", f"/tessera/instances/{iid}", root).status_code == 404


class _Clock:
    def __init__(self, offset: timedelta = timedelta()) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def test_agent_serves_across_a_restart_and_expired_token_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = _create_instance(world.srv, world.account, "--ttl", "60")
    world.srv.stop()
    token = httpx.put(
        world.imds + "latest/api/token",
        headers={"x-aws-ec2-metadata-token-ttl-seconds": "60"},
        timeout=5,
    ).text
    served = _imds_get(world, f"latest/meta-data/iam/security-credentials/{ROLE}", token)
    assert served.status_code == 200 and "AccessKeyId" in served.json()
    world.srv.start(clock_offset=120)  # the token (60 s) has expired for the server
    session = _imds_session(world, monkeypatch)
    sts = session.client("sts", endpoint_url=world.srv.endpoint, region_name="us-east-1")
    assert sts.get_caller_identity()["Arn"].endswith(f"/{world.instance_id}")
    with pytest.raises(AgentError, match="expired"):
        _join(world, created["join_token"], "expired")


def test_certificate_renewal_at_half_life(world: World) -> None:
    # both clocks 13 h ahead: past the 24 h certificate's half-life, still valid
    world.srv.stop()
    world.srv.start(clock_offset=13 * 3600)
    clock = _Clock(timedelta(hours=13))
    agent = InstanceAgent(world.state_dir, clock=clock)
    before = agent.identity().certificate
    assert agent.renew_if_due() is True
    after = agent.identity().certificate
    assert after.serial_number != before.serial_number
    assert after.not_valid_after_utc > before.not_valid_after_utc
    assert agent.renew_if_due() is False  # the new certificate is young
    creds = agent.create_session()
    assert creds.role_arn.endswith(f":role/{ROLE}")
