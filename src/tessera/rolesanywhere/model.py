"""The Roles Anywhere resources as stored: trust anchors (a CA bundle), profiles
(roles, session policies, attribute mappings), CRLs, subjects with their bounded
credential history; their ARNs; AWS's default attribute mappings. Pure data with
a JSON form the store keeps (``to_json`` / ``from_json``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final, Literal

ResourceKind = Literal["trust-anchor", "profile", "crl", "subject"]
KINDS: Final[tuple[ResourceKind, ...]] = ("trust-anchor", "profile", "crl", "subject")
SERVICE_PRINCIPAL: Final = "rolesanywhere.amazonaws.com"
CERTIFICATE_BUNDLE: Final = "CERTIFICATE_BUNDLE"
#: the generic tag store's resource type of each taggable kind (``tags.resource_type``
#: holds 16 characters)
TAG_TYPES: Final[dict[ResourceKind, str]] = {
    "trust-anchor": "ra-trust-anchor",
    "profile": "ra-profile",
    "crl": "ra-crl",
}
#: credential records kept per subject (oldest dropped first)
MAX_SUBJECT_CREDENTIALS: Final = 20
CERTIFICATE_FIELDS: Final = ("x509Subject", "x509Issuer", "x509SAN")

_UUID_RE = re.compile(r"[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}")
_ARN_RE = re.compile(
    r"arn:aws:rolesanywhere:([a-z0-9-]{1,32}):([0-9]{12}):"
    r"(trust-anchor|profile|crl|subject)/([a-f0-9-]{36})"
)


def resource_arn(kind: ResourceKind, region: str, account_id: str, resource_id: str) -> str:
    return f"arn:aws:rolesanywhere:{region}:{account_id}:{kind}/{resource_id}"


@dataclass(frozen=True, slots=True)
class ResourceRef:
    kind: ResourceKind
    region: str
    account_id: str
    resource_id: str

    @property
    def arn(self) -> str:
        return resource_arn(self.kind, self.region, self.account_id, self.resource_id)


def parse_resource_arn(value: str) -> ResourceRef | None:
    """``arn:aws:rolesanywhere:<region>:<account>:<kind>/<uuid>`` → its parts."""
    m = _ARN_RE.fullmatch(value)
    if m is None:
        return None
    kind: ResourceKind = m.group(3)  # type: ignore[assignment]
    return ResourceRef(kind, m.group(1), m.group(2), m.group(4))


def is_uuid(value: str) -> bool:
    return _UUID_RE.fullmatch(value) is not None


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class NotificationSetting:
    event: str  # CA_CERTIFICATE_EXPIRY | END_ENTITY_CERTIFICATE_EXPIRY
    enabled: bool
    threshold: int
    channel: str = "ALL"
    configured_by: str = SERVICE_PRINCIPAL

    def detail(self) -> dict[str, object]:
        return {
            "enabled": self.enabled,
            "event": self.event,
            "threshold": self.threshold,
            "channel": self.channel,
            "configuredBy": self.configured_by,
        }


#: AWS's defaults, reported for a new trust anchor (``configuredBy`` the service)
DEFAULT_NOTIFICATIONS: Final = (
    NotificationSetting("CA_CERTIFICATE_EXPIRY", True, 45),
    NotificationSetting("END_ENTITY_CERTIFICATE_EXPIRY", True, 45),
)


@dataclass(frozen=True, slots=True)
class TrustAnchor:
    account_id: str
    region: str
    anchor_id: str
    name: str
    certificate_data: str  # the PEM bundle as given (one or more CA certificates)
    enabled: bool
    created_at: datetime
    updated_at: datetime
    notification_settings: tuple[NotificationSetting, ...] = DEFAULT_NOTIFICATIONS

    @property
    def arn(self) -> str:
        return resource_arn("trust-anchor", self.region, self.account_id, self.anchor_id)

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "certificate_data": self.certificate_data,
                "enabled": self.enabled,
                "updated_at": _ts(self.updated_at),
                "notifications": [
                    [n.event, n.enabled, n.threshold, n.channel, n.configured_by]
                    for n in self.notification_settings
                ],
            }
        )

    @classmethod
    def from_json(
        cls, account_id: str, region: str, anchor_id: str, created_at: datetime, text: str
    ) -> TrustAnchor:
        d: dict[str, Any] = json.loads(text)
        return cls(
            account_id=account_id,
            region=region,
            anchor_id=anchor_id,
            name=d["name"],
            certificate_data=d["certificate_data"],
            enabled=bool(d["enabled"]),
            created_at=created_at,
            updated_at=_dt(d["updated_at"]),
            notification_settings=tuple(
                NotificationSetting(e, bool(en), int(t), c, by)
                for e, en, t, c, by in d["notifications"]
            ),
        )


@dataclass(frozen=True, slots=True)
class AttributeMapping:
    certificate_field: str  # x509Subject | x509Issuer | x509SAN
    specifiers: tuple[str, ...]

    def detail(self) -> dict[str, object]:
        return {
            "certificateField": self.certificate_field,
            "mappingRules": [{"specifier": s} for s in self.specifiers],
        }


#: AWS's default mappings (user guide, "Certificate attribute mapping")
DEFAULT_MAPPINGS: Final = (
    AttributeMapping("x509Issuer", ("*",)),
    AttributeMapping("x509SAN", ("DNS", "URI", "Name/*")),
    AttributeMapping("x509Subject", ("*",)),
)


@dataclass(frozen=True, slots=True)
class Profile:
    account_id: str
    region: str
    profile_id: str
    name: str
    enabled: bool
    #: (role ARN, the role's unique id when the profile was last written, or "" when
    #: no such role existed then — such an entry matches no role)
    roles: tuple[tuple[str, str], ...]
    managed_policy_arns: tuple[str, ...]
    session_policy: str | None
    duration_seconds: int
    accept_role_session_name: bool
    attribute_mappings: tuple[AttributeMapping, ...]
    created_by: str
    created_at: datetime
    updated_at: datetime
    require_instance_properties: bool = False

    @property
    def arn(self) -> str:
        return resource_arn("profile", self.region, self.account_id, self.profile_id)

    @property
    def role_arns(self) -> tuple[str, ...]:
        return tuple(a for a, _ in self.roles)

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "enabled": self.enabled,
                "roles": [list(r) for r in self.roles],
                "managed_policy_arns": list(self.managed_policy_arns),
                "session_policy": self.session_policy,
                "duration_seconds": self.duration_seconds,
                "accept_role_session_name": self.accept_role_session_name,
                "mappings": [
                    [m.certificate_field, list(m.specifiers)] for m in self.attribute_mappings
                ],
                "created_by": self.created_by,
                "updated_at": _ts(self.updated_at),
                "require_instance_properties": self.require_instance_properties,
            }
        )

    @classmethod
    def from_json(
        cls, account_id: str, region: str, profile_id: str, created_at: datetime, text: str
    ) -> Profile:
        d: dict[str, Any] = json.loads(text)
        return cls(
            account_id=account_id,
            region=region,
            profile_id=profile_id,
            name=d["name"],
            enabled=bool(d["enabled"]),
            roles=tuple((str(a), str(i)) for a, i in d["roles"]),
            managed_policy_arns=tuple(d["managed_policy_arns"]),
            session_policy=d["session_policy"],
            duration_seconds=int(d["duration_seconds"]),
            accept_role_session_name=bool(d["accept_role_session_name"]),
            attribute_mappings=tuple(AttributeMapping(f, tuple(s)) for f, s in d["mappings"]),
            created_by=d["created_by"],
            created_at=created_at,
            updated_at=_dt(d["updated_at"]),
            require_instance_properties=bool(d.get("require_instance_properties", False)),
        )


@dataclass(frozen=True, slots=True)
class Crl:
    account_id: str
    region: str
    crl_id: str
    name: str
    crl_der: bytes
    trust_anchor_arn: str
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @property
    def arn(self) -> str:
        return resource_arn("crl", self.region, self.account_id, self.crl_id)

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "crl_der": self.crl_der.hex(),
                "trust_anchor_arn": self.trust_anchor_arn,
                "enabled": self.enabled,
                "updated_at": _ts(self.updated_at),
            }
        )

    @classmethod
    def from_json(
        cls, account_id: str, region: str, crl_id: str, created_at: datetime, text: str
    ) -> Crl:
        d: dict[str, Any] = json.loads(text)
        return cls(
            account_id=account_id,
            region=region,
            crl_id=crl_id,
            name=d["name"],
            crl_der=bytes.fromhex(d["crl_der"]),
            trust_anchor_arn=d["trust_anchor_arn"],
            enabled=bool(d["enabled"]),
            created_at=created_at,
            updated_at=_dt(d["updated_at"]),
        )


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    """One authentication attempt by a certificate of a subject."""

    seen_at: datetime
    serial_number: str  # decimal, as in the signature's Credential=
    issuer: str  # RFC 4514 issuer DN
    failed: bool
    certificate_pem: str

    def to_list(self) -> list[object]:
        return [
            _ts(self.seen_at),
            self.serial_number,
            self.issuer,
            self.failed,
            self.certificate_pem,
        ]

    @classmethod
    def from_list(cls, item: list[Any]) -> CredentialRecord:
        return cls(_dt(item[0]), str(item[1]), str(item[2]), bool(item[3]), str(item[4]))


@dataclass(frozen=True, slots=True)
class Subject:
    account_id: str
    region: str
    subject_id: str
    x509_subject: str
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime
    credentials: tuple[CredentialRecord, ...] = field(default=())
    enabled: bool = True

    @property
    def arn(self) -> str:
        return resource_arn("subject", self.region, self.account_id, self.subject_id)

    def with_credential(self, record: CredentialRecord) -> Subject:
        """The subject with ``record`` added (newest first, bounded)."""
        kept = (record, *self.credentials)[:MAX_SUBJECT_CREDENTIALS]
        return replace(
            self, credentials=kept, updated_at=record.seen_at, last_seen_at=record.seen_at
        )
