"""Organizations operations on the organization, its root and its accounts:
CreateOrganization, DescribeOrganization, DeleteOrganization, EnableAllFeatures,
ListRoots, LeaveOrganization; CreateAccount and its status, DescribeAccount,
ListAccounts, ListAccountsForParent, MoveAccount, RemoveAccountFromOrganization,
CloseAccount; and the invitation handshake (InviteAccountToOrganization,
Accept/Decline/Cancel/DescribeHandshake, ListHandshakesFor…)."""

from __future__ import annotations

from typing import Any

from tessera.operation import OperationContext, Result
from tessera.organizations import errors as e
from tessera.organizations.common import (
    Pager,
    Role,
    account_shape,
    begin,
    create_status_shape,
    handshake_shape,
    on_account,
    on_org,
    organization_shape,
    paged,
    root_shape,
    tags_from,
)
from tessera.organizations.service import OrganizationsApi
from tessera.protocol.inputs import (
    AcceptHandshakeMembers,
    CancelHandshakeMembers,
    CloseAccountMembers,
    CreateAccountMembers,
    CreateOrganizationMembers,
    DeclineHandshakeMembers,
    DeleteOrganizationMembers,
    DescribeAccountMembers,
    DescribeCreateAccountStatusMembers,
    DescribeHandshakeMembers,
    DescribeOrganizationMembers,
    EnableAllFeaturesMembers,
    InviteAccountToOrganizationMembers,
    LeaveOrganizationMembers,
    ListAccountsForParentMembers,
    ListAccountsMembers,
    ListCreateAccountStatusMembers,
    ListHandshakesForAccountMembers,
    ListHandshakesForOrganizationMembers,
    ListRootsMembers,
    MoveAccountMembers,
    RemoveAccountFromOrganizationMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation

_NO_BILLING = "Tessera has no Billing and Cost Management console to grant access to."
_ONLY_ACCOUNTS = "Tessera invites existing Tessera accounts by their 12-digit id (Type ACCOUNT)."


@operation("organizations", "CreateOrganization", action="organizations:CreateOrganization")
def create_organization(ctx: OperationContext, params: Params[CreateOrganizationMembers]) -> Result:
    ctx.authorize("organizations:CreateOrganization", "*")
    feature_set = params.get_str("FeatureSet") or "ALL"
    if feature_set != "ALL":
        raise e.InvalidInput(
            "INVALID_ENUM",
            "The parameter FeatureSet=CONSOLIDATED_BILLING is not supported by Tessera: "
            "an organization always has all features (SCPs and RCPs need them).",
        )
    api = OrganizationsApi(ctx.store)
    org = api.create_organization(ctx.caller.account_id, ctx.now)
    return {"Organization": organization_shape(api, org)}


@operation("organizations", "DescribeOrganization", action="organizations:DescribeOrganization")
def describe_organization(
    ctx: OperationContext, params: Params[DescribeOrganizationMembers]
) -> Result:
    api, org = begin(ctx, "organizations:DescribeOrganization", Role.MEMBER, on_org)
    return {"Organization": organization_shape(api, org)}


@operation("organizations", "DeleteOrganization", action="organizations:DeleteOrganization")
def delete_organization(ctx: OperationContext, params: Params[DeleteOrganizationMembers]) -> Result:
    api, org = begin(ctx, "organizations:DeleteOrganization", Role.MANAGEMENT, on_org)
    api.delete_organization(org)
    return {}


@operation("organizations", "EnableAllFeatures", action="organizations:EnableAllFeatures")
def enable_all_features(ctx: OperationContext, params: Params[EnableAllFeaturesMembers]) -> Result:
    begin(ctx, "organizations:EnableAllFeatures", Role.MANAGEMENT, on_org)
    # every Tessera organization has all features from its creation
    raise e.HandshakeConstraintViolation(
        "ORGANIZATION_ALREADY_HAS_ALL_FEATURES",
        "The organization already has all features enabled.",
    )


@operation("organizations", "ListRoots", action="organizations:ListRoots")
def list_roots(ctx: OperationContext, params: Params[ListRootsMembers]) -> Result:
    pager = Pager(params)
    api, org = begin(ctx, "organizations:ListRoots", Role.READER)
    items, nxt = pager.page([org])
    return paged("Roots", [root_shape(api, o) for o in items], nxt)


@operation("organizations", "LeaveOrganization", action="organizations:LeaveOrganization")
def leave_organization(ctx: OperationContext, params: Params[LeaveOrganizationMembers]) -> Result:
    api, org = begin(
        ctx,
        "organizations:LeaveOrganization",
        Role.MEMBER,
        on_account(ctx.caller.account_id),
    )
    api.remove_account(org, ctx.caller.account_id)
    return {}


# ------------------------------------------------------------------ accounts


@operation("organizations", "CreateAccount", action="organizations:CreateAccount")
def create_account(ctx: OperationContext, params: Params[CreateAccountMembers]) -> Result:
    api, org = begin(ctx, "organizations:CreateAccount", Role.MANAGEMENT)
    params.refuse("IamUserAccessToBilling", _NO_BILLING)
    request = api.create_account(
        org,
        params.req_str("AccountName"),
        params.req_str("Email"),
        params.get_str("RoleName"),
        tags_from(params),
        ctx.now,
    )
    return {"CreateAccountStatus": create_status_shape(request)}


@operation(
    "organizations",
    "DescribeCreateAccountStatus",
    action="organizations:DescribeCreateAccountStatus",
)
def describe_create_account_status(
    ctx: OperationContext, params: Params[DescribeCreateAccountStatusMembers]
) -> Result:
    api, org = begin(ctx, "organizations:DescribeCreateAccountStatus", Role.READER)
    request = api.create_account_request(org, params.req_str("CreateAccountRequestId"))
    return {"CreateAccountStatus": create_status_shape(request)}


@operation(
    "organizations", "ListCreateAccountStatus", action="organizations:ListCreateAccountStatus"
)
def list_create_account_status(
    ctx: OperationContext, params: Params[ListCreateAccountStatusMembers]
) -> Result:
    pager = Pager(params)
    api, org = begin(ctx, "organizations:ListCreateAccountStatus", Role.READER)
    states = params.get_str_list("States")
    requests = [
        r
        for r in api.store.list_create_account_requests(org.org_id)
        if not states or r.state in states
    ]
    items, nxt = pager.page(requests)
    return paged("CreateAccountStatuses", [create_status_shape(r) for r in items], nxt)


@operation("organizations", "DescribeAccount", action="organizations:DescribeAccount")
def describe_account(ctx: OperationContext, params: Params[DescribeAccountMembers]) -> Result:
    account_id = params.req_str("AccountId")
    api, org = begin(ctx, "organizations:DescribeAccount", Role.READER, on_account(account_id))
    return {"Account": account_shape(api, org, api.member(org, account_id))}


@operation("organizations", "ListAccounts", action="organizations:ListAccounts")
def list_accounts(ctx: OperationContext, params: Params[ListAccountsMembers]) -> Result:
    pager = Pager(params)
    api, org = begin(ctx, "organizations:ListAccounts", Role.READER)
    items, nxt = pager.page(api.members(org))
    return paged("Accounts", [account_shape(api, org, d) for d in items], nxt)


@operation("organizations", "ListAccountsForParent", action="organizations:ListAccountsForParent")
def list_accounts_for_parent(
    ctx: OperationContext, params: Params[ListAccountsForParentMembers]
) -> Result:
    pager = Pager(params)
    api, org = begin(ctx, "organizations:ListAccountsForParent", Role.READER)
    items, nxt = pager.page(api.accounts_under(org, params.req_str("ParentId")))
    return paged("Accounts", [account_shape(api, org, d) for d in items], nxt)


@operation("organizations", "MoveAccount", action="organizations:MoveAccount")
def move_account(ctx: OperationContext, params: Params[MoveAccountMembers]) -> Result:
    account_id = params.req_str("AccountId")
    api, org = begin(ctx, "organizations:MoveAccount", Role.MANAGEMENT, on_account(account_id))
    api.move_account(
        org, account_id, params.req_str("SourceParentId"), params.req_str("DestinationParentId")
    )
    return {}


@operation(
    "organizations",
    "RemoveAccountFromOrganization",
    action="organizations:RemoveAccountFromOrganization",
)
def remove_account_from_organization(
    ctx: OperationContext, params: Params[RemoveAccountFromOrganizationMembers]
) -> Result:
    account_id = params.req_str("AccountId")
    api, org = begin(
        ctx,
        "organizations:RemoveAccountFromOrganization",
        Role.MANAGEMENT,
        on_account(account_id),
    )
    api.remove_account(org, account_id)
    return {}


@operation("organizations", "CloseAccount", action="organizations:CloseAccount")
def close_account(ctx: OperationContext, params: Params[CloseAccountMembers]) -> Result:
    account_id = params.req_str("AccountId")
    api, org = begin(ctx, "organizations:CloseAccount", Role.MANAGEMENT, on_account(account_id))
    api.close_account(org, account_id)
    return {}


# ------------------------------------------------------------------ handshakes


@operation(
    "organizations",
    "InviteAccountToOrganization",
    action="organizations:InviteAccountToOrganization",
)
def invite_account(
    ctx: OperationContext, params: Params[InviteAccountToOrganizationMembers]
) -> Result:
    api, org = begin(ctx, "organizations:InviteAccountToOrganization", Role.MANAGEMENT)
    target = params.get_struct("Target")
    assert target is not None  # required by the model
    kind = target.req_str("Type")
    target_id = target.req_str("Id")
    notes, tags = params.get_str("Notes"), tags_from(params)
    if kind != "ACCOUNT":
        raise e.InvalidInput("INVALID_PARTY_TYPE_TARGET", _ONLY_ACCOUNTS)
    if not target_id.isdigit() or len(target_id) != 12:
        raise e.InvalidInput("INVALID_PATTERN_TARGET_ID", _ONLY_ACCOUNTS)
    handshake = api.invite(org, target_id, notes, tags, ctx.now)
    return {"Handshake": handshake_shape(api, handshake)}


def _handshake_op(ctx: OperationContext, action: str, params: Params[Any]) -> Result:
    ctx.authorize(f"organizations:{action}", "*")
    api = OrganizationsApi(ctx.store)
    handshake_id = params.req_str("HandshakeId")
    account = ctx.caller.account_id
    if action == "AcceptHandshake":
        done = api.accept(handshake_id, account, ctx.now)
    elif action == "DeclineHandshake":
        done = api.decline(handshake_id, account, ctx.now)
    elif action == "CancelHandshake":
        done = api.cancel(handshake_id, account, ctx.now)
    else:
        done = api.handshake_for(handshake_id, account, ctx.now)
    return {"Handshake": handshake_shape(api, done)}


@operation("organizations", "AcceptHandshake", action="organizations:AcceptHandshake")
def accept_handshake(ctx: OperationContext, params: Params[AcceptHandshakeMembers]) -> Result:
    return _handshake_op(ctx, "AcceptHandshake", params)


@operation("organizations", "DeclineHandshake", action="organizations:DeclineHandshake")
def decline_handshake(ctx: OperationContext, params: Params[DeclineHandshakeMembers]) -> Result:
    return _handshake_op(ctx, "DeclineHandshake", params)


@operation("organizations", "CancelHandshake", action="organizations:CancelHandshake")
def cancel_handshake(ctx: OperationContext, params: Params[CancelHandshakeMembers]) -> Result:
    return _handshake_op(ctx, "CancelHandshake", params)


@operation("organizations", "DescribeHandshake", action="organizations:DescribeHandshake")
def describe_handshake(ctx: OperationContext, params: Params[DescribeHandshakeMembers]) -> Result:
    return _handshake_op(ctx, "DescribeHandshake", params)


def _filtered(params: Params[Any], handshakes: list[Any]) -> list[Any]:
    flt = params.get_struct("Filter")
    if flt is None:
        return handshakes
    action = flt.get_str("ActionType")
    parent = flt.get_str("ParentHandshakeId")
    if parent is not None:
        return []  # Tessera's handshakes (invitations) never have a parent handshake
    return [h for h in handshakes if action is None or h.action == action]


@operation(
    "organizations", "ListHandshakesForAccount", action="organizations:ListHandshakesForAccount"
)
def list_handshakes_for_account(
    ctx: OperationContext, params: Params[ListHandshakesForAccountMembers]
) -> Result:
    pager = Pager(params)
    ctx.authorize("organizations:ListHandshakesForAccount", "*")
    api = OrganizationsApi(ctx.store)
    found = api.store.list_handshakes(target_account_id=ctx.caller.account_id)
    items, nxt = pager.page(_filtered(params, found))
    return paged("Handshakes", [handshake_shape(api, h) for h in items], nxt)


@operation(
    "organizations",
    "ListHandshakesForOrganization",
    action="organizations:ListHandshakesForOrganization",
)
def list_handshakes_for_organization(
    ctx: OperationContext, params: Params[ListHandshakesForOrganizationMembers]
) -> Result:
    pager = Pager(params)
    api, org = begin(ctx, "organizations:ListHandshakesForOrganization", Role.READER)
    found = api.store.list_handshakes(org_id=org.org_id)
    items, nxt = pager.page(_filtered(params, found))
    return paged("Handshakes", [handshake_shape(api, h) for h in items], nxt)
