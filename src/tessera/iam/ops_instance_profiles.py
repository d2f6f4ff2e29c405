"""IAM instance profiles (#16 "IAM instance profiles"): Create/Get/Delete/List,
Add/RemoveRoleToInstanceProfile (one role per profile, ``iam:PassRole`` on the
role as AWS checks it), ListInstanceProfilesForRole, the profile's tags, and the
lookups a later feature (instances) uses: ``profile_role`` and
``instance_profile_with_role``.

A profile holds its role by the role's unique id: a role deleted and created
again under the same name is not in the profile (DeleteRole refuses while a role
is in a profile; the binding covers the rest).

Texts: **[C]** seen verbatim in real AWS answers quoted in public threads,
**[I]** inferred."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from tessera.errors import DeleteConflict, EntityAlreadyExists, LimitExceeded, NoSuchEntity
from tessera.iam.instance_profile_model import (
    INSTANCE_PROFILE_PREFIX,
    InstanceProfile,
    instance_profile_arn,
)
from tessera.iam.model import Role
from tessera.iam.ops_common import (
    account_of,
    authorize_then_require,
    list_named,
    locate_with,
    name_key,
    now_of,
    paginate,
    path_or_default,
    render_tags,
    tag_operations,
    tag_request_keys,
    tag_resource,
    tags_from,
    with_truncation,
)
from tessera.iam.ops_roles import MUST_REMOVE_ROLES_FROM_PROFILES, get_role_for, role_shape
from tessera.ids import new_unique_id
from tessera.operation import ContextValue, OperationContext, Result
from tessera.protocol.inputs import (
    AddRoleToInstanceProfileMembers,
    CreateInstanceProfileMembers,
    DeleteInstanceProfileMembers,
    GetInstanceProfileMembers,
    ListInstanceProfilesForRoleMembers,
    ListInstanceProfilesMembers,
    RemoveRoleFromInstanceProfileMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.store.base import AlreadyExists
from tessera.store.identities import IdentityStore
from tessera.store.instance_profiles import InstanceProfileStore

TAG_RESOURCE_TYPE: Final = "instance-profile"
MAX_ROLES_PER_PROFILE: Final = 1

MUST_REMOVE_ROLES: Final = MUST_REMOVE_ROLES_FROM_PROFILES
# [C] AddRoleToInstanceProfile on a profile that has a role
ROLE_QUOTA: Final = (
    f"Cannot exceed quota for InstanceSessionsPerInstanceProfile: {MAX_ROLES_PER_PROFILE}"
)


def no_such_profile(name: str) -> NoSuchEntity:
    return NoSuchEntity(f"Instance Profile {name} cannot be found.")  # [C]


# --- lookups (also for the instances feature) -----------------------------------------


class _Reader(InstanceProfileStore, IdentityStore):
    """What the lookups need of the store."""


def profile_role(store: IdentityStore, profile: InstanceProfile) -> Role | None:
    """The role in ``profile``, found by unique id (None: empty, or its role is gone)."""
    if profile.role_id is None:
        return None
    role = store.get_role_by_id(profile.role_id)
    return role if role is not None and role.account_id == profile.account_id else None


def instance_profile_with_role(
    store: _Reader, arn: str
) -> tuple[InstanceProfile, Role | None] | None:
    """The profile an instance profile ARN names and the role it holds now."""
    profile = store.get_instance_profile_by_arn(arn)
    if profile is None:
        return None
    return profile, profile_role(store, profile)


def profile_shape(
    ctx: OperationContext, profile: InstanceProfile, *, with_tags: bool
) -> dict[str, object]:
    role = profile_role(ctx.store, profile)
    shape: dict[str, object] = {
        "Path": profile.path,
        "InstanceProfileName": profile.name,
        "InstanceProfileId": profile.profile_id,
        "Arn": profile.arn,
        "CreateDate": profile.created_at,
        "Roles": [] if role is None else [role_shape(ctx.store, role)],
    }
    if with_tags:
        tags = ctx.store.get_tags(profile.account_id, TAG_RESOURCE_TYPE, name_key(profile))
        if tags:
            shape["Tags"] = render_tags(tags)
    return shape


def get_profile_for(
    ctx: OperationContext,
    action: str,
    name: str,
    *,
    request_keys: Mapping[str, ContextValue] | None = None,
) -> InstanceProfile:
    """Authorise ``action`` on the profile's ARN, then require the profile."""
    account = account_of(ctx)
    return authorize_then_require(
        ctx,
        action,
        ctx.store.get_instance_profile(account, name),
        missing_arn=instance_profile_arn(account, "/", name),
        missing=no_such_profile(name),
        tag_type=TAG_RESOURCE_TYPE,
        tag_key=name_key,
        request_keys=request_keys,
    )


# --- operations -------------------------------------------------------------------------


@operation("iam", "CreateInstanceProfile", action="iam:CreateInstanceProfile")
def create_instance_profile(
    ctx: OperationContext, params: Params[CreateInstanceProfileMembers]
) -> Result:
    account = account_of(ctx)
    name = params.req_str("InstanceProfileName")
    path = path_or_default(params.get_str("Path"))
    tags = tags_from(params)
    ctx.authorize(
        "iam:CreateInstanceProfile",
        instance_profile_arn(account, path, name),
        request_keys=tag_request_keys(tags) or None,
    )
    profile = InstanceProfile(
        account_id=account,
        name=name,
        path=path,
        profile_id=new_unique_id(INSTANCE_PROFILE_PREFIX),
        created_at=now_of(ctx),
    )
    try:
        ctx.store.create_instance_profile(profile)
    except AlreadyExists as exc:
        raise EntityAlreadyExists(f"Instance Profile {name} already exists.") from exc  # [C]
    if tags:
        tag_resource(ctx, TAG_RESOURCE_TYPE, name.lower(), tags)
    return {"InstanceProfile": profile_shape(ctx, profile, with_tags=True)}


@operation("iam", "GetInstanceProfile", action="iam:GetInstanceProfile")
def get_instance_profile(
    ctx: OperationContext, params: Params[GetInstanceProfileMembers]
) -> Result:
    profile = get_profile_for(ctx, "iam:GetInstanceProfile", params.req_str("InstanceProfileName"))
    return {"InstanceProfile": profile_shape(ctx, profile, with_tags=True)}


@operation("iam", "DeleteInstanceProfile", action="iam:DeleteInstanceProfile")
def delete_instance_profile(
    ctx: OperationContext, params: Params[DeleteInstanceProfileMembers]
) -> Result:
    profile = get_profile_for(
        ctx, "iam:DeleteInstanceProfile", params.req_str("InstanceProfileName")
    )
    if profile_role(ctx.store, profile) is not None:
        raise DeleteConflict(MUST_REMOVE_ROLES)
    # the role id it holds, if any, names a role that no longer exists
    if not ctx.store.delete_instance_profile(
        profile.account_id, profile.name, expected=profile.role_id
    ):
        raise DeleteConflict(MUST_REMOVE_ROLES)  # a role was added meanwhile
    return None


@operation("iam", "ListInstanceProfiles", action="iam:ListInstanceProfiles")
def list_instance_profiles(
    ctx: OperationContext, params: Params[ListInstanceProfilesMembers]
) -> Result:
    # like every IAM List* call, without tags (GetInstanceProfile has them)
    return list_named(
        ctx,
        params,
        "instance-profile",
        "InstanceProfiles",
        ctx.store.list_instance_profiles,
        lambda p: profile_shape(ctx, p, with_tags=False),
    )


@operation("iam", "AddRoleToInstanceProfile", action="iam:AddRoleToInstanceProfile")
def add_role_to_instance_profile(
    ctx: OperationContext, params: Params[AddRoleToInstanceProfileMembers]
) -> Result:
    role_name = params.req_str("RoleName")
    profile = get_profile_for(
        ctx, "iam:AddRoleToInstanceProfile", params.req_str("InstanceProfileName")
    )
    # AWS: "The caller of this operation must be granted the PassRole permission on
    # the IAM role by a permissions policy."
    role = get_role_for(ctx, "iam:PassRole", role_name)
    current = profile_role(ctx.store, profile)
    if current is not None:
        raise LimitExceeded(ROLE_QUOTA)
    # a stale id (its role is gone) is replaced; a concurrent add wins once only
    if not ctx.store.set_instance_profile_role(
        profile.account_id, profile.name, role.role_id, expected=profile.role_id
    ):
        raise LimitExceeded(ROLE_QUOTA)
    return None


@operation("iam", "RemoveRoleFromInstanceProfile", action="iam:RemoveRoleFromInstanceProfile")
def remove_role_from_instance_profile(
    ctx: OperationContext, params: Params[RemoveRoleFromInstanceProfileMembers]
) -> Result:
    role_name = params.req_str("RoleName")
    profile = get_profile_for(
        ctx, "iam:RemoveRoleFromInstanceProfile", params.req_str("InstanceProfileName")
    )
    role = ctx.store.get_role(profile.account_id, role_name)
    if role is None:
        raise NoSuchEntity(f"The role with name {role_name} cannot be found.")  # [C]
    if profile.role_id != role.role_id or not ctx.store.set_instance_profile_role(
        profile.account_id, profile.name, None, expected=role.role_id
    ):
        # [I]
        raise NoSuchEntity(f"Role {role.name} in Instance Profile {profile.name} cannot be found.")
    return None


@operation("iam", "ListInstanceProfilesForRole", action="iam:ListInstanceProfilesForRole")
def list_instance_profiles_for_role(
    ctx: OperationContext, params: Params[ListInstanceProfilesForRoleMembers]
) -> Result:
    role = get_role_for(ctx, "iam:ListInstanceProfilesForRole", params.req_str("RoleName"))
    profiles = ctx.store.list_instance_profiles_for_role(role.account_id, role.role_id)
    page, nxt = paginate(profiles, params)
    items = [profile_shape(ctx, p, with_tags=False) for p in page]
    return with_truncation({"InstanceProfiles": items}, nxt)


tag_operations(
    "InstanceProfile",
    "InstanceProfileName",
    TAG_RESOURCE_TYPE,
    locate_with(get_profile_for, name_key),
)
