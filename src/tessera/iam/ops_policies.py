"""IAM policies: inline policies of users, groups and roles (Put/Get/List/Delete),
customer managed policies and their versions, attachments (Attach/Detach/ListAttached*,
ListEntitiesForPolicy), policy tags and permissions boundaries.

AWS managed policies (``arn:aws:iam::aws:policy/…``, ``tessera.iam.aws_managed``) are
listed (``Scope=AWS|All``), read, attached and used as boundaries like customer ones,
with usage counted within the caller's account; they cannot be changed, deleted or
tagged (AccessDenied, as for any other account's policy), and the ``/aws-service-role/``
ones attach only to service-linked roles (PolicyNotAttachable). Service-linked roles
themselves refuse every change made through these operations (UnmodifiableEntity)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tessera import arn as arns
from tessera.errors import (
    AccessDenied,
    DeleteConflict,
    EntityAlreadyExists,
    LimitExceeded,
    NoSuchEntity,
    PolicyNotAttachable,
)
from tessera.iam import aws_managed
from tessera.iam.authz import denial_message
from tessera.iam.model import ManagedPolicy, PolicyVersion
from tessera.iam.ops_common import (
    GROUP_INLINE_LIMIT,
    MANAGED_POLICY_LIMIT,
    MAX_ATTACHED_POLICIES,
    MAX_POLICY_VERSIONS,
    ROLE_INLINE_LIMIT,
    USER_INLINE_LIMIT,
    account_of,
    check_boundary,
    check_inline_quota,
    encode_document,
    find_policy,
    get_policy,
    invalid_marker,
    list_resource,
    marker,
    max_items,
    no_such_policy,
    no_such_version,
    not_attachable,
    now_of,
    owner,
    paginate,
    path_or_default,
    render_tags,
    resource_tags,
    tag_operations,
    tag_request_keys,
    tag_resource,
    tags_from,
    validate_policy_document,
    with_truncation,
)
from tessera.iam.ops_roles import get_role_for, refuse_service_linked
from tessera.iam.ops_users import get_group_for, get_user_for
from tessera.ids import POLICY_PREFIX, new_unique_id
from tessera.operation import ContextValue, Handler, OperationContext, Result
from tessera.protocol.inputs import (
    CreatePolicyMembers,
    CreatePolicyVersionMembers,
    DeletePolicyMembers,
    DeletePolicyVersionMembers,
    GetPolicyMembers,
    GetPolicyVersionMembers,
    ListEntitiesForPolicyMembers,
    ListPoliciesMembers,
    ListPolicyVersionsMembers,
    SetDefaultPolicyVersionMembers,
)
from tessera.protocol.query import Params
from tessera.registry import Operation, declare, operation
from tessera.store.base import AlreadyExists, InvalidMarker
from tessera.store.records import Owner


@dataclass(frozen=True, slots=True)
class _EntityKind:
    """How one kind of policy holder (user, group, role) is named on the wire."""

    kind: str  # "user" | "group" | "role"
    title: str  # "User" | "Group" | "Role"
    name_param: str  # "UserName" | …
    inline_limit: int
    # (ctx, action, name, request keys) -> name
    resolve: Callable[[OperationContext, str, str, Mapping[str, ContextValue] | None], str]


def _resolve_user(
    ctx: OperationContext, action: str, name: str, keys: Mapping[str, ContextValue] | None
) -> str:
    return get_user_for(ctx, action, name, request_keys=keys).name


def _resolve_group(
    ctx: OperationContext, action: str, name: str, keys: Mapping[str, ContextValue] | None
) -> str:
    return get_group_for(ctx, action, name, request_keys=keys).name


#: role actions that change a role (refused on service-linked roles)
_ROLE_CHANGES = frozenset(
    f"iam:{a}"
    for a in (
        "PutRolePolicy",
        "DeleteRolePolicy",
        "AttachRolePolicy",
        "DetachRolePolicy",
        "PutRolePermissionsBoundary",
        "DeleteRolePermissionsBoundary",
    )
)


def _resolve_role(
    ctx: OperationContext, action: str, name: str, keys: Mapping[str, ContextValue] | None
) -> str:
    role = get_role_for(ctx, action, name, request_keys=keys)
    if action in _ROLE_CHANGES:
        refuse_service_linked(ctx, role)
    return role.name


USER = _EntityKind("user", "User", "UserName", USER_INLINE_LIMIT, _resolve_user)
GROUP = _EntityKind("group", "Group", "GroupName", GROUP_INLINE_LIMIT, _resolve_group)
ROLE = _EntityKind("role", "Role", "RoleName", ROLE_INLINE_LIMIT, _resolve_role)


def _holder(
    ctx: OperationContext,
    params: Params[Any],
    entity: _EntityKind,
    action: str,
    keys: Mapping[str, ContextValue] | None = None,
) -> Owner:
    name = entity.resolve(ctx, f"iam:{action}", params.req_str(entity.name_param), keys)
    return owner(ctx, entity.kind, name)


# --- inline policies --------------------------------------------------------------------


def _no_such_inline(entity: _EntityKind, policy_name: str) -> NoSuchEntity:
    # [C] "The role policy with name X cannot be found." (aws/aws-cli#6139);
    # the user and group forms follow the same pattern.
    return NoSuchEntity(f"The {entity.kind} policy with name {policy_name} cannot be found.")


def _put_inline(entity: _EntityKind) -> Handler:
    def handler(ctx: OperationContext, params: Params[Any]) -> Result:
        target = _holder(ctx, params, entity, f"Put{entity.title}Policy")
        name = params.req_str("PolicyName")
        document = params.req_str("PolicyDocument")
        validate_policy_document(document, entity.kind, entity.inline_limit)
        check_inline_quota(ctx, target, name, document, entity.inline_limit)
        ctx.store.put_inline_policy(target, name, document)
        return None

    return handler


def _get_inline(entity: _EntityKind) -> Handler:
    def handler(ctx: OperationContext, params: Params[Any]) -> Result:
        target = _holder(ctx, params, entity, f"Get{entity.title}Policy")
        name = params.req_str("PolicyName")
        policy = ctx.store.get_inline_policy(target, name)
        if policy is None:
            raise _no_such_inline(entity, name)
        return {
            entity.name_param: target.name,
            "PolicyName": policy.name,
            "PolicyDocument": encode_document(policy.document),
        }

    return handler


def _list_inline(entity: _EntityKind) -> Handler:
    def handler(ctx: OperationContext, params: Params[Any]) -> Result:
        target = _holder(ctx, params, entity, f"List{entity.title}Policies")
        names = [p.name for p in ctx.store.list_inline_policies(target)]
        page, nxt = paginate(names, params)
        return with_truncation({"PolicyNames": page}, nxt)

    return handler


def _delete_inline(entity: _EntityKind) -> Handler:
    def handler(ctx: OperationContext, params: Params[Any]) -> Result:
        target = _holder(ctx, params, entity, f"Delete{entity.title}Policy")
        name = params.req_str("PolicyName")
        if not ctx.store.delete_inline_policy(target, name):
            raise _no_such_inline(entity, name)
        return None

    return handler


# --- attachments ------------------------------------------------------------------------


def _attach(entity: _EntityKind) -> Handler:
    def handler(ctx: OperationContext, params: Params[Any]) -> Result:
        policy_arn = params.req_str("PolicyArn")
        name = entity.resolve(
            ctx,
            f"iam:Attach{entity.title}Policy",
            params.req_str(entity.name_param),
            {"iam:PolicyARN": policy_arn},
        )
        target = owner(ctx, entity.kind, name)
        if find_policy(ctx, policy_arn) is None:
            raise not_attachable(policy_arn)
        aws_policy = aws_managed.get(policy_arn)
        if aws_policy is not None and aws_policy.service_linked_only:
            raise _service_role_policy(entity)
        attached = ctx.store.attached_policies(target)
        already = any(p.arn == policy_arn for p in attached)
        if not already and len(attached) >= MAX_ATTACHED_POLICIES:
            # [C] "Cannot exceed quota for PoliciesPerRole: 10" (aws/eks-hybrid#741)
            raise LimitExceeded(
                f"Cannot exceed quota for PoliciesPer{entity.title}: {MAX_ATTACHED_POLICIES}"
            )
        ctx.store.attach_policy(target, policy_arn)
        return None

    return handler


def _service_role_policy(entity: _EntityKind) -> PolicyNotAttachable:
    """A ``/aws-service-role/`` policy attaches only to service-linked roles, which
    CreateServiceLinkedRole alone attaches policies to."""
    # [C] "Cannot attach a Service Role Policy to a Customer Role." (aws/aws-cdk#6131);
    # [I] the user and group forms follow it
    target = {"role": "Customer Role", "user": "User", "group": "Group"}[entity.kind]
    return PolicyNotAttachable(f"Cannot attach a Service Role Policy to a {target}.")


def _detach(entity: _EntityKind) -> Handler:
    def handler(ctx: OperationContext, params: Params[Any]) -> Result:
        policy_arn = params.req_str("PolicyArn")
        target = _holder(
            ctx, params, entity, f"Detach{entity.title}Policy", {"iam:PolicyARN": policy_arn}
        )
        if not ctx.store.detach_policy(target, policy_arn):
            raise no_such_policy(policy_arn)  # [I] "Policy <arn> was not found."
        return None

    return handler


def _list_attached(entity: _EntityKind) -> Handler:
    def handler(ctx: OperationContext, params: Params[Any]) -> Result:
        target = _holder(ctx, params, entity, f"ListAttached{entity.title}Policies")
        prefix = params.get_str("PathPrefix") or "/"
        policies = [p for p in ctx.store.attached_policies(target) if p.path.startswith(prefix)]
        page, nxt = paginate(policies, params)
        return with_truncation(
            {"AttachedPolicies": [{"PolicyName": p.name, "PolicyArn": p.arn} for p in page]},
            nxt,
        )

    return handler


# --- managed policies -------------------------------------------------------------------


def policy_shape(policy: ManagedPolicy, *, description: bool = True) -> dict[str, object]:
    shape: dict[str, object] = {
        "PolicyName": policy.name,
        "PolicyId": policy.policy_id,
        "Arn": policy.arn,
        "Path": policy.path,
        "DefaultVersionId": policy.default_version_id,
        "AttachmentCount": policy.attachment_count,
        "PermissionsBoundaryUsageCount": policy.boundary_usage_count,
        "IsAttachable": True,
    }
    if description and policy.description is not None:
        shape["Description"] = policy.description
    shape["CreateDate"] = policy.created_at
    shape["UpdateDate"] = policy.updated_at
    return shape


def version_shape(version: PolicyVersion, *, document: bool = True) -> dict[str, object]:
    shape: dict[str, object] = {}
    if document:
        shape["Document"] = encode_document(version.document)
    shape["VersionId"] = version.version_id
    shape["IsDefaultVersion"] = version.is_default
    shape["CreateDate"] = version.created_at
    return shape


def _policy_for(
    ctx: OperationContext,
    action: str,
    policy_arn: str,
    request_keys: Mapping[str, ContextValue] | None = None,
    *,
    change: bool = False,
) -> ManagedPolicy:
    """Authorise ``action`` on the policy, then require it to exist; ``change``:
    the action modifies, deletes or tags the policy, which no account may do to an
    AWS managed policy."""
    found = find_policy(ctx, policy_arn)
    tags = resource_tags(ctx, "policy", None if found is None else found.arn)
    ctx.authorize(action, policy_arn, request_keys=request_keys, resource_tags=tags)
    policy = get_policy(ctx, policy_arn)
    if change and policy.account_id == aws_managed.AWS_ACCOUNT:
        raise _not_yours(ctx, action, policy.arn)
    return policy


def _not_yours(ctx: OperationContext, action: str, policy_arn: str) -> AccessDenied:
    """AWS managed policies belong to AWS's account: changing one is a cross-account
    action that no resource-based policy allows. [I] the denial text of any
    cross-account call (an AWS capture for this case is not public)."""
    return AccessDenied(
        denial_message(
            ctx.caller.arn,
            action,
            policy_arn,
            f"because no resource-based policy allows the {action} action",
        )
    )


@operation("iam", "CreatePolicy", action="iam:CreatePolicy")
def create_policy(ctx: OperationContext, params: Params[CreatePolicyMembers]) -> Result:
    account = account_of(ctx)
    name = params.req_str("PolicyName")
    path = path_or_default(params.get_str("Path"))
    document = params.req_str("PolicyDocument")
    tags = tags_from(params)
    policy_arn = arns.policy_arn(account, path, name)
    ctx.authorize("iam:CreatePolicy", policy_arn, request_keys=tag_request_keys(tags))
    validate_policy_document(document, "managed", MANAGED_POLICY_LIMIT)
    now = now_of(ctx)
    policy = ManagedPolicy(
        account_id=account,
        name=name,
        path=path,
        policy_id=new_unique_id(POLICY_PREFIX),
        default_version_id="v1",
        created_at=now,
        updated_at=now,
        description=params.get_str("Description"),
    )
    try:
        ctx.store.create_managed_policy(policy, document)
    except AlreadyExists as exc:
        # [C] "A policy called X already exists. Duplicate names are not allowed."
        raise EntityAlreadyExists(
            f"A policy called {name} already exists. Duplicate names are not allowed."
        ) from exc
    if tags:
        tag_resource(ctx, "policy", policy.arn, tags)
    shape = policy_shape(policy)
    if tags:
        shape["Tags"] = render_tags(tags)
    return {"Policy": shape}


@operation("iam", "GetPolicy", action="iam:GetPolicy")
def get_policy_op(ctx: OperationContext, params: Params[GetPolicyMembers]) -> Result:
    policy = _policy_for(ctx, "iam:GetPolicy", params.req_str("PolicyArn"))
    shape = policy_shape(policy)
    tags = ctx.store.get_tags(policy.account_id, "policy", policy.arn)
    if tags:
        shape["Tags"] = render_tags(tags)
    return {"Policy": shape}


#: customer managed policies read per store page when Scope=All merges them with AWS's
_LOCAL_PAGE = 1000


def _in_use(usage: tuple[int, int], only_attached: bool, usage_filter: str | None) -> bool:
    """OnlyAttached: attached (PermissionsPolicy or no filter) or used as a boundary
    (PermissionsBoundary) at least once in the caller's account."""
    if not only_attached:
        return True
    return usage[1] > 0 if usage_filter == "PermissionsBoundary" else usage[0] > 0


def _local_policies(ctx: OperationContext, prefix: str) -> list[ManagedPolicy]:
    out: list[ManagedPolicy] = []
    next_marker: str | None = None
    while True:
        page = ctx.store.list_managed_policies(
            account_of(ctx), prefix, False, next_marker, _LOCAL_PAGE
        )
        out.extend(page.items)
        if page.marker is None:
            return out
        next_marker = page.marker


@operation("iam", "ListPolicies", action="iam:ListPolicies")
def list_policies(ctx: OperationContext, params: Params[ListPoliciesMembers]) -> Result:
    prefix = params.get_str("PathPrefix")
    ctx.authorize("iam:ListPolicies", list_resource(ctx, "policy", prefix))
    scope = params.get_str("Scope") or "All"
    only_attached = bool(params.get_bool("OnlyAttached"))
    usage_filter = params.get_str("PolicyUsageFilter")
    if scope == "Local":
        try:
            page = ctx.store.list_managed_policies(
                account_of(ctx),
                prefix or "/",
                only_attached and usage_filter != "PermissionsBoundary",
                marker(params),
                max_items(params),
            )
        except InvalidMarker as exc:
            raise invalid_marker() from exc
        items = page.items
        if only_attached and usage_filter == "PermissionsBoundary":
            items = [p for p in items if p.boundary_usage_count > 0]
        return with_truncation(
            {"Policies": [policy_shape(p, description=False) for p in items]}, page.marker
        )
    # All: the account's own (by name), then AWS's (in AWS's order); one offset
    # marker pages through both
    usage = ctx.store.policy_usage(account_of(ctx))
    none = (0, 0)
    path = prefix or "/"
    listed: list[aws_managed.AwsManagedPolicy | ManagedPolicy] = []
    if scope == "All":
        listed.extend(
            p
            for p in _local_policies(ctx, path)
            if _in_use((p.attachment_count, p.boundary_usage_count), only_attached, usage_filter)
        )
    listed.extend(
        p
        for p in aws_managed.all_policies()
        if p.path.startswith(path) and _in_use(usage.get(p.arn, none), only_attached, usage_filter)
    )
    page_items, nxt = paginate(listed, params)
    shapes = []
    for p in page_items:
        if isinstance(p, aws_managed.AwsManagedPolicy):
            p = p.as_managed(*usage.get(p.arn, none))
        shapes.append(policy_shape(p, description=False))
    return with_truncation({"Policies": shapes}, nxt)


@operation("iam", "DeletePolicy", action="iam:DeletePolicy")
def delete_policy(ctx: OperationContext, params: Params[DeletePolicyMembers]) -> Result:
    policy = _policy_for(ctx, "iam:DeletePolicy", params.req_str("PolicyArn"), change=True)
    if policy.attachment_count or policy.boundary_usage_count:
        raise DeleteConflict("Cannot delete a policy attached to entities.")  # [C]
    if len(ctx.store.list_policy_versions(policy.arn)) > 1:
        # [C]
        raise DeleteConflict(
            "This policy has more than one version. Before you delete a policy, you must "
            "delete the policy's versions. The default version is deleted with the policy."
        )
    ctx.store.delete_managed_policy(policy.arn)
    return None


@operation("iam", "CreatePolicyVersion", action="iam:CreatePolicyVersion")
def create_policy_version(
    ctx: OperationContext, params: Params[CreatePolicyVersionMembers]
) -> Result:
    policy = _policy_for(ctx, "iam:CreatePolicyVersion", params.req_str("PolicyArn"), change=True)
    document = params.req_str("PolicyDocument")
    validate_policy_document(document, "managed", MANAGED_POLICY_LIMIT)
    if len(ctx.store.list_policy_versions(policy.arn)) >= MAX_POLICY_VERSIONS:
        # [C]
        raise LimitExceeded(
            f"A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you "
            "create a new version, you must delete an existing version."
        )
    version = ctx.store.create_policy_version(
        policy.arn, document, bool(params.get_bool("SetAsDefault")), now_of(ctx)
    )
    return {"PolicyVersion": version_shape(version, document=False)}


def _versions_of(ctx: OperationContext, policy: ManagedPolicy) -> list[PolicyVersion]:
    """Newest first. An AWS managed policy has only its default version (the packaged
    snapshot holds no older ones)."""
    aws_policy = aws_managed.get(policy.arn)
    if aws_policy is not None:
        return [aws_policy.default_version()]
    return ctx.store.list_policy_versions(policy.arn)


def _version_for(
    ctx: OperationContext, action: str, params: Params[Any], *, change: bool = False
) -> PolicyVersion:
    policy = _policy_for(ctx, action, params.req_str("PolicyArn"), change=change)
    version_id = params.req_str("VersionId")
    aws_policy = aws_managed.get(policy.arn)
    if aws_policy is not None:
        default = aws_policy.default_version()
        version = default if default.version_id == version_id else None
    else:
        version = ctx.store.get_policy_version(policy.arn, version_id)
    if version is None:
        raise no_such_version(policy.arn, version_id)
    return version


@operation("iam", "GetPolicyVersion", action="iam:GetPolicyVersion")
def get_policy_version(ctx: OperationContext, params: Params[GetPolicyVersionMembers]) -> Result:
    version = _version_for(ctx, "iam:GetPolicyVersion", params)
    return {"PolicyVersion": version_shape(version)}


@operation("iam", "ListPolicyVersions", action="iam:ListPolicyVersions")
def list_policy_versions(
    ctx: OperationContext, params: Params[ListPolicyVersionsMembers]
) -> Result:
    policy = _policy_for(ctx, "iam:ListPolicyVersions", params.req_str("PolicyArn"))
    versions = _versions_of(ctx, policy)
    page, nxt = paginate(versions, params)
    return with_truncation({"Versions": [version_shape(v, document=False) for v in page]}, nxt)


@operation("iam", "DeletePolicyVersion", action="iam:DeletePolicyVersion")
def delete_policy_version(
    ctx: OperationContext, params: Params[DeletePolicyVersionMembers]
) -> Result:
    version = _version_for(ctx, "iam:DeletePolicyVersion", params, change=True)
    if version.is_default:
        raise DeleteConflict("Cannot delete the default version of a policy.")  # [C]
    ctx.store.delete_policy_version(version.policy_arn, version.version_id)
    return None


@operation("iam", "SetDefaultPolicyVersion", action="iam:SetDefaultPolicyVersion")
def set_default_policy_version(
    ctx: OperationContext, params: Params[SetDefaultPolicyVersionMembers]
) -> Result:
    version = _version_for(ctx, "iam:SetDefaultPolicyVersion", params, change=True)
    ctx.store.set_default_policy_version(version.policy_arn, version.version_id, now_of(ctx))
    return None


@operation("iam", "ListEntitiesForPolicy", action="iam:ListEntitiesForPolicy")
def list_entities_for_policy(
    ctx: OperationContext, params: Params[ListEntitiesForPolicyMembers]
) -> Result:
    policy = _policy_for(ctx, "iam:ListEntitiesForPolicy", params.req_str("PolicyArn"))
    entity_filter = params.get_str("EntityFilter")
    prefix = params.get_str("PathPrefix") or "/"
    usage_filter = params.get_str("PolicyUsageFilter")
    wanted_usage = {"PermissionsPolicy": "policy", "PermissionsBoundary": "boundary"}.get(
        usage_filter or ""
    )
    wanted_kind = {"User": "user", "Group": "group", "Role": "role"}.get(entity_filter or "")
    if entity_filter in ("LocalManagedPolicy", "AWSManagedPolicy"):
        wanted_kind = "none"  # no policy is attached to a policy
    entities = [
        e
        for e in ctx.store.entities_using_policy(account_of(ctx), policy.arn)
        if (wanted_usage is None or e[0] == wanted_usage)
        and (wanted_kind is None or e[1] == wanted_kind)
        and e[4].startswith(prefix)
    ]
    if wanted_usage is None:  # an entity both attached and bounded is listed once
        seen: set[tuple[str, str]] = set()
        unique = []
        for e in entities:
            if (e[1], e[2].lower()) not in seen:
                seen.add((e[1], e[2].lower()))
                unique.append(e)
        entities = unique
    page, nxt = paginate(entities, params)
    return with_truncation(
        {
            "PolicyGroups": [{"GroupName": e[2], "GroupId": e[3]} for e in page if e[1] == "group"],
            "PolicyUsers": [{"UserName": e[2], "UserId": e[3]} for e in page if e[1] == "user"],
            "PolicyRoles": [{"RoleName": e[2], "RoleId": e[3]} for e in page if e[1] == "role"],
        },
        nxt,
    )


# --- permissions boundaries -------------------------------------------------------------


def _put_boundary(entity: _EntityKind) -> Handler:
    def handler(ctx: OperationContext, params: Params[Any]) -> Result:
        boundary = params.req_str("PermissionsBoundary")
        target = _holder(ctx, params, entity, f"Put{entity.title}PermissionsBoundary")
        check_boundary(ctx, boundary)
        ctx.store.set_permissions_boundary(target, boundary)
        return None

    return handler


def _delete_boundary(entity: _EntityKind) -> Handler:
    def handler(ctx: OperationContext, params: Params[Any]) -> Result:
        target = _holder(ctx, params, entity, f"Delete{entity.title}PermissionsBoundary")
        ctx.store.set_permissions_boundary(target, None)
        return None

    return handler


def _declare_iam(name: str, handler: Handler) -> None:
    """Declare a factory-made handler (one per entity kind) as ``iam:<name>``."""
    declare(Operation("iam", name, handler, action=f"iam:{name}"))


for _entity in (USER, GROUP, ROLE):
    _t = _entity.title
    _declare_iam(f"Put{_t}Policy", _put_inline(_entity))
    _declare_iam(f"Get{_t}Policy", _get_inline(_entity))
    _declare_iam(f"List{_t}Policies", _list_inline(_entity))
    _declare_iam(f"Delete{_t}Policy", _delete_inline(_entity))
    _declare_iam(f"Attach{_t}Policy", _attach(_entity))
    _declare_iam(f"Detach{_t}Policy", _detach(_entity))
    _declare_iam(f"ListAttached{_t}Policies", _list_attached(_entity))
for _entity in (USER, ROLE):
    _declare_iam(f"Put{_entity.title}PermissionsBoundary", _put_boundary(_entity))
    _declare_iam(f"Delete{_entity.title}PermissionsBoundary", _delete_boundary(_entity))


def _locate_policy(
    ctx: OperationContext, action: str, policy_arn: str, keys: Mapping[str, ContextValue] | None
) -> tuple[str, str]:
    change = action != "iam:ListPolicyTags"
    policy = _policy_for(ctx, action, policy_arn, keys, change=change)
    return policy.account_id, policy.arn


tag_operations("Policy", "PolicyArn", "policy", _locate_policy)
