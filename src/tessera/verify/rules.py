"""Federated-credential rules: which verified tokens a relying party accepts.

A ``FederatedCredentialRule`` pins an issuer, a subject (exact, or a glob with
``*`` = any run of characters and ``?`` = one character, like IAM ``StringLike``),
and an audience, plus optional conditions on the AWS claims: accounts, source
regions, organization id, OU path patterns, and required principal/request tags
(tag values may be globs too). ``match(rules, claims)`` returns the first rule
that accepts the claims; ``FederatedCredentialRule.mismatches`` says why one does
not. Matching is pure: run it on ``VerifiedClaims`` only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from tessera.iam.policy.patterns import compile_glob
from tessera.verify.tokens import VerifiedClaims


@lru_cache(maxsize=1024)
def _glob_re(pattern: str) -> re.Pattern[str]:
    # the policy engine's linear-time glob (no backtracking blow-up on "*?*?…X")
    return compile_glob(pattern)


def glob_match(pattern: str, value: str) -> bool:
    """IAM ``StringLike``-style match of the whole ``value`` (case-sensitive)."""
    if "*" not in pattern and "?" not in pattern:
        return pattern == value
    return _glob_re(pattern).fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class FederatedCredentialRule:
    """One trusted workload identity. Empty conditions mean "any"."""

    issuer: str
    subject: str
    audience: str
    name: str = ""
    accounts: frozenset[str] = frozenset()
    source_regions: frozenset[str] = frozenset()
    org_id: str | None = None
    ou_paths: tuple[str, ...] = ()
    required_tags: Mapping[str, str] = field(default_factory=dict)
    required_request_tags: Mapping[str, str] = field(default_factory=dict)
    #: "AWSIdentity" or "OriginIdentity" (None: either). With OriginIdentity, ``subject``
    #: is matched against the origin subject and ``origin_issuer`` (a pattern) must
    #: match the origin identity's issuer.
    subject_mode: str | None = None
    origin_issuer: str | None = None
    #: scope tokens that must all be in the token's ``scope`` claim
    required_scopes: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.issuer or not self.subject or not self.audience:
            raise ValueError("issuer, subject and audience are required")
        for name in ("accounts", "source_regions"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise TypeError(f"{name} must be a collection of strings, not a string")
            object.__setattr__(self, name, frozenset(value))
        if isinstance(self.ou_paths, str):
            raise TypeError("ou_paths must be a sequence of patterns, not a string")
        object.__setattr__(self, "ou_paths", tuple(self.ou_paths))
        if self.subject_mode not in (None, "AWSIdentity", "OriginIdentity"):
            raise ValueError("subject_mode must be AWSIdentity or OriginIdentity")
        if isinstance(self.required_scopes, str):
            raise TypeError("required_scopes must be a collection of strings, not a string")
        object.__setattr__(self, "required_scopes", frozenset(self.required_scopes))

    def mismatches(self, claims: VerifiedClaims) -> tuple[str, ...]:
        """Every reason this rule rejects ``claims`` (empty tuple = match)."""
        out: list[str] = []
        if claims.issuer != self.issuer:
            out.append(f"issuer {claims.issuer!r} is not {self.issuer!r}")
        if not glob_match(self.subject, claims.subject):
            out.append(f"subject {claims.subject!r} does not match {self.subject!r}")
        if self.audience not in claims.audiences:
            out.append(f"audience {self.audience!r} not in token audiences")
        if self.accounts and claims.account not in self.accounts:
            out.append(f"account {claims.account!r} is not allowed")
        if self.source_regions and claims.source_region not in self.source_regions:
            out.append(f"source region {claims.source_region!r} is not allowed")
        if self.org_id is not None and claims.org_id != self.org_id:
            out.append(f"organization {claims.org_id!r} is not {self.org_id!r}")
        if self.ou_paths and not any(
            glob_match(p, path) for p in self.ou_paths for path in claims.ou_path
        ):
            out.append("no OU path matches")
        out.extend(_tag_mismatches("principal tag", self.required_tags, claims.principal_tags))
        out.extend(_tag_mismatches("request tag", self.required_request_tags, claims.request_tags))
        if self.subject_mode is not None and claims.subject_mode != self.subject_mode:
            out.append(f"subject mode {claims.subject_mode!r} is not {self.subject_mode!r}")
        if self.origin_issuer is not None and not (
            claims.origin_issuer is not None
            and glob_match(self.origin_issuer, claims.origin_issuer)
        ):
            out.append(
                f"origin issuer {claims.origin_issuer!r} does not match {self.origin_issuer!r}"
            )
        missing = sorted(self.required_scopes - set(claims.scopes))
        if missing:
            out.append(f"scope lacks {' '.join(missing)!r}")
        return tuple(out)

    def matches(self, claims: VerifiedClaims) -> bool:
        return not self.mismatches(claims)


def _tag_mismatches(what: str, required: Mapping[str, str], actual: Mapping[str, str]) -> list[str]:
    out = []
    for key, pattern in required.items():
        value = actual.get(key)
        if value is None:
            out.append(f"{what} {key!r} is missing")
        elif not glob_match(pattern, value):
            out.append(f"{what} {key!r}={value!r} does not match {pattern!r}")
    return out


def match(
    rules: Iterable[FederatedCredentialRule], claims: VerifiedClaims
) -> FederatedCredentialRule | None:
    """The first rule that accepts ``claims``, or ``None``."""
    for rule in rules:
        if rule.matches(claims):
            return rule
    return None
