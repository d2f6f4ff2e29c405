"""``tessera agent credential-process`` and ``tessera agent serve`` as processes,
against a fake CreateSession server that checks the X.509 signature itself;
then botocore's default credential chain through each of the three channels."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import botocore.session
import pytest
from tests.agent_support import FakeRolesAnywhere, Pki, agent_args


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TESSERA_"))}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(name, None)
    env["HOME"] = str(tmp_path / "home")
    (tmp_path / "home").mkdir(exist_ok=True)
    return env


def _agent(*args: str) -> list[str]:
    return [sys.executable, "-m", "tessera", "agent", *args]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fake() -> Iterator[FakeRolesAnywhere]:
    server = FakeRolesAnywhere().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["rsa", "ec"])
def pki(request: pytest.FixtureRequest, tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki", kind=request.param)


def test_credential_process_prints_version_1_json(
    tmp_path: Path, pki: Pki, fake: FakeRolesAnywhere
) -> None:
    out = subprocess.run(
        _agent("credential-process", *agent_args(pki, fake.endpoint), "--session-duration", "900"),
        capture_output=True,
        env=_env(tmp_path),
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == b""
    issued = fake.issued[-1]
    assert issued.serial == pki.leaf_cert.serial_number
    assert out.stdout.decode() == (
        json.dumps(
            {
                "Version": 1,
                "AccessKeyId": issued.access_key_id,
                "SecretAccessKey": issued.secret_access_key,
                "SessionToken": issued.session_token,
                "Expiration": issued.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        + "\n"
    )
    assert fake.requests[-1]["body"]["durationSeconds"] == 900


def test_credential_process_failure_is_one_line_without_secrets(
    tmp_path: Path, fake: FakeRolesAnywhere
) -> None:
    pki = Pki(tmp_path / "pki")
    fake.fail_with = (403, {"__type": "AccessDeniedException", "message": "Profile disabled."})
    out = subprocess.run(
        _agent("credential-process", *agent_args(pki, fake.endpoint)),
        capture_output=True,
        env=_env(tmp_path),
        timeout=60,
    )
    assert out.returncode == 1
    assert out.stdout == b""
    assert out.stderr.decode() == (
        "tessera agent credential-process: CreateSession failed: HTTP 403 "
        "AccessDeniedException: Profile disabled.\n"
    )


def test_credential_process_usage_errors(tmp_path: Path, fake: FakeRolesAnywhere) -> None:
    pki = Pki(tmp_path / "pki")
    out = subprocess.run(
        _agent("credential-process", *agent_args(pki, fake.endpoint), "--no-verify-ssl"),
        capture_output=True,
        env=_env(tmp_path),
        timeout=60,
    )
    assert out.returncode == 2 and b"--ca-bundle" in out.stderr
    pki.key_path.chmod(0o644)
    out = subprocess.run(
        _agent("credential-process", *agent_args(pki, fake.endpoint)),
        capture_output=True,
        env=_env(tmp_path),
        timeout=60,
    )
    assert out.returncode == 1 and out.stderr.count(b"\n") == 1
    assert b"accessible by group or others" in out.stderr
    assert b"PRIVATE KEY" not in out.stderr
    assert fake.requests == []


def _clean_botocore_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for key in list(os.environ):
        if key.startswith("AWS_") or key.lower() in ("http_proxy", "https_proxy"):
            monkeypatch.delenv(key)
    config = tmp_path / "aws-config"
    config.write_text("")
    (tmp_path / "aws-credentials").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    return config


def test_botocore_chain_through_credential_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeRolesAnywhere
) -> None:
    pki = Pki(tmp_path / "pki", kind="ec")
    config = _clean_botocore_env(monkeypatch, tmp_path)
    command = " ".join(_agent("credential-process", *agent_args(pki, fake.endpoint)))
    config.write_text(f"[default]\ncredential_process = {command}\n")
    creds = botocore.session.Session().get_credentials()
    assert creds is not None and creds.method == "custom-process"
    frozen = creds.get_frozen_credentials()
    assert frozen.access_key == fake.issued[-1].access_key_id
    assert frozen.secret_key == fake.issued[-1].secret_access_key
    assert frozen.token == fake.issued[-1].session_token


def _wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read() if proc.stderr else b"exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("agent did not start")


def test_serve_feeds_botocore_through_imds_and_container(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeRolesAnywhere
) -> None:
    pki = Pki(tmp_path / "pki", kind="rsa")
    imds_port, container_port = _free_port(), _free_port()
    token_file = tmp_path / "token"
    token_file.write_text("container-token-0123456789abcdef")
    proc = subprocess.Popen(
        _agent(
            "serve",
            *agent_args(pki, fake.endpoint),
            "--port",
            str(imds_port),
            "--container-port",
            str(container_port),
            "--container-token-file",
            str(token_file),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(tmp_path),
    )
    try:
        _wait_for_port(imds_port, proc)
        _wait_for_port(container_port, proc)
        issued = fake.issued[-1]  # pre-fetched before listening
        _clean_botocore_env(monkeypatch, tmp_path)

        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{imds_port}/")
        monkeypatch.setenv("AWS_EC2_METADATA_V1_DISABLED", "true")
        creds = botocore.session.Session().get_credentials()
        assert creds is not None and creds.method == "iam-role"
        frozen = creds.get_frozen_credentials()
        assert (frozen.access_key, frozen.secret_key, frozen.token) == (
            issued.access_key_id,
            issued.secret_access_key,
            issued.session_token,
        )

        monkeypatch.setenv(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            f"http://127.0.0.1:{container_port}/v1/credentials",
        )
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(token_file))
        creds = botocore.session.Session().get_credentials()
        assert creds is not None and creds.method == "container-role"
        assert creds.get_frozen_credentials().access_key == issued.access_key_id
        assert len(fake.issued) == 1  # served from memory, no CreateSession per request
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0
    text = stderr.decode()
    assert "IMDS endpoint http://127.0.0.1:" in text and "stopping" in text
    for secret in (issued.secret_access_key, issued.session_token, "PRIVATE KEY"):
        assert secret not in text


def test_serve_refuses_half_container_options(tmp_path: Path, fake: FakeRolesAnywhere) -> None:
    pki = Pki(tmp_path / "pki")
    out = subprocess.run(
        _agent("serve", *agent_args(pki, fake.endpoint), "--container-port", "1"),
        capture_output=True,
        env=_env(tmp_path),
        timeout=60,
    )
    assert out.returncode == 1
    assert b"--container-port and --container-token-file go together" in out.stderr
