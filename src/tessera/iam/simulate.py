"""IAM ``SimulatePrincipalPolicy`` and ``SimulateCustomPolicy``: run the real
policy engine over a principal's stored policies (or the given ones), optional
permissions boundary and resource policy, with caller-supplied context entries,
and report per action × resource the decision, the statements that decided it
and the condition keys that were missing — for any action (``s3:PutObject``
included), not only the ones Tessera serves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tessera import arn as arns
from tessera.errors import InvalidInput, MalformedPolicyDocument, NoSuchEntity
from tessera.iam import ops_common as common
from tessera.iam.authz import compiled
from tessera.iam.org_model import SCP
from tessera.iam.organizations import org_levels
from tessera.iam.policy import ContextValue as PolicyValue
from tessera.iam.policy import (
    Decision,
    Policy,
    PolicyGroup,
    PolicyKind,
    PolicySet,
    PrincipalInfo,
    RequestContext,
    evaluate,
    global_keys,
    parse_policy,
)
from tessera.iam.policy.evaluate import PolicyType
from tessera.operation import OperationContext, Result
from tessera.protocol.inputs import SimulateCustomPolicyMembers, SimulatePrincipalPolicyMembers
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.store.records import Owner

_SOURCE_TYPE = {
    PolicyType.IDENTITY: "user",
    PolicyType.RESOURCE: "resource",
    PolicyType.BOUNDARY: "user",
    PolicyType.SESSION: "user",
    PolicyType.SCP: "none",
    PolicyType.RCP: "none",
}


def _parse_inputs(documents: Sequence[str], kind: PolicyKind, prefix: str) -> list[Policy]:
    out: list[Policy] = []
    for i, doc in enumerate(documents, start=1):
        try:
            out.append(parse_policy(doc, kind, label=f"{prefix}.{i}"))
        except MalformedPolicyDocument as exc:
            raise MalformedPolicyDocument(exc.message) from exc
    return out


def _context_entries(params: Params[Any]) -> dict[str, PolicyValue]:
    keys: dict[str, PolicyValue] = {}
    for entry in params.get_struct_list("ContextEntries") or []:
        name = entry.get_str("ContextKeyName")
        values = entry.get_str_list("ContextKeyValues") or []
        ktype = entry.get_str("ContextKeyType") or "string"
        if name is None:
            continue
        if ktype.endswith("List"):
            keys[name.lower()] = tuple(values)
        elif values:
            keys[name.lower()] = values[0]
    return keys


def _source(
    ctx: OperationContext, source_arn: str
) -> tuple[PrincipalInfo, list[Policy], Policy | None, dict[str, str]]:
    parsed = arns.parse_arn(source_arn)
    account = common.account_of(ctx)
    if parsed is None or parsed.service != "iam" or parsed.account != account:
        raise InvalidInput(f"Invalid ARN: {source_arn}")
    rtype, _, rest = parsed.resource.partition("/")
    name = rest.rsplit("/", 1)[-1] if rest else ""
    store = ctx.store
    authorizer = ctx.authorizer
    if rtype == "user":
        user = store.get_user(account, name)
        if user is None or user.arn != source_arn:
            raise NoSuchEntity(f"The user with name {name} cannot be found.")
        policies, boundary, tags = authorizer.user_policies(account, user.user_id)
        info = PrincipalInfo(arn=user.arn, account=account, kind="user", unique_id=user.user_id)
        return info, policies, boundary, tags
    if rtype == "role":
        role = store.get_role(account, name)
        if role is None or role.arn != source_arn:
            raise NoSuchEntity(f"The role with name {name} cannot be found.")
        policies = authorizer.owner_policies(Owner(account, "role", role.name))
        boundary = authorizer.managed(role.permissions_boundary, PolicyKind.BOUNDARY)
        tags = {t.key: t.value for t in store.get_tags(account, "role", role.name.lower())}
        info = PrincipalInfo(
            arn=role.arn,
            account=account,
            kind="role-session",
            role_arn=role.arn,
            unique_id=role.role_id,
        )
        return info, policies, boundary, tags
    if rtype == "group":
        found = store.get_group(account, name)
        if found is None or found.arn != source_arn:
            raise NoSuchEntity(f"The group with name {name} cannot be found.")
        policies = authorizer.owner_policies(Owner(account, "group", found.name))
        info = PrincipalInfo(arn=found.arn, account=account, kind="user")
        return info, policies, None, {}
    raise InvalidInput(f"Invalid ARN: {source_arn}")


def _simulate(
    ctx: OperationContext,
    params: Params[Any],
    info: PrincipalInfo,
    identity: list[Policy],
    boundary: Policy | None,
    principal_tags: dict[str, str],
    scps: list[list[Policy]] | None = None,
) -> Result:
    params.refuse(
        "ResourceHandlingOption",
        "the EC2 scenarios it selects are not simulated; omit it (simulates the default)",
    )
    actions = params.get_str_list("ActionNames") or []
    resources = params.get_str_list("ResourceArns") or ["*"]
    resource_policy = None
    resource_doc = params.get_str("ResourcePolicy")
    if resource_doc is not None:
        resource_policy = parse_policy(resource_doc, PolicyKind.RESOURCE, label="ResourcePolicy")
    resource_owner = params.get_str("ResourceOwner")
    owner_account = None
    if resource_owner:
        parsed_owner = arns.parse_arn(resource_owner)
        owner_account = parsed_owner.account if parsed_owner else None
    caller_arn = params.get_str("CallerArn")
    if caller_arn:
        info = PrincipalInfo(
            arn=caller_arn,
            account=info.account,
            kind=info.kind,
            role_arn=info.role_arn,
            unique_id=info.unique_id,
        )
    entries = _context_entries(params)
    base_keys = global_keys(
        info,
        current_time=ctx.now,
        secure_transport=ctx.secure_transport,
        principal_tags=principal_tags,
        requested_region=ctx.region,
    )
    # Simulation only knows what it is told: the caller's context entries win, and
    # keys that depend on the live request (time, transport) come only from them.
    for name in ("aws:currenttime", "aws:epochtime", "aws:securetransport", "aws:requestedregion"):
        base_keys.pop(name, None)
    base_keys.update(entries)
    group = PolicyGroup(identity)
    results: list[dict[str, object]] = []
    for action in actions:
        for resource in resources:
            request = RequestContext(action, resource, info, base_keys)
            decision = evaluate(
                request,
                PolicySet(
                    identity=group,
                    resource=resource_policy,
                    resource_account=owner_account,
                    boundary=boundary,
                    scps=scps or (),
                ),
            )
            results.append(
                _result(action, resource, decision, boundary is not None, scps is not None)
            )
    page, next_marker = common.paginate(results, params)
    return common.with_truncation({"EvaluationResults": page}, next_marker)


def _result(
    action: str, resource: str, decision: Decision, has_boundary: bool, in_org: bool = False
) -> dict[str, object]:
    if decision.allowed:
        verdict = "allowed"
    elif decision.explicit_deny:
        verdict = "explicitDeny"
    else:
        verdict = "implicitDeny"
    result: dict[str, object] = {
        "EvalActionName": action,
        "EvalResourceName": resource,
        "EvalDecision": verdict,
        "MatchedStatements": [
            {"SourcePolicyId": m.policy_label, "SourcePolicyType": _SOURCE_TYPE[m.policy_type]}
            for m in decision.matched_statements
        ],
        "MissingContextValues": list(decision.missing_context_values),
    }
    if has_boundary:
        boundary_denied = (
            decision.reason is not None and decision.reason.policy_type is PolicyType.BOUNDARY
        )
        result["PermissionsBoundaryDecisionDetail"] = {
            "AllowedByPermissionsBoundary": not boundary_denied
        }
    if in_org:
        # [D] "Only applies if the simulated user's account is part of an organization"
        org_denied = decision.reason is not None and decision.reason.policy_type is PolicyType.SCP
        result["OrganizationsDecisionDetail"] = {"AllowedByOrganizations": not org_denied}
    return result


@operation("iam", "SimulatePrincipalPolicy", action="iam:SimulatePrincipalPolicy")
def simulate_principal_policy(
    ctx: OperationContext, params: Params[SimulatePrincipalPolicyMembers]
) -> Result:
    source_arn = params.req_str("PolicySourceArn")
    ctx.authorize("iam:SimulatePrincipalPolicy", source_arn)
    params.refuse(
        "PolicyExclusionList", "the simulation always includes every policy of the principal"
    )
    info, policies, boundary, tags = _source(ctx, source_arn)
    policies = policies + _parse_inputs(
        params.get_str_list("PolicyInputList") or [], PolicyKind.IDENTITY, "PolicyInputList"
    )
    boundary_inputs = params.get_str_list("PermissionsBoundaryPolicyInputList")
    if boundary_inputs:
        boundary = _parse_inputs(
            boundary_inputs, PolicyKind.BOUNDARY, "PermissionsBoundaryPolicyInputList"
        )[0]
    # the source principal's account SCPs apply, as in AWS's simulator
    account = ctx.store.get_account(info.account) if info.account else None
    scps = org_levels(ctx.store, account, SCP, compiled)
    in_org = account is not None and account.org_id is not None
    return _simulate(ctx, params, info, policies, boundary, tags, scps if in_org else None)


@operation("iam", "SimulateCustomPolicy", action="iam:SimulateCustomPolicy")
def simulate_custom_policy(
    ctx: OperationContext, params: Params[SimulateCustomPolicyMembers]
) -> Result:
    ctx.authorize("iam:SimulateCustomPolicy", "*")
    params.refuse(
        "OrderedOrganizationPolicyInputList",
        "SimulateCustomPolicy does not simulate organization policies; use "
        "SimulatePrincipalPolicy, which applies the account's SCPs",
    )
    account = common.account_of(ctx)
    policies = _parse_inputs(
        params.get_str_list("PolicyInputList") or [], PolicyKind.IDENTITY, "PolicyInputList"
    )
    boundary = None
    boundary_inputs = params.get_str_list("PermissionsBoundaryPolicyInputList")
    if boundary_inputs:
        boundary = _parse_inputs(
            boundary_inputs, PolicyKind.BOUNDARY, "PermissionsBoundaryPolicyInputList"
        )[0]
    info = PrincipalInfo(
        arn=arns.user_arn(account, "/", "SimulatedUser"), account=account, kind="user"
    )
    return _simulate(ctx, params, info, policies, boundary, {})
