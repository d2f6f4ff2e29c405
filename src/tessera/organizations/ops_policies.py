"""Organizations operations on SCPs and RCPs: Create/Update/Delete/DescribePolicy,
ListPolicies, Attach/DetachPolicy, ListPoliciesForTarget, ListTargetsForPolicy,
Enable/DisablePolicyType. Other policy types (tag, backup, AI opt-out, chatbot,
declarative …) answer ``PolicyTypeNotAvailableForOrganizationException``: Tessera
has no service that would apply them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tessera.iam.org_model import Organization
from tessera.operation import OperationContext, Result
from tessera.organizations.common import (
    Pager,
    Role,
    begin,
    on_root,
    paged,
    policy_arn,
    policy_shape,
    policy_summary,
    root_shape,
    tags_from,
    target_arn,
)
from tessera.organizations.service import OrganizationsApi
from tessera.protocol.inputs import (
    AttachPolicyMembers,
    DescribePolicyMembers,
    DetachPolicyMembers,
    DisablePolicyTypeMembers,
    EnablePolicyTypeMembers,
    ListPoliciesForTargetMembers,
    ListTargetsForPolicyMembers,
    OrganizationsCreatePolicyMembers,
    OrganizationsDeletePolicyMembers,
    OrganizationsListPoliciesMembers,
    UpdatePolicyMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation


def _policy_resource(policy_id: str) -> Callable[[OrganizationsApi, Organization], str]:
    return lambda api, org: policy_arn(org, api.policy(org, policy_id))


@operation("organizations", "CreatePolicy", action="organizations:CreatePolicy")
def create_policy(
    ctx: OperationContext, params: Params[OrganizationsCreatePolicyMembers]
) -> Result:
    api, org = begin(ctx, "organizations:CreatePolicy", Role.MANAGEMENT)
    type_name = params.req_str("Type")
    name, content = params.req_str("Name"), params.req_str("Content")
    description = params.req_str("Description")
    tags = tags_from(params)
    policy_type = OrganizationsApi.supported_type(type_name)
    policy = api.orgs.create_policy(org.org_id, policy_type, name, content, ctx.now, description)
    if tags:
        api.store.put_org_tags(policy.policy_id, tags)
    return {"Policy": policy_shape(org, policy)}


@operation("organizations", "UpdatePolicy", action="organizations:UpdatePolicy")
def update_policy(ctx: OperationContext, params: Params[UpdatePolicyMembers]) -> Result:
    policy_id = params.req_str("PolicyId")
    api, org = begin(
        ctx, "organizations:UpdatePolicy", Role.MANAGEMENT, _policy_resource(policy_id)
    )
    policy = api.update_policy(
        org,
        policy_id,
        params.get_str("Name"),
        params.get_str("Description"),
        params.get_str("Content"),
    )
    return {"Policy": policy_shape(org, policy)}


@operation("organizations", "DeletePolicy", action="organizations:DeletePolicy")
def delete_policy(
    ctx: OperationContext, params: Params[OrganizationsDeletePolicyMembers]
) -> Result:
    policy_id = params.req_str("PolicyId")
    api, org = begin(
        ctx, "organizations:DeletePolicy", Role.MANAGEMENT, _policy_resource(policy_id)
    )
    api.orgs.delete_policy(api.policy(org, policy_id).policy_id)
    return {}


@operation("organizations", "DescribePolicy", action="organizations:DescribePolicy")
def describe_policy(ctx: OperationContext, params: Params[DescribePolicyMembers]) -> Result:
    policy_id = params.req_str("PolicyId")
    api, org = begin(ctx, "organizations:DescribePolicy", Role.READER, _policy_resource(policy_id))
    return {"Policy": policy_shape(org, api.policy(org, policy_id))}


@operation("organizations", "ListPolicies", action="organizations:ListPolicies")
def list_policies(
    ctx: OperationContext, params: Params[OrganizationsListPoliciesMembers]
) -> Result:
    pager = Pager(params)
    api, org = begin(ctx, "organizations:ListPolicies", Role.READER)
    policy_type = OrganizationsApi.supported_type(params.req_str("Filter"))
    found = [p for p in api.store.list_org_policies(org.org_id) if p.policy_type == policy_type]
    items, nxt = pager.page(found)
    return paged("Policies", [policy_summary(org, p) for p in items], nxt)


def _policy_and_target(
    ctx: OperationContext, action: str, params: Params[Any]
) -> tuple[OrganizationsApi, str, str]:
    """AttachPolicy / DetachPolicy: authorise ``action`` on the policy, then require
    the policy and the target; the api, the policy's id and the target's id."""
    policy_id = params.req_str("PolicyId")
    target_id = params.req_str("TargetId")
    api, org = begin(ctx, action, Role.MANAGEMENT, _policy_resource(policy_id))
    policy = api.policy(org, policy_id)
    api.target_kind(org, target_id)
    return api, policy.policy_id, target_id


@operation("organizations", "AttachPolicy", action="organizations:AttachPolicy")
def attach_policy(ctx: OperationContext, params: Params[AttachPolicyMembers]) -> Result:
    api, policy_id, target_id = _policy_and_target(ctx, "organizations:AttachPolicy", params)
    api.orgs.attach(policy_id, target_id)
    return {}


@operation("organizations", "DetachPolicy", action="organizations:DetachPolicy")
def detach_policy(ctx: OperationContext, params: Params[DetachPolicyMembers]) -> Result:
    api, policy_id, target_id = _policy_and_target(ctx, "organizations:DetachPolicy", params)
    api.orgs.detach(policy_id, target_id)
    return {}


@operation("organizations", "ListPoliciesForTarget", action="organizations:ListPoliciesForTarget")
def list_policies_for_target(
    ctx: OperationContext, params: Params[ListPoliciesForTargetMembers]
) -> Result:
    pager = Pager(params)
    api, org = begin(ctx, "organizations:ListPoliciesForTarget", Role.READER)
    policy_type = OrganizationsApi.supported_type(params.req_str("Filter"))
    found = api.policies_for_target(org, params.req_str("TargetId"), policy_type)
    items, nxt = pager.page(found)
    return paged("Policies", [policy_summary(org, p) for p in items], nxt)


@operation("organizations", "ListTargetsForPolicy", action="organizations:ListTargetsForPolicy")
def list_targets_for_policy(
    ctx: OperationContext, params: Params[ListTargetsForPolicyMembers]
) -> Result:
    pager = Pager(params)
    policy_id = params.req_str("PolicyId")
    api, org = begin(
        ctx, "organizations:ListTargetsForPolicy", Role.READER, _policy_resource(policy_id)
    )
    policy = api.policy(org, policy_id)
    targets = api.store.targets_of_org_policy(policy.policy_id)
    items, nxt = pager.page(targets)
    shapes: list[dict[str, object]] = [
        {
            "TargetId": t,
            "Arn": target_arn(api, org, t),
            "Name": api.target_name(org, t),
            "Type": api.target_kind(org, t),
        }
        for t in items
    ]
    return paged("Targets", shapes, nxt)


@operation("organizations", "EnablePolicyType", action="organizations:EnablePolicyType")
def enable_policy_type(ctx: OperationContext, params: Params[EnablePolicyTypeMembers]) -> Result:
    api, org = begin(ctx, "organizations:EnablePolicyType", Role.MANAGEMENT, on_root)
    api.enable_type(org, params.req_str("RootId"), params.req_str("PolicyType"), ctx.now)
    return {"Root": root_shape(api, org)}


@operation("organizations", "DisablePolicyType", action="organizations:DisablePolicyType")
def disable_policy_type(ctx: OperationContext, params: Params[DisablePolicyTypeMembers]) -> Result:
    api, org = begin(ctx, "organizations:DisablePolicyType", Role.MANAGEMENT, on_root)
    api.disable_type(org, params.req_str("RootId"), params.req_str("PolicyType"))
    return {"Root": root_shape(api, org)}
