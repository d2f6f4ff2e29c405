"""``tessera org …``: organizations, OUs, and their SCPs / RCPs (the data the
policy engine evaluates), on the same data as the AWS Organizations API
(``tessera.organizations``); an organization created here has SCPs and RCPs
enabled on its root.

Every command works on the store directly (running servers see changes on their
next request) and prints one JSON object with ``--json`` (``show`` without it
prints an indented tree)::

    tessera org create --management-account 111111111111 --json
    tessera org ou create --org o-… --parent r-… --name prod --json
    tessera org account place --org o-… --account 222222222222 --parent ou-… --json
    tessera org account remove --org o-… --account 222222222222
    tessera org policy create --org o-… --type scp --name deny-iam --file deny.json --json
    tessera org policy update --policy p-… --file deny.json
    tessera org policy attach --policy p-… --target ou-…
    tessera org policy detach --policy p-… --target ou-…
    tessera org policy delete --policy p-…
    tessera org show --org o-… --json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tessera.iam.org_model import RCP, SCP, PolicyType

Handler = Callable[[argparse.Namespace, Any], dict[str, object]]


def register(subparsers: Any) -> None:
    from tessera.cli.common import add_data_dir_args

    p_org = subparsers.add_parser("org", help="organizations, OUs, SCPs and RCPs")
    org_sub = p_org.add_subparsers(dest="org_command", required=True)

    def command(parent: Any, name: str, help_text: str, handler: Handler) -> Any:
        p = parent.add_parser(name, help=help_text)
        add_data_dir_args(p)
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.set_defaults(func=lambda args: _run(args, handler))
        return p

    p = command(org_sub, "create", "create an organization", _create)
    p.add_argument(
        "--management-account",
        required=True,
        metavar="ID",
        help="the 12-digit id of an existing account; it becomes the management account "
        "(exempt from SCPs and RCPs)",
    )

    p = command(org_sub, "show", "print organizations, OUs, accounts and policies", _show)
    p.add_argument("--org", metavar="o-…", help="only this organization (default: all)")

    p_ou = org_sub.add_parser("ou", help="organizational units")
    ou_sub = p_ou.add_subparsers(dest="ou_command", required=True)
    p = command(ou_sub, "create", "create an OU under the root or another OU", _ou_create)
    _org_arg(p)
    p.add_argument("--parent", required=True, help="root id (r-…) or OU id (ou-…)")
    p.add_argument("--name", required=True, help="the OU's name")

    p_acc = org_sub.add_parser("account", help="member accounts")
    acc_sub = p_acc.add_subparsers(dest="org_account_command", required=True)
    p = command(acc_sub, "place", "add an account to the organization or move it", _place)
    _org_arg(p)
    _account_arg(p)
    p.add_argument("--parent", help="root id (r-…) or OU id (ou-…) (default: the root)")
    p = command(acc_sub, "remove", "take an account out of the organization", _remove)
    _org_arg(p)
    _account_arg(p)

    p_pol = org_sub.add_parser("policy", help="service and resource control policies")
    pol_sub = p_pol.add_subparsers(dest="org_policy_command", required=True)
    p = command(pol_sub, "create", "create an SCP or RCP", _policy_create)
    _org_arg(p)
    p.add_argument(
        "--type",
        required=True,
        choices=["scp", "rcp"],
        help="scp: service control policy (limits the accounts' principals); rcp: resource "
        "control policy (limits access to the accounts' resources)",
    )
    p.add_argument("--name", required=True, help="the policy's name")
    p.add_argument("--description", default="", help="free text (default empty)")
    _content_args(p)
    p = command(pol_sub, "update", "replace a policy's document", _policy_update)
    _policy_arg(p)
    _content_args(p)
    for name, handler, text in (
        ("attach", _attach, "attach a policy to the root, an OU or an account"),
        ("detach", _detach, "detach a policy from a target"),
    ):
        p = command(pol_sub, name, text, handler)
        _policy_arg(p)
        p.add_argument(
            "--target", required=True, help="root id (r-…), OU id (ou-…) or 12-digit account id"
        )
    p = command(pol_sub, "delete", "delete a detached policy", _policy_delete)
    _policy_arg(p)


def _org_arg(p: Any) -> None:
    p.add_argument("--org", required=True, metavar="o-…", help="the organization id")


def _account_arg(p: Any) -> None:
    p.add_argument("--account", required=True, metavar="ID", help="the 12-digit account id")


def _policy_arg(p: Any) -> None:
    p.add_argument("--policy", required=True, metavar="p-…", help="the policy id")


def _content_args(p: Any) -> None:
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--file", type=Path, help="the policy document (JSON file)")
    group.add_argument("--content", help="the policy document itself")


def _content(args: argparse.Namespace) -> str:
    if args.content is not None:
        return str(args.content)
    return Path(args.file).read_text(encoding="utf-8")


def _run(args: argparse.Namespace, handler: Handler) -> int:
    from tessera.cli.common import open_existing_store
    from tessera.iam.organizations import OrganizationService, OrgError

    name = f"tessera org {args.org_command}"
    store = open_existing_store(name, args)
    if store is None:
        return 1
    try:
        result = handler(args, OrganizationService(store))
    except (OrgError, OSError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.json:
        print(json.dumps(result, sort_keys=True))
    elif handler is _show:
        print(_show_text(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value if isinstance(value, str) else json.dumps(value)}")
    return 0


def _now() -> Any:
    from tessera.clock import SystemClock

    return SystemClock().now().replace(microsecond=0)


def _create(args: argparse.Namespace, svc: Any) -> dict[str, object]:
    org = svc.create_organization(args.management_account, _now())
    return {
        "org_id": org.org_id,
        "root_id": org.root_id,
        "management_account_id": org.management_account_id,
        "full_aws_access_policy_id": svc.full_access_id(org),
    }


def _ou_create(args: argparse.Namespace, svc: Any) -> dict[str, object]:
    ou = svc.create_org_unit(args.org, args.parent, args.name, _now())
    return {"ou_id": ou.ou_id, "parent_id": ou.parent_id, "name": ou.name}


def _place(args: argparse.Namespace, svc: Any) -> dict[str, object]:
    path = svc.place_account(args.org, args.account, args.parent)
    return {"account_id": args.account, "org_id": args.org, "org_path": path}


def _remove(args: argparse.Namespace, svc: Any) -> dict[str, object]:
    svc.remove_account(args.org, args.account)
    return {"account_id": args.account, "removed_from": args.org}


def _policy_create(args: argparse.Namespace, svc: Any) -> dict[str, object]:
    ptype: PolicyType = SCP if args.type == "scp" else RCP
    policy = svc.create_policy(
        args.org, ptype, args.name, _content(args), _now(), description=args.description
    )
    return {"policy_id": policy.policy_id, "type": policy.policy_type, "name": policy.name}


def _policy_update(args: argparse.Namespace, svc: Any) -> dict[str, object]:
    svc.update_policy(args.policy, _content(args))
    return {"policy_id": args.policy, "updated": True}


def _policy_delete(args: argparse.Namespace, svc: Any) -> dict[str, object]:
    svc.delete_policy(args.policy)
    return {"policy_id": args.policy, "deleted": True}


def _attach(args: argparse.Namespace, svc: Any) -> dict[str, object]:
    svc.attach(args.policy, args.target)
    return {"policy_id": args.policy, "target_id": args.target, "attached": True}


def _detach(args: argparse.Namespace, svc: Any) -> dict[str, object]:
    svc.detach(args.policy, args.target)
    return {"policy_id": args.policy, "target_id": args.target, "attached": False}


def _show(args: argparse.Namespace, svc: Any) -> dict[str, object]:
    store = svc.store
    orgs = [svc.organization(args.org)] if args.org else store.list_organizations()
    accounts = store.list_accounts()
    out: list[dict[str, object]] = []
    for org in orgs:
        out.append(
            {
                "org_id": org.org_id,
                "root_id": org.root_id,
                "management_account_id": org.management_account_id,
                "ous": [
                    {"ou_id": ou.ou_id, "parent_id": ou.parent_id, "name": ou.name}
                    for ou in store.list_org_units(org.org_id)
                ],
                "accounts": [
                    {"account_id": a.account_id, "org_path": a.ou_path}
                    for a in accounts
                    if a.org_id == org.org_id
                ],
                "policies": [
                    {
                        "policy_id": p.policy_id,
                        "type": p.policy_type,
                        "name": p.name,
                        "aws_managed": p.aws_managed,
                        "targets": store.targets_of_org_policy(p.policy_id),
                    }
                    for p in store.list_org_policies(org.org_id)
                ],
            }
        )
    return {"organizations": out}


def _show_text(result: dict[str, object]) -> str:
    """``org show`` for people: each organization as an indented tree of its root,
    OUs and accounts, with the policies attached to each, then its policies."""
    orgs = result.get("organizations")
    assert isinstance(orgs, list)
    if not orgs:
        return "No organizations."
    return "\n".join(line for org in orgs for line in _org_tree(org))


def _org_tree(org: dict[str, Any]) -> list[str]:
    policies: dict[str, Any] = {p["policy_id"]: p for p in org["policies"]}
    children: dict[str, list[dict[str, Any]]] = {}
    for ou in org["ous"]:
        children.setdefault(ou["parent_id"], []).append(ou)
    accounts: dict[str, list[str]] = {}
    for acc in org["accounts"]:
        parent = str(acc["org_path"] or "").rstrip("/").rsplit("/", 1)[-1]
        accounts.setdefault(parent, []).append(acc["account_id"])
    out = [f"organization {org['org_id']}  management account {org['management_account_id']}"]
    short = {"SERVICE_CONTROL_POLICY": "SCP", "RESOURCE_CONTROL_POLICY": "RCP"}

    def attached(target: str) -> str:
        names = [
            f"{short.get(p['type'], p['type'])} {p['name']}"
            for p in policies.values()
            if target in p["targets"]
        ]
        return f"  [{', '.join(names)}]" if names else ""

    def walk(node: str, depth: int) -> None:
        pad = "  " * depth
        for account_id in sorted(accounts.get(node, [])):
            out.append(f"{pad}account {account_id}{attached(account_id)}")
        for ou in sorted(children.get(node, []), key=lambda o: str(o["name"])):
            out.append(f"{pad}ou {ou['ou_id']} {ou['name']}{attached(ou['ou_id'])}")
            walk(ou["ou_id"], depth + 1)

    out.append(f"  root {org['root_id']}{attached(org['root_id'])}")
    walk(org["root_id"], 2)
    for pid, p in policies.items():
        where = ", ".join(p["targets"]) or "not attached"
        managed = ", AWS managed" if p["aws_managed"] else ""
        kind = short.get(p["type"], p["type"])
        out.append(f"  policy {pid} {kind} {p['name']}{managed}: attached to {where}")
    return out
