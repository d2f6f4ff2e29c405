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

:func:`match` returns *how* the principal matched, because the evaluation
order treats grants differently by principal form (see ``evaluate``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

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
        if p.arn in self.arns:
            if p.kind in ("role-session", "federated-user"):
                return MatchKind.SESSION
            if p.kind == "user":
                return MatchKind.USER
        if p.kind == "role-session" and p.role_arn is not None and p.role_arn in self.arns:
            best = max(best, MatchKind.INDIRECT)
        if (
            p.kind == "federated-user"
            and p.source_user_arn is not None
            and p.source_user_arn in self.arns
        ):
            best = max(best, MatchKind.INDIRECT)
        if p.unique_id is not None and p.unique_id in self.unique_ids:
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
            checks.append(p.arn in self.arns or p.unique_id in self.unique_ids)
        elif p.kind == "role-session":
            checks.append(p.arn in self.arns)
            checks.append(p.role_arn in self.arns or p.unique_id in self.unique_ids)
        elif p.kind == "federated-user":
            checks.append(p.arn in self.arns)
            checks.append(p.source_user_arn in self.arns)
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
