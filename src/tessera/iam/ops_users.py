"""IAM users, groups, group membership and access keys: Create/Get/List/Update/Delete
for users and groups, user tags, Add/RemoveUserToGroup, ListGroupsForUser and the
access-key operations (at most two keys per user, secrets shown once)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tessera import arn as arns
from tessera.errors import DeleteConflict, LimitExceeded
from tessera.iam.model import AccessKey, Group, User
from tessera.iam.ops_common import (
    MAX_ACCESS_KEYS,
    account_of,
    already_exists,
    authorize_then_require,
    boundary_shape,
    check_boundary,
    get_group,
    get_user,
    list_named,
    list_resource,
    locate_with,
    name_key,
    no_such_access_key,
    no_such_user,
    now_of,
    owner,
    paginate,
    path_or_default,
    render_tags,
    require_user_credentials,
    tag_operations,
    tag_request_keys,
    tag_resource,
    tags_from,
    with_truncation,
)
from tessera.ids import (
    GROUP_PREFIX,
    USER_PREFIX,
    new_access_key_id,
    new_secret_access_key,
    new_unique_id,
)
from tessera.operation import ContextValue, OperationContext, Result
from tessera.protocol.inputs import (
    AddUserToGroupMembers,
    CreateAccessKeyMembers,
    CreateGroupMembers,
    CreateUserMembers,
    DeleteAccessKeyMembers,
    DeleteGroupMembers,
    DeleteUserMembers,
    GetAccessKeyLastUsedMembers,
    GetGroupMembers,
    GetUserMembers,
    ListAccessKeysMembers,
    ListGroupsForUserMembers,
    ListGroupsMembers,
    ListUsersMembers,
    RemoveUserFromGroupMembers,
    UpdateAccessKeyMembers,
    UpdateGroupMembers,
    UpdateUserMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.store.base import AlreadyExists

# [C] mozilla-services/userplex#17 (DeleteUser) and hashicorp/terraform#29147 (DeleteGroup)
MUST_REMOVE_FROM_GROUP = "Cannot delete entity, must remove users from group first."
MUST_DELETE_KEYS = "Cannot delete entity, must delete access keys first."  # [C]
MUST_DELETE_POLICIES = "Cannot delete entity, must delete policies first."  # [C]
MUST_DETACH_POLICIES = "Cannot delete entity, must detach all policies first."  # [C]
MUST_DELETE_LOGIN_PROFILE = "Cannot delete entity, must delete login profile first."  # [C]


# --- shapes -----------------------------------------------------------------------------


def user_shape(user: User) -> dict[str, object]:
    return {
        "Path": user.path,
        "UserName": user.name,
        "UserId": user.user_id,
        "Arn": user.arn,
        "CreateDate": user.created_at,
    }


def full_user_shape(ctx: OperationContext, user: User) -> dict[str, object]:
    """GetUser/CreateUser: with PermissionsBoundary and Tags (List* leave them out)."""
    shape = user_shape(user)
    boundary = boundary_shape(user.permissions_boundary)
    if boundary is not None:
        shape["PermissionsBoundary"] = boundary
    tags = ctx.store.get_tags(user.account_id, "user", user.name.lower())
    if tags:
        shape["Tags"] = render_tags(tags)
    return shape


def group_shape(group: Group) -> dict[str, object]:
    return {
        "Path": group.path,
        "GroupName": group.name,
        "GroupId": group.group_id,
        "Arn": group.arn,
        "CreateDate": group.created_at,
    }


def _key_metadata(key: AccessKey) -> dict[str, object]:
    shape: dict[str, object] = {}
    if key.user_name is not None:
        shape["UserName"] = key.user_name
    shape.update(
        {"AccessKeyId": key.access_key_id, "Status": key.status, "CreateDate": key.created_at}
    )
    return shape


# --- users ------------------------------------------------------------------------------


@operation("iam", "CreateUser", action="iam:CreateUser")
def create_user(ctx: OperationContext, params: Params[CreateUserMembers]) -> Result:
    account = account_of(ctx)
    name = params.req_str("UserName")
    path = path_or_default(params.get_str("Path"))
    boundary = params.get_str("PermissionsBoundary")
    tags = tags_from(params)
    request_keys = tag_request_keys(tags)
    if boundary is not None:
        request_keys["iam:PermissionsBoundary"] = boundary
    ctx.authorize("iam:CreateUser", arns.user_arn(account, path, name), request_keys=request_keys)
    if boundary is not None:
        check_boundary(ctx, boundary)
    user = User(
        account_id=account,
        name=name,
        path=path,
        user_id=new_unique_id(USER_PREFIX),
        created_at=now_of(ctx),
        permissions_boundary=boundary,
    )
    try:
        ctx.store.create_user(user)
    except AlreadyExists as exc:
        raise already_exists("user", name) from exc
    if tags:
        tag_resource(ctx, "user", name.lower(), tags)
    return {"User": full_user_shape(ctx, user)}


@operation("iam", "GetUser", action="iam:GetUser")
def get_user_op(ctx: OperationContext, params: Params[GetUserMembers]) -> Result:
    account = account_of(ctx)
    name = params.get_str("UserName")
    if name is None:
        name = require_user_credentials(ctx)
        if name is None:
            # The account root: no UserName and no Path (aws-vault#152, grycap/scar#181).
            ctx.authorize("iam:GetUser", arns.root_arn(account))
            acct = ctx.store.get_account(account)
            root: dict[str, object] = {"UserId": account, "Arn": arns.root_arn(account)}
            if acct is not None:
                root["CreateDate"] = acct.created_at.replace(microsecond=0)
            return {"User": root}
    user = ctx.store.get_user(account, name)
    ctx.authorize(
        "iam:GetUser", user.arn if user is not None else arns.user_arn(account, "/", name)
    )
    if user is None:
        raise no_such_user(name)
    return {"User": full_user_shape(ctx, user)}


@operation("iam", "ListUsers", action="iam:ListUsers")
def list_users(ctx: OperationContext, params: Params[ListUsersMembers]) -> Result:
    return list_named(ctx, params, "user", "Users", ctx.store.list_users, user_shape)


@operation("iam", "UpdateUser", action="iam:UpdateUser")
def update_user(ctx: OperationContext, params: Params[UpdateUserMembers]) -> Result:
    account = account_of(ctx)
    name = params.req_str("UserName")
    new_name = params.get_str("NewUserName")
    new_path = params.get_str("NewPath")
    user = ctx.store.get_user(account, name)
    ctx.authorize(
        "iam:UpdateUser", user.arn if user is not None else arns.user_arn(account, "/", name)
    )
    if user is None:
        raise no_such_user(name)
    if new_name is not None and new_name.lower() != user.name.lower():
        if ctx.store.get_user(account, new_name) is not None:
            raise already_exists("user", new_name)
    try:
        ctx.store.update_user(account, user.name, new_name, new_path)
    except AlreadyExists as exc:
        raise already_exists("user", new_name or name) from exc
    return None


@operation("iam", "DeleteUser", action="iam:DeleteUser")
def delete_user(ctx: OperationContext, params: Params[DeleteUserMembers]) -> Result:
    account = account_of(ctx)
    name = params.req_str("UserName")
    user = ctx.store.get_user(account, name)
    ctx.authorize(
        "iam:DeleteUser", user.arn if user is not None else arns.user_arn(account, "/", name)
    )
    if user is None:
        raise no_such_user(name)
    target = owner(ctx, "user", user.name)
    if ctx.store.list_access_keys(account, user.name):
        raise DeleteConflict(MUST_DELETE_KEYS)
    if ctx.store.list_inline_policies(target):
        raise DeleteConflict(MUST_DELETE_POLICIES)
    if ctx.store.attached_policies(target):
        raise DeleteConflict(MUST_DETACH_POLICIES)
    if ctx.store.groups_for_user(account, user.name):
        raise DeleteConflict(MUST_REMOVE_FROM_GROUP)
    if ctx.store.get_login_profile(user.user_id) is not None:
        raise DeleteConflict(MUST_DELETE_LOGIN_PROFILE)
    if ctx.store.list_mfa_devices(account, user_name=user.name, assigned=True):
        raise DeleteConflict("Cannot delete entity, must delete MFA device first.")
    # signing certificates, SSH keys, service-specific credentials (#17)
    from tessera.iam.user_credentials import credentials_conflict

    credentials_conflict(ctx, user)
    ctx.store.delete_user(account, user.name)
    return None


def get_user_for(
    ctx: OperationContext,
    action: str,
    name: str,
    *,
    request_keys: Mapping[str, ContextValue] | None = None,
) -> User:
    """Authorise ``action`` on the user's ARN (the path-less form when the user does
    not exist, so a caller without permission learns nothing), then require it."""
    account = account_of(ctx)
    return authorize_then_require(
        ctx,
        action,
        ctx.store.get_user(account, name),
        missing_arn=arns.user_arn(account, "/", name),
        missing=no_such_user(name),
        tag_type="user",
        tag_key=name_key,
        request_keys=request_keys,
    )


# --- groups -----------------------------------------------------------------------------


def get_group_for(
    ctx: OperationContext,
    action: str,
    name: str,
    *,
    request_keys: Mapping[str, ContextValue] | None = None,
) -> Group:
    account = account_of(ctx)
    group = ctx.store.get_group(account, name)
    ctx.authorize(
        action,
        group.arn if group is not None else arns.group_arn(account, "/", name),
        request_keys=request_keys,
    )
    if group is None:
        return get_group(ctx, name)  # raises NoSuchEntity
    return group


@operation("iam", "CreateGroup", action="iam:CreateGroup")
def create_group(ctx: OperationContext, params: Params[CreateGroupMembers]) -> Result:
    account = account_of(ctx)
    name = params.req_str("GroupName")
    path = path_or_default(params.get_str("Path"))
    ctx.authorize("iam:CreateGroup", arns.group_arn(account, path, name))
    group = Group(account, name, path, new_unique_id(GROUP_PREFIX), now_of(ctx))
    try:
        ctx.store.create_group(group)
    except AlreadyExists as exc:
        raise already_exists("group", name) from exc
    return {"Group": group_shape(group)}


@operation("iam", "GetGroup", action="iam:GetGroup")
def get_group_op(ctx: OperationContext, params: Params[GetGroupMembers]) -> Result:
    group = get_group_for(ctx, "iam:GetGroup", params.req_str("GroupName"))
    users = ctx.store.users_in_group(account_of(ctx), group.name)
    page, nxt = paginate(users, params)
    return with_truncation(
        {"Group": group_shape(group), "Users": [user_shape(u) for u in page]}, nxt
    )


@operation("iam", "ListGroups", action="iam:ListGroups")
def list_groups(ctx: OperationContext, params: Params[ListGroupsMembers]) -> Result:
    return list_named(ctx, params, "group", "Groups", ctx.store.list_groups, group_shape)


@operation("iam", "UpdateGroup", action="iam:UpdateGroup")
def update_group(ctx: OperationContext, params: Params[UpdateGroupMembers]) -> Result:
    account = account_of(ctx)
    group = get_group_for(ctx, "iam:UpdateGroup", params.req_str("GroupName"))
    new_name = params.get_str("NewGroupName")
    new_path = params.get_str("NewPath")
    if new_name is not None and new_name.lower() != group.name.lower():
        if ctx.store.get_group(account, new_name) is not None:
            raise already_exists("group", new_name)
    try:
        ctx.store.update_group(account, group.name, new_name, new_path)
    except AlreadyExists as exc:
        raise already_exists("group", new_name or group.name) from exc
    return None


@operation("iam", "DeleteGroup", action="iam:DeleteGroup")
def delete_group(ctx: OperationContext, params: Params[DeleteGroupMembers]) -> Result:
    account = account_of(ctx)
    group = get_group_for(ctx, "iam:DeleteGroup", params.req_str("GroupName"))
    target = owner(ctx, "group", group.name)
    if ctx.store.users_in_group(account, group.name):
        raise DeleteConflict(MUST_REMOVE_FROM_GROUP)
    if ctx.store.list_inline_policies(target):
        raise DeleteConflict(MUST_DELETE_POLICIES)
    if ctx.store.attached_policies(target):
        raise DeleteConflict(MUST_DETACH_POLICIES)
    ctx.store.delete_group(account, group.name)
    return None


@operation("iam", "AddUserToGroup", action="iam:AddUserToGroup")
def add_user_to_group(ctx: OperationContext, params: Params[AddUserToGroupMembers]) -> Result:
    group = get_group_for(ctx, "iam:AddUserToGroup", params.req_str("GroupName"))
    user = get_user(ctx, params.req_str("UserName"))
    ctx.store.add_user_to_group(account_of(ctx), group.name, user.name)
    return None


@operation("iam", "RemoveUserFromGroup", action="iam:RemoveUserFromGroup")
def remove_user_from_group(
    ctx: OperationContext, params: Params[RemoveUserFromGroupMembers]
) -> Result:
    group = get_group_for(ctx, "iam:RemoveUserFromGroup", params.req_str("GroupName"))
    name = params.req_str("UserName")
    user = get_user(ctx, name)
    if not ctx.store.remove_user_from_group(account_of(ctx), group.name, user.name):
        raise no_such_user(name)  # [I] not a member: AWS answers NoSuchEntity
    return None


@operation("iam", "ListGroupsForUser", action="iam:ListGroupsForUser")
def list_groups_for_user(ctx: OperationContext, params: Params[ListGroupsForUserMembers]) -> Result:
    user = get_user_for(ctx, "iam:ListGroupsForUser", params.req_str("UserName"))
    groups = ctx.store.groups_for_user(account_of(ctx), user.name)
    page, nxt = paginate(groups, params)
    return with_truncation({"Groups": [group_shape(g) for g in page]}, nxt)


# --- access keys ------------------------------------------------------------------------


def _key_owner(ctx: OperationContext, params: Params[Any], action: str) -> User | None:
    """The user named by UserName (or the calling user; ``None`` = the account root),
    after authorising ``action`` on it."""
    name = params.get_str("UserName")
    if name is None:
        name = require_user_credentials(ctx)
        if name is None:
            ctx.authorize(action, arns.root_arn(account_of(ctx)))
            return None
    return get_user_for(ctx, action, name)


def _owned_key(ctx: OperationContext, user: User | None, access_key_id: str) -> AccessKey:
    key = ctx.store.get_access_key(access_key_id)
    wanted = None if user is None else user.name.lower()
    if (
        key is None
        or key.account_id != account_of(ctx)
        or (key.user_name.lower() if key.user_name is not None else None) != wanted
    ):
        raise no_such_access_key(access_key_id)
    return key


@operation("iam", "CreateAccessKey", action="iam:CreateAccessKey")
def create_access_key(ctx: OperationContext, params: Params[CreateAccessKeyMembers]) -> Result:
    account = account_of(ctx)
    user = _key_owner(ctx, params, "iam:CreateAccessKey")
    user_name = None if user is None else user.name
    if len(ctx.store.list_access_keys(account, user_name)) >= MAX_ACCESS_KEYS:
        # [C] "Cannot exceed quota for AccessKeysPerUser: 2"
        raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS}")
    secret = new_secret_access_key()
    key = ctx.store.create_access_key(
        account, user_name, new_access_key_id(account), secret, now_of(ctx)
    )
    shape: dict[str, object] = {}
    if user_name is not None:
        shape["UserName"] = user_name
    shape.update(
        {
            "AccessKeyId": key.access_key_id,
            "Status": key.status,
            "SecretAccessKey": secret,
            "CreateDate": key.created_at,
        }
    )
    return {"AccessKey": shape}


@operation("iam", "ListAccessKeys", action="iam:ListAccessKeys")
def list_access_keys(ctx: OperationContext, params: Params[ListAccessKeysMembers]) -> Result:
    user = _key_owner(ctx, params, "iam:ListAccessKeys")
    keys = ctx.store.list_access_keys(account_of(ctx), None if user is None else user.name)
    page, nxt = paginate(keys, params)
    return with_truncation({"AccessKeyMetadata": [_key_metadata(k) for k in page]}, nxt)


@operation("iam", "UpdateAccessKey", action="iam:UpdateAccessKey")
def update_access_key(ctx: OperationContext, params: Params[UpdateAccessKeyMembers]) -> Result:
    user = _key_owner(ctx, params, "iam:UpdateAccessKey")
    key = _owned_key(ctx, user, params.req_str("AccessKeyId"))
    ctx.store.update_access_key_status(key.access_key_id, params.req_str("Status"))
    return None


@operation("iam", "DeleteAccessKey", action="iam:DeleteAccessKey")
def delete_access_key(ctx: OperationContext, params: Params[DeleteAccessKeyMembers]) -> Result:
    user = _key_owner(ctx, params, "iam:DeleteAccessKey")
    key = _owned_key(ctx, user, params.req_str("AccessKeyId"))
    ctx.store.delete_access_key(key.access_key_id)
    return None


@operation("iam", "GetAccessKeyLastUsed", action="iam:GetAccessKeyLastUsed")
def get_access_key_last_used(
    ctx: OperationContext, params: Params[GetAccessKeyLastUsedMembers]
) -> Result:
    account = account_of(ctx)
    access_key_id = params.req_str("AccessKeyId")
    key = ctx.store.get_access_key(access_key_id)
    if key is None or key.account_id != account:
        ctx.authorize("iam:GetAccessKeyLastUsed", list_resource(ctx, "user", None))
        raise no_such_access_key(access_key_id)
    user = None if key.user_name is None else ctx.store.get_user(account, key.user_name)
    resource = arns.root_arn(account) if user is None else user.arn
    ctx.authorize("iam:GetAccessKeyLastUsed", resource)
    last_used: dict[str, object]
    if key.last_used_at is None:
        # AWS: ServiceName and Region are "N/A" and LastUsedDate absent when never used.
        last_used = {"ServiceName": "N/A", "Region": "N/A"}
    else:
        last_used = {
            "LastUsedDate": key.last_used_at.replace(microsecond=0),
            "ServiceName": key.last_used_service or "N/A",
            "Region": key.last_used_region or "N/A",
        }
    result: dict[str, object] = {"AccessKeyLastUsed": last_used}
    if key.user_name is not None:
        result["UserName"] = key.user_name
    return result


tag_operations("User", "UserName", "user", locate_with(get_user_for, name_key))
