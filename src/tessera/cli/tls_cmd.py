"""``tessera tls init``: create the local certificate authority and a server
certificate in ``<data-dir>/tls``, and print how to make clients trust it.

Also home of the helpers ``tessera serve`` uses for ``--tls auto`` (the same
files, created on first start) and for checking ``--trusted-proxy`` values
before the server starts."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tessera.config import DEFAULT_DATA_DIR, DEFAULT_PORT
from tessera.tls.ca import TlsPaths, default_paths, init_local_ca, instructions
from tessera.tls.errors import TlsConfigError

__all__ = ["auto_hostnames", "auto_tls", "cmd_tls_init", "register"]


def register(subparsers: Any) -> None:
    """Add ``tls init`` to the ``tessera`` sub-command parser."""
    p_tls = subparsers.add_parser("tls", help="local certificate authority for HTTPS")
    tls_sub = p_tls.add_subparsers(dest="tls_command", required=True)
    p_init = tls_sub.add_parser(
        "init",
        help="create a local CA and a server certificate in <data-dir>/tls",
        description=(
            "Create (or reuse) a local certificate authority and issue a server certificate "
            "for localhost, 127.0.0.1, ::1 and every --hostname. The CA key is never "
            "overwritten; --force re-issues the server certificate (restart to serve it)."
        ),
    )
    raw_dir = os.environ.get("TESSERA_DATA_DIR")
    p_init.add_argument(
        "--data-dir",
        type=Path,
        default=Path(raw_dir) if raw_dir else Path(DEFAULT_DATA_DIR),
        metavar="DIR",
        help="data directory (default ./tessera-data; env TESSERA_DATA_DIR)",
    )
    p_init.add_argument(
        "--hostname",
        action="append",
        default=[],
        help="extra DNS name or IP address for the server certificate (repeatable)",
    )
    p_init.add_argument(
        "--force", action="store_true", help="re-issue the server certificate even if valid"
    )
    p_init.add_argument(
        "--endpoint",
        default=None,
        help=f"URL shown in the instructions (default https://localhost:{DEFAULT_PORT})",
    )
    p_init.set_defaults(func=cmd_tls_init)


def cmd_tls_init(args: argparse.Namespace) -> int:
    """Create the CA and server certificate (or reuse them); say which, and print
    the trust instructions."""
    before = default_paths(args.data_dir)
    had_ca = before.ca_cert.exists()
    old_server = before.server_cert.read_bytes() if before.server_cert.exists() else None
    try:
        paths = init_local_ca(args.data_dir, args.hostname, force=args.force)
    except (TlsConfigError, ValueError, OSError) as exc:
        print(f"tessera tls init: {exc}", file=sys.stderr)
        return 1
    paths = TlsPaths(
        ca_cert=paths.ca_cert.resolve(),
        ca_key=paths.ca_key.resolve(),
        server_cert=paths.server_cert.resolve(),
        server_key=paths.server_key.resolve(),
    )
    reissued = old_server is None or paths.server_cert.read_bytes() != old_server
    if had_ca:
        print(f"Reused the existing CA in {paths.ca_cert.parent} (its key is never replaced).")
    else:
        print(f"Created a new CA in {paths.ca_cert.parent}.")
    if reissued:
        print("Issued a new server certificate (restart a running server to serve it).")
    else:
        print(
            "Kept the server certificate: still valid and covering every name (--force "
            "re-issues it)."
        )
    endpoint = args.endpoint
    if not endpoint:
        host = args.hostname[0] if args.hostname else "localhost"
        if ":" in host:
            host = f"[{host}]"
        endpoint = f"https://{host}:{DEFAULT_PORT}"
    print()
    print(f"CA certificate:     {paths.ca_cert}")
    print(f"Server certificate: {paths.server_cert}")
    print(f"Server key:         {paths.server_key}")
    print()
    print(instructions(paths, endpoint))
    return 0


def auto_hostnames(host: str, public_url: str | None) -> list[str]:
    """Names for an ``--tls auto`` certificate beyond the loopback defaults: the
    bind address (unless a wildcard) and the public URL's host."""
    names: list[str] = []
    candidates = [host]
    if public_url:
        candidates.append(urlsplit(public_url).hostname or "")
    for name in candidates:
        name = name.strip().strip("[]")
        if not name:
            continue
        try:
            if ipaddress.ip_address(name).is_unspecified:
                continue
        except ValueError:
            pass
        if name not in names:
            names.append(name)
    return names


def auto_tls(data_dir: Path, hostnames: Sequence[str]) -> TlsPaths:
    """``--tls auto``: the local CA's server certificate, created on first start
    (and re-issued when it is near expiry or lacks a name)."""
    return init_local_ca(data_dir, hostnames)
