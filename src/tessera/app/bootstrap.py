"""Process wiring: initialise a data directory (KEK, store, first account and its
root key), add accounts, and build the runtime and ASGI app for a server worker.
Every path that makes or opens a data directory applies ``tessera.filemodes``
(directory 0700; database, WAL/SHM and KEK 0600)."""

from __future__ import annotations

import gc
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tessera import ids
from tessera.app.asgi import TesseraApp
from tessera.app.runtime import Runtime
from tessera.auth.credentials import CredentialResolver
from tessera.clock import Clock, OffsetClock, SystemClock
from tessera.config import ServerConfig
from tessera.filemodes import SQLITE_FILE, secure_data_dir
from tessera.iam.authz import Authorizer
from tessera.kek import KekError, create_kek_file, kek_path, load_kek
from tessera.protocol.model import service_spec
from tessera.protocol.query import precompile
from tessera.store.base import AlreadyExists, StoreAlreadyInitialised
from tessera.store.bookkeeping import Bookkeeping
from tessera.store.sql import SqlStore, open_sql_store
from tessera.sts.sessions import SessionCodec, SessionKeyRing

if TYPE_CHECKING:
    from tessera.federation.oidc import InboundOidc


@dataclass(frozen=True, slots=True)
class AccountCredentials:
    account_id: str
    access_key_id: str
    secret_access_key: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def open_store(data_dir: Path, database_url: str | None) -> SqlStore:
    kek = load_kek(data_dir)
    # an existing data directory (and database) is tightened to 0700/0600
    secure_data_dir(data_dir, create=False, sqlite=database_url is None)
    store = open_sql_store(kek, data_dir=data_dir, database_url=database_url)
    store.check_kek()
    return store


def is_initialised(data_dir: Path, database_url: str | None) -> bool:
    if database_url is None:
        return kek_path(data_dir).exists() or (data_dir / "tessera.db").exists()
    try:
        store = open_store(data_dir, database_url)
    except KekError:
        return False
    try:
        return store.is_initialised()
    finally:
        store.close()


def init_store(data_dir: Path, database_url: str | None, clock: Clock) -> AccountCredentials:
    """Create the KEK, the schema, one account and its root access key."""
    if database_url is None and (kek_path(data_dir).exists() or (data_dir / "tessera.db").exists()):
        raise StoreAlreadyInitialised(f"{data_dir} already holds a Tessera store")
    env_kek = bool(os.environ.get("TESSERA_KEK"))
    created_kek = created_db = False
    if env_kek:  # a bad TESSERA_KEK fails before anything is made
        kek = load_kek(data_dir)
    # created 0700, or an existing directory (e.g. 0755) tightened to 0700
    secure_data_dir(data_dir, create=True, sqlite=False)
    if not env_kek:
        if kek_path(data_dir).exists():
            kek = load_kek(data_dir)
        else:
            kek = create_kek_file(data_dir)
            created_kek = True
    try:
        if database_url is None:  # the database file (and so its WAL/SHM) is 0600
            created_db = not (data_dir / SQLITE_FILE).exists()
            secure_data_dir(data_dir, create=False, sqlite=True)
        store = open_sql_store(kek, data_dir=data_dir, database_url=database_url)
    except Exception:
        if created_kek:
            kek_path(data_dir).unlink(missing_ok=True)
        if created_db:
            (data_dir / SQLITE_FILE).unlink(missing_ok=True)
        raise
    try:
        if store.is_initialised():
            raise StoreAlreadyInitialised("the database already holds a Tessera store")
        store.initialise()
        SessionKeyRing(store).rotate(clock.now())
        return create_account(store, clock)
    finally:
        store.close()


def create_account(store: SqlStore, clock: Clock) -> AccountCredentials:
    now = clock.now()
    for _ in range(20):
        account_id = ids.new_account_id()
        try:
            store.create_account(account_id, now)
            break
        except AlreadyExists:
            continue
    else:  # pragma: no cover - 20 collisions in a 9e11 space
        raise RuntimeError("could not allocate an account id")
    akid = ids.new_access_key_id(account_id)
    secret = ids.new_secret_access_key()
    store.create_access_key(account_id, None, akid, secret, now)
    return AccountCredentials(account_id, akid, secret)


def build_runtime(config: ServerConfig, clock: Clock | None = None) -> Runtime:
    from tessera.app.operations import build_table
    from tessera.sts.authz_messages import AuthorizationMessages

    if clock is None:
        offset = config.insecure_clock_offset_seconds
        clock = OffsetClock(offset) if offset else SystemClock()
    store = open_store(config.data_dir, config.database_url)
    store.enable_read_cache(check_interval=config.cache_check_interval_seconds)
    sessions = SessionCodec(SessionKeyRing(store))
    runtime = Runtime(
        config=config,
        store=store,
        clock=clock,
        resolver=CredentialResolver(store, sessions, memo=store),
        authorizer=Authorizer(store, memo=store),
        sessions=sessions,
        authz_messages=AuthorizationMessages(sessions.ring),
        bookkeeping=Bookkeeping(),
    )
    _register_outbound(runtime)
    _register_inbound_oidc(runtime)
    _register_observer(runtime)
    # every declared operation whose optional service (if any) is configured
    runtime.operations = build_table(runtime.optional_services())
    for name in ("sts", "iam"):
        precompile(service_spec(name))
    return runtime


def _register_outbound(runtime: Runtime) -> None:
    """Outbound identity federation: the issuer service (its IAM and STS operations
    are declared ``requires="issuers"``)."""
    from datetime import timedelta

    from tessera.oidc.issuers import IssuerService

    config = runtime.config
    interval = config.key_rotation_interval_seconds
    runtime.issuers = IssuerService(
        runtime.store,
        public_url=config.effective_public_url,
        issuer_host_template=config.issuer_host_template,
        clock=runtime.clock,
        rotation_interval=timedelta(seconds=interval) if interval else None,
    )
    # keys from before account-unique kids (RSA_<n>, the same in every account)
    # are rotated out under the ordinary rotation rules
    runtime.issuers.upgrade_legacy_kids()


def _register_inbound_oidc(runtime: Runtime) -> None:
    """The IdP client AssumeRoleWithWebIdentity (declared ``requires="inbound_oidc"``)
    fetches discovery/JWKS with."""
    from tessera.federation.oidc import InboundOidc

    config = runtime.config
    runtime.inbound_oidc = InboundOidc(
        ca_bundle=config.oidc_ca_bundle, insecure_http=config.insecure_oidc_http
    )
    _count_idp_fetches(runtime.inbound_oidc)


def _count_idp_fetches(inbound: InboundOidc) -> None:
    """``tessera_idp_fetches_total{outcome}`` around the key-set cache's fetches."""
    from tessera import telemetry

    cache: Any = inbound.cache
    fetch = cache._fetch

    def counted(issuer: str) -> Any:
        try:
            keys = fetch(issuer)
        except Exception:
            telemetry.IDP_FETCHES.labels("failure").inc()
            raise
        telemetry.IDP_FETCHES.labels("success").inc()
        return keys

    cache._fetch = counted


def _register_observer(runtime: Runtime) -> None:
    """Metrics, the audit trail (spooled under the data directory) and the rate
    limit (this worker's share of it: ``tessera.ratelimit``)."""
    from tessera.app.observe import RequestObserver
    from tessera.audit.writer import SPOOL_DIR, AuditWriter
    from tessera.ratelimit import RateLimit, TokenBuckets

    config = runtime.config
    limiter = None
    if config.rate_limit:
        share = RateLimit.parse(config.rate_limit).share(config.workers)
        limiter = TokenBuckets(share)
    audit = None
    if not config.insecure_no_audit:
        audit = AuditWriter(
            runtime.store,
            spool_dir=config.data_dir / SPOOL_DIR,
            log_path=config.audit_log,
            retention_days=config.audit_retention_days,
        )
    runtime.observer = RequestObserver(
        runtime.clock,
        audit=audit,
        limiter=limiter,
        limit_by_source=config.rate_limit_by_source,
    )


def create_app(config: ServerConfig, clock: Clock | None = None) -> TesseraApp:
    from tessera.app.issuer_routes import issuer_document_route

    app = TesseraApp(build_runtime(config, clock))
    if app.runtime.issuers is not None:
        app.get_routes.append(issuer_document_route(app.runtime.issuers))
    return app


def settle_heap() -> None:
    """Once a serving process has built its app: collect what start-up left behind
    and move every surviving object (service models, policies, the app itself)
    out of the cyclic garbage collector's reach (``gc.freeze``). Those objects
    live as long as the process; without this, every full collection walks them
    all again, and a server whose requests each keep a few objects alive for a
    moment (the audit writer's queue) triggers full collections often: measured
    at ~60 µs of CPU per request on the audit benchmark (bench/README.md). Only
    for serving processes: tests build many apps in one process."""
    gc.collect()
    gc.freeze()


def app_from_env() -> TesseraApp:
    """uvicorn factory for multi-worker serving: configuration from TESSERA_* variables."""
    from tessera.app.envconfig import config_from_env
    from tessera.logconfig import configure_logging

    config = config_from_env()
    configure_logging(config.log_level)  # a spawned worker: same rules as the parent
    app = create_app(config)
    settle_heap()
    return app
