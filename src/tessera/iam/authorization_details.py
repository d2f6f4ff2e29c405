"""GetAccountAuthorizationDetails: every user, group, role and managed policy of
the account with everything that grants it permissions (inline policies, attached
managed policies, group memberships, permissions boundaries, tags, last use), in
AWS's shape — what IAM auditors (cloudsplaining, PMapper …) read.

Order and pagination: users, then groups, then roles, then policies (each by name),
one ``MaxItems`` page over the whole sequence. ``Filter`` keeps entity types;
``LocalManagedPolicy`` lists every customer managed policy, ``AWSManagedPolicy`` the
AWS managed policies attached somewhere in the account (with all their versions).
Policy documents are URL-encoded as IAM returns them. ``InstanceProfileList`` is
empty: this server does not store instance profiles yet."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final, TypeVar

from tessera.iam.model import Group, ManagedPolicy, Page, Role, User
from tessera.iam.ops_common import (
    account_of,
    boundary_shape,
    encode_document,
    owner,
    paginate,
    render_tags,
    with_truncation,
)
from tessera.iam.ops_policies import policy_shape, version_shape
from tessera.iam.ops_roles import role_last_used, role_shape
from tessera.iam.ops_users import group_shape, user_shape
from tessera.operation import OperationContext, Result
from tessera.protocol.inputs import GetAccountAuthorizationDetailsMembers
from tessera.protocol.query import Params
from tessera.registry import operation

T = TypeVar("T")
_BATCH: Final = 1000
FILTERS: Final = ("User", "Group", "Role", "LocalManagedPolicy", "AWSManagedPolicy")
_LISTS: Final = {
    "User": "UserDetailList",
    "Group": "GroupDetailList",
    "Role": "RoleDetailList",
    "LocalManagedPolicy": "Policies",
    "AWSManagedPolicy": "Policies",
}


def _all(fetch: Callable[[str, str, str | None, int], Page[T]], account: str) -> Iterator[T]:
    marker: str | None = None
    while True:
        page = fetch(account, "/", marker, _BATCH)
        yield from page.items
        if page.marker is None:
            return
        marker = page.marker


def _attached(policies: list[ManagedPolicy]) -> list[dict[str, object]]:
    return [{"PolicyName": p.name, "PolicyArn": p.arn} for p in policies]


def _inline(ctx: OperationContext, kind: str, name: str) -> list[dict[str, object]]:
    return [
        {"PolicyName": p.name, "PolicyDocument": encode_document(p.document)}
        for p in ctx.store.list_inline_policies(owner(ctx, kind, name))
    ]


def _user_detail(ctx: OperationContext, user: User) -> dict[str, object]:
    account = account_of(ctx)
    shape = user_shape(user)
    inline = _inline(ctx, "user", user.name)
    if inline:
        shape["UserPolicyList"] = inline
    shape["GroupList"] = [g.name for g in ctx.store.groups_for_user(account, user.name)]
    shape["AttachedManagedPolicies"] = _attached(
        ctx.store.attached_policies(owner(ctx, "user", user.name))
    )
    boundary = boundary_shape(user.permissions_boundary)
    if boundary is not None:
        shape["PermissionsBoundary"] = boundary
    shape["Tags"] = render_tags(ctx.store.get_tags(account, "user", user.name.lower()))
    return shape


def _group_detail(ctx: OperationContext, group: Group) -> dict[str, object]:
    return {
        **group_shape(group),
        "GroupPolicyList": _inline(ctx, "group", group.name),
        "AttachedManagedPolicies": _attached(
            ctx.store.attached_policies(owner(ctx, "group", group.name))
        ),
    }


def _role_detail(ctx: OperationContext, role: Role) -> dict[str, object]:
    base = role_shape(ctx.store, role)
    shape: dict[str, object] = {
        "Path": role.path,
        "RoleName": role.name,
        "RoleId": role.role_id,
        "Arn": role.arn,
        "CreateDate": role.created_at,
        "AssumeRolePolicyDocument": base["AssumeRolePolicyDocument"],
        "InstanceProfileList": [],
        "RolePolicyList": _inline(ctx, "role", role.name),
        "AttachedManagedPolicies": _attached(
            ctx.store.attached_policies(owner(ctx, "role", role.name))
        ),
    }
    boundary = boundary_shape(role.permissions_boundary)
    if boundary is not None:
        shape["PermissionsBoundary"] = boundary
    shape["Tags"] = render_tags(ctx.store.get_tags(role.account_id, "role", role.name.lower()))
    shape["RoleLastUsed"] = role_last_used(role)
    return shape


def _policy_detail(
    ctx: OperationContext, policy: ManagedPolicy, usage: dict[str, list[int]]
) -> dict[str, object]:
    counts = usage.get(policy.arn, [0, 0])
    shape = policy_shape(policy)
    shape["AttachmentCount"] = counts[0]
    shape["PermissionsBoundaryUsageCount"] = counts[1]
    versions = [version_shape(v) for v in ctx.store.list_policy_versions(policy.arn)]
    if not versions:  # an AWS managed policy: its default version only
        document = ctx.store.get_default_policy_document(policy.arn)
        if document is not None:
            versions = [
                {
                    "Document": encode_document(document),
                    "VersionId": policy.default_version_id,
                    "IsDefaultVersion": True,
                    "CreateDate": policy.updated_at,
                }
            ]
    shape["PolicyVersionList"] = versions
    return shape


@operation("iam", "GetAccountAuthorizationDetails", action="iam:GetAccountAuthorizationDetails")
def get_account_authorization_details(
    ctx: OperationContext, params: Params[GetAccountAuthorizationDetailsMembers]
) -> Result:
    wanted = set(params.get_str_list("Filter") or FILTERS)
    ctx.authorize("iam:GetAccountAuthorizationDetails", "*")
    account = account_of(ctx)
    store = ctx.store
    users = list(_all(store.list_users, account))
    groups = list(_all(store.list_groups, account))
    roles = list(_all(store.list_roles, account))

    # where each managed policy is used: [attachments, boundary uses]
    usage: dict[str, list[int]] = {}
    aws_policies: dict[str, ManagedPolicy] = {}
    for kind, names in (
        ("user", [u.name for u in users]),
        ("group", [g.name for g in groups]),
        ("role", [r.name for r in roles]),
    ):
        for name in names:
            for policy in store.attached_policies(owner(ctx, kind, name)):
                usage.setdefault(policy.arn, [0, 0])[0] += 1
                if policy.account_id != account:
                    aws_policies.setdefault(policy.arn, policy)
    for boundary in [u.permissions_boundary for u in users] + [
        r.permissions_boundary for r in roles
    ]:
        if boundary is not None:
            usage.setdefault(boundary, [0, 0])[1] += 1

    items: list[tuple[str, Callable[[], dict[str, object]]]] = []
    if "User" in wanted:
        items += [("User", lambda u=u: _user_detail(ctx, u)) for u in users]  # type: ignore[misc]
    if "Group" in wanted:
        items += [("Group", lambda g=g: _group_detail(ctx, g)) for g in groups]  # type: ignore[misc]
    if "Role" in wanted:
        items += [("Role", lambda r=r: _role_detail(ctx, r)) for r in roles]  # type: ignore[misc]
    if "LocalManagedPolicy" in wanted:
        local = _all(lambda a, p, m, n: store.list_managed_policies(a, p, False, m, n), account)
        items += [
            ("LocalManagedPolicy", lambda p=p: _policy_detail(ctx, p, usage))  # type: ignore[misc]
            for p in local
        ]
    if "AWSManagedPolicy" in wanted:
        items += [
            ("AWSManagedPolicy", lambda p=p: _policy_detail(ctx, p, usage))  # type: ignore[misc]
            for p in sorted(aws_policies.values(), key=lambda p: p.name.lower())
        ]
    page, nxt = paginate(items, params)
    result: dict[str, object] = {
        "UserDetailList": [],
        "GroupDetailList": [],
        "RoleDetailList": [],
        "Policies": [],
    }
    for kind, build in page:
        entries = result[_LISTS[kind]]
        assert isinstance(entries, list)
        entries.append(build())
    return with_truncation(result, nxt)
