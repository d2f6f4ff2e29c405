"""A real Tessera server process for end-to-end tests: ``tessera init`` then
``tessera serve`` on a free loopback port, with boto3 client helpers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tessera_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tessera", *args]


@dataclass
class Creds:
    account_id: str
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


@dataclass
class TesseraServer:
    data_dir: Path
    port: int = field(default_factory=free_port)
    database_url: str | None = None
    extra_args: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    root: Creds | None = None
    log_path: Path | None = None
    #: serve over HTTPS (pass --tls-cert/--tls-key or --tls auto in extra_args)
    https: bool = False
    #: CA bundle clients trust by default (boto3 ``verify=``, ``aws --ca-bundle``)
    ca_bundle: Path | None = None

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.https else 'http'}://127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key in list(env):
            if key.startswith("AWS_") or key.startswith("TESSERA_"):
                env.pop(key)
        env.update(self.env)
        return env

    def init(self) -> Creds:
        args = ["init", "--data-dir", str(self.data_dir), "--json"]
        if self.database_url:
            args += ["--database-url", self.database_url]
        out = subprocess.run(
            tessera_cmd(*args), capture_output=True, check=True, env=self._env(), timeout=60
        )
        data = json.loads(out.stdout)
        self.root = Creds(data["account_id"], data["access_key_id"], data["secret_access_key"])
        return self.root

    def create_account(self) -> Creds:
        args = ["account", "create", "--data-dir", str(self.data_dir), "--json"]
        if self.database_url:
            args += ["--database-url", self.database_url]
        out = subprocess.run(
            tessera_cmd(*args), capture_output=True, check=True, env=self._env(), timeout=60
        )
        data = json.loads(out.stdout)
        return Creds(data["account_id"], data["access_key_id"], data["secret_access_key"])

    def start(self, *more_args: str, clock_offset: float | None = None) -> None:
        args = [
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.extra_args,
            *more_args,
        ]
        if self.database_url:
            args += ["--database-url", self.database_url]
        env = self._env()
        if clock_offset:
            env["TESSERA_INSECURE_CLOCK_OFFSET"] = str(clock_offset)
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(tessera_cmd(*args), stdout=log, stderr=log, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            try:
                # readiness only: certificate checks are the tests' business
                ready = httpx.get(self.endpoint + "/health", timeout=1, verify=not self.https)
                if ready.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not become ready: {self.log_path.read_text()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def restart(self, *more_args: str, clock_offset: float | None = None) -> None:
        self.stop()
        self.start(*more_args, clock_offset=clock_offset)

    def log_text(self) -> str:
        return self.log_path.read_text() if self.log_path else ""

    def client(
        self,
        service: str,
        creds: Creds | None = None,
        region: str = "us-east-1",
        verify: str | bool | None = None,
    ) -> Any:
        creds = creds or self.root
        assert creds is not None
        if verify is None:
            verify = str(self.ca_bundle) if self.ca_bundle else True
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            config=Config(retries={"max_attempts": 1}),
            verify=verify,
        )

    def aws_cli(
        self,
        *args: str,
        creds: Creds | None = None,
        region: str = "us-east-1",
        ca_bundle: Path | bool | None = True,
    ) -> subprocess.CompletedProcess[str]:
        creds = creds or self.root
        assert creds is not None
        env = self._env()
        env.update(
            AWS_ACCESS_KEY_ID=creds.access_key_id,
            AWS_SECRET_ACCESS_KEY=creds.secret_access_key,
            AWS_DEFAULT_REGION=region,
            AWS_CONFIG_FILE="/dev/null",
            AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        )
        if creds.session_token:
            env["AWS_SESSION_TOKEN"] = creds.session_token
        aws = Path(sys.executable).parent / "aws"
        cmd = [str(aws)] if aws.exists() else ["aws"]
        bundle = self.ca_bundle if ca_bundle is True else ca_bundle
        if isinstance(bundle, Path):
            cmd += ["--ca-bundle", str(bundle)]
        return subprocess.run(
            [*cmd, "--endpoint-url", self.endpoint, "--output", "json", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )


@contextmanager
def running_debug_server(base: Path) -> Iterator[TesseraServer]:
    """A server initialised under ``base`` and serving with ``--log-level debug`` (for
    tests that read its log for what must never be there), stopped afterwards."""
    srv = TesseraServer(data_dir=base / "data")
    srv.init()
    srv.start("--log-level", "debug")
    try:
        yield srv
    finally:
        srv.stop()
