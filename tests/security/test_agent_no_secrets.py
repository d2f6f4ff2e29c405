"""``tessera agent`` never prints a secret on stderr: not the role's secret key
or session token, not the private key, not the container or IMDS tokens, even
with ``--debug`` and while SDKs read the credentials."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import botocore.session
import pytest

from tests.agent_support import FakeRolesAnywhere, Pki, agent_args


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _secrets_of(pki: Pki) -> list[str]:
    key = pki.key_path.read_text()
    body = "".join(key.splitlines()[1:-1])
    return [body[:40], body[-40:], "PRIVATE KEY"]


def test_serve_with_debug_prints_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRolesAnywhere().start()
    pki = Pki(tmp_path / "pki", kind="ec")
    port, container_port = _free_port(), _free_port()
    token_file = tmp_path / "token"
    container_token = "container-token-must-not-leak-0123"
    token_file.write_text(container_token)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tessera",
            "agent",
            "serve",
            "--debug",
            *agent_args(pki, fake.endpoint),
            "--port",
            str(port),
            "--container-port",
            str(container_port),
            "--container-token-file",
            str(token_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    imds_tokens: list[str] = []
    try:
        for _ in range(400):
            try:
                socket.create_connection(("127.0.0.1", container_port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None
                time.sleep(0.05)
        for key in list(os.environ):
            if key.startswith("AWS_"):
                monkeypatch.delenv(key)
        (tmp_path / "empty").write_text("")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "empty"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "empty"))
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{port}/")
        assert botocore.session.Session().get_credentials() is not None
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(
            "PUT", "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}
        )
        imds_tokens.append(conn.getresponse().read().decode())
        conn.close()
        monkeypatch.setenv(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            f"http://127.0.0.1:{container_port}/v1/credentials",
        )
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(token_file))
        assert botocore.session.Session().get_credentials() is not None
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        fake.stop()
    issued = fake.issued[-1]
    text = (out + err).decode()
    assert "DEBUG" in text or "INFO" in text  # it did log
    for secret in (
        issued.secret_access_key,
        issued.session_token,
        container_token,
        *imds_tokens,
        *_secrets_of(pki),
    ):
        assert secret not in text


def test_credential_process_failures_print_no_secret(tmp_path: Path) -> None:
    fake = FakeRolesAnywhere().start()
    pki = Pki(tmp_path / "pki", kind="rsa")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    try:
        # the server answers 201 with a body that is not credentials
        fake.fail_with = (201, {"credentialSet": [{"credentials": {"secretAccessKey": "LEAK1"}}]})
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "tessera",
                "agent",
                "credential-process",
                "--debug",
                *agent_args(pki, fake.endpoint),
            ],
            capture_output=True,
            env=env,
            timeout=60,
        )
    finally:
        fake.stop()
    assert out.returncode == 1 and out.stdout == b""
    err = out.stderr.decode()
    assert "without usable credentials" in err
    for secret in ("LEAK1", *_secrets_of(pki)):
        assert secret not in err
