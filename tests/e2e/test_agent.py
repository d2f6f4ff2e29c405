"""``tessera agent`` against the real server: a CA made here (RSA and EC), a
trust anchor and a profile created with boto3's ``rolesanywhere`` client, then
boto3's default credential chain through ``credential_process``, through the
IMDSv2 endpoint and through the container endpoint of ``tessera agent serve``,
each reaching ``arn:aws:sts::<acct>:assumed-role/<role>/<serial hex>``; also
``aws sts get-caller-identity`` through the IMDS endpoint, and a refusal."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest

from tests.agent_support import Pki
from tests.e2e.server import TesseraServer, free_port

pytestmark = pytest.mark.e2e


@dataclass
class World:
    srv: TesseraServer
    account: str
    anchor_arn: str
    profile_arn: str
    role_arn: str
    pki: dict[str, Pki]
    tmp: Path

    def agent_args(self, kind: str) -> list[str]:
        pki = self.pki[kind]
        return [
            "--endpoint",
            self.srv.endpoint,
            "--certificate",
            str(pki.cert_path),
            "--private-key",
            str(pki.key_path),
            "--trust-anchor-arn",
            self.anchor_arn,
            "--profile-arn",
            self.profile_arn,
            "--role-arn",
            self.role_arn,
        ]

    def expected_arn(self, kind: str) -> str:
        serial = self.pki[kind].leaf_cert.serial_number
        return f"arn:aws:sts::{self.account}:assumed-role/workload/{serial:x}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("agent")
    srv = TesseraServer(data_dir=tmp / "data")
    root = srv.init()
    srv.start()
    try:
        pki = {kind: Pki(tmp / kind, kind=kind) for kind in ("rsa", "ec")}
        ra = srv.client("rolesanywhere", root)
        iam = srv.client("iam", root)
        anchor = ra.create_trust_anchor(
            name="agent-lab",
            source={
                "sourceType": "CERTIFICATE_BUNDLE",
                "sourceData": {"x509CertificateData": pki["rsa"].ca_pem() + pki["ec"].ca_pem()},
            },
            enabled=True,
        )["trustAnchor"]
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "rolesanywhere.amazonaws.com"},
                    "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
                    "Condition": {"ArnEquals": {"aws:SourceArn": anchor["trustAnchorArn"]}},
                }
            ],
        }
        role = iam.create_role(RoleName="workload", AssumeRolePolicyDocument=json.dumps(trust))
        profile = ra.create_profile(
            name="agent-profile", roleArns=[role["Role"]["Arn"]], enabled=True
        )["profile"]
        yield World(
            srv,
            root.account_id,
            anchor["trustAnchorArn"],
            profile["profileArn"],
            role["Role"]["Arn"],
            pki,
            tmp,
        )
    finally:
        srv.stop()


def _agent(*args: str) -> list[str]:
    return [sys.executable, "-m", "tessera", "agent", *args]


def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp: Path, config: str = "") -> Path:
    for key in list(os.environ):
        if key.startswith("AWS_") or key.lower() in ("http_proxy", "https_proxy"):
            monkeypatch.delenv(key)
    path = tmp / "aws-config"
    path.write_text("[default]\ncli_follow_urlparam = false\n" + config)
    (tmp / "aws-credentials").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp / "aws-credentials"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return path


def _caller_arn(world: World, method: str) -> str:
    session = boto3.Session(botocore_session=botocore.session.Session())
    creds = session.get_credentials()
    assert creds is not None and creds.method == method
    sts = session.client("sts", endpoint_url=world.srv.endpoint, region_name="us-east-1")
    return str(sts.get_caller_identity()["Arn"])


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_credential_process(
    world: World, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    command = " ".join(_agent("credential-process", *world.agent_args(kind)))
    _clean_env(monkeypatch, tmp_path, f"credential_process = {command}\n")
    assert _caller_arn(world, "custom-process") == world.expected_arn(kind)


def test_credential_process_refusal_is_one_line(world: World, tmp_path: Path) -> None:
    stranger = Pki(tmp_path / "stranger", kind="ec")  # a CA the anchor does not hold
    args = world.agent_args("ec")
    args[args.index("--certificate") + 1] = str(stranger.cert_path)
    args[args.index("--private-key") + 1] = str(stranger.key_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    out = subprocess.run(
        _agent("credential-process", *args), capture_output=True, env=env, timeout=60
    )
    assert out.returncode == 1 and out.stdout == b""
    line = out.stderr.decode()
    assert line.startswith("tessera agent credential-process: CreateSession failed: HTTP 403 ")
    assert line.count("\n") == 1


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


@pytest.fixture
def served(world: World, tmp_path: Path) -> Iterator[dict[str, Any]]:
    imds_port, container_port = free_port(), free_port()
    token_file = tmp_path / "token"
    token_file.write_text("e2e-container-token-0123456789")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen(
        _agent(
            "serve",
            *world.agent_args("ec"),
            "--port",
            str(imds_port),
            "--container-port",
            str(container_port),
            "--container-token-file",
            str(token_file),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        _wait_for(imds_port, proc)
        _wait_for(container_port, proc)
        yield {"imds": imds_port, "container": container_port, "token_file": token_file}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_imds_and_container_endpoints(
    world: World, served: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = world.expected_arn("ec")
    config = _clean_env(monkeypatch, tmp_path)
    imds = f"http://127.0.0.1:{served['imds']}/"
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds)
    monkeypatch.setenv("AWS_EC2_METADATA_V1_DISABLED", "true")
    assert _caller_arn(world, "iam-role") == expected

    aws = Path(sys.executable).parent / "aws"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"),
        AWS_EC2_METADATA_SERVICE_ENDPOINT=imds,
        AWS_DEFAULT_REGION="us-east-1",
    )
    out = subprocess.run(
        [
            str(aws) if aws.exists() else "aws",
            "--endpoint-url",
            world.srv.endpoint,
            "--output",
            "json",
            "sts",
            "get-caller-identity",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Arn"] == expected

    monkeypatch.delenv("AWS_EC2_METADATA_SERVICE_ENDPOINT")
    monkeypatch.setenv(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        f"http://127.0.0.1:{served['container']}/v1/credentials",
    )
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(served["token_file"]))
    assert _caller_arn(world, "container-role") == expected
