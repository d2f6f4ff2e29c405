"""``tessera instance …``: the instance registry (self-hosted machines that get
their instance profile role's credentials through ``tessera agent``).

Every command works on the store directly (running servers see changes on their
next request) and prints one JSON object with ``--json``::

    tessera instance create --account 111111111111 --instance-profile web \\
        [--name web-1] [--private-ipv4 10.0.1.10] [--network vpc-lab01] \\
        [--region us-east-1] [--ttl 600] --json
    tessera instance list [--account ID] --json
    tessera instance show i-0123456789abcdef0 --json
    tessera instance disable i-0123456789abcdef0 --json
    tessera instance enable i-0123456789abcdef0 --json
    tessera instance delete i-0123456789abcdef0 --json

``create`` prints ``{"instance_id", "join_token", "join_token_expires",
"ca_fingerprint"}``: the token (single use, valid ``--ttl`` seconds, 600 by
default, stored only as a hash) goes to ``tessera agent join --token`` on the
machine; the fingerprint to its ``--ca-fingerprint``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

Handler = Callable[[argparse.Namespace, Any], dict[str, object]]

DEFAULT_REGION = "us-east-1"


def _ttl(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {raw!r}") from None


def register(subparsers: Any) -> None:
    from tessera.cli.common import add_data_dir_args

    p_inst = subparsers.add_parser(
        "instance",
        help="self-hosted instances: register, list, disable, delete",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p_inst.add_subparsers(dest="instance_command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, handler: Handler) -> Any:
        p = sub.add_parser(name, help=help_text)
        add_data_dir_args(p)
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.set_defaults(func=lambda args: _run(args, handler))
        return p

    p = command("create", "register an instance and print its one-time join token", _create)
    p.add_argument("--account", required=True, metavar="ID", help="the 12-digit account id")
    p.add_argument(
        "--instance-profile", required=True, metavar="NAME", help="the IAM instance profile"
    )
    p.add_argument("--name", metavar="N", help="a name for people (the Name of the instance)")
    p.add_argument("--private-ipv4", metavar="IP", help="its private IPv4 address")
    p.add_argument("--network", metavar="LABEL", help="its network label (the 'VPC')")
    p.add_argument(
        "--region", default=DEFAULT_REGION, metavar="R", help=f"default {DEFAULT_REGION}"
    )
    p.add_argument(
        "--ttl",
        type=_ttl,
        default=600,
        metavar="SECONDS",
        help="how long the join token is valid (default 600)",
    )
    p = command("list", "list instances", _list)
    p.add_argument("--account", metavar="ID", help="only this account's instances")
    for name, text, handler in (
        ("show", "show one instance", _show),
        ("disable", "stop an instance from renewing or getting credentials", _disable),
        ("enable", "allow a disabled instance again", _enable),
        ("delete", "forget an instance (its certificate stops working)", _delete),
    ):
        p = command(name, text, handler)
        p.add_argument("instance_id", metavar="ID", help="the instance id (i-…)")


def _run(args: argparse.Namespace, handler: Handler) -> int:
    from tessera.cli.common import database_error, open_existing_store
    from tessera.instances.model import InstanceError

    name = f"tessera instance {args.instance_command}"
    try:
        store = open_existing_store(name, args)
    except Exception as exc:
        print(f"{name}: {database_error(args.database_url, exc)}", file=sys.stderr)
        return 1
    if store is None:
        return 1
    try:
        result = handler(args, store)
    except InstanceError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in result.items():
            print(f"{key}: {value if isinstance(value, str) else json.dumps(value)}")
    return 0


def _now() -> Any:
    from tessera.clock import SystemClock

    return SystemClock().now().replace(microsecond=0)


def _create(args: argparse.Namespace, store: Any) -> dict[str, object]:
    from tessera.instances.registry import NewInstance, create_instance

    return create_instance(
        store,
        NewInstance(
            account_id=args.account,
            instance_profile=args.instance_profile,
            region=args.region,
            name=args.name,
            private_ipv4=args.private_ipv4,
            network=args.network,
            ttl_seconds=args.ttl,
        ),
        _now(),
    )


def _list(args: argparse.Namespace, store: Any) -> dict[str, object]:
    from tessera.instances.registry import list_all

    return {"instances": list_all(store, args.account)}


def _show(args: argparse.Namespace, store: Any) -> dict[str, object]:
    from tessera.instances.registry import describe, get

    return describe(store, get(store, args.instance_id))


def _disable(args: argparse.Namespace, store: Any) -> dict[str, object]:
    from tessera.instances.registry import set_state

    return set_state(store, args.instance_id, enabled=False)


def _enable(args: argparse.Namespace, store: Any) -> dict[str, object]:
    from tessera.instances.registry import set_state

    return set_state(store, args.instance_id, enabled=True)


def _delete(args: argparse.Namespace, store: Any) -> dict[str, object]:
    from tessera.instances.registry import delete

    return delete(store, args.instance_id)
