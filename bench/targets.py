"""The servers a benchmark run compares: Tessera (this checkout), moto's server and
MiniStack (``AUTH=true``), each started on a free loopback port, seeded the same
way through its own IAM API, and turned into pre-signed request URLs.

Peers come from PyPI. ``find_peer`` looks for the executable on ``PATH`` first,
then in the bench-local virtual environment (``bench/.peers``), which
``install_peers`` creates on request. A peer that cannot be found, installed or
started is reported as unavailable with the reason; it never stops the run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PEERS_VENV = BENCH_DIR / ".peers"
PEER_PACKAGES = {"moto": "moto[server]", "ministack": "ministack"}
PEER_EXECUTABLES = {"moto": "moto_server", "ministack": "ministack"}
REGION = "us-east-1"
AUDIENCE = "https://relying-party.example.com"

OPERATIONS = (
    "GetCallerIdentity",
    "AssumeRole",
    "GetWebIdentityToken-RS256",
    "GetWebIdentityToken-ES384",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TESSERA_"))}
    env.update(extra or {})
    return env


def _wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise RuntimeError(f"exited with status {proc.returncode}: {tail.strip()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:  # loopback only
                if answer.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"not ready after {seconds:g} s")


# ---------------------------------------------------------------------- peers


def venv_bin(venv: Path, name: str) -> Path:
    sub = "Scripts" if os.name == "nt" else "bin"
    return venv / sub / name


def find_peer(name: str) -> str | None:
    exe = PEER_EXECUTABLES[name]
    local = venv_bin(PEERS_VENV, exe)
    if local.exists():
        return str(local)
    return shutil.which(exe)


def install_peers(names: list[str]) -> dict[str, str]:
    """Install the named peers from PyPI into ``bench/.peers``; returns {name: error}."""
    problems: dict[str, str] = {}
    python = venv_bin(PEERS_VENV, "python")
    if not python.exists():
        made = subprocess.run(
            [sys.executable, "-m", "venv", str(PEERS_VENV)], capture_output=True, text=True
        )
        if made.returncode != 0:
            return {n: f"could not create {PEERS_VENV}: {made.stderr.strip()[:200]}" for n in names}
    for name in names:
        print(f"  installing {PEER_PACKAGES[name]} into {PEERS_VENV} …", flush=True)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", PEER_PACKAGES[name]],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            problems[name] = (
                f"pip install {PEER_PACKAGES[name]} failed: {done.stderr.strip()[-300:]}"
            )
    return problems


def peer_version(exe: str, package: str) -> str | None:
    python = Path(exe).parent / "python"
    if not python.exists():
        return None
    out = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() or None


# ---------------------------------------------------------------------- targets


@dataclass(frozen=True)
class SignedRequest:
    url: str
    method: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Seeded:
    account_id: str
    access_key_id: str
    secret_access_key: str
    role_arn: str


@dataclass
class Target:
    """One server under test."""

    name: str
    endpoint: str = ""
    pid: int | None = None
    version: str | None = None
    notes: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None
    root: Credentials | None = None
    seeded: Seeded | None = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def log_tail(self) -> str:
        if self.workdir is None:
            return ""
        log = self.workdir / "server.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""

    def client(self, service: str, creds: Credentials | None = None) -> Any:
        import boto3
        from botocore.config import Config

        creds = creds or self.root
        assert creds is not None
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=creds.access_key,
            aws_secret_access_key=creds.secret_key,
            config=Config(retries={"max_attempts": 1}),
        )

    def request(self, operation: str) -> SignedRequest:
        """``operation`` as an SDK sends it (POST, form body, SigV4 Authorization
        header), signed now: replayable for the next 15 minutes."""
        assert self.seeded is not None
        params: list[tuple[str, str]] = [("Version", "2011-06-15")]
        if operation == "GetCallerIdentity":
            params.insert(0, ("Action", "GetCallerIdentity"))
        elif operation == "AssumeRole":
            params = [
                ("Action", "AssumeRole"),
                *params,
                ("RoleArn", self.seeded.role_arn),
                ("RoleSessionName", "bench-session"),
            ]
        elif operation.startswith("GetWebIdentityToken-"):
            params = [
                ("Action", "GetWebIdentityToken"),
                *params,
                ("Audience.member.1", AUDIENCE),
                ("SigningAlgorithm", operation.split("-", 1)[1]),
            ]
        else:
            raise ValueError(operation)
        creds = Credentials(self.seeded.access_key_id, self.seeded.secret_access_key)
        body = urlencode(params)
        request = AWSRequest(
            method="POST",
            url=f"{self.endpoint}/",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        SigV4Auth(creds, "sts", REGION).add_auth(request)
        headers = {k: str(v) for k, v in request.headers.items()}
        return SignedRequest(f"{self.endpoint}/", "POST", headers, body.encode())


def tessera_env() -> dict[str, str]:
    """The environment for ``python -m tessera``: this checkout's sources first."""
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    return _clean_env({"PYTHONPATH": path})


def init_tessera(data_dir: Path, database_url: str | None = None) -> Credentials:
    """``tessera init``: a new store and its first account; the root credentials."""
    db_args = ["--database-url", database_url] if database_url else []
    out = subprocess.run(
        [sys.executable, "-m", "tessera", "init", "--data-dir", str(data_dir), "--json", *db_args],
        capture_output=True,
        text=True,
        env=tessera_env(),
        timeout=120,
    )
    if out.returncode != 0:
        raise RuntimeError(f"tessera init failed: {out.stderr.strip()[-400:]}")
    root = json.loads(out.stdout)
    return Credentials(root["access_key_id"], root["secret_access_key"])


def start_tessera(
    workers: int,
    database_url: str | None = None,
    data_dir: Path | None = None,
    root: Credentials | None = None,
    extra_args: tuple[str, ...] = (),
) -> Target:
    """Start ``tessera serve`` (after ``tessera init`` unless ``root`` says the store
    in ``data_dir`` already exists), with ``extra_args`` appended to its options."""
    workdir = Path(tempfile.mkdtemp(prefix="tessera-bench-"))
    target = Target(name="tessera", workdir=workdir)
    data = data_dir or workdir / "data"
    db_args = ["--database-url", database_url] if database_url else []
    try:
        target.root = root or init_tessera(data, database_url)
        port = free_port()
        target.endpoint = f"http://127.0.0.1:{port}"
        log = workdir / "server.log"
        serve = [
            *("serve", "--data-dir", str(data), "--host", "127.0.0.1", "--port", str(port)),
            *("--workers", str(workers), "--log-level", "warning", *db_args),
            *extra_args,
        ]
        with open(log, "ab") as out_file:
            target.proc = subprocess.Popen(
                [sys.executable, "-m", "tessera", *serve],
                stdout=out_file,
                stderr=out_file,
                env=tessera_env(),
            )
        target.pid = target.proc.pid
        _wait_ready(target.endpoint + "/health", target.proc, 60, log)
        from importlib.metadata import PackageNotFoundError, version

        try:
            target.version = version("tessera")
        except PackageNotFoundError:
            target.version = "checkout"
        engine = "PostgreSQL" if database_url else "SQLite"
        target.notes.append(f"{workers} worker process(es), {engine}")
    except Exception:
        target.stop()
        raise
    return target


def start_peer(name: str, exe: str) -> Target:
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-bench-"))
    target = Target(name=name, workdir=workdir)
    port = free_port()
    target.endpoint = f"http://127.0.0.1:{port}"
    log = workdir / "server.log"
    if name == "moto":
        cmd = [exe, "-H", "127.0.0.1", "-p", str(port)]
        env = _clean_env()
        target.root = Credentials(
            "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        )
        target.notes.append("moto does not verify SigV4 signatures")
        ready = target.endpoint + "/moto-api/"
    else:
        cmd = [exe]
        env = _clean_env(
            {
                "BIND_HOST": "127.0.0.1",
                "GATEWAY_PORT": str(port),
                "AUTH": "true",
                "LOG_LEVEL": "WARNING",
            }
        )
        target.root = Credentials("test", "test")
        target.notes.append("AUTH=true (SigV4 verified)")
        ready = target.endpoint + "/_ministack/health"
    try:
        with open(log, "ab") as out_file:
            target.proc = subprocess.Popen(
                cmd, stdout=out_file, stderr=out_file, env=env, cwd=workdir
            )
        target.pid = target.proc.pid
        _wait_ready(ready, target.proc, 60, log)
        target.version = peer_version(exe, PEER_PACKAGES[name].split("[")[0])
    except Exception:
        target.stop()
        raise
    return target


# ---------------------------------------------------------------------- seeding

USER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:*", "Resource": "*"}],
}
ROLE_PERMISSIONS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}
    ],
}


def seed(target: Target) -> Seeded:
    """The same IAM state everywhere: user ``bench-user`` (access key, inline policy
    allowing ``sts:*``), role ``bench-role`` trusting that user for AssumeRole and
    TagSession, with a managed permissions policy attached."""
    iam = target.client("iam")
    user = iam.create_user(UserName="bench-user")["User"]
    key = iam.create_access_key(UserName="bench-user")["AccessKey"]
    iam.put_user_policy(
        UserName="bench-user", PolicyName="bench-sts", PolicyDocument=json.dumps(USER_POLICY)
    )
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": user["Arn"]},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }
    role = iam.create_role(RoleName="bench-role", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]
    policy = iam.create_policy(
        PolicyName="bench-permissions", PolicyDocument=json.dumps(ROLE_PERMISSIONS)
    )["Policy"]
    iam.attach_role_policy(RoleName="bench-role", PolicyArn=policy["Arn"])
    try:
        iam.enable_outbound_web_identity_federation()
    except Exception as exc:  # peers without the feature: GetWebIdentityToken is probed later
        target.notes.append(f"no EnableOutboundWebIdentityFederation ({_short_error(exc)})")
    account = role["Arn"].split(":")[4]
    target.seeded = Seeded(account, key["AccessKeyId"], key["SecretAccessKey"], role["Arn"])
    time.sleep(0.2)  # let a fresh key become usable everywhere (eventual consistency)
    return target.seeded


def _short_error(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error", {})
        text = f"{err.get('Code', '?')}: {str(err.get('Message', ''))[:120]}"
    else:
        text = f"{type(exc).__name__}: {str(exc)[:80]}"
    return " ".join(text.replace("|", "/").split())
