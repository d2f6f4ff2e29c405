"""IAM roles: Create/Get/List/Update/Delete, the trust policy (UpdateAssumeRolePolicy),
role descriptions and session-duration limits, and role tags. Trust policies are
returned URL-encoded, as IAM does, so SDKs decode them into dictionaries."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from tessera import arn as arns
from tessera.errors import DeleteConflict, UnmodifiableEntity
from tessera.iam.model import Role
from tessera.iam.ops_common import (
    TRUST_POLICY_LIMIT,
    account_of,
    already_exists,
    authorize_then_require,
    boundary_shape,
    check_boundary,
    encode_document,
    list_named,
    locate_with,
    name_key,
    no_such_role,
    now_of,
    owner,
    path_or_default,
    render_tags,
    tag_operations,
    tag_request_keys,
    tag_resource,
    tags_from,
    validate_policy_document,
)
from tessera.iam.ops_users import MUST_DELETE_POLICIES, MUST_DETACH_POLICIES
from tessera.iam.principal_ids import EntityReader, bind_principals, shown_trust
from tessera.ids import ROLE_PREFIX, new_unique_id
from tessera.operation import ContextValue, OperationContext, Result
from tessera.protocol.inputs import (
    CreateRoleMembers,
    DeleteRoleMembers,
    GetRoleMembers,
    ListRolesMembers,
    UpdateAssumeRolePolicyMembers,
    UpdateRoleDescriptionMembers,
    UpdateRoleMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.store.base import AlreadyExists

DEFAULT_MAX_SESSION_DURATION = 3600
# [C] DeleteRole / DeleteInstanceProfile while a role is in an instance profile
# (99designs/iamy#47 and #68, hashicorp/terraform-provider-aws#18534)
MUST_REMOVE_ROLES_FROM_PROFILES = (
    "Cannot delete entity, must remove roles from instance profile first."
)


def role_shape(store: EntityReader, role: Role) -> dict[str, object]:
    """The members ListRoles returns (no Tags, PermissionsBoundary or RoleLastUsed);
    the trust policy as it names principals now (``shown_trust``)."""
    shape: dict[str, object] = {
        "Path": role.path,
        "RoleName": role.name,
        "RoleId": role.role_id,
        "Arn": role.arn,
        "CreateDate": role.created_at,
        "AssumeRolePolicyDocument": encode_document(shown_trust(store, role)),
    }
    if role.description is not None:
        shape["Description"] = role.description
    shape["MaxSessionDuration"] = role.max_session_duration
    return shape


def role_last_used(role: Role) -> dict[str, object]:
    """``RoleLastUsed``: when (to the second) and in which region the role was last
    used; empty when it never was."""
    last_used: dict[str, object] = {}
    if role.last_used_at is not None:
        last_used["LastUsedDate"] = role.last_used_at.replace(microsecond=0)
        if role.last_used_region is not None:
            last_used["Region"] = role.last_used_region
    return last_used


def full_role_shape(ctx: OperationContext, role: Role) -> dict[str, object]:
    """GetRole/CreateRole/UpdateRoleDescription: with boundary, tags and last use."""
    shape = role_shape(ctx.store, role)
    boundary = boundary_shape(role.permissions_boundary)
    if boundary is not None:
        shape["PermissionsBoundary"] = boundary
    tags = ctx.store.get_tags(role.account_id, "role", role.name.lower())
    if tags:
        shape["Tags"] = render_tags(tags)
    shape["RoleLastUsed"] = role_last_used(role)
    return shape


def get_role_for(
    ctx: OperationContext,
    action: str,
    name: str,
    *,
    request_keys: Mapping[str, ContextValue] | None = None,
) -> Role:
    """Authorise ``action`` on the role's ARN, then require the role to exist."""
    account = account_of(ctx)
    return authorize_then_require(
        ctx,
        action,
        ctx.store.get_role(account, name),
        missing_arn=arns.role_arn(account, "/", name),
        missing=no_such_role(name),
        tag_type="role",
        tag_key=name_key,
        request_keys=request_keys,
    )


def protected_role(role_name: str) -> UnmodifiableEntity:
    # [C] "Cannot perform the operation on the protected role 'AWSServiceRoleForSupport'
    # - this role is only modifiable by AWS" (gruntwork-io/cloud-nuke#880, DetachRolePolicy;
    # rebuy-de/aws-nuke#331, DeleteRolePolicy)
    return UnmodifiableEntity(
        f"Cannot perform the operation on the protected role '{role_name}' - "
        "this role is only modifiable by AWS"
    )


def refuse_service_linked(ctx: OperationContext, role: Role) -> None:
    """Ordinary role operations may not change a service-linked role (only
    DeleteServiceLinkedRole deletes it, and its description may be edited)."""
    if ctx.store.service_linked_role_service(role.account_id, role.role_id) is not None:
        raise protected_role(role.name)


#: MaxSigninSessionDuration limits AWS console sign-in sessions; Tessera has no console
_NO_SIGNIN = "it limits AWS Management Console sign-in sessions, which Tessera does not have"


@operation("iam", "CreateRole", action="iam:CreateRole")
def create_role(ctx: OperationContext, params: Params[CreateRoleMembers]) -> Result:
    account = account_of(ctx)
    name = params.req_str("RoleName")
    path = path_or_default(params.get_str("Path"))
    document = params.req_str("AssumeRolePolicyDocument")
    boundary = params.get_str("PermissionsBoundary")
    duration = params.get_int("MaxSessionDuration")
    tags = tags_from(params)
    request_keys = tag_request_keys(tags)
    if boundary is not None:
        request_keys["iam:PermissionsBoundary"] = boundary
    ctx.authorize("iam:CreateRole", arns.role_arn(account, path, name), request_keys=request_keys)
    params.refuse("MaxSigninSessionDuration", _NO_SIGNIN)
    validate_policy_document(document, "trust", TRUST_POLICY_LIMIT)
    principal_ids = bind_principals(ctx.store, document)
    if boundary is not None:
        check_boundary(ctx, boundary)
    role = Role(
        account_id=account,
        name=name,
        path=path,
        role_id=new_unique_id(ROLE_PREFIX),
        created_at=now_of(ctx),
        trust_policy=document,
        trust_principal_ids=principal_ids,
        description=params.get_str("Description"),
        max_session_duration=DEFAULT_MAX_SESSION_DURATION if duration is None else duration,
        permissions_boundary=boundary,
    )
    try:
        ctx.store.create_role(role)
    except AlreadyExists as exc:
        raise already_exists("role", name) from exc
    if tags:
        tag_resource(ctx, "role", name.lower(), tags)
    shape = full_role_shape(ctx, role)
    # CreateRole's answer carries no RoleLastUsed and no MaxSessionDuration (recorded
    # AWS responses; GetRole and ListRoles do carry MaxSessionDuration)
    del shape["RoleLastUsed"]
    del shape["MaxSessionDuration"]
    return {"Role": shape}


@operation("iam", "GetRole", action="iam:GetRole")
def get_role(ctx: OperationContext, params: Params[GetRoleMembers]) -> Result:
    role = get_role_for(ctx, "iam:GetRole", params.req_str("RoleName"))
    return {"Role": full_role_shape(ctx, role)}


@operation("iam", "ListRoles", action="iam:ListRoles")
def list_roles(ctx: OperationContext, params: Params[ListRolesMembers]) -> Result:
    return list_named(
        ctx, params, "role", "Roles", ctx.store.list_roles, partial(role_shape, ctx.store)
    )


@operation("iam", "UpdateRole", action="iam:UpdateRole")
def update_role(ctx: OperationContext, params: Params[UpdateRoleMembers]) -> Result:
    role = get_role_for(ctx, "iam:UpdateRole", params.req_str("RoleName"))
    params.refuse("MaxSigninSessionDuration", _NO_SIGNIN)
    if params.get_int("MaxSessionDuration") is not None:
        refuse_service_linked(ctx, role)
    # Tessera never stores a console sign-in duration, so resetting it to the
    # default changes nothing: honoured as the no-op it is
    params.get_bool("ResetMaxSigninSessionDuration")
    values: dict[str, object] = {}
    description = params.get_str("Description")
    if description is not None:
        values["description"] = description
    duration = params.get_int("MaxSessionDuration")
    if duration is not None:
        values["max_session_duration"] = duration
    if values:
        ctx.store.update_role(role.account_id, role.name, **values)
    return {}


@operation("iam", "UpdateRoleDescription", action="iam:UpdateRoleDescription")
def update_role_description(
    ctx: OperationContext, params: Params[UpdateRoleDescriptionMembers]
) -> Result:
    role = get_role_for(ctx, "iam:UpdateRoleDescription", params.req_str("RoleName"))
    ctx.store.update_role(role.account_id, role.name, description=params.req_str("Description"))
    updated = ctx.store.get_role(role.account_id, role.name)
    assert updated is not None
    return {"Role": full_role_shape(ctx, updated)}


@operation("iam", "UpdateAssumeRolePolicy", action="iam:UpdateAssumeRolePolicy")
def update_assume_role_policy(
    ctx: OperationContext, params: Params[UpdateAssumeRolePolicyMembers]
) -> Result:
    role = get_role_for(ctx, "iam:UpdateAssumeRolePolicy", params.req_str("RoleName"))
    refuse_service_linked(ctx, role)
    document = params.req_str("PolicyDocument")
    validate_policy_document(document, "trust", TRUST_POLICY_LIMIT)
    principal_ids = bind_principals(ctx.store, document)
    ctx.store.set_trust_policy(role.account_id, role.name, document, principal_ids)
    return None


@operation("iam", "DeleteRole", action="iam:DeleteRole")
def delete_role(ctx: OperationContext, params: Params[DeleteRoleMembers]) -> Result:
    role = get_role_for(ctx, "iam:DeleteRole", params.req_str("RoleName"))
    refuse_service_linked(ctx, role)
    # the role, by unique id, in an instance profile (#16)
    if ctx.store.list_instance_profiles_for_role(role.account_id, role.role_id):
        raise DeleteConflict(MUST_REMOVE_ROLES_FROM_PROFILES)
    target = owner(ctx, "role", role.name)
    if ctx.store.attached_policies(target):
        raise DeleteConflict(MUST_DETACH_POLICIES)
    if ctx.store.list_inline_policies(target):
        raise DeleteConflict(MUST_DELETE_POLICIES)
    ctx.store.delete_role(role.account_id, role.name)
    return None


tag_operations("Role", "RoleName", "role", locate_with(get_role_for, name_key))
