"""The ``Principal`` / ``NotPrincipal`` element: parsing and matching.

Forms (IAM User Guide, "AWS JSON policy elements: Principal"):

* ``"*"`` and ``{"AWS": "*"}`` — everyone (we let ``{"AWS": "*"}`` match every
  caller except AWS service principals);
* ``{"AWS": "123456789012"}`` / ``"arn:aws:iam::123456789012:root"`` — the
  account: *delegation*.  It matches every IAM principal of that account but
  does not by itself grant (the account's identity policies must allow too);
* ``{"AWS": user ARN}`` — that user (and, as "the IAM user behind a federated
  session", its GetFederationToken sessions);
* ``{"AWS": role ARN}`` — every session of that role (the role itself never
  calls AWS; a role principal is its sessions);
* ``{"AWS": assumed-role session ARN}`` / federated-user ARN — exactly that
  session;
* ``{"AWS": "AIDA…" / "AROA…"}`` — the unique id a stored policy shows after
  the named entity was deleted or for ids written directly;
* ``{"Service": …}``, ``{"Federated": …}``, ``{"CanonicalUser": …}``.

Stored policies name identities, not names: when a resource (trust) policy is
stored, every IAM user and role ARN it names is bound to that entity's unique id
(``AIDA…`` / ``AROA…``), and :meth:`PrincipalSpec.bind` turns those ARNs into
ids. A bound spec matches a user or role only by its id, so a user or role
deleted and created again under the same name inherits nothing, and a renamed
user keeps what named it (as on AWS). An unbound spec (a policy document a
caller hands to the Simulate APIs) still matches by ARN.

:func:`match` returns *how* the principal matched, because the evaluation
order treats grants differently by principal form (see ``evaluate``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any, Final

from tessera.arn import parse_arn
from tessera.iam.policy.context import PrincipalInfo

_ACCOUNT_RE: Final = re.compile(r"^\d{12}$")
_UNIQUE_ID_RE: Final = re.compile(r"^A[A-Z0-9]{15,127}$")


class MatchKind(IntEnum):
    """How a resource-based policy named the caller (higher = more specific)."""

    NONE = 0
    ACCOUNT = 1  # the account (delegation; identity policy must also allow)
    INDIRECT = 2  # "*", role ARN for its sessions, user ARN behind a federated session, ids
    USER = 3  # the IAM user ARN itself
    SESSION = 4  # the exact role-session / federated-user ARN


@dataclass(frozen=True, slots=True)
class PrincipalSpec:
    """A parsed ``Principal`` value; all strings normalised for matching."""

    everyone: bool
    aws_any: bool
    accounts: frozenset[str]
    arns: frozenset[str]
    unique_ids: frozenset[str]
    services: frozenset[str]
    federated: frozenset[str]
    canonical: frozenset[str]
    #: ``None``: unbound (ARNs match by text). Otherwise the ids of the IAM users
    #: and roles the policy named when it was stored; ``arns`` then holds only
    #: the session ARNs (``assumed-role`` / ``federated-user``), which name no entity.
    bound_users: frozenset[str] | None = None
    bound_roles: frozenset[str] | None = None

    def bind(self, ids_by_arn: Mapping[str, str]) -> PrincipalSpec:
        """This spec with its IAM user and role ARNs replaced by the unique ids
        they were bound to; an ARN without an id (its entity was gone when the
        policy was bound) matches nobody."""
        users: set[str] = set()
        roles: set[str] = set()
        sessions: set[str] = set()
        for arn in self.arns:
            kind = entity_kind(arn)
            if kind is None:
                sessions.add(arn)
            elif arn in ids_by_arn:
                (users if kind == "user" else roles).add(ids_by_arn[arn])
        return replace(
            self,
            arns=frozenset(sessions),
            bound_users=frozenset(users),
            bound_roles=frozenset(roles),
        )

    def _names_user(self, arn: str | None, user_id: str | None) -> bool:
        if self.bound_users is None:
            return arn is not None and arn in self.arns
        return user_id is not None and user_id in self.bound_users

    def _names_role(self, arn: str | None, role_id: str | None) -> bool:
        if self.bound_roles is None:
            return arn is not None and arn in self.arns
        return role_id is not None and role_id in self.bound_roles

    def match(self, p: PrincipalInfo) -> MatchKind:
        if self.everyone:
            return MatchKind.INDIRECT
        if self.aws_any and p.kind != "service":
            return MatchKind.INDIRECT
        best = MatchKind.NONE
        if p.kind in ("service",):
            if p.service is not None and p.service.lower() in self.services:
                return MatchKind.INDIRECT
            return MatchKind.NONE
        if p.kind in ("web-identity", "saml"):
            if p.federated_provider is not None and p.federated_provider in self.federated:
                return MatchKind.INDIRECT
            return MatchKind.NONE
        if p.canonical_user is not None and p.canonical_user in self.canonical:
            best = MatchKind.INDIRECT
        if p.kind in ("role-session", "federated-user") and p.arn in self.arns:
            return MatchKind.SESSION
        if p.kind == "user" and self._names_user(p.arn, p.unique_id):
            return MatchKind.USER
        if p.kind == "role-session" and self._names_role(p.role_arn, p.unique_id):
            best = max(best, MatchKind.INDIRECT)
        if p.kind == "federated-user" and self._names_user(p.source_user_arn, p.source_user_id):
            best = max(best, MatchKind.INDIRECT)
        if p.unique_id is not None and p.unique_id in self.unique_ids:
            best = max(best, MatchKind.INDIRECT)
        if p.source_user_id is not None and p.source_user_id in self.unique_ids:
            best = max(best, MatchKind.INDIRECT)
        if (
            p.kind in ("root", "user", "role-session", "federated-user")
            and p.account is not None
            and p.account in self.accounts
        ):
            best = max(best, MatchKind.ACCOUNT)
        return best

    def lists_every_identity_of(self, p: PrincipalInfo) -> bool:
        """``NotPrincipal`` test: are *all* identities of the caller listed?

        AWS checks each identity in the caller's chain (account, role, session
        / user) against ``NotPrincipal``; a ``Deny`` with ``NotPrincipal`` still
        applies unless every one of them is listed, which is why the docs tell
        you to list the account ARN as well ("AWS JSON policy elements:
        NotPrincipal").
        """
        if self.everyone or (self.aws_any and p.kind != "service"):
            return True
        if p.kind == "anonymous":
            return False
        if p.kind == "service":
            return p.service is not None and p.service.lower() in self.services
        if p.kind in ("web-identity", "saml"):
            return p.federated_provider is not None and p.federated_provider in self.federated
        checks: list[bool] = []
        if p.account is not None:
            checks.append(p.account in self.accounts)
        if p.kind == "user":
            checks.append(self._names_user(p.arn, p.unique_id) or p.unique_id in self.unique_ids)
        elif p.kind == "role-session":
            checks.append(p.arn in self.arns)
            checks.append(
                self._names_role(p.role_arn, p.unique_id) or p.unique_id in self.unique_ids
            )
        elif p.kind == "federated-user":
            checks.append(p.arn in self.arns)
            checks.append(
                self._names_user(p.source_user_arn, p.source_user_id)
                or p.source_user_id in self.unique_ids
            )
        return bool(checks) and all(checks)


def invalid_principal_message(key: str, value: str) -> str:
    # Confirmed wording: 'Invalid principal in policy: "AWS":"arn:aws:iam::…:role/…"'
    # (aws-samples/aws-iam-access-key-auto-rotation#26, databrickslabs/ucx#2269).
    return f'Invalid principal in policy: "{key}":"{value}"'


def classify_aws_value(value: str) -> tuple[str, str] | None:
    """Return ``("account", id)``, ``("arn", arn)``, ``("id", uid)`` or ``None`` if invalid."""
    if _ACCOUNT_RE.match(value):
        return ("account", value)
    if _UNIQUE_ID_RE.match(value):
        return ("id", value)
    arn = parse_arn(value)
    if arn is None or "*" in value or "?" in value:
        return None
    if arn.service == "iam" and arn.region == "" and _ACCOUNT_RE.match(arn.account):
        if arn.resource == "root":
            return ("account", arn.account)
        rtype = arn.resource.split("/", 1)[0]
        if rtype in ("user", "role") and "/" in arn.resource:
            return ("arn", value)
        return None
    if arn.service == "sts" and arn.region == "" and _ACCOUNT_RE.match(arn.account):
        res = arn.resource.split("/")
        if res[0] == "assumed-role" and len(res) == 3 and all(res):
            return ("arn", value)
        if res[0] == "federated-user" and len(res) == 2 and res[1]:
            return ("arn", value)
    return None


@dataclass(frozen=True, slots=True)
class EntityRef:
    """An IAM user or role ARN taken apart: what a stored policy binds to an id."""

    kind: str  # "user" | "role"
    account: str
    path: str  # "/" or "/a/b/"
    name: str


def entity_ref(value: str) -> EntityRef | None:
    """The user or role an IAM ARN names (the principals a stored policy binds
    to unique ids); ``None`` for anything else (sessions, accounts, ids …)."""
    arn = parse_arn(value)
    if arn is None or arn.service != "iam" or arn.region != "" or "/" not in arn.resource:
        return None
    kind, _, rest = arn.resource.partition("/")
    if kind not in ("user", "role") or not _ACCOUNT_RE.match(arn.account):
        return None
    head, _, name = rest.rpartition("/")
    if not name:
        return None
    return EntityRef(kind, arn.account, f"/{head}/" if head else "/", name)


def entity_kind(value: str) -> str | None:
    """``"user"`` / ``"role"`` for an IAM user or role ARN, else ``None``."""
    ref = entity_ref(value)
    return None if ref is None else ref.kind


def aws_principal_elements(document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Each ``Principal`` / ``NotPrincipal`` object with an ``AWS`` value in a parsed
    policy, in document order (yielded as is, so a caller may rewrite ``AWS``)."""
    statements = document.get("Statement")
    for st in statements if isinstance(statements, list) else [statements]:
        if not isinstance(st, dict):
            continue
        for element in ("Principal", "NotPrincipal"):
            principal = st.get(element)
            if isinstance(principal, dict) and "AWS" in principal:
                yield principal


def named_entity_arns(document: Mapping[str, Any]) -> list[str]:
    """The IAM user and role ARNs in a parsed policy's ``Principal`` and
    ``NotPrincipal`` ``AWS`` values, in document order (duplicates dropped)."""
    found: dict[str, None] = {}
    for principal in aws_principal_elements(document):
        values = principal["AWS"]
        for v in values if isinstance(values, list) else [values]:
            if isinstance(v, str) and classify_aws_value(v) == ("arn", v) and entity_kind(v):
                found[v] = None
    return list(found)
