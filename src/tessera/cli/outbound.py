"""``tessera keys rotate`` and ``tessera token verify`` (outbound identity federation).

``keys rotate`` rotates issuer signing keys in the store (every account with an
issuer, or ``--account``): the new key is published at once and starts signing
after ``--publish-ahead`` seconds (default: the rotation policy's 15 minutes), the
old key stays published until every token it signed has expired. Running servers
notice within their cache TTL (5 s). ``--sessions`` also rotates the session-token
key. No key material is printed.

``token verify`` delegates to ``tessera.verify.cli.run`` (the relying-party
verifier); every argument after ``verify`` is passed through unchanged.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from typing import Any


def add_outbound_commands(sub: Any) -> None:
    """Register ``keys`` and ``token`` on the top-level subparsers object."""
    from tessera.cli.common import add_data_dir_args

    p_keys = sub.add_parser("keys", help="manage signing keys")
    keys_sub = p_keys.add_subparsers(dest="keys_command", required=True)
    p_rotate = keys_sub.add_parser(
        "rotate", help="rotate issuer signing keys (publish before sign)"
    )
    add_data_dir_args(p_rotate)
    p_rotate.add_argument("--account", help="only this account (default: every issuer)")
    p_rotate.add_argument(
        "--sessions", action="store_true", help="also rotate the session-token key"
    )
    p_rotate.add_argument(
        "--publish-ahead",
        type=float,
        default=None,
        help="seconds the new key is published before it signs (default 900)",
    )
    p_rotate.add_argument("--json", action="store_true", help="print one JSON object")
    p_rotate.set_defaults(func=cmd_keys_rotate)

    p_token = sub.add_parser("token", help="work with web identity tokens")
    token_sub = p_token.add_subparsers(dest="token_command", required=True)
    # Everything after "verify" goes to tessera.verify.cli unchanged ("\0" as the only
    # prefix char makes argparse treat --issuer etc. as plain strings here).
    p_verify = token_sub.add_parser(
        "verify",
        help="verify a web identity token against its issuer",
        add_help=False,
        prefix_chars="\0",
    )
    p_verify.add_argument("verify_args", nargs="*")
    p_verify.set_defaults(func=cmd_token_verify)


def cmd_token_verify(args: argparse.Namespace) -> int:
    from tessera.verify.cli import run

    return run(list(args.verify_args))


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from tessera.cli.common import open_existing_store
    from tessera.clock import SystemClock
    from tessera.oidc.issuers import IssuerService
    from tessera.sts.sessions import SessionKeyRing

    store = open_existing_store("tessera keys rotate", args)
    if store is None:
        return 1
    clock = SystemClock()
    ahead = None if args.publish_ahead is None else timedelta(seconds=args.publish_ahead)
    try:
        service = IssuerService(store, public_url="http://unused.invalid", clock=clock)
        rotated: dict[str, list[dict[str, str]]] = {}
        if args.account:
            account = store.get_account(args.account)
            if account is None or account.issuer_id is None:
                print(
                    f"tessera keys rotate: account {args.account} has no issuer "
                    "(enable outbound identity federation first)",
                    file=sys.stderr,
                )
                return 1
            results = {args.account: service.rotate(args.account, publish_ahead=ahead)}
        else:
            results = service.rotate_all(publish_ahead=ahead)
        for account_id, keys in results.items():
            rotated[account_id] = [
                {"kid": k.kid, "alg": k.alg, "signs_from": k.not_before.isoformat()} for k in keys
            ]
        session_kid = None
        if args.sessions:
            session_kid = SessionKeyRing(store).rotate(clock.now()).kid
    finally:
        store.close()
    if args.json:
        print(json.dumps({"issuer_keys": rotated, "session_key": session_kid}))
    else:
        if not rotated:
            print("No account has an issuer; no issuer keys rotated.")
        for account_id, entries in rotated.items():
            for entry in entries:
                print(
                    f"account {account_id}: new {entry['alg']} key {entry['kid']} "
                    f"(published now, signs from {entry['signs_from']})"
                )
        if session_kid is not None:
            print(f"session-token key rotated: new key id {session_kid}")
    return 0
