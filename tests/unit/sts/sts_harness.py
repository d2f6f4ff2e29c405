"""In-process Tessera over real HTTP for the STS flow tests: a data directory made
by ``init_store``, the real runtime (pipeline, SigV4, session codec, STS + IAM +
MFA operations) served by uvicorn on a loopback port in a thread, with an
``AllowAll`` authoriser (the policy engine decides for real in the e2e suite) and
an ``OffsetClock`` the tests move instead of sleeping."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import uvicorn
from botocore.config import Config

from tessera.app.asgi import TesseraApp
from tessera.app.bootstrap import build_runtime, create_account, init_store
from tessera.app.runtime import Runtime
from tessera.clock import OffsetClock, SystemClock
from tessera.config import ServerConfig
from tessera.errors import AccessDenied
from tessera.iam.authz import Authorizer
from tessera.operation import OperationContext
from tessera.sts.restrictions import session_restriction


class AllowAll(Authorizer):
    """Allows every call except the actions in ``deny`` and records each one."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.deny: set[str] = set()

    def authorize(self, ctx: OperationContext, action: str, resource: str, **kw: Any) -> None:
        restriction = session_restriction(ctx.caller, ctx.service, ctx.operation)
        if restriction is not None:
            raise restriction
        self.calls.append((action, resource, kw))
        if action in self.deny:
            raise AccessDenied(f"denied {action}")


@dataclass
class Keys:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    @classmethod
    def of(cls, creds: dict[str, Any]) -> Keys:
        return cls(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


@dataclass
class LocalServer:
    runtime: Runtime
    authz: AllowAll
    clock: OffsetClock
    port: int
    root: Keys
    account_id: str
    server: uvicorn.Server
    data_dir: Path
    extra_offsets: list[float] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, service: str, keys: Keys | None = None) -> Any:
        keys = keys or self.root
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=keys.access_key_id,
            aws_secret_access_key=keys.secret_access_key,
            aws_session_token=keys.session_token,
            config=Config(retries={"max_attempts": 1}),
        )

    def new_account(self) -> tuple[str, Keys]:
        creds = create_account(self.runtime.store, SystemClock())
        return creds.account_id, Keys(creds.access_key_id, creds.secret_access_key)

    def user(self, name: str, account_keys: Keys | None = None) -> Keys:
        iam = self.client("iam", account_keys)
        iam.create_user(UserName=name)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return Keys(key["AccessKeyId"], key["SecretAccessKey"])

    def shift(self, seconds: float, monkeypatch: Any) -> None:
        """Move the server clock and botocore's signing clock together."""
        self.clock.offset = seconds
        when = datetime.now(UTC) + timedelta(seconds=seconds)
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: when)


def start_local_server(data_dir: Path, port: int) -> LocalServer:
    creds = init_store(data_dir, None, SystemClock())
    clock = OffsetClock(0.0)
    config = ServerConfig(data_dir=data_dir, host="127.0.0.1", port=port)
    runtime = build_runtime(config, clock)
    authz = AllowAll()
    runtime.authorizer = authz
    app = TesseraApp(runtime)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return LocalServer(
        runtime=runtime,
        authz=authz,
        clock=clock,
        port=port,
        root=Keys(creds.access_key_id, creds.secret_access_key),
        account_id=creds.account_id,
        server=server,
        data_dir=data_dir,
    )
