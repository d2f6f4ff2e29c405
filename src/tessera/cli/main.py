"""The ``tessera`` command line: ``init``, ``account create``, ``serve`` (and the
subcommands other modules register). Every ``serve`` option can also come from a
``TESSERA_*`` environment variable; command-line values win."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tessera.app.envconfig import (
    env_default,
    export_env,
    flag,
    header_limit,
    non_negative_float,
    positive_seconds,
)
from tessera.cli.common import add_data_dir_args, open_existing_store
from tessera.config import (
    DEFAULT_BUSY_POLL_US,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_HOST,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADER_LINE_BYTES,
    DEFAULT_PORT,
    ServerConfig,
)
from tessera.kek import KekError

log = logging.getLogger("tessera")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tessera", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p_init = sub.add_parser("init", help="create a new store with one account and its root key")
    add_data_dir_args(p_init)
    p_init.add_argument("--json", action="store_true", help="print one JSON object")
    p_init.set_defaults(func=cmd_init)

    p_account = sub.add_parser("account", help="manage accounts")
    acc_sub = p_account.add_subparsers(dest="account_command", required=True)
    p_acc_create = acc_sub.add_parser("create", help="add an account and its root access key")
    add_data_dir_args(p_acc_create)
    p_acc_create.add_argument("--json", action="store_true", help="print one JSON object")
    p_acc_create.set_defaults(func=cmd_account_create)

    p_serve = sub.add_parser("serve", help="serve STS and IAM")
    add_data_dir_args(p_serve)
    p_serve.add_argument("--host", default=env_default("TESSERA_HOST", str, DEFAULT_HOST))
    p_serve.add_argument("--port", type=int, default=env_default("TESSERA_PORT", int, DEFAULT_PORT))
    p_serve.add_argument("--public-url", default=env_default("TESSERA_PUBLIC_URL", str, None))
    p_serve.add_argument("--workers", type=int, default=env_default("TESSERA_WORKERS", int, 1))
    p_serve.add_argument(
        "--issuer-host-template",
        default=env_default("TESSERA_ISSUER_HOST_TEMPLATE", str, None),
        help="e.g. 'https://{id}.tokens.example.com' (env TESSERA_ISSUER_HOST_TEMPLATE)",
    )
    p_serve.add_argument(
        "--key-rotation-interval",
        dest="key_rotation_interval_seconds",
        type=float,
        default=env_default("TESSERA_KEY_ROTATION_INTERVAL", float, None),
        help="rotate issuer keys every N seconds (default off; env TESSERA_KEY_ROTATION_INTERVAL)",
    )
    p_serve.add_argument(
        "--tls-cert", type=Path, default=env_default("TESSERA_TLS_CERT", Path, None)
    )
    p_serve.add_argument("--tls-key", type=Path, default=env_default("TESSERA_TLS_KEY", Path, None))
    p_serve.add_argument(
        "--tls",
        choices=("auto", "off"),
        default=env_default("TESSERA_TLS", str, "off"),
        help="'auto': serve HTTPS with the local CA in <data-dir>/tls, created on first start "
        "(env TESSERA_TLS)",
    )
    p_serve.add_argument(
        "--trusted-proxy",
        action="append",
        default=None,
        help=(
            "CIDR whose X-Forwarded-For/-Proto are honoured"
            " (env TESSERA_TRUSTED_PROXIES, comma-separated)"
        ),
    )
    p_serve.add_argument("--log-level", default=env_default("TESSERA_LOG_LEVEL", str, "info"))
    p_serve.add_argument(
        "--cache-check-interval",
        dest="cache_check_interval_seconds",
        type=float,
        default=env_default("TESSERA_CACHE_CHECK_INTERVAL", float, 0.0),
        help="seconds between checks of the read cache against the store; 0 (default) "
        "checks on every request, more bounds how stale another replica's writes may be "
        "(env TESSERA_CACHE_CHECK_INTERVAL)",
    )
    p_serve.add_argument(
        "--busy-poll-us",
        dest="busy_poll_us",
        type=non_negative_float,
        default=env_default("TESSERA_BUSY_POLL_US", non_negative_float, DEFAULT_BUSY_POLL_US),
        help="after a response, keep polling for the next request for up to this many "
        "microseconds before sleeping, while clients send their next request that "
        f"quickly (default {DEFAULT_BUSY_POLL_US:g}; 0 turns it off; env TESSERA_BUSY_POLL_US)",
    )
    # An environment value is the option's default as a string: argparse checks it
    # like a command-line value (a bad one exits 2 naming the option).
    p_serve.add_argument(
        "--max-header-bytes",
        dest="max_header_bytes",
        type=header_limit,
        default=env_default("TESSERA_MAX_HEADER_BYTES", str, DEFAULT_MAX_HEADER_BYTES),
        help="largest request head (request line, URL and headers) in bytes; a larger one is "
        f"answered 431 (414 for the URL) and the connection closed "
        f"(default {DEFAULT_MAX_HEADER_BYTES}; env TESSERA_MAX_HEADER_BYTES)",
    )
    p_serve.add_argument(
        "--max-header-line-bytes",
        dest="max_header_line_bytes",
        type=header_limit,
        default=env_default("TESSERA_MAX_HEADER_LINE_BYTES", str, DEFAULT_MAX_HEADER_LINE_BYTES),
        help="largest single header line in bytes, at most --max-header-bytes; a larger one "
        f"is answered 431 (default {DEFAULT_MAX_HEADER_LINE_BYTES}; "
        "env TESSERA_MAX_HEADER_LINE_BYTES)",
    )
    p_serve.add_argument(
        "--header-timeout",
        dest="header_timeout_seconds",
        type=positive_seconds,
        default=env_default("TESSERA_HEADER_TIMEOUT", str, DEFAULT_HEADER_TIMEOUT),
        help="seconds a client has to send a whole request head, from its first byte (from "
        "the connection's opening for the first request); a late one closes the connection "
        f"(default {DEFAULT_HEADER_TIMEOUT:g}; env TESSERA_HEADER_TIMEOUT)",
    )
    p_serve.add_argument(
        "--insecure-clock-offset",
        type=float,
        default=env_default("TESSERA_INSECURE_CLOCK_OFFSET", float, 0.0),
        help=argparse.SUPPRESS,
    )
    p_serve.add_argument(
        "--oidc-ca-bundle",
        type=Path,
        default=env_default("TESSERA_OIDC_CA_BUNDLE", Path, None),
        help="extra CA certificates (PEM) trusted when fetching OIDC identity providers' "
        "discovery documents and JWKS for AssumeRoleWithWebIdentity (env TESSERA_OIDC_CA_BUNDLE)",
    )
    p_serve.add_argument(
        "--insecure-oidc-http",
        action="store_true",
        default=env_default("TESSERA_INSECURE_OIDC_HTTP", flag, False),
        help="INSECURE, testing only: allow plain-http OIDC providers on any host, not just "
        "loopback (env TESSERA_INSECURE_OIDC_HTTP)",
    )
    p_serve.set_defaults(func=cmd_serve)
    from tessera.cli.outbound import add_outbound_commands

    add_outbound_commands(sub)
    from tessera.cli import tls_cmd

    tls_cmd.register(sub)
    from tessera.cli import org_cmd

    org_cmd.register(sub)
    return parser


def cmd_init(args: argparse.Namespace) -> int:
    from tessera.app.bootstrap import init_store
    from tessera.clock import SystemClock
    from tessera.store.base import StoreAlreadyInitialised

    try:
        creds = init_store(args.data_dir, args.database_url, SystemClock())
    except StoreAlreadyInitialised as exc:
        print(f"tessera init: {exc}; nothing changed", file=sys.stderr)
        return 1
    except KekError as exc:
        print(f"tessera init: {exc}", file=sys.stderr)
        return 1
    _print_credentials(
        creds.to_json(), creds, args.json, "Created a new Tessera store in " + str(args.data_dir)
    )
    return 0


def _print_credentials(js: str, creds: object, as_json: bool, headline: str) -> None:
    if as_json:
        print(js)
        return
    from tessera.app.bootstrap import AccountCredentials

    assert isinstance(creds, AccountCredentials)
    print(headline)
    print("Root credentials (shown once; store them now):")
    print(f"  account id:        {creds.account_id}")
    print(f"  access key id:     {creds.access_key_id}")
    print(f"  secret access key: {creds.secret_access_key}")


def cmd_account_create(args: argparse.Namespace) -> int:
    from tessera.app.bootstrap import create_account
    from tessera.clock import SystemClock

    store = open_existing_store("tessera account create", args)
    if store is None:
        return 1
    try:
        creds = create_account(store, SystemClock())
    finally:
        store.close()
    _print_credentials(creds.to_json(), creds, args.json, "Created account " + creds.account_id)
    return 0


def _serve_config(args: argparse.Namespace) -> ServerConfig:
    proxies: Sequence[str]
    if args.trusted_proxy:
        proxies = args.trusted_proxy
    else:
        proxies = [p for p in os.environ.get("TESSERA_TRUSTED_PROXIES", "").split(",") if p]
    return ServerConfig(
        data_dir=args.data_dir,
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        workers=args.workers,
        database_url=args.database_url,
        issuer_host_template=args.issuer_host_template,
        key_rotation_interval_seconds=args.key_rotation_interval_seconds,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        trusted_proxies=tuple(proxies),
        log_level=args.log_level,
        insecure_clock_offset_seconds=args.insecure_clock_offset,
        oidc_ca_bundle=args.oidc_ca_bundle,
        insecure_oidc_http=bool(args.insecure_oidc_http),
        cache_check_interval_seconds=args.cache_check_interval_seconds,
        busy_poll_us=args.busy_poll_us,
        max_header_bytes=args.max_header_bytes,
        max_header_line_bytes=min(args.max_header_line_bytes, args.max_header_bytes),
        header_timeout_seconds=args.header_timeout_seconds,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from tessera.app.bootstrap import create_app, init_store, is_initialised
    from tessera.app.http import TesseraHttpProtocol
    from tessera.cli import tls_cmd
    from tessera.clock import SystemClock
    from tessera.netaddr import parse_cidrs
    from tessera.tls.errors import TlsConfigError
    from tessera.tls.server import uvicorn_ssl_kwargs

    config = _serve_config(args)
    try:
        parse_cidrs(config.trusted_proxies)
    except ValueError as exc:
        print(f"tessera serve: --trusted-proxy: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "tls", "off") == "auto":
        if config.tls_cert or config.tls_key:
            print("tessera serve: --tls auto excludes --tls-cert/--tls-key", file=sys.stderr)
            return 2
        try:
            paths = tls_cmd.auto_tls(
                config.data_dir, tls_cmd.auto_hostnames(config.host, config.public_url)
            )
        except (TlsConfigError, ValueError, OSError) as exc:
            print(f"tessera serve: --tls auto: {exc}", file=sys.stderr)
            return 1
        config = dataclasses.replace(config, tls_cert=paths.server_cert, tls_key=paths.server_key)
        print(f"HTTPS with the local CA; clients must trust {paths.ca_cert}", flush=True)
    elif getattr(args, "tls", "off") not in ("off", None):
        print(f"tessera serve: --tls must be 'auto' or 'off', not {args.tls!r}", file=sys.stderr)
        return 2
    from tessera.logconfig import configure_logging

    try:  # third-party loggers (signxml prints SAML at DEBUG) stay at WARNING
        configure_logging(config.log_level)
    except ValueError:
        print(f"tessera serve: unknown --log-level {config.log_level!r}", file=sys.stderr)
        return 2
    if config.insecure_clock_offset_seconds:
        log.warning(
            "INSECURE: the server clock is shifted by %+.0f s (insecure_clock_offset);"
            " test use only",
            config.insecure_clock_offset_seconds,
        )
    try:
        if not is_initialised(config.data_dir, config.database_url):
            creds = init_store(config.data_dir, config.database_url, SystemClock())
            _print_credentials(
                creds.to_json(),
                creds,
                False,
                f"Initialised a new Tessera store in {config.data_dir}",
            )
            sys.stdout.flush()
    except KekError as exc:
        print(f"tessera serve: {exc}", file=sys.stderr)
        return 1
    common: dict[str, object] = dict(
        host=config.host,
        port=config.port,
        log_level=config.log_level.lower(),
        access_log=False,  # uvicorn's access log prints query strings (presigned tokens)
        server_header=False,
        proxy_headers=False,
        http=TesseraHttpProtocol,  # one write per response, no ASGI round trip
        ws="none",
    )
    if config.tls_cert or config.tls_key:
        if not (config.tls_cert and config.tls_key):
            print("tessera serve: --tls-cert and --tls-key go together", file=sys.stderr)
            return 2
        try:
            common.update(uvicorn_ssl_kwargs(config.tls_cert, config.tls_key))
        except TlsConfigError as exc:
            print(f"tessera serve: {exc}", file=sys.stderr)
            return 1
    if config.workers > 1:
        export_env(config)
        from tessera.app import workers

        if workers.handoff_supported():
            rest = {k: v for k, v in common.items() if k not in ("host", "port")}
            try:
                return workers.serve_workers(config.host, config.port, config.workers, rest)
            except OSError as exc:
                print(f"tessera serve: {config.host}:{config.port}: {exc}", file=sys.stderr)
                return 1
        uvicorn.run(
            "tessera.app.bootstrap:app_from_env",
            factory=True,
            workers=config.workers,
            **common,  # type: ignore[arg-type]
        )
        return 0
    try:
        app = create_app(config)
    except (KekError, TlsConfigError) as exc:
        print(f"tessera serve: {exc}", file=sys.stderr)
        return 1
    print(f"Tessera serving STS and IAM at {config.effective_public_url}", flush=True)
    uvicorn.run(app, **common)  # type: ignore[arg-type]
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
