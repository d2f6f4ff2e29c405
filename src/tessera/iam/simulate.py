"""The IAM policy simulator. ``SimulatePrincipalPolicy`` and
``SimulateCustomPolicy``: run the real policy engine over a principal's stored
policies (or the given ones), optional permissions boundary and resource policy,
with caller-supplied context entries, and report per action × resource AWS's
result shape — the decision, the statements that decided it (source policy, its
type, the statement's position in the document), the condition keys that were
missing, the organization and boundary details, the per-resource results — for
any action (``s3:PutObject`` included), not only the ones Tessera serves.
``GetContextKeysForCustomPolicy`` / ``GetContextKeysForPrincipalPolicy``: the
context keys those policies use (what a simulation may need as context
entries). The document-text facts come from ``tessera.iam.policy.introspect``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
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
from tessera.iam.policy.introspect import (
    Position,
    context_key_names,
    merge_key_names,
    statement_spans,
)
from tessera.operation import OperationContext, Result
from tessera.protocol.inputs import (
    GetContextKeysForCustomPolicyMembers,
    GetContextKeysForPrincipalPolicyMembers,
    SimulateCustomPolicyMembers,
    SimulatePrincipalPolicyMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.store.records import Owner

#: SourcePolicyType of a managed policy, and of the policies given in the request
#: (recorded AWS answers; the model's enum says aws-managed/user-managed, AWS says this)
IAM_POLICY = "IAM Policy"

_ALLOW_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'


@dataclass(frozen=True, slots=True)
class _Source:
    """How a policy is named in ``MatchedStatements`` and where its statements are."""

    policy_id: str
    policy_type: str
    spans: tuple[tuple[Position, Position], ...]


def _describe(policy: Policy) -> _Source:
    """``SourcePolicyId`` / ``SourcePolicyType`` of a policy the simulation gathered or
    was given. AWS names a managed policy by its name ("IAM Policy"), an inline one
    ``<entity type>_<entity name>_<policy name>`` (recorded:
    ``role_ecs-task-execution-role-ce-grp-4r_ecs_execution_secrets``) typed by the
    entity holding it (user | group | role, #17), an input document by its member
    (``PolicyInputList.1``), the resource policy ``ResourcePolicy`` ("resource")."""
    label = policy.label
    spans = statement_spans(policy.document)
    if label.startswith("arn:"):
        return _Source(label.rsplit("/", 1)[-1], IAM_POLICY, spans)
    if label.startswith(("PolicyInputList.", "PermissionsBoundaryPolicyInputList.")):
        return _Source(label, IAM_POLICY, spans)
    if label == "ResourcePolicy":
        return _Source(label, "resource", spans)
    kind, _, rest = label.partition("/")
    if kind in ("user", "group", "role") and "/" in rest:
        entity, _, name = rest.partition("/")
        return _Source(f"{kind}_{entity}_{name}", kind, spans)
    return _Source(label, "none", spans)  # an organization policy (SCP)


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


def principal_source(
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
    resource_arns = params.get_str_list("ResourceArns")
    resources = resource_arns or ["*"]
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
    every = [*identity, *(p for p in (boundary, resource_policy) if p is not None)]
    every.extend(p for level in scps or () for p in level)
    sim = _Simulation(
        identity=PolicyGroup(identity),
        boundary=boundary,
        resource_policy=resource_policy,
        owner_account=owner_account,
        scps=scps,
        sources={p.label: _describe(p) for p in every},
        spelled={
            k.lower(): k
            for k in merge_key_names(k for p in every for k in context_key_names(p.document))
        },
    )
    results: list[dict[str, object]] = []
    for action in actions:
        for resource in resources:
            request = RequestContext(action, resource, info, base_keys)
            results.append(sim.result(request, specific=resource_arns is not None))
    page, next_marker = common.paginate(results, params)
    return common.with_truncation({"EvaluationResults": page}, next_marker)


def _verdict(decision: Decision) -> str:
    if decision.allowed:
        return "allowed"
    return "explicitDeny" if decision.explicit_deny else "implicitDeny"


def _position(position: Position) -> dict[str, int]:
    return {"Line": position.line, "Column": position.column}


@dataclass(frozen=True, slots=True)
class _Simulation:
    """Everything that is the same for each action × resource of one simulation."""

    identity: PolicyGroup
    boundary: Policy | None
    resource_policy: Policy | None
    owner_account: str | None
    scps: list[list[Policy]] | None
    sources: dict[str, _Source]
    spelled: dict[str, str]  # lower-cased context key → as the policies write it

    def decide(self, request: RequestContext) -> Decision:
        return evaluate(
            request,
            PolicySet(
                identity=self.identity,
                resource=self.resource_policy,
                resource_account=self.owner_account,
                boundary=self.boundary,
                scps=self.scps or (),
            ),
        )

    def matched(self, decision: Decision) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for m in decision.matched_statements:
            source = self.sources.get(m.policy_label)
            if source is None:
                continue
            entry: dict[str, object] = {
                "SourcePolicyId": source.policy_id,
                "SourcePolicyType": source.policy_type,
            }
            if m.statement_index < len(source.spans):
                start, end = source.spans[m.statement_index]
                entry["StartPosition"] = _position(start)
                entry["EndPosition"] = _position(end)
            out.append(entry)
        return out

    def missing(self, decision: Decision) -> list[str]:
        return [self.spelled.get(k, k) for k in decision.missing_context_values]

    def cross_account(self, request: RequestContext) -> bool:
        account = request.principal.account
        return (
            self.owner_account is not None
            and account is not None
            and (self.owner_account != account)
        )

    def details(self, request: RequestContext) -> dict[str, str]:
        """``EvalDecisionDetails``: empty within one account; for a cross-account
        simulation how each side decides on its own [I: AWS documents the member as
        "how each policy type contributes"; the two names follow SourcePolicyType's
        "IAM Policy" and the resource-policy member]."""
        if not self.cross_account(request):
            return {}
        caller = evaluate(request, PolicySet(identity=self.identity, boundary=self.boundary))
        details = {IAM_POLICY: _verdict(caller)}
        resource = (
            evaluate(request, PolicySet(resource=self.resource_policy))
            if self.resource_policy is not None
            else None
        )
        details["Resource Policy"] = "implicitDeny" if resource is None else _verdict(resource)
        return details

    def boundary_detail(self, request: RequestContext) -> dict[str, bool] | None:
        if self.boundary is None:
            return None
        alone = evaluate(request, PolicySet(identity=(self.boundary,)))
        return {"AllowedByPermissionsBoundary": alone.allowed}

    def result(self, request: RequestContext, *, specific: bool) -> dict[str, object]:
        decision = self.decide(request)
        matched = self.matched(decision)
        missing = self.missing(decision)
        result: dict[str, object] = {
            "EvalActionName": request.action,
            "EvalResourceName": request.resource,
            "EvalDecision": _verdict(decision),
            "MatchedStatements": matched,
            "MissingContextValues": missing,
        }
        if self.scps is not None:
            # [D] "Only applies if the simulated user's account is part of an organization"
            orgs = evaluate(request, PolicySet(identity=(_allow_all(),), scps=self.scps))
            result["OrganizationsDecisionDetail"] = {"AllowedByOrganizations": orgs.allowed}
        boundary = self.boundary_detail(request)
        if boundary is not None:
            result["PermissionsBoundaryDecisionDetail"] = boundary
        if specific:
            # recorded AWS answers: with ResourceArns, an (empty within one account)
            # EvalDecisionDetails and one ResourceSpecificResults entry per resource
            details = self.details(request)
            result["EvalDecisionDetails"] = details
            specific_result: dict[str, object] = {
                "EvalResourceName": request.resource,
                "EvalResourceDecision": _verdict(decision),
                "MatchedStatements": matched,
            }
            if missing:
                specific_result["MissingContextValues"] = missing
            if details:
                specific_result["EvalDecisionDetails"] = details
            if boundary is not None:
                specific_result["PermissionsBoundaryDecisionDetail"] = boundary
            result["ResourceSpecificResults"] = [specific_result]
        return result


@lru_cache(maxsize=1)
def _allow_all() -> Policy:
    return parse_policy(_ALLOW_ALL, PolicyKind.IDENTITY, label="allow-all")


@operation("iam", "SimulatePrincipalPolicy", action="iam:SimulatePrincipalPolicy")
def simulate_principal_policy(
    ctx: OperationContext, params: Params[SimulatePrincipalPolicyMembers]
) -> Result:
    source_arn = params.req_str("PolicySourceArn")
    ctx.authorize("iam:SimulatePrincipalPolicy", source_arn)
    params.refuse(
        "PolicyExclusionList", "the simulation always includes every policy of the principal"
    )
    info, policies, boundary, tags = principal_source(ctx, source_arn)
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


def _key_names(documents: Sequence[str], label: str) -> list[str]:
    names: list[str] = []
    for i, doc in enumerate(documents, start=1):
        try:
            parse_policy(doc, PolicyKind.IDENTITY, label=f"{label}.{i}")
        except MalformedPolicyDocument as exc:
            # the operation's only input error is InvalidInput (model)
            raise InvalidInput(f"{label}.{i}: {exc.message}") from exc
        names.extend(context_key_names(doc))
    return names


@operation("iam", "GetContextKeysForCustomPolicy", action="iam:GetContextKeysForCustomPolicy")
def get_context_keys_for_custom_policy(
    ctx: OperationContext, params: Params[GetContextKeysForCustomPolicyMembers]
) -> Result:
    ctx.authorize("iam:GetContextKeysForCustomPolicy", "*")
    documents = params.get_str_list("PolicyInputList") or []
    return {"ContextKeyNames": merge_key_names(_key_names(documents, "PolicyInputList"))}


@operation("iam", "GetContextKeysForPrincipalPolicy", action="iam:GetContextKeysForPrincipalPolicy")
def get_context_keys_for_principal_policy(
    ctx: OperationContext, params: Params[GetContextKeysForPrincipalPolicyMembers]
) -> Result:
    """The keys of every policy of the user (its groups' included), group or role,
    then of the documents given (AWS: "the keys from all policies attached to the
    entity, plus any the input list adds")."""
    source_arn = params.req_str("PolicySourceArn")
    ctx.authorize("iam:GetContextKeysForPrincipalPolicy", source_arn)
    _info, policies, _boundary, _tags = principal_source(ctx, source_arn)
    names = [k for p in policies for k in context_key_names(p.document)]
    names += _key_names(params.get_str_list("PolicyInputList") or [], "PolicyInputList")
    return {"ContextKeyNames": merge_key_names(names)}
