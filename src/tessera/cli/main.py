"""The ``tessera`` command line: ``init``, ``account`` (accounts and their root
keys), ``serve`` (and the subcommands other modules register). Every ``serve``
option can also come from a ``TESSERA_*`` environment variable; command-line
values win. Exit status: 0 success, 1 runtime failure (one line on stderr), 2
usage error."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from tessera.app.envconfig import (
    env_default,
    export_env,
    flag,
    header_limit,
    non_negative_float,
    positive_seconds,
    whole_number,
)
from tessera.cli.common import add_data_dir_args, database_error, open_existing_store
from tessera.config import (
    DEFAULT_BUSY_POLL_US,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_HOST,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADER_LINE_BYTES,
    DEFAULT_PORT,
    ServerConfig,
    parse_network,
)
from tessera.kek import KekError

if TYPE_CHECKING:
    import socket

log = logging.getLogger("tessera")

DESCRIPTION = """\
Tessera: a self-hosted Security Token Service that speaks the AWS STS and IAM
wire protocols, so the AWS CLI, boto3 and every AWS SDK work against it with an
endpoint URL.

  tessera serve                      start the server (creates ./tessera-data and
                                     prints the root keys once on first start)
  tessera <command> --help           options of one command

Exit status: 0 success, 1 runtime failure (one line on stderr), 2 usage error."""

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
#: AWS allows each account at most two root access keys.
MAX_ROOT_KEYS = 2


#: A TCP port, 1-65535.
port_number = whole_number(1, 65535, noun="a port number")
positive_int = whole_number(1)


def log_level(raw: str) -> str:
    value = raw.strip().lower()
    if value not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"invalid choice: {raw!r} (choose from {', '.join(LOG_LEVELS)})"
        )
    return value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tessera")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


class Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="tessera",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tessera {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p_init = sub.add_parser("init", help="create a new store with one account and its root key")
    add_data_dir_args(p_init)
    p_init.add_argument("--json", action="store_true", help="print one JSON object")
    p_init.set_defaults(func=cmd_init)

    p_account = sub.add_parser("account", help="manage accounts and their root access keys")
    acc_sub = p_account.add_subparsers(dest="account_command", required=True, metavar="COMMAND")
    p_acc_create = acc_sub.add_parser("create", help="add an account and its root access key")
    add_data_dir_args(p_acc_create)
    p_acc_create.add_argument("--json", action="store_true", help="print one JSON object")
    p_acc_create.set_defaults(func=cmd_account_create)
    p_acc_list = acc_sub.add_parser(
        "list", help="list the accounts, their issuers and root access key ids (no secrets)"
    )
    add_data_dir_args(p_acc_list)
    p_acc_list.add_argument("--json", action="store_true", help="print one JSON object")
    p_acc_list.set_defaults(func=cmd_account_list)

    p_rk = acc_sub.add_parser(
        "root-key",
        help="an account's root access keys (at most two, as on AWS)",
        description="Create, list or delete an account's root access keys. As on AWS an "
        "account has at most two: create the new one, switch your clients, delete the old "
        "one. The secret is printed once, by 'create'.",
    )
    rk_sub = p_rk.add_subparsers(dest="root_key_command", required=True, metavar="COMMAND")
    p_rk_create = rk_sub.add_parser("create", help="add a root access key (prints its secret once)")
    p_rk_list = rk_sub.add_parser("list", help="list the root access keys (no secrets)")
    p_rk_delete = rk_sub.add_parser("delete", help="delete a root access key")
    for p in (p_rk_create, p_rk_list, p_rk_delete):
        add_data_dir_args(p)
        p.add_argument("--account", required=True, metavar="ID", help="the 12-digit account id")
        p.add_argument("--json", action="store_true", help="print one JSON object")
    p_rk_delete.add_argument(
        "--access-key-id", required=True, metavar="AKIA…", help="the root key to delete"
    )
    p_rk_create.set_defaults(func=cmd_root_key_create)
    p_rk_list.set_defaults(func=cmd_root_key_list)
    p_rk_delete.set_defaults(func=cmd_root_key_delete)

    p_serve = sub.add_parser(
        "serve",
        help="serve STS and IAM",
        description="Serve STS and IAM. On an empty data directory (or database) it creates "
        "the store first and prints the root keys once. Every option also reads the "
        "environment variable named in its help; command-line values win.",
    )
    add_data_dir_args(p_serve)
    p_serve.add_argument(
        "--host",
        default=env_default("TESSERA_HOST", str, DEFAULT_HOST),
        help=f"address to listen on (default {DEFAULT_HOST}; env TESSERA_HOST)",
    )
    p_serve.add_argument(
        "--port",
        type=port_number,
        default=env_default("TESSERA_PORT", str, str(DEFAULT_PORT)),
        help=f"TCP port, 1-65535 (default {DEFAULT_PORT}; env TESSERA_PORT)",
    )
    p_serve.add_argument(
        "--public-url",
        default=env_default("TESSERA_PUBLIC_URL", str, None),
        metavar="URL",
        help="the URL clients and relying parties reach this server at, the base of the "
        "issuer URLs (default http(s)://HOST:PORT; env TESSERA_PUBLIC_URL)",
    )
    p_serve.add_argument(
        "--workers",
        type=positive_int,
        default=env_default("TESSERA_WORKERS", str, "1"),
        metavar="N",
        help="server processes (default 1; env TESSERA_WORKERS)",
    )
    p_serve.add_argument(
        "--issuer-host-template",
        default=env_default("TESSERA_ISSUER_HOST_TEMPLATE", str, None),
        metavar="TEMPLATE",
        help="host-form issuer URLs, e.g. 'https://{id}.tokens.example.com' (default: path "
        "form <public-url>/issuers/<id>; env TESSERA_ISSUER_HOST_TEMPLATE)",
    )
    p_serve.add_argument(
        "--key-rotation-interval",
        dest="key_rotation_interval_seconds",
        type=float,
        default=env_default("TESSERA_KEY_ROTATION_INTERVAL", float, None),
        metavar="SECONDS",
        help="rotate issuer keys every N seconds (default off; env TESSERA_KEY_ROTATION_INTERVAL)",
    )
    p_serve.add_argument(
        "--tls-cert",
        type=Path,
        default=env_default("TESSERA_TLS_CERT", Path, None),
        metavar="FILE",
        help="serve HTTPS with this certificate (PEM, may hold the chain; with --tls-key; "
        "default off; env TESSERA_TLS_CERT)",
    )
    p_serve.add_argument(
        "--tls-key",
        type=Path,
        default=env_default("TESSERA_TLS_KEY", Path, None),
        metavar="FILE",
        help="the private key of --tls-cert (PEM; default none; env TESSERA_TLS_KEY)",
    )
    p_serve.add_argument(
        "--tls",
        choices=("auto", "off"),
        default=env_default("TESSERA_TLS", str, "off"),
        help="'auto': serve HTTPS with the local CA in <data-dir>/tls, created on first start "
        "(default off; env TESSERA_TLS)",
    )
    p_serve.add_argument(
        "--network-cidr",
        action="append",
        default=None,
        metavar="LABEL=CIDR",
        help=(
            "requests from CIDR carry aws:SourceVpc=LABEL and aws:VpcSourceIp (repeatable;"
            " default none;"
            " env TESSERA_NETWORKS, comma-separated)"
        ),
    )
    p_serve.add_argument(
        "--trusted-proxy",
        action="append",
        default=None,
        metavar="CIDR",
        help=(
            "network whose X-Forwarded-For/-Proto are honoured (repeatable; default none;"
            " env TESSERA_TRUSTED_PROXIES, comma-separated)"
        ),
    )
    p_serve.add_argument(
        "--log-level",
        type=log_level,
        default=env_default("TESSERA_LOG_LEVEL", str, "info"),
        metavar="{" + ",".join(LOG_LEVELS) + "}",
        help="Tessera's log level (default info; env TESSERA_LOG_LEVEL)",
    )
    p_serve.add_argument(
        "--append-authorization-message",
        action="store_true",
        default=env_default("TESSERA_APPEND_AUTHORIZATION_MESSAGE", flag, False),
        help="append ' Encoded authorization failure message: <msg>' to the message of "
        "every AccessDenied that carries one, as EC2 does, so AWS CLI users can pass it "
        "to 'aws sts decode-authorization-message' (default off: AWS's STS/IAM message "
        "text exactly; env TESSERA_APPEND_AUTHORIZATION_MESSAGE=1)",
    )
    p_serve.add_argument(
        "--cache-check-interval",
        dest="cache_check_interval_seconds",
        metavar="SECONDS",
        type=float,
        default=env_default("TESSERA_CACHE_CHECK_INTERVAL", float, 0.0),
        help="seconds between checks of the read cache against the store; 0 (default) "
        "checks on every request, more bounds how stale another replica's writes may be "
        "(env TESSERA_CACHE_CHECK_INTERVAL)",
    )
    p_serve.add_argument(
        "--busy-poll-us",
        dest="busy_poll_us",
        metavar="MICROSECONDS",
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
        metavar="BYTES",
        type=header_limit,
        default=env_default("TESSERA_MAX_HEADER_BYTES", str, DEFAULT_MAX_HEADER_BYTES),
        help="largest request head (request line, URL and headers) in bytes; a larger one is "
        f"answered 431 (414 for the URL) and the connection closed "
        f"(default {DEFAULT_MAX_HEADER_BYTES}; env TESSERA_MAX_HEADER_BYTES)",
    )
    p_serve.add_argument(
        "--max-header-line-bytes",
        dest="max_header_line_bytes",
        metavar="BYTES",
        type=header_limit,
        default=env_default("TESSERA_MAX_HEADER_LINE_BYTES", str, DEFAULT_MAX_HEADER_LINE_BYTES),
        help="largest single header line in bytes, at most --max-header-bytes; a larger one "
        f"is answered 431 (default {DEFAULT_MAX_HEADER_LINE_BYTES}; "
        "env TESSERA_MAX_HEADER_LINE_BYTES)",
    )
    p_serve.add_argument(
        "--header-timeout",
        dest="header_timeout_seconds",
        metavar="SECONDS",
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
        metavar="FILE",
        help="extra CA certificates (PEM) trusted when fetching OIDC identity providers' "
        "discovery documents and JWKS for AssumeRoleWithWebIdentity (default: the system "
        "trust store only; env TESSERA_OIDC_CA_BUNDLE)",
    )
    p_serve.add_argument(
        "--insecure-oidc-http",
        action="store_true",
        default=env_default("TESSERA_INSECURE_OIDC_HTTP", flag, False),
        help="INSECURE, testing only: allow plain-http OIDC providers on any host, not just "
        "loopback (default off; env TESSERA_INSECURE_OIDC_HTTP=1)",
    )
    add_operations_args(p_serve)
    p_serve.set_defaults(func=cmd_serve)
    from tessera.cli.outbound import add_outbound_commands

    add_outbound_commands(sub)
    from tessera.cli import tls_cmd

    tls_cmd.register(sub)
    from tessera.cli import org_cmd

    org_cmd.register(sub)
    from tessera.cli import agent_cmd

    agent_cmd.register(sub)
    from tessera.cli import instance_cmd

    instance_cmd.register(sub)
    _name_commands(parser, "tessera")
    return parser


def _name_commands(parser: argparse.ArgumentParser, prefix: str) -> None:
    """Give every (sub)command its full name (``command_name``, e.g. ``tessera
    account root-key create``) for one-line error messages."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                child.set_defaults(command_name=f"{prefix} {name}")
                _name_commands(child, f"{prefix} {name}")


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


def _key_json(key: Any) -> dict[str, object]:
    return {
        "access_key_id": key.access_key_id,
        "status": key.status,
        "created": key.created_at.isoformat(),
        "last_used": key.last_used_at.isoformat() if key.last_used_at else None,
    }


def cmd_account_list(args: argparse.Namespace) -> int:
    store = open_existing_store("tessera account list", args)
    if store is None:
        return 1
    try:
        accounts = [
            {
                "account_id": a.account_id,
                "created": a.created_at.isoformat(),
                "issuer_id": a.issuer_id,
                "outbound_enabled": a.outbound_enabled,
                "org_id": a.org_id,
                "root_keys": [_key_json(k) for k in store.list_access_keys(a.account_id, None)],
            }
            for a in store.list_accounts()
        ]
    finally:
        store.close()
    if args.json:
        print(json.dumps({"accounts": accounts}, sort_keys=True))
        return 0
    if not accounts:
        print("No accounts.")
    for acc in accounts:
        keys = acc["root_keys"]
        assert isinstance(keys, list)
        listed = ", ".join(f"{k['access_key_id']} ({k['status']})" for k in keys) or "none"
        extra = f"  org {acc['org_id']}" if acc["org_id"] else ""
        print(f"{acc['account_id']}  created {acc['created']}  root keys: {listed}{extra}")
    return 0


def _root_key_store(args: argparse.Namespace) -> tuple[Any, str] | None:
    """The store and the account of a ``root-key`` command, or None after saying why."""
    name = str(args.command_name)
    store = open_existing_store(name, args)
    if store is None:
        return None
    if store.get_account(args.account) is None:
        store.close()
        print(f"{name}: no account {args.account} in this store", file=sys.stderr)
        return None
    return store, name


def cmd_root_key_create(args: argparse.Namespace) -> int:
    from tessera import ids
    from tessera.clock import SystemClock

    opened = _root_key_store(args)
    if opened is None:
        return 1
    store, name = opened
    try:
        existing = store.list_access_keys(args.account, None)
        if len(existing) >= MAX_ROOT_KEYS:
            print(
                f"{name}: account {args.account} already has {MAX_ROOT_KEYS} root access keys "
                f"({', '.join(k.access_key_id for k in existing)}); delete one first",
                file=sys.stderr,
            )
            return 1
        akid = ids.new_access_key_id(args.account)
        secret = ids.new_secret_access_key()
        store.create_access_key(args.account, None, akid, secret, SystemClock().now())
    finally:
        store.close()
    if args.json:
        print(
            json.dumps(
                {
                    "account_id": args.account,
                    "access_key_id": akid,
                    "secret_access_key": secret,
                }
            )
        )
        return 0
    print(f"Created a root access key for account {args.account}")
    print("Root credentials (shown once; store them now):")
    print(f"  account id:        {args.account}")
    print(f"  access key id:     {akid}")
    print(f"  secret access key: {secret}")
    return 0


def cmd_root_key_list(args: argparse.Namespace) -> int:
    opened = _root_key_store(args)
    if opened is None:
        return 1
    store, _name = opened
    try:
        keys = [_key_json(k) for k in store.list_access_keys(args.account, None)]
    finally:
        store.close()
    if args.json:
        print(json.dumps({"account_id": args.account, "root_keys": keys}, sort_keys=True))
        return 0
    if not keys:
        print(f"Account {args.account} has no root access keys.")
    for key in keys:
        used = key["last_used"] or "never"
        print(f"{key['access_key_id']}  {key['status']}  created {key['created']}  used {used}")
    return 0


def cmd_root_key_delete(args: argparse.Namespace) -> int:
    opened = _root_key_store(args)
    if opened is None:
        return 1
    store, name = opened
    try:
        key = store.get_access_key(args.access_key_id)
        if key is None or key.account_id != args.account or key.user_name is not None:
            print(
                f"{name}: {args.access_key_id} is not a root access key of account {args.account}",
                file=sys.stderr,
            )
            return 1
        store.delete_access_key(args.access_key_id)
    finally:
        store.close()
    if args.json:
        print(json.dumps({"account_id": args.account, "deleted": args.access_key_id}))
    else:
        print(f"Deleted root access key {args.access_key_id} of account {args.account}")
    return 0


def _serve_config(args: argparse.Namespace) -> ServerConfig:
    """The configuration ``tessera serve`` was given; ValueError for a bad
    ``--network-cidr``."""
    networks: Sequence[str] = args.network_cidr or [
        n for n in os.environ.get("TESSERA_NETWORKS", "").split(",") if n
    ]
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
        networks=tuple(parse_network(n) for n in networks),
        log_level=args.log_level,
        insecure_clock_offset_seconds=args.insecure_clock_offset,
        oidc_ca_bundle=args.oidc_ca_bundle,
        insecure_oidc_http=bool(args.insecure_oidc_http),
        cache_check_interval_seconds=args.cache_check_interval_seconds,
        busy_poll_us=args.busy_poll_us,
        max_header_bytes=args.max_header_bytes,
        max_header_line_bytes=min(args.max_header_line_bytes, args.max_header_bytes),
        header_timeout_seconds=args.header_timeout_seconds,
        append_authorization_message=bool(args.append_authorization_message),
        audit_log=args.audit_log,
        audit_retention_days=args.audit_retention_days,
        metrics_listen=args.metrics_listen,
        rate_limit=args.rate_limit,
        rate_limit_by_source=bool(args.rate_limit_by_source),
        insecure_no_audit=bool(args.insecure_no_audit),
    )


def add_operations_args(p_serve: argparse.ArgumentParser) -> None:
    """The audit, metrics and rate-limit options of ``serve`` (#19)."""
    from tessera.app.envconfig import metrics_address, rate_limit, whole_number

    p_serve.add_argument(
        "--audit-log",
        metavar="PATH",
        default=env_default("TESSERA_AUDIT_LOG", str, None),
        help="also write every audit event (CloudTrail record format) as a JSON line to "
        "PATH ('-': standard output); events always go to the store (default none; "
        "env TESSERA_AUDIT_LOG)",
    )
    days = whole_number(1, 36500, noun="a whole number of days")
    p_serve.add_argument(
        "--audit-retention-days",
        type=days,
        metavar="DAYS",
        default=env_default("TESSERA_AUDIT_RETENTION_DAYS", days, 90),
        help="prune stored audit events older than DAYS (default 90, as CloudTrail's "
        "event history; env TESSERA_AUDIT_RETENTION_DAYS)",
    )
    p_serve.add_argument(
        "--metrics-listen",
        type=metrics_address,
        metavar="HOST:PORT",
        default=env_default("TESSERA_METRICS_LISTEN", metrics_address, None),
        help="serve Prometheus metrics at http://HOST:PORT/metrics on a separate listener "
        "(PORT alone binds 127.0.0.1; default off; env TESSERA_METRICS_LISTEN)",
    )
    p_serve.add_argument(
        "--rate-limit",
        type=rate_limit,
        metavar="RPS[:BURST]",
        default=env_default("TESSERA_RATE_LIMIT", rate_limit, None),
        help="token bucket per principal: RPS requests per second, bursts of BURST "
        "(default RPS); over it, Throttling 'Rate exceeded' (env TESSERA_RATE_LIMIT)",
    )
    p_serve.add_argument(
        "--rate-limit-by-source",
        action="store_true",
        default=env_default("TESSERA_RATE_LIMIT_BY_SOURCE", flag, False),
        help="with --rate-limit, also limit each source address (unsigned calls are "
        "always limited by address; default off; env TESSERA_RATE_LIMIT_BY_SOURCE=1)",
    )
    p_serve.add_argument(
        "--insecure-no-audit",
        action="store_true",
        default=env_default("TESSERA_INSECURE_NO_AUDIT", flag, False),
        help="INSECURE, for benchmarks only: record no audit events, so calls leave no "
        "trace (default off; env TESSERA_INSECURE_NO_AUDIT=1)",
    )


def _listen(config: ServerConfig) -> socket.socket | None:
    """The bound, listening socket of ``config.host:config.port``, or None after one
    line saying why not (the port in use, an unknown host …)."""
    from tessera.app.workers import listening_socket

    try:
        return listening_socket(config.host, config.port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            reason = "address already in use (is another server running there?)"
        print(
            f"tessera serve: cannot listen on {config.host}:{config.port}: {reason}",
            file=sys.stderr,
        )
        return None


def cmd_serve(args: argparse.Namespace) -> int:
    """Check everything, bind the port, create the store if needed, and only then
    announce the URL and serve (with one or ``--workers`` processes)."""
    from tessera.cli import tls_cmd
    from tessera.netaddr import parse_cidrs
    from tessera.tls.errors import TlsConfigError
    from tessera.tls.server import uvicorn_ssl_kwargs

    try:
        config = _serve_config(args)
    except ValueError as exc:
        print(f"tessera serve: --network-cidr: {exc}", file=sys.stderr)
        return 2
    try:
        parse_cidrs(config.trusted_proxies)
    except ValueError as exc:
        print(f"tessera serve: --trusted-proxy: {exc}", file=sys.stderr)
        return 2
    if args.tls not in ("auto", "off"):  # TESSERA_TLS is not checked by argparse
        print(f"tessera serve: --tls must be 'auto' or 'off', not {args.tls!r}", file=sys.stderr)
        return 2
    tls_note = None
    if args.tls == "auto":
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
        tls_note = f"HTTPS with the local CA; clients must trust {paths.ca_cert.resolve()}"
    from tessera.logconfig import configure_logging

    # third-party loggers (signxml prints SAML at DEBUG) stay at WARNING
    configure_logging(config.log_level)
    ssl_kwargs: dict[str, object] = {}
    if config.tls_cert or config.tls_key:
        if not (config.tls_cert and config.tls_key):
            print("tessera serve: --tls-cert and --tls-key go together", file=sys.stderr)
            return 2
        try:
            ssl_kwargs = dict(uvicorn_ssl_kwargs(config.tls_cert, config.tls_key))
        except TlsConfigError as exc:
            print(f"tessera serve: {exc}", file=sys.stderr)
            return 1
    if config.insecure_no_audit:
        log.warning("INSECURE: no audit events are recorded (insecure_no_audit); benchmarks only")
    if config.insecure_clock_offset_seconds:
        log.warning(
            "INSECURE: the server clock is shifted by %+.0f s (insecure_clock_offset);"
            " test use only",
            config.insecure_clock_offset_seconds,
        )
    listener = _listen(config)
    if listener is None:
        return 1
    try:
        return _serve_on(listener, config, ssl_kwargs, tls_note)
    finally:
        listener.close()


def _serve_on(
    listener: socket.socket,
    config: ServerConfig,
    ssl_kwargs: dict[str, object],
    tls_note: str | None,
) -> int:

    from tessera.app.bootstrap import init_store, is_initialised, open_store
    from tessera.app.http import TesseraHttpProtocol
    from tessera.clock import SystemClock

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
        log_level=config.log_level,
        access_log=False,  # uvicorn's access log prints query strings (presigned tokens)
        server_header=False,
        proxy_headers=False,
        http=TesseraHttpProtocol,  # one write per response, no ASGI round trip
        ws="none",
        **ssl_kwargs,
    )
    stop_metrics: Any = None
    multiproc_dir: str | None = None
    if config.metrics_listen:
        from tessera.app import metrics

        if config.workers > 1:
            multiproc_dir = metrics.prepare_workers()
        try:
            stop_metrics = metrics.start_listener(
                config.metrics_listen,
                store_opener=lambda: open_store(config.data_dir, config.database_url),
                rotation_interval=config.key_rotation_interval_seconds,
                multiproc_dir=multiproc_dir,
            )
        except OSError as exc:
            print(
                f"tessera serve: cannot listen on {config.metrics_listen} for metrics: {exc}",
                file=sys.stderr,
            )
            if multiproc_dir is not None:
                metrics.cleanup_workers(multiproc_dir)
            return 1
    try:
        return _serve_announced(config, common, listener, tls_note)
    finally:
        if stop_metrics is not None:
            stop_metrics()
        if multiproc_dir is not None:
            from tessera.app import metrics

            metrics.cleanup_workers(multiproc_dir)


def _serve_announced(
    config: ServerConfig,
    common: dict[str, object],
    listener: socket.socket,
    tls_note: str | None,
) -> int:
    import uvicorn

    from tessera.app.bootstrap import create_app, open_store, settle_heap
    from tessera.tls.errors import TlsConfigError

    announce = f"Tessera serving STS and IAM at {config.effective_public_url}"
    if config.workers > 1:
        try:  # the workers open the store themselves: fail here, once, if they could not
            open_store(config.data_dir, config.database_url).close()
        except KekError as exc:
            print(f"tessera serve: {exc}", file=sys.stderr)
            return 1
        export_env(config)
        from tessera.app import workers

        announce += f" ({config.workers} workers)"
        if tls_note:
            print(tls_note, flush=True)
        print(announce, flush=True)
        if workers.handoff_supported():
            rest = {k: v for k, v in common.items() if k not in ("host", "port")}
            return workers.serve_workers(
                config.host, config.port, config.workers, rest, listener=listener
            )
        listener.close()  # uvicorn's own supervisor binds the port itself
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
    settle_heap()
    server = uvicorn.Server(uvicorn.Config(app, **common))  # type: ignore[arg-type]
    if tls_note:
        print(tls_note, flush=True)
    print(announce, flush=True)
    server.run(sockets=[listener])
    return 0 if server.started else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    name = str(getattr(args, "command_name", "tessera"))
    try:
        result: int = args.func(args)
        sys.stdout.flush()  # a closed pipe (| head) shows here, not at exit
    except BrokenPipeError:
        # the reader went away (… | head): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:
        # sqlalchemy is imported lazily (``tessera agent credential-process`` runs at
        # every SDK start and never needs it): an error of it implies it is loaded
        sa_exc = sys.modules.get("sqlalchemy.exc")
        if sa_exc is None or not isinstance(exc, sa_exc.SQLAlchemyError):
            raise
        print(
            f"{name}: {database_error(getattr(args, 'database_url', None), exc)}", file=sys.stderr
        )
        return 1
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
