"""IAM last-accessed information (access advisor), from what Tessera records:
``GenerateServiceLastAccessedDetails`` (a report for a user, group, role or
customer managed policy, ``SERVICE_LEVEL`` or ``ACTION_LEVEL``),
``GetServiceLastAccessedDetails`` / ``…WithEntities`` (paging through it) and
``ListPoliciesGrantingServiceAccess``.

What is recorded: every authenticated attempt (allowed or denied, as AWS counts
them) of a user or of a role's sessions, per action, by the principal's unique id —
written behind the request by ``Authorizer.authorize`` (``tessera.iam.authz``).
The report is computed when generated (``JobStatus`` ``COMPLETED`` at once) and
kept, so later pages answer from the same data.

Which services a report lists: AWS lists every service the entity's policies
allow. Tessera has no catalogue of AWS's services, so a report lists the services
its policies name (``s3:Get*`` → ``s3``) and, for grants whose service part is a
wildcard (``*``, ``NotAction``), the services those grants allow that were used,
plus IAM and STS (the services Tessera serves). ``ServiceName`` is the service's
full name from botocore's models where botocore has the service, else its
namespace. ``TrackedActionsLastAccessed`` (``ACTION_LEVEL``) lists each recorded
action of the service (Tessera records every action, not only the ones AWS
tracks)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from tessera import arn as arns
from tessera.errors import InvalidInput, NoSuchEntity
from tessera.iam import ops_common as common
from tessera.iam.authz import compiled
from tessera.iam.model import Group, Role, User
from tessera.iam.policy import Policy, PolicyKind
from tessera.iam.policy.patterns import compile_glob, has_wildcard
from tessera.operation import OperationContext, Result
from tessera.protocol.inputs import (
    GenerateServiceLastAccessedDetailsMembers,
    GetServiceLastAccessedDetailsMembers,
    GetServiceLastAccessedDetailsWithEntitiesMembers,
    ListPoliciesGrantingServiceAccessMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.store.access_advisor import AccessReport, ServiceUse
from tessera.store.records import Owner

#: the services Tessera itself serves: always in a report whose grants allow them
SERVED = ("iam", "sts")


@dataclass(frozen=True, slots=True)
class _Entity:
    kind: str  # USER | ROLE | GROUP
    name: str
    path: str
    entity_id: str
    arn: str


@dataclass(frozen=True, slots=True)
class _Grant:
    """One policy's allowed services: ``named`` (explicit service parts) and
    ``wildcard`` (a statement whose service part is a wildcard or NotAction:
    ``excluded`` are the services its NotAction takes out entirely)."""

    name: str
    policy_type: str  # INLINE | MANAGED
    policy_arn: str | None
    entity: _Entity | None  # the holder of an inline policy
    policy: Policy

    def allows_service(self, service: str) -> bool:
        for st in self.policy.statements:
            if not st.allow:
                continue
            if st.not_action:
                # allowed unless the NotAction takes out the whole service
                if not any(
                    a.text == "*" or (a.name == "*" and _service_glob(a.service, service))
                    for a in st.actions
                ):
                    return True
            elif any(_service_glob(a.service, service) for a in st.actions):
                return True
        return False

    def named_services(self) -> set[str]:
        return {
            a.service
            for st in self.policy.statements
            if st.allow and not st.not_action
            for a in st.actions
            if not has_wildcard(a.service)
        }

    def has_wildcard_grant(self) -> bool:
        return any(
            st.not_action or any(has_wildcard(a.service) for a in st.actions)
            for st in self.policy.statements
            if st.allow
        )


def _service_glob(pattern: str, service: str) -> bool:
    return compile_glob(pattern).fullmatch(service) is not None


@lru_cache(maxsize=512)
def service_name(namespace: str) -> str:
    """The service's full name ("AWS Lambda") from botocore's models, else the
    namespace itself."""
    if namespace not in _available_services():
        return namespace
    try:
        model = _botocore_session().get_service_model(namespace)
    except Exception:  # a model botocore lists but cannot load: use the namespace
        return namespace
    return str(model.metadata.get("serviceFullName") or namespace)


@lru_cache(maxsize=1)
def _botocore_session() -> Any:
    import botocore.session  # loaded only when a report needs a name

    return botocore.session.get_session()


@lru_cache(maxsize=1)
def _available_services() -> frozenset[str]:
    return frozenset(_botocore_session().get_available_services())


# --- who a report is about ----------------------------------------------------------------


def _user_entity(user: User) -> _Entity:
    return _Entity("USER", user.name, user.path, user.user_id, user.arn)


def _role_entity(role: Role) -> _Entity:
    return _Entity("ROLE", role.name, role.path, role.role_id, role.arn)


def _group_entity(group: Group) -> _Entity:
    return _Entity("GROUP", group.name, group.path, group.group_id, group.arn)


def _owner_grants(ctx: OperationContext, entity: _Entity) -> list[_Grant]:
    account = common.account_of(ctx)
    owner = Owner(account, entity.kind.lower(), entity.name)
    grants: list[_Grant] = []
    for inline in ctx.store.list_inline_policies(owner):
        pol = compiled(inline.document, PolicyKind.IDENTITY, f"inline:{inline.name}")
        if pol is not None:
            grants.append(_Grant(inline.name, "INLINE", None, entity, pol))
    for policy_arn, document in ctx.store.attached_policy_documents([owner]):
        pol = compiled(document, PolicyKind.IDENTITY, policy_arn)
        if pol is not None:
            name = policy_arn.rsplit("/", 1)[-1]
            grants.append(_Grant(name, "MANAGED", policy_arn, None, pol))
    return grants


def _subject(ctx: OperationContext, arn: str) -> tuple[list[_Entity], list[_Grant]]:
    """The principals whose use a report on ``arn`` counts, and the policies whose
    grants decide its services. NoSuchEntity / InvalidInput as AWS's."""
    account = common.account_of(ctx)
    parsed = arns.parse_arn(arn)
    if parsed is None or parsed.service != "iam" or parsed.account != account:
        raise InvalidInput(f"ARN {arn} is not valid.")  # [I]
    rtype, _, rest = parsed.resource.partition("/")
    name = rest.rsplit("/", 1)[-1] if rest else ""
    store = ctx.store
    if rtype == "user":
        user = store.get_user(account, name)
        if user is None or user.arn != arn:
            raise common.no_such_user(name)
        entity = _user_entity(user)
        grants = _owner_grants(ctx, entity)
        for group in store.groups_for_user(account, user.name):
            grants.extend(_owner_grants(ctx, _group_entity(group)))
        return [entity], grants
    if rtype == "role":
        role = store.get_role(account, name)
        if role is None or role.arn != arn:
            raise common.no_such_role(name)
        entity = _role_entity(role)
        return [entity], _owner_grants(ctx, entity)
    if rtype == "group":
        found_group = store.get_group(account, name)
        if found_group is None or found_group.arn != arn:
            raise common.no_such_group(name)
        members = [_user_entity(u) for u in store.users_in_group(account, found_group.name)]
        return members, _owner_grants(ctx, _group_entity(found_group))
    if rtype == "policy":
        policy = common.find_policy(ctx, arn)
        if policy is None:
            raise common.no_such_policy(arn)
        document = store.get_default_policy_document(arn)
        pol = compiled(document or "", PolicyKind.IDENTITY, arn) if document else None
        grants = [] if pol is None else [_Grant(policy.name, "MANAGED", arn, None, pol)]
        entities: dict[str, _Entity] = {}
        for usage, kind, ename, _eid, _path in store.entities_using_policy(account, arn):
            if usage != "policy":
                continue
            if kind == "user":
                found_user = store.get_user(account, ename)
                if found_user is not None:
                    entities[found_user.user_id] = _user_entity(found_user)
            elif kind == "role":
                found_role = store.get_role(account, ename)
                if found_role is not None:
                    entities[found_role.role_id] = _role_entity(found_role)
            elif kind == "group":
                for member in store.users_in_group(account, ename):
                    entities[member.user_id] = _user_entity(member)
        return list(entities.values()), grants
    raise InvalidInput(f"ARN {arn} is not valid.")  # [I]


# --- the report ---------------------------------------------------------------------------


def _services(grants: Sequence[_Grant], uses: Iterable[ServiceUse]) -> list[str]:
    listed: set[str] = set()
    for grant in grants:
        listed |= grant.named_services()
    if any(g.has_wildcard_grant() for g in grants):
        candidates = set(SERVED) | {u.service for u in uses}
        listed |= {s for s in candidates if any(g.allows_service(s) for g in grants)}
    return sorted(listed)


def _ts(value: datetime) -> int:
    """Whole seconds, as AWS reports last access ("2019-09-30T23:02:00Z")."""
    return int(value.timestamp())


def _build_report(
    entities: Sequence[_Entity],
    grants: Sequence[_Grant],
    uses: Sequence[ServiceUse],
    action_level: bool,
) -> dict[str, Any]:
    by_id = {e.entity_id: e for e in entities}
    services: list[dict[str, Any]] = []
    per_service: dict[str, list[dict[str, Any]]] = {}
    for namespace in _services(grants, uses):
        mine = [u for u in uses if u.service == namespace and u.principal_id in by_id]
        entry: dict[str, Any] = {
            "ServiceName": service_name(namespace),
            "ServiceNamespace": namespace,
            "TotalAuthenticatedEntities": len({u.principal_id for u in mine}),
        }
        if mine:
            last = max(mine, key=lambda u: u.last_at)
            entry["LastAuthenticated"] = _ts(last.last_at)
            entry["LastAuthenticatedEntity"] = by_id[last.principal_id].arn
            entry["LastAuthenticatedRegion"] = last.region
        if action_level:
            entry["TrackedActionsLastAccessed"] = [
                {
                    "ActionName": u.action.partition(":")[2],
                    "LastAccessedEntity": by_id[u.principal_id].arn,
                    "LastAccessedTime": _ts(u.last_at),
                    "LastAccessedRegion": u.region,
                }
                for u in sorted(mine, key=lambda u: (u.action.lower(), u.principal_id))
            ]
        services.append(entry)
        rows: list[dict[str, Any]] = []
        for entity in sorted(entities, key=lambda e: e.arn):
            used = [u.last_at for u in mine if u.principal_id == entity.entity_id]
            row: dict[str, Any] = {
                "EntityInfo": {
                    "Arn": entity.arn,
                    "Name": entity.name,
                    "Type": entity.kind,
                    "Id": entity.entity_id,
                    "Path": entity.path,
                }
            }
            if used:
                row["LastAuthenticated"] = _ts(max(used))
            rows.append(row)
        per_service[namespace] = rows
    return {"services": services, "entities": per_service}


def _dates(value: Any) -> Any:
    """The stored report with its timestamps as datetimes again."""
    if isinstance(value, dict):
        return {
            k: datetime.fromtimestamp(v, UTC)
            if k in ("LastAuthenticated", "LastAccessedTime") and isinstance(v, float | int)
            else _dates(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_dates(v) for v in value]
    return value


@operation(
    "iam",
    "GenerateServiceLastAccessedDetails",
    action="iam:GenerateServiceLastAccessedDetails",
)
def generate_service_last_accessed_details(
    ctx: OperationContext, params: Params[GenerateServiceLastAccessedDetailsMembers]
) -> Result:
    arn = params.req_str("Arn")
    ctx.authorize("iam:GenerateServiceLastAccessedDetails", arn)
    granularity = params.get_str("Granularity") or "SERVICE_LEVEL"
    entities, grants = _subject(ctx, arn)
    account = common.account_of(ctx)
    uses = ctx.store.service_uses(account, [e.entity_id for e in entities])
    report = _build_report(entities, grants, uses, granularity == "ACTION_LEVEL")
    now = common.now_of(ctx)
    job_id = str(uuid.uuid4())
    ctx.store.create_access_report(
        AccessReport(account, job_id, granularity, arn, now, now, json.dumps(report))
    )
    return {"JobId": job_id}


def _report(ctx: OperationContext, params: Params[Any], action: str, job_id: str) -> AccessReport:
    ctx.authorize(action, "*")
    common.max_items(params)  # the paging members are read (checked) before the lookup
    common.marker(params)
    found = ctx.store.get_access_report(common.account_of(ctx), job_id)
    if found is None:
        raise NoSuchEntity(f"Job with id {job_id} does not exist.")  # [I]
    return found


def _job_fields(report: AccessReport) -> dict[str, object]:
    return {
        "JobStatus": "COMPLETED",
        "JobCreationDate": report.created_at,
        "JobCompletionDate": report.completed_at,
    }


@operation("iam", "GetServiceLastAccessedDetails", action="iam:GetServiceLastAccessedDetails")
def get_service_last_accessed_details(
    ctx: OperationContext, params: Params[GetServiceLastAccessedDetailsMembers]
) -> Result:
    report = _report(ctx, params, "iam:GetServiceLastAccessedDetails", params.req_str("JobId"))
    services = _dates(json.loads(report.report)["services"])
    page, next_marker = common.paginate(services, params)
    result: dict[str, object] = {
        **_job_fields(report),
        "JobType": report.job_type,
        "ServicesLastAccessed": page,
    }
    return common.with_truncation(result, next_marker)


@operation(
    "iam",
    "GetServiceLastAccessedDetailsWithEntities",
    action="iam:GetServiceLastAccessedDetailsWithEntities",
)
def get_service_last_accessed_details_with_entities(
    ctx: OperationContext, params: Params[GetServiceLastAccessedDetailsWithEntitiesMembers]
) -> Result:
    namespace = params.req_str("ServiceNamespace").lower()
    report = _report(
        ctx, params, "iam:GetServiceLastAccessedDetailsWithEntities", params.req_str("JobId")
    )
    entities = _dates(json.loads(report.report)["entities"].get(namespace, []))
    page, next_marker = common.paginate(entities, params)
    return common.with_truncation({**_job_fields(report), "EntityDetailsList": page}, next_marker)


@operation(
    "iam", "ListPoliciesGrantingServiceAccess", action="iam:ListPoliciesGrantingServiceAccess"
)
def list_policies_granting_service_access(
    ctx: OperationContext, params: Params[ListPoliciesGrantingServiceAccessMembers]
) -> Result:
    """For a user, its own policies and its groups'; for a group or role, its own."""
    arn = params.req_str("Arn")
    ctx.authorize("iam:ListPoliciesGrantingServiceAccess", arn)
    namespaces = [n.lower() for n in params.get_str_list("ServiceNamespaces") or []]
    if params.get_str("Marker") is not None:
        # every answer is one page (the model bounds ServiceNamespaces), no marker is issued
        raise common.invalid_marker()
    parsed = arns.parse_arn(arn)
    if parsed is not None and parsed.resource.startswith("policy/"):
        raise InvalidInput(f"ARN {arn} is not valid.")  # [I] users, groups and roles only
    _entities, grants = _subject(ctx, arn)
    out = []
    for namespace in namespaces:
        policies = []
        for grant in grants:
            if not grant.allows_service(namespace):
                continue
            item: dict[str, object] = {"PolicyName": grant.name, "PolicyType": grant.policy_type}
            if grant.policy_arn is not None:
                item["PolicyArn"] = grant.policy_arn
            if grant.entity is not None:
                item["EntityType"] = grant.entity.kind
                item["EntityName"] = grant.entity.name
            policies.append(item)
        out.append({"ServiceNamespace": namespace, "Policies": policies})
    return {"PoliciesGrantingServiceAccess": out, "IsTruncated": False}
