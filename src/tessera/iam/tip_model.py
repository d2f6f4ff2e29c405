"""Trusted identity propagation (TIP) configuration of an IAM OIDC or SAML provider
(``ContextProvider``, ``IdentityCenterInstanceArn``; reference
aws-2026-additions.md §1.2) and the pure rules around it: parsing and validating
the request members, the stored JSON form, the response shape, and the session
keys STS derives from it (``aws:OriginIdentity/*``,
``aws:TransactionContext/IdentityProvider/*``).

Lengths, the key character set and the ≤ 10 key definitions are checked by the
protocol layer against the pinned model (``ValidationError``); the semantic rules
here answer ``InvalidInput`` [I: IAM's code for semantic errors]."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import regex

from tessera.errors import InvalidInput, ValidationError

MAX_KEY_DEFINITIONS: Final = 10
MAX_VALUE_LENGTH: Final = 128  # aws:TransactionContext values and every TIP key value

ORIGIN_SUBJECT: Final = "aws:OriginIdentity/Subject"
ORIGIN_SUBJECT_TYPE: Final = "aws:OriginIdentity/SubjectType"
ORIGIN_ISSUER: Final = "aws:OriginIdentity/Issuer"
ORIGIN_PROVIDER: Final = "aws:OriginIdentity/FederatedProviderArn"
TRANSACTION_PREFIX: Final = "aws:TransactionContext/IdentityProvider/"
#: key prefixes a caller can never set (tags, session policies, ProvidedContexts)
RESERVED_PREFIXES: Final = ("aws:originidentity/", "aws:transactioncontext/")

# reference §1.2 (the API reference's charset; the model has lengths only)
_KEY = regex.compile(r"[A-Za-z0-9_.:/=+\-@#]+( [A-Za-z0-9_.:/=+\-@#]+)*")
_IC_ARN = regex.compile(
    r"arn:(aws|aws-us-gov|aws-cn|aws-iso|aws-iso-b):sso:::instance/(sso)?ins-[a-zA-Z0-9-.]{16}"
)

# [I] texts
BOTH_SUBJECT_TYPES: Final = (
    "ContextProvider cannot specify both SubjectTypeValue and SubjectTypeSourceKey."
)
IC_WITHOUT_CONTEXT: Final = "IdentityCenterInstanceArn requires a ContextProvider."
VALUE_AND_REMOVE: Final = "{member} and Remove{flag} cannot both be specified."
BOTH_CHANGES: Final = (
    "A request can change either the ContextProvider or the Identity Center association, not both."
)
REMOVE_WHILE_ASSOCIATED: Final = (
    "The ContextProvider cannot be removed while an Identity Center instance is associated; "
    "remove the association first."
)
IC_NEEDS_CONTEXT: Final = (
    "An Identity Center instance can be associated only with a provider that has a ContextProvider."
)
NOTHING_TO_UPDATE: Final = "The request does not change anything."
BAD_KEY: Final = "Invalid {field}: {value!r}."
DUPLICATE_TARGET: Final = "KeyDefinitionList has the TargetKey {key!r} more than once."
BAD_IC_ARN: Final = "Invalid IdentityCenterInstanceArn: {value}."


@dataclass(frozen=True, slots=True)
class KeyDefinition:
    source_key: str
    target_key: str  # defaults to source_key [I: AWS's default is undocumented]


@dataclass(frozen=True, slots=True)
class ContextProvider:
    subject_source_key: str
    subject_type_value: str | None = None
    subject_type_source_key: str | None = None
    key_definitions: tuple[KeyDefinition, ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {
                "s": self.subject_source_key,
                "tv": self.subject_type_value,
                "ts": self.subject_type_source_key,
                "k": [[d.source_key, d.target_key] for d in self.key_definitions],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> ContextProvider:
        doc = json.loads(text)
        return cls(
            subject_source_key=doc["s"],
            subject_type_value=doc.get("tv"),
            subject_type_source_key=doc.get("ts"),
            key_definitions=tuple(KeyDefinition(a, b) for a, b in doc.get("k", ())),
        )

    def render(self) -> dict[str, object]:
        """The ``ContextProvider`` response structure."""
        out: dict[str, object] = {"SubjectSourceKey": self.subject_source_key}
        if self.subject_type_value is not None:
            out["SubjectTypeValue"] = self.subject_type_value
        if self.subject_type_source_key is not None:
            out["SubjectTypeSourceKey"] = self.subject_type_source_key
        out["KeyDefinitionList"] = [
            {"SourceKey": d.source_key, "TargetKey": d.target_key} for d in self.key_definitions
        ]
        return out


def _key(value: object, field: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not _KEY.fullmatch(value):
        raise InvalidInput(BAD_KEY.format(field=field, value=str(value)[:128]))
    return value


def parse_context_provider(raw: Mapping[str, object] | None) -> ContextProvider | None:
    """The ``ContextProvider`` request member (already shape-validated), checked."""
    if raw is None:
        return None
    subject = _key(raw.get("SubjectSourceKey"), "SubjectSourceKey")
    type_value = raw.get("SubjectTypeValue")
    type_source = raw.get("SubjectTypeSourceKey")
    if type_value is not None and type_source is not None:
        raise InvalidInput(BOTH_SUBJECT_TYPES)
    if type_value is not None and (not isinstance(type_value, str) or len(type_value) > 128):
        raise InvalidInput(BAD_KEY.format(field="SubjectTypeValue", value=str(type_value)[:128]))
    if type_source is not None:
        type_source = _key(type_source, "SubjectTypeSourceKey")
    items = raw.get("KeyDefinitionList") or []
    if not isinstance(items, list):
        raise InvalidInput("KeyDefinitionList must be a list.")
    if len(items) > MAX_KEY_DEFINITIONS:
        raise ValidationError(
            "1 validation error detected: Value at 'contextProvider.keyDefinitionList' failed "
            "to satisfy constraint: Member must have length less than or equal to 10"
        )
    definitions: list[KeyDefinition] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, Mapping):
            raise InvalidInput("KeyDefinitionList entries must be structures.")
        source = _key(item.get("SourceKey"), "SourceKey")
        target_raw = item.get("TargetKey")
        target = source if target_raw is None else _key(target_raw, "TargetKey")
        if target in seen:
            raise InvalidInput(DUPLICATE_TARGET.format(key=target))
        seen.add(target)
        definitions.append(KeyDefinition(source, target))
    return ContextProvider(
        subject_source_key=subject,
        subject_type_value=type_value if isinstance(type_value, str) else None,
        subject_type_source_key=type_source if isinstance(type_source, str) else None,
        key_definitions=tuple(definitions),
    )


def parse_identity_center_arn(value: str | None) -> str | None:
    if value is None:
        return None
    if not _IC_ARN.fullmatch(value):
        raise InvalidInput(BAD_IC_ARN.format(value=value[:1224]))
    return value


@dataclass(frozen=True, slots=True)
class TipChange:
    """What an Update*Provider request does to the TIP configuration."""

    context_provider: ContextProvider | None
    identity_center_arn: str | None
    changes_context: bool
    changes_association: bool

    @property
    def empty(self) -> bool:
        return not (self.changes_context or self.changes_association)


def plan_update(
    raw_context: Mapping[str, object] | None,
    raw_ic_arn: str | None,
    remove_context: bool,
    remove_ic: bool,
    current_context: ContextProvider | None,
    current_ic: str | None,
) -> TipChange:
    """Apply the Update rules (reference §1.2/§1.7) to the provider's current
    configuration; returns the configuration to store."""
    if raw_context is not None and remove_context:
        raise InvalidInput(
            VALUE_AND_REMOVE.format(member="ContextProvider", flag="ContextProvider")
        )
    if raw_ic_arn is not None and remove_ic:
        raise InvalidInput(
            VALUE_AND_REMOVE.format(
                member="IdentityCenterInstanceArn", flag="IdentityCenterInstance"
            )
        )
    changes_context = raw_context is not None or remove_context
    changes_association = raw_ic_arn is not None or remove_ic
    if changes_context and changes_association:
        raise InvalidInput(BOTH_CHANGES)
    context = current_context
    ic = current_ic
    if raw_context is not None:
        context = parse_context_provider(raw_context)
    if remove_context:
        if current_ic is not None:
            raise InvalidInput(REMOVE_WHILE_ASSOCIATED)
        context = None
    if raw_ic_arn is not None:
        ic = parse_identity_center_arn(raw_ic_arn)
        if context is None:
            raise InvalidInput(IC_NEEDS_CONTEXT)
    if remove_ic:
        ic = None
    return TipChange(context, ic, changes_context, changes_association)


def configuration_keys(
    *,
    context_provider: object | None,
    identity_center_arn: str | None,
    request_issuers: tuple[str, ...] | None,
    resource_issuers: tuple[str, ...] | None,
    resource_identity_center_arn: str | None,
    enabling: bool,
) -> dict[str, Any]:
    """The IAM condition keys for configuring TIP (reference §1.3) [I types]:
    ``iam:EnableIdentityPropagation`` / ``iam:EnableIdentityCenterAssociation``
    (Bool, present when the request sets a ContextProvider / an Identity Center
    ARN), ``iam:RequestIdentityProviderIssuers`` / ``iam:ResourceIdentityProviderIssuers``
    (multivalued: the OIDC issuer URL or the SAML issuer entity id),
    ``iam:RequestIdentityCenterInstanceArn`` / ``iam:ResourceIdentityCenterInstanceArn``."""
    keys: dict[str, Any] = {}
    if enabling and context_provider is not None:
        keys["iam:EnableIdentityPropagation"] = "true"
    if identity_center_arn is not None:
        keys["iam:EnableIdentityCenterAssociation"] = "true"
        keys["iam:RequestIdentityCenterInstanceArn"] = identity_center_arn
    if request_issuers:
        keys["iam:RequestIdentityProviderIssuers"] = request_issuers
    if resource_issuers:
        keys["iam:ResourceIdentityProviderIssuers"] = resource_issuers
    if resource_identity_center_arn is not None:
        keys["iam:ResourceIdentityCenterInstanceArn"] = resource_identity_center_arn
    return keys


# --- session keys ------------------------------------------------------------------------


class MissingSubject(Exception):
    """The token/assertion lacks the claim the context provider names as subject."""


class BadValue(Exception):
    """A TIP value is not a string of 1–128 characters."""

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.source = source


def _value(raw: object, source: str) -> str:
    if isinstance(raw, list | tuple) and len(raw) == 1:
        raw = raw[0]
    if not isinstance(raw, str) or not raw or len(raw) > MAX_VALUE_LENGTH:
        raise BadValue(source)
    return raw


def session_keys(
    cp: ContextProvider,
    lookup: Mapping[str, object],
    *,
    issuer: str,
    provider_arn: str,
) -> tuple[tuple[str, str], ...]:
    """The TIP keys of a new session (reference §1.4). ``lookup`` maps a source key
    to its claim / assertion value (absent: no such claim). ``MissingSubject`` when
    the subject source is absent or empty; ``BadValue`` for a non-string,
    multi-valued or > 128-character value [I: refuse rather than truncate]."""
    raw_subject = lookup.get(cp.subject_source_key)
    if raw_subject is None or raw_subject == "" or raw_subject == []:
        raise MissingSubject(cp.subject_source_key)
    out: list[tuple[str, str]] = [(ORIGIN_SUBJECT, _value(raw_subject, cp.subject_source_key))]
    if cp.subject_type_value:
        out.append((ORIGIN_SUBJECT_TYPE, cp.subject_type_value))
    elif cp.subject_type_source_key is not None:
        raw_type = lookup.get(cp.subject_type_source_key)
        if raw_type is not None:
            out.append((ORIGIN_SUBJECT_TYPE, _value(raw_type, cp.subject_type_source_key)))
    out.append((ORIGIN_ISSUER, issuer))
    out.append((ORIGIN_PROVIDER, provider_arn))
    for d in cp.key_definitions:
        raw = lookup.get(d.source_key)
        if raw is not None:
            out.append((TRANSACTION_PREFIX + d.target_key, _value(raw, d.source_key)))
    return tuple(out)


def render_context(tip: tuple[tuple[str, str], ...]) -> dict[str, object] | None:
    """``TrustedIdentityPropagationContext`` from a session's TIP keys (None: no TIP)."""
    if not tip:
        return None
    names = {
        ORIGIN_SUBJECT: "Subject",
        ORIGIN_SUBJECT_TYPE: "SubjectType",
        ORIGIN_ISSUER: "Issuer",
        ORIGIN_PROVIDER: "FederatedProviderArn",
    }
    origin = {names[k]: v for k, v in tip if k in names}
    runtime = {k[len(TRANSACTION_PREFIX) :]: v for k, v in tip if k.startswith(TRANSACTION_PREFIX)}
    out: dict[str, object] = {"OriginIdentity": origin}
    if runtime:
        out["TransactionContext"] = {"IdentityProvider": runtime}
    return out


def context_provider_members(params: Any) -> dict[str, object] | None:
    """The ``ContextProvider`` member of a request as a plain mapping, read through
    ``Params`` accessors (so every nested member counts as consumed)."""
    cp = params.get_struct("ContextProvider")
    if cp is None:
        return None
    out: dict[str, object] = {
        "SubjectSourceKey": cp.get_str("SubjectSourceKey"),
        "SubjectTypeValue": cp.get_str("SubjectTypeValue"),
        "SubjectTypeSourceKey": cp.get_str("SubjectTypeSourceKey"),
    }
    items = cp.get_struct_list("KeyDefinitionList")
    out["KeyDefinitionList"] = [
        {"SourceKey": item.get_str("SourceKey"), "TargetKey": item.get_str("TargetKey")}
        for item in items or []
    ]
    return out


def saml_key_hash(certificate: Any) -> str:
    """Tessera's hash of a SAML signing key: lowercase hex SHA-256 of the
    certificate's DER SubjectPublicKeyInfo [I: AWS does not document its algorithm].
    ``GetSAMLProvider`` publishes it in ``SAMLKeyHashes`` and AssumeRoleWithSAML
    puts the hash of the key that verified the assertion in
    ``aws:OriginIdentity/Issuer``, so the two always agree."""
    from cryptography.hazmat.primitives import serialization

    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()
