"""Organizations operations on services and tags: Register/Deregister
DelegatedAdministrator, ListDelegatedAdministrators, ListDelegatedServicesForAccount,
Enable/DisableAWSServiceAccess, ListAWSServiceAccessForOrganization (trusted
access: IAM's centralized root access needs it for ``iam.amazonaws.com``), and
Tag/Untag/ListTagsForResource on accounts, OUs, the root and policies."""

from __future__ import annotations

from tessera.iam.org_model import DelegatedAdmin, Organization
from tessera.operation import OperationContext, Result
from tessera.organizations import errors as e
from tessera.organizations.common import (
    Pager,
    Role,
    account_arn,
    begin,
    on_account,
    paged,
    tags_from,
    tags_shape,
)
from tessera.organizations.service import OrganizationsApi, service_access_setting
from tessera.protocol.inputs import (
    DeregisterDelegatedAdministratorMembers,
    DisableAWSServiceAccessMembers,
    EnableAWSServiceAccessMembers,
    ListAWSServiceAccessForOrganizationMembers,
    ListDelegatedAdministratorsMembers,
    ListDelegatedServicesForAccountMembers,
    OrganizationsListTagsForResourceMembers,
    OrganizationsTagResourceMembers,
    OrganizationsUntagResourceMembers,
    RegisterDelegatedAdministratorMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation

_SERVICE_PREFIX = "ServiceAccess/"


def _admin_shape(
    api: OrganizationsApi, org: Organization, account_id: str, admins: list[DelegatedAdmin]
) -> dict[str, object]:
    details = api.member(org, account_id)
    return {
        "Id": account_id,
        "Arn": account_arn(org, account_id),
        "Email": details.email,
        "Name": details.name,
        "Status": details.status,
        "State": details.status,
        "JoinedMethod": details.joined_method,
        "JoinedTimestamp": details.joined_at,
        "DelegationEnabledDate": min(a.registered_at for a in admins),
    }


@operation(
    "organizations",
    "RegisterDelegatedAdministrator",
    action="organizations:RegisterDelegatedAdministrator",
)
def register_delegated_administrator(
    ctx: OperationContext, params: Params[RegisterDelegatedAdministratorMembers]
) -> Result:
    account_id = params.req_str("AccountId")
    api, org = begin(
        ctx,
        "organizations:RegisterDelegatedAdministrator",
        Role.MANAGEMENT,
        on_account(account_id),
    )
    service = OrganizationsApi.known_service(params.req_str("ServicePrincipal"))
    if service_access_setting(service) not in api.settings(org):
        raise e.ConstraintViolation(
            "SERVICE_ACCESS_NOT_ENABLED",
            f"Trusted access for {service} is not enabled in the organization.",
        )
    api.register_admin(org, account_id, service, ctx.now)
    return {}


@operation(
    "organizations",
    "DeregisterDelegatedAdministrator",
    action="organizations:DeregisterDelegatedAdministrator",
)
def deregister_delegated_administrator(
    ctx: OperationContext, params: Params[DeregisterDelegatedAdministratorMembers]
) -> Result:
    account_id = params.req_str("AccountId")
    api, org = begin(
        ctx,
        "organizations:DeregisterDelegatedAdministrator",
        Role.MANAGEMENT,
        on_account(account_id),
    )
    api.deregister_admin(org, account_id, params.req_str("ServicePrincipal"))
    return {}


@operation(
    "organizations",
    "ListDelegatedAdministrators",
    action="organizations:ListDelegatedAdministrators",
)
def list_delegated_administrators(
    ctx: OperationContext, params: Params[ListDelegatedAdministratorsMembers]
) -> Result:
    pager = Pager(params)
    api, org = begin(ctx, "organizations:ListDelegatedAdministrators", Role.READER)
    service = params.get_str("ServicePrincipal")
    if service is not None:
        OrganizationsApi.known_service(service)
    by_account: dict[str, list[DelegatedAdmin]] = {}
    for admin in api.store.list_delegated_admins(org.org_id):
        if service is None or admin.service_principal == service:
            by_account.setdefault(admin.account_id, []).append(admin)
    items, nxt = pager.page(sorted(by_account))
    shapes = [_admin_shape(api, org, a, by_account[a]) for a in items]
    return paged("DelegatedAdministrators", shapes, nxt)


@operation(
    "organizations",
    "ListDelegatedServicesForAccount",
    action="organizations:ListDelegatedServicesForAccount",
)
def list_delegated_services_for_account(
    ctx: OperationContext, params: Params[ListDelegatedServicesForAccountMembers]
) -> Result:
    pager = Pager(params)
    account_id = params.req_str("AccountId")
    api, org = begin(
        ctx,
        "organizations:ListDelegatedServicesForAccount",
        Role.READER,
        on_account(account_id),
    )
    api.member(org, account_id)
    found = [a for a in api.store.list_delegated_admins(org.org_id) if a.account_id == account_id]
    if not found:
        raise e.AccountNotRegistered()
    items, nxt = pager.page(found)
    shapes: list[dict[str, object]] = [
        {"ServicePrincipal": a.service_principal, "DelegationEnabledDate": a.registered_at}
        for a in items
    ]
    return paged("DelegatedServices", shapes, nxt)


@operation("organizations", "EnableAWSServiceAccess", action="organizations:EnableAWSServiceAccess")
def enable_aws_service_access(
    ctx: OperationContext, params: Params[EnableAWSServiceAccessMembers]
) -> Result:
    api, org = begin(ctx, "organizations:EnableAWSServiceAccess", Role.MANAGEMENT)
    service = OrganizationsApi.known_service(params.req_str("ServicePrincipal"))
    api.store.enable_org_setting(org.org_id, service_access_setting(service), ctx.now)
    return {}


@operation(
    "organizations", "DisableAWSServiceAccess", action="organizations:DisableAWSServiceAccess"
)
def disable_aws_service_access(
    ctx: OperationContext, params: Params[DisableAWSServiceAccessMembers]
) -> Result:
    api, org = begin(ctx, "organizations:DisableAWSServiceAccess", Role.MANAGEMENT)
    service = OrganizationsApi.known_service(params.req_str("ServicePrincipal"))
    api.store.disable_org_setting(org.org_id, service_access_setting(service))
    if service == "iam.amazonaws.com":
        # centralized root access cannot outlive IAM's trusted access
        for name in api.settings(org):
            if name.startswith("IAMFeature/"):
                api.store.disable_org_setting(org.org_id, name)
    return {}


@operation(
    "organizations",
    "ListAWSServiceAccessForOrganization",
    action="organizations:ListAWSServiceAccessForOrganization",
)
def list_aws_service_access(
    ctx: OperationContext, params: Params[ListAWSServiceAccessForOrganizationMembers]
) -> Result:
    pager = Pager(params)
    api, org = begin(ctx, "organizations:ListAWSServiceAccessForOrganization", Role.READER)
    enabled = [
        {"ServicePrincipal": name[len(_SERVICE_PREFIX) :], "DateEnabled": when}
        for name, when in api.store.org_setting_dates(org.org_id)
        if name.startswith(_SERVICE_PREFIX)
    ]
    items, nxt = pager.page(enabled)
    return paged("EnabledServicePrincipals", list(items), nxt)


@operation("organizations", "TagResource", action="organizations:TagResource")
def tag_resource(ctx: OperationContext, params: Params[OrganizationsTagResourceMembers]) -> Result:
    api, org = begin(ctx, "organizations:TagResource", Role.MANAGEMENT)
    api.tag(org, params.req_str("ResourceId"), tags_from(params))
    return {}


@operation("organizations", "UntagResource", action="organizations:UntagResource")
def untag_resource(
    ctx: OperationContext, params: Params[OrganizationsUntagResourceMembers]
) -> Result:
    api, org = begin(ctx, "organizations:UntagResource", Role.MANAGEMENT)
    api.untag(org, params.req_str("ResourceId"), params.get_str_list("TagKeys") or [])
    return {}


@operation("organizations", "ListTagsForResource", action="organizations:ListTagsForResource")
def list_tags_for_resource(
    ctx: OperationContext, params: Params[OrganizationsListTagsForResourceMembers]
) -> Result:
    pager = Pager(params, max_results=False)
    api, org = begin(ctx, "organizations:ListTagsForResource", Role.READER)
    tags = api.tags_of(org, params.req_str("ResourceId"))
    items, nxt = pager.page(tags)
    return paged("Tags", tags_shape(items), nxt)
