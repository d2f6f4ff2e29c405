"""The decision: AWS's policy evaluation order over every applicable policy.

Sources: IAM User Guide "Policy evaluation logic" (single account), "Cross-account
policy evaluation logic", "Session policies", "Permissions boundaries", and
docs/wire-facts.md §6.1/§6.2/§4.8.  The order implemented by :func:`evaluate`:

1. An applicable ``Deny`` statement in any policy (SCP, RCP, resource-based,
   identity, boundary, session) → explicit deny.
2. SCPs: when ``PolicySet.scps`` is non-empty, every level (root → OU →
   account) needs an applicable ``Allow``.
3. RCPs: likewise, for ``PolicySet.rcps``.
4. The account root user, in its own account, is allowed from here on (only
   SCPs/RCPs/explicit denies restrict it).
5. Cross-account (``resource_account`` differs from the caller's account):
   the resource-based policy must allow (naming the account is enough), *and*
   the caller's side must allow: identity policies, boundary, session policy.
6. Same account, resource-based policy allows and names the caller by:

   * the exact role-session / federated-user ARN → allow (identity, boundary
     and session policies do not limit it);
   * the IAM user ARN → allow (identity policies and boundary do not limit it);
   * ``*``, the role ARN (for its sessions), the IAM user ARN behind a federated
     session, a unique id → still limited by the boundary and the session
     policy, but needs no identity policy;
   * only the account (``"AWS": "123456789012"`` / ``:root``) → delegation: the
     identity policies must allow (step 7).

   Role trust policies (``is_trust_evaluation``) must explicitly allow: with no
   allowing trust statement the request is denied even if identity policies
   allow.
7. Identity policies must allow; then the boundary (when set) must allow; then
   the session policy: when ``PolicySet.session`` is not ``None`` one of its
   policies must allow (inline and managed session policies together form the
   session policy, so an ``Allow`` in any of them counts — our reading of the
   "Session policies" page: permissions are the intersection of identity
   policies and *the* session policies); when it is ``None``, role sessions are
   unrestricted and ``federated-user`` sessions have no permissions
   (GetFederationToken without a policy).

Scope-down layers (``PolicySet.scope_layers``, from GetScopedCredentials) are
checked right after the organization policies (3b): each layer must allow, on
every path — root sessions, resource-policy grants naming the session,
cross-account — because AWS defines the scoped session's permissions as the
intersection of the calling session's and every layer's ([I] stricter than a
session policy, which a grant naming the exact session ARN bypasses).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Literal, overload

from tessera.iam.policy.context import RequestContext
from tessera.iam.policy.parse import Policy, Statement
from tessera.iam.policy.principals import MatchKind

__all__ = [
    "Decision",
    "DenyReason",
    "MatchedStatement",
    "PolicyGroup",
    "PolicySet",
    "PolicyType",
    "access_denied_message",
    "evaluate",
]


class PolicyType(Enum):
    """Policy types, valued with the phrase AWS uses in AccessDenied messages."""

    SCP = "service control policy"
    RCP = "resource control policy"
    RESOURCE = "resource-based policy"
    IDENTITY = "identity-based policy"
    BOUNDARY = "permissions boundary"
    SESSION = "session policy"


_DENY_ORDER = (
    PolicyType.SCP,
    PolicyType.RCP,
    PolicyType.RESOURCE,
    PolicyType.IDENTITY,
    PolicyType.BOUNDARY,
    PolicyType.SESSION,
)


@dataclass(frozen=True, slots=True)
class DenyReason:
    """``explicit``: a Deny statement applied; otherwise no policy of ``policy_type`` allowed."""

    explicit: bool
    policy_type: PolicyType


@dataclass(frozen=True, slots=True)
class MatchedStatement:
    policy_label: str
    policy_type: PolicyType
    statement_index: int
    sid: str | None
    effect: Literal["Allow", "Deny"]


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: DenyReason | None
    matched_statements: tuple[MatchedStatement, ...] = ()
    missing_context_values: tuple[str, ...] = ()
    trust_evaluation: bool = False

    @property
    def explicit_deny(self) -> bool:
        return self.reason is not None and self.reason.explicit


class PolicyGroup(Sequence[Policy]):
    """An immutable collection of policies with one merged action index.

    Build it once per principal (e.g. all attached + inline + group policies)
    and reuse it: the set of statements that can apply to an action is then
    one dict lookup no matter how many unrelated policies the group holds.
    """

    __slots__ = ("_always", "_by_service", "_cache", "_exact", "_hash", "_policies")

    def __init__(self, policies: Iterable[Policy]) -> None:
        self._policies: tuple[Policy, ...] = tuple(policies)
        exact: dict[str, set[int]] = {}
        by_service: dict[str, set[int]] = {}
        always: set[int] = set()
        for i, pol in enumerate(self._policies):
            for name in pol._exact:
                exact.setdefault(name, set()).add(i)
            for svc in pol._by_service:
                by_service.setdefault(svc, set()).add(i)
            if pol._always:
                always.add(i)
        self._exact = exact
        self._by_service = by_service
        self._always = always
        self._cache: dict[str, tuple[tuple[Policy, Statement], ...]] = {}
        self._hash = hash(self._policies)

    @overload
    def __getitem__(self, index: int) -> Policy: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Policy]: ...
    def __getitem__(self, index: int | slice) -> Policy | Sequence[Policy]:
        return self._policies[index]

    def __len__(self) -> int:
        return len(self._policies)

    def __iter__(self) -> Iterator[Policy]:
        return iter(self._policies)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PolicyGroup):
            return self._policies == other._policies
        return NotImplemented

    def candidates(self, action_lower: str) -> tuple[tuple[Policy, Statement], ...]:
        hit = self._cache.get(action_lower)
        if hit is not None:
            return hit
        service = action_lower.split(":", 1)[0]
        idx = set(self._exact.get(action_lower, ()))
        idx |= self._by_service.get(service, set())
        idx |= self._always
        out: list[tuple[Policy, Statement]] = []
        for i in sorted(idx):
            pol = self._policies[i]
            out.extend((pol, st) for st in pol.candidates(action_lower))
        result = tuple(out)
        if len(self._cache) >= 4096:
            self._cache.clear()
        self._cache[action_lower] = result
        return result


def _pairs(policies: Sequence[Policy], action_lower: str) -> Iterable[tuple[Policy, Statement]]:
    if isinstance(policies, PolicyGroup):
        return policies.candidates(action_lower)
    out: list[tuple[Policy, Statement]] = []
    for pol in policies:
        sts = pol._cache.get(action_lower)  # memoised fast path of pol.candidates()
        if sts is None:
            sts = pol.candidates(action_lower)
        if sts:
            out.extend((pol, st) for st in sts)
    return out


@dataclass(frozen=True, slots=True)
class PolicySet:
    """Everything that applies to one request.

    ``identity``: the user's inline, attached and group policies, or the role's
    policies (a :class:`PolicyGroup` makes large sets cheap).  ``resource``:
    the resource-based policy, including a role's trust policy.
    ``resource_account``: the account owning the resource (``None``: same as
    the caller's).  ``session``: ``None`` when the session carries no session
    policy.  ``scps`` / ``rcps``: one entry per level, root → OU → account.
    """

    identity: Sequence[Policy] = ()
    resource: Policy | None = None
    resource_account: str | None = None
    boundary: Policy | None = None
    session: Sequence[Policy] | None = None
    scps: Sequence[Sequence[Policy]] = ()
    rcps: Sequence[Sequence[Policy]] = ()
    is_trust_evaluation: bool = False
    #: GetScopedCredentials scope-down layers: each layer (one policy document,
    #: possibly empty when it no longer parses) must allow the request, on every
    #: path (root, resource-policy grants, cross-account) — see step 3b
    scope_layers: Sequence[Sequence[Policy]] = ()


@dataclass(slots=True)
class _Scan:
    allows: list[MatchedStatement] = field(default_factory=list)
    denies: list[MatchedStatement] = field(default_factory=list)
    grant: MatchKind = MatchKind.NONE


_NONE: Final = _Scan()


class _Evaluator:
    __slots__ = ("action", "ctx", "keys", "missing")

    def __init__(self, ctx: RequestContext) -> None:
        self.ctx = ctx
        self.action = ctx.action.lower()
        self.keys = ctx.keys
        self.missing: dict[str, None] = {}

    def note_missing(self, key: str) -> None:
        self.missing.setdefault(key, None)

    def _resource_matches(self, st: Statement) -> bool:
        if st.resources is None:
            return True
        resource = self.ctx.resource
        hit = any(p.matches(resource, self.keys, self.note_missing) for p in st.resources)
        return not hit if st.not_resource else hit

    def scan(
        self, pairs: Iterable[tuple[Policy, Statement]], ptype: PolicyType, result: _Scan
    ) -> _Scan:
        principal = self.ctx.principal
        for pol, st in pairs:
            kind = MatchKind.INDIRECT
            if st.principal is not None:
                if st.not_principal:
                    if st.principal.lists_every_identity_of(principal):
                        continue
                else:
                    kind = st.principal.match(principal)
                    if kind is MatchKind.NONE:
                        continue
            if not self._resource_matches(st):
                continue
            if st.conditions and not all(
                c.evaluate(self.keys, self.note_missing) for c in st.conditions
            ):
                continue
            matched = MatchedStatement(
                pol.label, ptype, st.index, st.sid, "Allow" if st.allow else "Deny"
            )
            if st.allow:
                result.allows.append(matched)
                if kind > result.grant:
                    result.grant = kind
            else:
                result.denies.append(matched)
        return result

    def scan_policies(self, policies: Sequence[Policy], ptype: PolicyType) -> _Scan:
        return self.scan(_pairs(policies, self.action), ptype, _Scan())


def evaluate(context: RequestContext, policies: PolicySet) -> Decision:
    """Decide ``context`` against ``policies`` (see the module docstring for the order)."""
    ev = _Evaluator(context)
    ps = policies
    principal = context.principal

    scp_scans = [ev.scan_policies(level, PolicyType.SCP) for level in ps.scps]
    rcp_scans = [ev.scan_policies(level, PolicyType.RCP) for level in ps.rcps]
    # absent policy types share one empty scan (only scan() appends, to its own)
    res_scan = ev.scan_policies((ps.resource,), PolicyType.RESOURCE) if ps.resource else _NONE
    id_scan = ev.scan_policies(ps.identity, PolicyType.IDENTITY)
    b_scan = ev.scan_policies((ps.boundary,), PolicyType.BOUNDARY) if ps.boundary else _NONE
    s_scan = ev.scan_policies(ps.session, PolicyType.SESSION) if ps.session is not None else _NONE
    layer_scans = [ev.scan_policies(layer, PolicyType.SESSION) for layer in ps.scope_layers]

    # the scans in _DENY_ORDER (a tuple: hashing Enum members is slow)
    by_type: tuple[tuple[PolicyType, list[_Scan]], ...] = (
        (PolicyType.SCP, scp_scans),
        (PolicyType.RCP, rcp_scans),
        (PolicyType.RESOURCE, [res_scan]),
        (PolicyType.IDENTITY, [id_scan]),
        (PolicyType.BOUNDARY, [b_scan]),
        (PolicyType.SESSION, [s_scan, *layer_scans]),
    )
    missing = tuple(ev.missing)
    trust = ps.is_trust_evaluation

    def deny(ptype: PolicyType) -> Decision:
        return Decision(False, DenyReason(False, ptype), (), missing, trust)

    # 1. explicit deny anywhere
    any_deny = (
        res_scan.denies
        or id_scan.denies
        or b_scan.denies
        or s_scan.denies
        or (scp_scans and any(s.denies for s in scp_scans))
        or (rcp_scans and any(s.denies for s in rcp_scans))
        or (layer_scans and any(s.denies for s in layer_scans))
    )
    for ptype, scans in by_type if any_deny else ():
        denies = [m for scan in scans for m in scan.denies]
        if denies:
            all_denies = tuple(m for _, ss in by_type for s in ss for m in s.denies)
            return Decision(False, DenyReason(True, ptype), all_denies, missing, trust)

    # 2./3. organization policies: every level must allow
    if scp_scans and any(not scan.allows for scan in scp_scans):
        return deny(PolicyType.SCP)
    if rcp_scans and any(not scan.allows for scan in rcp_scans):
        return deny(PolicyType.RCP)
    # 3b. scope-down layers: every layer must allow, whatever grants the request
    if layer_scans and any(not scan.allows for scan in layer_scans):
        return deny(PolicyType.SESSION)

    def allow() -> Decision:
        allows = tuple(m for _, ss in by_type for s in ss for m in s.allows)
        return Decision(True, None, allows, missing, trust)

    def boundary_and_session() -> PolicyType | None:
        if ps.boundary is not None and not b_scan.allows:
            return PolicyType.BOUNDARY
        if ps.session is not None:
            if not s_scan.allows:
                return PolicyType.SESSION
        elif principal.kind == "federated-user":
            return PolicyType.SESSION
        return None

    def caller_side() -> PolicyType | None:
        if principal.kind == "root":
            return None
        if not id_scan.allows:
            return PolicyType.IDENTITY
        return boundary_and_session()

    grant = res_scan.grant
    cross_account = (
        ps.resource_account is not None
        and principal.account is not None
        and ps.resource_account != principal.account
    )

    # 5. cross-account: both sides must allow
    if cross_account:
        if grant is MatchKind.NONE:
            return deny(PolicyType.RESOURCE)
        failed = caller_side()
        return deny(failed) if failed else allow()

    # 4. the account root in its own account
    if principal.kind == "root" and not trust:
        return allow()

    # 6. resource-based grants by principal form
    if grant is MatchKind.SESSION or (grant is MatchKind.USER and principal.kind != "root"):
        return allow()
    if grant is MatchKind.INDIRECT:
        failed = boundary_and_session()
        return deny(failed) if failed else allow()
    if trust and grant is MatchKind.NONE:
        return deny(PolicyType.RESOURCE)
    if principal.kind == "root":  # trust evaluation naming the account: root needs nothing else
        return allow()

    # 7. identity → boundary → session
    failed = caller_side()
    return deny(failed) if failed else allow()


def access_denied_message(context: RequestContext, decision: Decision) -> str:
    """The AccessDenied message AWS writes for ``decision``.

    Forms confirmed from real responses: "User: <arn> is not authorized to
    perform: <action> on resource: <resource> because no identity-based policy
    allows the <action> action" (aws/aws-pdk#104 and many more), "… with an
    explicit deny in a service control policy"
    (kubernetes-sigs/aws-load-balancer-controller#2322), "… because no
    resource-based policy allows the <action> action"
    (aws-samples/sample-serverless-mcp-servers#7), "… because no permissions
    boundary allows the <action> action" (stackengine.dev article quoting the
    error).  "… with an explicit deny in an identity-based policy" is quoted by
    devopsaitoolkit.com; the session-policy, RCP and other explicit-deny
    phrases follow the same pattern [I].  Trust-policy denials use the classic
    form without a reason ("… not authorized to perform: sts:AssumeRole on
    resource: <role arn>"); web-identity / SAML callers get "Not authorized to
    perform sts:AssumeRoleWithWebIdentity" (docs/wire-facts.md §4.10).  An empty
    ``resource`` drops the "on resource" clause (seen for actions without a
    resource type).
    """
    if decision.allowed or decision.reason is None:
        raise ValueError("decision is an allow")
    principal = context.principal
    if decision.trust_evaluation and principal.kind in ("web-identity", "saml"):
        return f"Not authorized to perform {context.action}"
    who = "anonymous" if principal.kind == "anonymous" else principal.arn
    text = f"User: {who} is not authorized to perform: {context.action}"
    if context.resource:
        text += f" on resource: {context.resource}"
    reason = decision.reason
    if decision.trust_evaluation and not reason.explicit:
        if reason.policy_type is PolicyType.RESOURCE:
            return text
    phrase = reason.policy_type.value
    if reason.explicit:
        article = "an" if phrase[0] in "aeiou" else "a"
        return f"{text} with an explicit deny in {article} {phrase}"
    return f"{text} because no {phrase} allows the {context.action} action"
