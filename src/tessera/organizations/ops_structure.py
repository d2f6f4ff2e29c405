"""Organizations operations on the tree: Create/Update/Delete/Describe
OrganizationalUnit, ListOrganizationalUnitsForParent, ListParents, ListChildren."""

from __future__ import annotations

from tessera.operation import OperationContext, Result
from tessera.organizations import errors as e
from tessera.organizations.common import (
    Pager,
    Role,
    begin,
    on_ou,
    ou_shape,
    paged,
    tags_from,
)
from tessera.protocol.inputs import (
    CreateOrganizationalUnitMembers,
    DeleteOrganizationalUnitMembers,
    DescribeOrganizationalUnitMembers,
    ListChildrenMembers,
    ListOrganizationalUnitsForParentMembers,
    ListParentsMembers,
    UpdateOrganizationalUnitMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation


@operation(
    "organizations", "CreateOrganizationalUnit", action="organizations:CreateOrganizationalUnit"
)
def create_ou(ctx: OperationContext, params: Params[CreateOrganizationalUnitMembers]) -> Result:
    api, org = begin(ctx, "organizations:CreateOrganizationalUnit", Role.MANAGEMENT)
    parent_id = params.req_str("ParentId")
    name = params.req_str("Name")
    tags = tags_from(params)
    api.check_parent(org, parent_id, e.ParentNotFound)
    ou = api.orgs.create_org_unit(org.org_id, parent_id, name, ctx.now)
    if tags:
        api.store.put_org_tags(ou.ou_id, tags)
    return {"OrganizationalUnit": ou_shape(api, org, ou)}


@operation(
    "organizations", "UpdateOrganizationalUnit", action="organizations:UpdateOrganizationalUnit"
)
def update_ou(ctx: OperationContext, params: Params[UpdateOrganizationalUnitMembers]) -> Result:
    ou_id = params.req_str("OrganizationalUnitId")
    api, org = begin(
        ctx,
        "organizations:UpdateOrganizationalUnit",
        Role.MANAGEMENT,
        on_ou(ou_id),
    )
    name = params.get_str("Name")
    ou = api.ou(org, ou_id) if name is None else api.rename_ou(org, ou_id, name)
    return {"OrganizationalUnit": ou_shape(api, org, ou)}


@operation(
    "organizations", "DeleteOrganizationalUnit", action="organizations:DeleteOrganizationalUnit"
)
def delete_ou(ctx: OperationContext, params: Params[DeleteOrganizationalUnitMembers]) -> Result:
    ou_id = params.req_str("OrganizationalUnitId")
    api, org = begin(
        ctx,
        "organizations:DeleteOrganizationalUnit",
        Role.MANAGEMENT,
        on_ou(ou_id),
    )
    api.delete_ou(org, ou_id)
    return {}


@operation(
    "organizations",
    "DescribeOrganizationalUnit",
    action="organizations:DescribeOrganizationalUnit",
)
def describe_ou(ctx: OperationContext, params: Params[DescribeOrganizationalUnitMembers]) -> Result:
    ou_id = params.req_str("OrganizationalUnitId")
    api, org = begin(
        ctx,
        "organizations:DescribeOrganizationalUnit",
        Role.READER,
        on_ou(ou_id),
    )
    return {"OrganizationalUnit": ou_shape(api, org, api.ou(org, ou_id))}


@operation(
    "organizations",
    "ListOrganizationalUnitsForParent",
    action="organizations:ListOrganizationalUnitsForParent",
)
def list_ous_for_parent(
    ctx: OperationContext, params: Params[ListOrganizationalUnitsForParentMembers]
) -> Result:
    pager = Pager(params)
    api, org = begin(ctx, "organizations:ListOrganizationalUnitsForParent", Role.READER)
    items, nxt = pager.page(api.ous_under(org, params.req_str("ParentId")))
    return paged("OrganizationalUnits", [ou_shape(api, org, ou) for ou in items], nxt)


@operation("organizations", "ListParents", action="organizations:ListParents")
def list_parents(ctx: OperationContext, params: Params[ListParentsMembers]) -> Result:
    pager = Pager(params)
    api, org = begin(ctx, "organizations:ListParents", Role.READER)
    parent = api.parent_of(org, params.req_str("ChildId"))
    kind = "ROOT" if parent == org.root_id else "ORGANIZATIONAL_UNIT"
    items, nxt = pager.page([{"Id": parent, "Type": kind}])
    return paged("Parents", list(items), nxt)


@operation("organizations", "ListChildren", action="organizations:ListChildren")
def list_children(ctx: OperationContext, params: Params[ListChildrenMembers]) -> Result:
    pager = Pager(params)
    api, org = begin(ctx, "organizations:ListChildren", Role.READER)
    parent_id = params.req_str("ParentId")
    child_type = params.req_str("ChildType")
    if child_type == "ORGANIZATIONAL_UNIT":
        ids = [ou.ou_id for ou in api.ous_under(org, parent_id)]
    else:
        ids = [d.account_id for d in api.accounts_under(org, parent_id)]
    items, nxt = pager.page(ids)
    return paged("Children", [{"Id": i, "Type": child_type} for i in items], nxt)
