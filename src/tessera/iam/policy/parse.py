"""Policy documents: JSON parsing, validation with AWS's messages, compilation.

:func:`parse_policy` turns a JSON document into an immutable, hashable
:class:`Policy` whose statements are pre-compiled (wildcards → anchored
regexes, conditions → :class:`~tessera.iam.policy.conditions.Condition`) and
which carries an *action index*: statements are bucketed by exact action name,
by service prefix and a small residue (``NotAction``, wildcards in the service
part), and the list of statements that can apply to a given action is memoised
per policy, so a policy that cannot match an action costs one dict lookup.

Validation messages.  Each text below is tagged:

* **[C]** confirmed verbatim from real AWS responses quoted in public issue
  threads (thread named in the comment);
* **[M]** taken from moto's IAM validator (which mirrors AWS) but not seen in
  a real AWS response by us;
* **[I]** inferred — no public capture found; wording is our best guess.

Size: AWS does not count white space toward the policy size quotas
("IAM doesn't count white space when calculating the size of a policy");
we count every non-white-space character of the document as sent.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from tessera.arn import parse_arn
from tessera.errors import LimitExceeded, MalformedPolicyDocument
from tessera.iam.policy.conditions import Condition, make_condition, parse_date, parse_operator
from tessera.iam.policy.patterns import Pattern, compile_glob, has_wildcard, parse_pattern
from tessera.iam.policy.principals import (
    PrincipalSpec,
    classify_aws_value,
    invalid_principal_message,
)

__all__ = [
    "MSG",
    "Policy",
    "PolicyKind",
    "PolicyTooLarge",
    "Statement",
    "inline_size_message",
    "parse_policy",
    "policy_size",
]


class PolicyKind(Enum):
    IDENTITY = "identity"
    RESOURCE = "resource"
    TRUST = "trust"
    BOUNDARY = "boundary"
    SESSION = "session"
    SCP = "scp"
    RCP = "rcp"


class MSG:
    """AWS ``MalformedPolicyDocument`` texts (see the module docstring for tags)."""

    # [C] boto/boto3#180, aws-cloudformation/cfn-lint#3751
    SYNTAX = "Syntax errors in policy."
    # [C] 99designs/iamy#65, amancevice/terraform-aws-custom-ecr-domain#2
    LEGACY = "The policy failed legacy parsing"
    # [C] Meteor-CollectionFS#630 (managed policy without Version)
    VERSION = "Policy document must be version 2012-10-17 or greater."
    # [C] hashicorp/terraform#13449, hashicorp/terraform-provider-aws#10419
    NO_PRINCIPAL_ALLOWED = "Policy document should not specify a principal."
    # [C] aws/aws-cdk#7615
    NO_ACTIONS = "Policy statement must contain actions."
    # [C] terraform-aws-modules/terraform-aws-iam#603
    NO_RESOURCES = "Policy statement must contain resources."
    # [C] magenx/Magento-2-aws-cluster-terraform#18, kubernetes/kops#4951
    DUPLICATE_SID = "Statement IDs (SID) in a single policy must be unique."
    # [C] modernisation-platform-environments#590 ('Resource X must be in ARN format or "*".')
    RESOURCE_FORMAT = 'Resource {resource} must be in ARN format or "*".'
    # [C] cloud-gov/terraform-provision#1838
    IAM_REGION = "IAM resource {resource} cannot contain region information."
    # [M] moto iam/policy_validation.py
    VENDOR = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
    # [C] garnaat/kappa#111
    ONE_COLON = "Actions/Condition can contain only one colon."
    # [M]
    VENDOR_INVALID = "Vendor {vendor} is not valid"
    # [C] devopsacademyau/academy#1368, kubernetes-sigs/external-dns#3085
    TRUST_RESOURCE = "Has prohibited field Resource"
    # [I] by analogy with the confirmed Resource text
    TRUST_NOT_RESOURCE = "Has prohibited field NotResource"
    # [I] by analogy; AWS docs: NotPrincipal is not allowed in trust policies
    TRUST_NOT_PRINCIPAL = "Has prohibited field NotPrincipal"
    # [C] terraform-aws-modules/terraform-aws-iam#47
    TRUST_NO_PRINCIPAL = (
        "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: "
        "The passed in policy has a statement with no principals!"
    )
    # [C] aws/aws-cdk#5732 (trust policy with "Principal": "*")
    TRUST_STAR = 'AssumeRolepolicy contained an invalid principal: "STAR":"*".'
    # [C] S3's text (versity/versitygw#1176-style "Missing required field X"); used for
    # resource-based policies without Principal.
    MISSING_PRINCIPAL = "Missing required field Principal"
    # [C] org-formation/org-formation-cli#225 (AWS Organizations, SCP/RCP)
    ORG_POLICY_TYPE = (
        "The provided policy document does not meet the requirements of the specified policy type."
    )


def policy_size(document: str) -> int:
    """Size as AWS counts it for quotas: white space is not counted."""
    return sum(1 for ch in document if not ch.isspace())


class PolicyTooLarge(LimitExceeded):
    """Over the caller's size quota.  ``LimitExceeded`` (HTTP 409) on the wire.

    Default message (managed policies, CreatePolicy/CreatePolicyVersion)
    "Cannot exceed quota for PolicySize: 6144" is confirmed
    (ministryofjustice/cloud-platform-environments#14473); for a trust policy
    "Cannot exceed quota for ACLSizePerRole: 2048" [I, recalled, not found in
    the index].  Inline Put*Policy callers should re-raise with
    :func:`inline_size_message`.
    """

    def __init__(self, size: int, limit: int, kind: PolicyKind) -> None:
        quota = "ACLSizePerRole" if kind is PolicyKind.TRUST else "PolicySize"
        super().__init__(f"Cannot exceed quota for {quota}: {limit}")
        self.size = size
        self.limit = limit
        self.kind = kind


def inline_size_message(entity_type: str, entity_name: str, limit: int) -> str:
    """Inline-policy over quota, e.g. ``("user", "alice", 2048)``.

    [C] "Maximum policy size of 2048 bytes exceeded for user <name>"
    (cloud-platform-environments#5303) and "… of 5120 bytes exceeded for group
    travis-ci" (HumanCellAtlas/data-store#1963); the role form is [I].
    """
    return f"Maximum policy size of {limit} bytes exceeded for {entity_type} {entity_name}"


_VERSIONS: Final = ("2008-10-17", "2012-10-17")
_TOP_KEYS: Final = frozenset({"Version", "Id", "Statement"})
_STMT_KEYS: Final = frozenset(
    {
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
)
_PRINCIPAL_KEYS: Final = frozenset({"AWS", "Service", "Federated", "CanonicalUser"})
_IDENTITY_LIKE: Final = frozenset(
    {PolicyKind.IDENTITY, PolicyKind.BOUNDARY, PolicyKind.SESSION, PolicyKind.SCP}
)


def _malformed(message: str) -> MalformedPolicyDocument:
    return MalformedPolicyDocument(message)


# --- compiled forms -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionPattern:
    text: str
    service: str  # lower-cased service part ("*" for the bare "*")
    name: str  # lower-cased name part

    def matches(self, action_lower: str) -> bool:
        if self.text == "*":
            return True
        return compile_glob(self.text.lower()).fullmatch(action_lower) is not None


@dataclass(frozen=True, slots=True)
class Statement:
    index: int
    sid: str | None
    allow: bool
    actions: tuple[ActionPattern, ...]
    not_action: bool
    resources: tuple[Pattern, ...] | None  # None: element absent (trust policies)
    not_resource: bool
    principal: PrincipalSpec | None
    not_principal: bool
    conditions: tuple[Condition, ...]

    def action_matches(self, action_lower: str) -> bool:
        hit = any(a.matches(action_lower) for a in self.actions)
        return not hit if self.not_action else hit


def _candidate_cache() -> dict[str, tuple[Statement, ...]]:
    return {}


_CACHE_LIMIT: Final = 4096


@dataclass(frozen=True, slots=True)
class Policy:
    """A parsed, compiled policy.  Equality/hash: ``(kind, label, document)``.

    ``label`` names the policy in decisions (a policy ARN, ``user/alice:inline``,
    ``trust:arn:aws:iam::…:role/r``…); choose it when parsing or with
    :meth:`relabel`.
    """

    document: str
    kind: PolicyKind
    label: str
    version: str
    id: str | None = field(compare=False)
    statements: tuple[Statement, ...] = field(compare=False)
    _exact: Mapping[str, tuple[int, ...]] = field(compare=False, repr=False)
    _by_service: Mapping[str, tuple[int, ...]] = field(compare=False, repr=False)
    _always: tuple[int, ...] = field(compare=False, repr=False)
    _cache: dict[str, tuple[Statement, ...]] = field(
        default_factory=_candidate_cache, compare=False, repr=False
    )

    @property
    def size(self) -> int:
        return policy_size(self.document)

    def relabel(self, label: str) -> Policy:
        return Policy(
            self.document,
            self.kind,
            label,
            self.version,
            self.id,
            self.statements,
            self._exact,
            self._by_service,
            self._always,
        )

    def bind_principals(self, ids_by_arn: Mapping[str, str]) -> Policy:
        """This policy with the IAM user and role ARNs of its ``Principal`` /
        ``NotPrincipal`` elements bound to the unique ids in ``ids_by_arn`` (see
        :meth:`PrincipalSpec.bind`); ARNs missing there match nobody."""
        statements = tuple(
            st
            if st.principal is None
            else dataclasses.replace(st, principal=st.principal.bind(ids_by_arn))
            for st in self.statements
        )
        return Policy(
            self.document,
            self.kind,
            self.label,
            self.version,
            self.id,
            statements,
            self._exact,
            self._by_service,
            self._always,
        )

    def candidates(self, action_lower: str) -> tuple[Statement, ...]:
        """Statements whose Action/NotAction matches ``action_lower`` (memoised)."""
        hit = self._cache.get(action_lower)
        if hit is not None:
            return hit
        service = action_lower.split(":", 1)[0]
        idx: set[int] = set(self._exact.get(action_lower, ()))
        idx.update(self._by_service.get(service, ()))
        idx.update(self._always)
        result = tuple(
            self.statements[i]
            for i in sorted(idx)
            if self.statements[i].action_matches(action_lower)
        )
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[action_lower] = result
        return result


# --- parsing ----------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _str_or_list(value: object) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _condition_scalar(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    return None


def parse_policy(
    document: str,
    kind: PolicyKind,
    *,
    max_size: int | None = None,
    label: str = "",
    require_current_version: bool = False,
) -> Policy:
    """Parse, validate and compile ``document``.

    Raises :class:`PolicyTooLarge` (a ``LimitExceeded``) when ``max_size`` is
    given and exceeded, and ``MalformedPolicyDocument`` with AWS's text for any
    grammar error.  ``require_current_version`` rejects documents whose
    ``Version`` is not ``2012-10-17`` (what CreatePolicy does).
    """
    if max_size is not None:
        size = policy_size(document)
        if size > max_size:
            raise PolicyTooLarge(size, max_size, kind)
    try:
        raw = json.loads(document, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise _malformed(MSG.SYNTAX) from exc
    statements_raw = _check_syntax(raw, kind)
    assert isinstance(raw, dict)
    version = raw.get("Version", "2008-10-17")
    if require_current_version and version != "2012-10-17":
        raise _malformed(MSG.VERSION)
    _check_legacy(statements_raw)
    _check_semantics(statements_raw, kind)
    variables = version == "2012-10-17"
    compiled = tuple(_compile_statement(i, s, variables) for i, s in enumerate(statements_raw))
    exact: dict[str, list[int]] = {}
    by_service: dict[str, list[int]] = {}
    always: list[int] = []
    for st in compiled:
        if st.not_action:
            always.append(st.index)
            continue
        for ap in st.actions:
            if ap.text == "*" or has_wildcard(ap.service):
                always.append(st.index)
            elif has_wildcard(ap.name):
                by_service.setdefault(ap.service, []).append(st.index)
            else:
                exact.setdefault(f"{ap.service}:{ap.name}", []).append(st.index)
    raw_id = raw.get("Id")
    return Policy(
        document=document,
        kind=kind,
        label=label,
        version=version,
        id=raw_id if isinstance(raw_id, str) else None,
        statements=compiled,
        _exact={k: tuple(v) for k, v in exact.items()},
        _by_service={k: tuple(v) for k, v in by_service.items()},
        _always=tuple(sorted(set(always))),
    )


def _check_syntax(raw: object, kind: PolicyKind) -> list[dict[str, Any]]:
    """Structural checks → ``Syntax errors in policy.`` ([C]; detail per moto [M])."""
    if not isinstance(raw, dict):
        raise _malformed(MSG.SYNTAX)
    for key in raw:
        if key not in _TOP_KEYS:
            raise _malformed(MSG.SYNTAX)
    if "Version" in raw and raw["Version"] not in _VERSIONS:
        raise _malformed(MSG.SYNTAX)
    if "Id" in raw and not isinstance(raw["Id"], str):
        raise _malformed(MSG.SYNTAX)
    stmts = raw.get("Statement")
    if isinstance(stmts, dict):
        stmts = [stmts]
    if not isinstance(stmts, list) or not stmts:
        raise _malformed(MSG.SYNTAX)
    for st in stmts:
        if not isinstance(st, dict):
            raise _malformed(MSG.SYNTAX)
        for key in st:
            if key not in _STMT_KEYS:
                raise _malformed(MSG.SYNTAX)
        if ("Action" in st and "NotAction" in st) or ("Resource" in st and "NotResource" in st):
            raise _malformed(MSG.SYNTAX)
        if "Principal" in st and "NotPrincipal" in st:
            raise _malformed(MSG.SYNTAX)
        effect = st.get("Effect")
        if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
            raise _malformed(MSG.SYNTAX)
        for key in ("Action", "NotAction", "Resource", "NotResource"):
            if key in st and _str_or_list(st[key]) is None:
                raise _malformed(MSG.SYNTAX)
        if "Sid" in st and not isinstance(st["Sid"], str):
            raise _malformed(MSG.SYNTAX)
        for key in ("Principal", "NotPrincipal"):
            if key in st:
                p = st[key]
                if isinstance(p, str):
                    if p != "*":
                        raise _malformed(MSG.SYNTAX)
                elif isinstance(p, dict):
                    for pk, pv in p.items():
                        if pk not in _PRINCIPAL_KEYS or _str_or_list(pv) is None:
                            raise _malformed(MSG.SYNTAX)
                else:
                    raise _malformed(MSG.SYNTAX)
        if "Condition" in st:
            cond = st["Condition"]
            if not isinstance(cond, dict):
                raise _malformed(MSG.SYNTAX)
            for op_text, block in cond.items():
                if not isinstance(block, dict):
                    raise _malformed(MSG.SYNTAX)
                if parse_operator(op_text) is None and block:
                    raise _malformed(MSG.SYNTAX)
                for _key, vals in block.items():
                    if isinstance(vals, list):
                        if any(_condition_scalar(v) is None for v in vals):
                            raise _malformed(MSG.SYNTAX)
                    elif _condition_scalar(vals) is None:
                        raise _malformed(MSG.SYNTAX)
    return stmts


def _check_legacy(stmts: Sequence[Mapping[str, Any]]) -> None:
    """``The policy failed legacy parsing`` ([C] text; triggers per moto [M])."""
    for st in stmts:
        if st["Effect"] not in ("Allow", "Deny"):  # case-sensitive here
            raise _malformed(MSG.LEGACY)
        for op_text, block in st.get("Condition", {}).items():
            op = parse_operator(op_text)
            if op is None or op.family != "date":
                continue
            for vals in block.values():
                for v in vals if isinstance(vals, list) else [vals]:
                    text = _condition_scalar(v)
                    if text is None or ("${" not in text and parse_date(text) is None):
                        raise _malformed(MSG.LEGACY)


def _check_semantics(stmts: Sequence[Mapping[str, Any]], kind: PolicyKind) -> None:
    sids: set[str] = set()
    for st in stmts:
        sid = st.get("Sid")
        if sid:
            if sid in sids:
                raise _malformed(MSG.DUPLICATE_SID)
            sids.add(sid)

    for st in stmts:
        has_principal = "Principal" in st or "NotPrincipal" in st
        if kind in _IDENTITY_LIKE and has_principal:
            if kind is PolicyKind.SCP:
                raise _malformed(MSG.ORG_POLICY_TYPE)
            raise _malformed(MSG.NO_PRINCIPAL_ALLOWED)
        if kind is PolicyKind.TRUST:
            if "Resource" in st:
                raise _malformed(MSG.TRUST_RESOURCE)
            if "NotResource" in st:
                raise _malformed(MSG.TRUST_NOT_RESOURCE)
            if "NotPrincipal" in st:
                raise _malformed(MSG.TRUST_NOT_PRINCIPAL)
            if "Principal" not in st:
                raise _malformed(MSG.TRUST_NO_PRINCIPAL)
            if st["Principal"] == "*":
                raise _malformed(MSG.TRUST_STAR)
        if kind is PolicyKind.RESOURCE and not has_principal:
            raise _malformed(MSG.MISSING_PRINCIPAL)
        if kind is PolicyKind.RCP and (st.get("Principal") != "*" or "NotPrincipal" in st):
            raise _malformed(MSG.ORG_POLICY_TYPE)

    for st in stmts:
        acts = st.get("Action", st.get("NotAction"))
        if acts is None or acts == []:
            raise _malformed(MSG.NO_ACTIONS)
    if kind is not PolicyKind.TRUST:
        for st in stmts:
            res = st.get("Resource", st.get("NotResource"))
            if res is None or res == []:
                raise _malformed(MSG.NO_RESOURCES)
        for st in stmts:
            for key in ("Resource", "NotResource"):
                for r in _str_or_list(st.get(key, [])) or ():
                    _check_resource(r)
    for st in stmts:
        for key in ("Action", "NotAction"):
            for a in _str_or_list(st.get(key, [])) or ():
                _check_action(a)
    for st in stmts:
        p = st.get("Principal", st.get("NotPrincipal"))
        if isinstance(p, dict):
            for pk, pv in p.items():
                for v in _str_or_list(pv) or ():
                    _check_principal_value(pk, v)


def _check_resource(resource: str) -> None:
    if resource == "*":
        return
    if ":" not in resource:
        raise _malformed(MSG.RESOURCE_FORMAT.format(resource=resource))
    parts = resource.split(":", 5)
    if parts[0] != "arn":
        # [I] AWS names a partition error for some of these; we use the ARN-format text.
        raise _malformed(MSG.RESOURCE_FORMAT.format(resource=resource))
    if len(parts) < 6:
        # Short forms such as "arn:aws:logs:*" are accepted (the trailing "*" spans the
        # rest); with an empty component ("::") they fail legacy parsing [M].
        if "::" in resource or len(parts) < 3 or not parts[2]:
            raise _malformed(MSG.LEGACY)
        return
    if parts[2] == "iam" and parts[3] not in ("", "*"):
        raise _malformed(MSG.IAM_REGION.format(resource=resource))


def _check_action(action: str) -> None:
    if action == "*":
        return
    parts = action.split(":")
    if len(parts) == 1:
        raise _malformed(MSG.VENDOR)
    if len(parts) > 2:
        raise _malformed(MSG.ONE_COLON)
    vendor = parts[0]
    if not vendor or any(not (c.isalnum() or c in "-.*?") for c in vendor):
        raise _malformed(MSG.VENDOR_INVALID.format(vendor=vendor))


def _check_principal_value(key: str, value: str) -> None:
    if key == "AWS":
        if value == "*" or classify_aws_value(value) is not None:
            return
        raise _malformed(invalid_principal_message(key, value))
    if key == "Service":
        if value and "*" not in value and " " not in value:
            return
        raise _malformed(invalid_principal_message(key, value))
    if key == "Federated":
        arn = parse_arn(value)
        if arn is not None:
            rtype = arn.resource.split("/", 1)[0]
            if arn.service == "iam" and rtype in ("saml-provider", "oidc-provider"):
                return
            raise _malformed(invalid_principal_message(key, value))
        if value and "*" not in value and " " not in value:
            return  # cognito-identity.amazonaws.com, www.amazon.com, accounts.google.com …
        raise _malformed(invalid_principal_message(key, value))
    if not value or "*" in value:
        raise _malformed(invalid_principal_message(key, value))


# --- compilation ------------------------------------------------------------------------


def _compile_principal(raw: object) -> PrincipalSpec:
    if raw == "*":
        return PrincipalSpec(True, False, *(frozenset[str]() for _ in range(6)))
    assert isinstance(raw, dict)
    aws_any = False
    accounts: set[str] = set()
    arns: set[str] = set()
    ids: set[str] = set()
    services: set[str] = set()
    federated: set[str] = set()
    canonical: set[str] = set()
    for key, vals in raw.items():
        for v in _str_or_list(vals) or ():
            if key == "AWS":
                if v == "*":
                    aws_any = True
                    continue
                cls = classify_aws_value(v)
                if cls is None:  # pragma: no cover - rejected during validation
                    continue
                {"account": accounts, "arn": arns, "id": ids}[cls[0]].add(cls[1])
            elif key == "Service":
                services.add(v.lower())
            elif key == "Federated":
                federated.add(v)
            else:
                canonical.add(v)
    return PrincipalSpec(
        False,
        aws_any,
        frozenset(accounts),
        frozenset(arns),
        frozenset(ids),
        frozenset(services),
        frozenset(federated),
        frozenset(canonical),
    )


def _compile_statement(index: int, st: Mapping[str, Any], variables: bool) -> Statement:
    not_action = "NotAction" in st
    actions = tuple(
        ActionPattern(a, *_split_action(a))
        for a in _str_or_list(st["NotAction" if not_action else "Action"]) or ()
    )
    not_resource = "NotResource" in st
    res_raw = st.get("NotResource" if not_resource else "Resource")
    resources = (
        None
        if res_raw is None
        else tuple(
            parse_pattern(r, variables=variables, wildcards=True)
            for r in _str_or_list(res_raw) or ()
        )
    )
    not_principal = "NotPrincipal" in st
    p_raw = st.get("NotPrincipal" if not_principal else "Principal")
    principal = None if p_raw is None else _compile_principal(p_raw)
    conditions: list[Condition] = []
    for op_text, block in st.get("Condition", {}).items():
        op = parse_operator(op_text)
        if op is None:
            continue  # unknown operator with an empty block: accepted, no effect
        for key_text, vals in block.items():
            values = tuple(
                s
                for s in (
                    _condition_scalar(v) for v in (vals if isinstance(vals, list) else [vals])
                )
                if s is not None
            )
            conditions.append(make_condition(op, key_text, values, variables=variables))
    return Statement(
        index=index,
        sid=st.get("Sid") or None,
        allow=st["Effect"] == "Allow",
        actions=actions,
        not_action=not_action,
        resources=resources,
        not_resource=not_resource,
        principal=principal,
        not_principal=not_principal,
        conditions=tuple(conditions),
    )


def _split_action(action: str) -> tuple[str, str]:
    if action == "*":
        return ("*", "*")
    service, _, name = action.lower().partition(":")
    return (service, name)
