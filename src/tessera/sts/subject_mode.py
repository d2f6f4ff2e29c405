"""``GetWebIdentityToken`` ``SubjectMode`` and ``Scope`` (#14 §3; reference
aws-2026-additions.md §2).

``SubjectMode=AWSIdentity`` (the default): ``sub`` is the caller's IAM principal
ARN, as before. ``SubjectMode=OriginIdentity``: ``sub`` is the session's
``aws:OriginIdentity/Subject`` (trusted identity propagation,
``tessera.iam.tip_model``), and the ``https://sts.amazonaws.com/`` object gains

- ``subject_mode``: ``"OriginIdentity"`` (AWS says STS "adds a subject_mode
  claim" without saying where; [I] inside the AWS object like every other
  AWS-specific claim), and
- ``origin_identity``: ``{"issuer", "federated_provider_arn", "subject_type"}``
  (each present only when the session has it) — Tessera's names [I]: AWS does not
  document how a relying party learns the origin issuer, but a foreign ``sub`` is
  meaningless without it, so an OriginIdentity token always carries it.

A relying party tells the two apart by ``subject_mode``: absent means ``sub`` is an
AWS principal ARN; ``OriginIdentity`` means ``sub`` is a subject issued by
``origin_identity.issuer`` (an OIDC issuer host/path, or the SHA-256 key hash of a
SAML IdP as published in ``GetSAMLProvider``'s ``SAMLKeyHashes``). Such a subject
can never start with ``arn:`` (refused below), so it cannot pass for an ARN.
``principal_id`` stays the requesting principal's ARN in both modes.

``Scope``: only with ``OriginIdentity`` and exactly one ``Audience``; RFC 6749
§3.3 scope-token syntax (single spaces between tokens, no leading/trailing space,
token characters ``%x21 / %x23-2B / %x2D-5B / %x5D-7E`` as in the model), no
repeated token (case-sensitive: ``read`` ≠ ``READ``); copied verbatim into a
top-level ``scope`` claim. Using it needs ``sts:SetWebIdentityTokenScope``;
``sts:SubjectMode`` (the effective mode) and ``sts:IdentityTokenScope``
(multivalued, one value per token) are condition keys of the request.

Every refusal here is ``ValidationError`` (400) [I: the model says "validation
error" for the missing-subject cases and "denies" for the subject-character rule;
the safer reading is used for both]."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import regex

from tessera.auth.principal import Session
from tessera.errors import ValidationError
from tessera.iam.tip_model import (
    ORIGIN_ISSUER,
    ORIGIN_PROVIDER,
    ORIGIN_SUBJECT,
    ORIGIN_SUBJECT_TYPE,
)

AWS_IDENTITY: Final = "AWSIdentity"
ORIGIN_IDENTITY: Final = "OriginIdentity"
MODES: Final = (AWS_IDENTITY, ORIGIN_IDENTITY)

_SCOPE_TOKEN: Final = regex.compile(r"[\x21\x23-\x2B\x2D-\x5B\x5D-\x7E]+")
#: Unicode categories refused in an origin subject (U+0020 itself is allowed inside)
_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Zs"})

# [I] texts
NO_ORIGIN_SUBJECT: Final = (
    "SubjectMode OriginIdentity requires a session with an origin identity "
    "(aws:OriginIdentity/Subject and aws:OriginIdentity/Issuer or "
    "aws:OriginIdentity/FederatedProviderArn); these credentials have none."
)
BAD_ORIGIN_SUBJECT: Final = (
    "The session's origin identity subject cannot be used as a token subject: it is blank, "
    "starts with 'arn:', starts or ends with a space, or contains a control, format or "
    "separator character."
)
SCOPE_NEEDS_ORIGIN: Final = "Scope can be specified only with SubjectMode OriginIdentity."
SCOPE_NEEDS_ONE_AUDIENCE: Final = "Scope can be specified only with exactly one Audience."
SCOPE_SYNTAX: Final = (
    "Scope must be one or more scope tokens (printable ASCII except space, '\"', ',' and "
    "'\\') separated by single spaces, with no leading or trailing space."
)
SCOPE_DUPLICATE: Final = "Scope must not repeat a value: {token!r}."


def _enum_error(value: str) -> ValidationError:
    return ValidationError(
        "1 validation error detected: "
        f"Value '{value}' at 'subjectMode' failed to satisfy constraint: "
        "Member must satisfy enum value set: [AWSIdentity, OriginIdentity]"
    )


def parse_mode(value: str | None) -> str:
    if value is None:
        return AWS_IDENTITY
    if value not in MODES:
        raise _enum_error(value[:64])
    return value


def parse_scope(value: str | None, mode: str, audiences: Sequence[str]) -> tuple[str, ...]:
    """The scope tokens (empty: no Scope), after every syntactic rule."""
    if value is None:
        return ()
    if mode != ORIGIN_IDENTITY:
        raise ValidationError(SCOPE_NEEDS_ORIGIN)
    if len(audiences) != 1:
        raise ValidationError(SCOPE_NEEDS_ONE_AUDIENCE)
    if not 1 <= len(value) <= 256:
        raise ValidationError(SCOPE_SYNTAX)
    tokens = value.split(" ")
    if any(not _SCOPE_TOKEN.fullmatch(t) for t in tokens):
        raise ValidationError(SCOPE_SYNTAX)  # also: leading/trailing/double spaces
    seen: set[str] = set()
    for token in tokens:
        if token in seen:
            raise ValidationError(SCOPE_DUPLICATE.format(token=token))
        seen.add(token)
    return tuple(tokens)


def subject_allowed(subject: str) -> bool:
    """The character rules for an origin subject used as ``sub``."""
    if not subject.strip() or subject.lower().startswith("arn:"):
        return False
    if subject[0] == " " or subject[-1] == " ":
        return False
    return not any(ch != " " and unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in subject)


@dataclass(frozen=True, slots=True)
class OriginIdentity:
    subject: str
    issuer: str | None
    federated_provider_arn: str | None
    subject_type: str | None

    def claim(self) -> dict[str, str]:
        """The ``origin_identity`` member of the AWS claims object."""
        out: dict[str, str] = {}
        if self.issuer is not None:
            out["issuer"] = self.issuer
        if self.federated_provider_arn is not None:
            out["federated_provider_arn"] = self.federated_provider_arn
        if self.subject_type is not None:
            out["subject_type"] = self.subject_type
        return out


def origin_identity(session: Session | None) -> OriginIdentity:
    """The caller session's origin identity for ``SubjectMode=OriginIdentity``;
    ``ValidationError`` when it has none or its subject breaks the rules."""
    tip = dict(session.tip_context) if session is not None else {}
    subject = tip.get(ORIGIN_SUBJECT)
    issuer = tip.get(ORIGIN_ISSUER)
    provider = tip.get(ORIGIN_PROVIDER)
    if subject is None or (issuer is None and provider is None):
        raise ValidationError(NO_ORIGIN_SUBJECT)
    if not subject_allowed(subject):
        raise ValidationError(BAD_ORIGIN_SUBJECT)
    return OriginIdentity(subject, issuer, provider, tip.get(ORIGIN_SUBJECT_TYPE))
