"""One API call as a CloudTrail record (``eventVersion`` 1.11): the facts the
pipeline hands over (``CallFacts``) become the dict CloudTrail writes, field by
field as its documented STS and IAM examples show them, plus the indexed columns
LookupEvents filters on (``AuditEvent``). Pure: no I/O."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tessera.audit.redact import HIDDEN, Redactor, cloudtrail_time, scrub
from tessera.auth.principal import Principal, PrincipalKind, SessionKind

EVENT_VERSION = "1.11"

EVENT_SOURCES: dict[str, str] = {
    "sts": "sts.amazonaws.com",
    "iam": "iam.amazonaws.com",
    "rolesanywhere": "rolesanywhere.amazonaws.com",
    "organizations": "organizations.amazonaws.com",
    "cloudtrail": "cloudtrail.amazonaws.com",
}

#: requestParameters larger than this (JSON characters) are replaced by a note, as
#: CloudTrail drops oversized request parameters.
MAX_PARAMETERS_CHARS = 100_000
_READ_PREFIXES = ("Get", "List", "Describe", "Lookup", "Simulate", "Decode")
#: Parameter (or result) member → the CloudTrail resource type it names.
_RESOURCE_MEMBERS: tuple[tuple[str, str], ...] = (
    ("RoleArn", "AWS::IAM::Role"),
    ("RoleName", "AWS::IAM::Role"),
    ("UserName", "AWS::IAM::User"),
    ("GroupName", "AWS::IAM::Group"),
    ("PolicyArn", "AWS::IAM::Policy"),
    ("InstanceProfileName", "AWS::IAM::InstanceProfile"),
    ("OpenIDConnectProviderArn", "AWS::IAM::OIDCProvider"),
    ("SAMLProviderArn", "AWS::IAM::SAMLProvider"),
    ("PrincipalArn", "AWS::IAM::SAMLProvider"),
    ("SerialNumber", "AWS::IAM::MFADevice"),
    ("AccessKeyId", "AWS::IAM::AccessKey"),
)


@dataclass(slots=True)
class CallFacts:
    """What the request path knows about one call once it is answered (not frozen:
    a frozen dataclass's ``__init__`` costs a ``object.__setattr__`` per field, on
    every request; nothing changes it after it is built)."""

    request_id: str
    event_time: datetime
    service: str  # "sts" | "iam" | "rolesanywhere" | "organizations" | "cloudtrail"
    operation: str  # the decoded operation, or the Action/target sent, or "Unknown"
    region: str
    source_ip: str
    user_agent: str
    status: int
    principal: Principal | None = None
    params: Mapping[str, Any] | None = None
    result: Mapping[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None
    host: str | None = None
    secure_transport: bool = False
    tls_version: str | None = None
    cipher_suite: str | None = None


@dataclass(slots=True)
class AuditEvent:
    """A record and the columns LookupEvents filters on (not frozen, as
    ``CallFacts``; nothing changes it after it is built)."""

    event_id: str
    event_time: datetime
    event_name: str
    event_source: str
    read_only: bool
    username: str | None
    access_key_id: str | None
    #: the accounts that see the event (caller and recipient; may be empty)
    accounts: tuple[str, ...]
    resources: tuple[tuple[str, str], ...]  # (type, name)
    record_json: str

    @property
    def record(self) -> dict[str, Any]:
        """The record as a dict (parsed from ``record_json``: the request path never
        needs it)."""
        value = json.loads(self.record_json)
        assert isinstance(value, dict)
        return value


def is_read_only(service: str, operation: str) -> bool:
    """CloudTrail's ``readOnly``: STS calls (they change no resource) and reads."""
    return service == "sts" or operation.startswith(_READ_PREFIXES)


def user_identity(principal: Principal | None, facts: CallFacts) -> dict[str, Any]:
    """The ``userIdentity`` element."""
    if principal is None:
        return _unsigned_identity(facts)
    ident: dict[str, Any] = {}
    session = principal.session
    if principal.kind is PrincipalKind.ROOT and session is None:
        ident["type"] = "Root"
        ident["principalId"] = principal.account_id
    elif principal.kind is PrincipalKind.ROLE_SESSION:
        ident["type"] = "AssumedRole"
        ident["principalId"] = principal.user_id
    elif principal.kind is PrincipalKind.FEDERATED_USER:
        ident["type"] = "FederatedUser"
        ident["principalId"] = principal.user_id
    elif principal.kind is PrincipalKind.ROOT:
        ident["type"] = "Root"
        ident["principalId"] = principal.account_id
    else:
        ident["type"] = "IAMUser"
        ident["principalId"] = principal.user_id
    ident["arn"] = principal.arn
    ident["accountId"] = principal.account_id
    if principal.access_key_id:
        ident["accessKeyId"] = principal.access_key_id
    if principal.kind is PrincipalKind.USER:
        ident["userName"] = principal.name
    if session is not None:
        context: dict[str, Any] = {}
        if session.kind is not SessionKind.SESSION_TOKEN:
            issuer_type = "Role" if session.kind is SessionKind.ASSUMED_ROLE else "IAMUser"
            if session.source_arn.endswith(":root"):
                issuer_type = "Root"
            issuer: dict[str, Any] = {
                "type": issuer_type,
                "principalId": session.source_id,
                "arn": session.source_arn,
                "accountId": session.account_id,
            }
            if session.source_name:
                issuer["userName"] = session.source_name
            context["sessionIssuer"] = issuer
        if session.federated_provider:
            context["webIdFederationData"] = {
                "federatedProvider": session.federated_provider,
                "attributes": {},
            }
        context["attributes"] = {
            "creationDate": cloudtrail_time(session.issued_at),
            "mfaAuthenticated": "true" if session.mfa_authenticated else "false",
        }
        if session.source_identity:
            context["sourceIdentity"] = session.source_identity
        ident["sessionContext"] = context
    return ident


def _unsigned_identity(facts: CallFacts) -> dict[str, Any]:
    """AssumeRoleWithWebIdentity / -WithSAML: the identity the IdP vouched for (once
    verified; before that only the kind of caller)."""
    result = facts.result or {}
    if facts.operation == "AssumeRoleWithWebIdentity":
        ident: dict[str, Any] = {"type": "WebIdentityUser"}
        provider, aud, sub = (
            result.get("Provider"),
            result.get("Audience"),
            result.get("SubjectFromWebIdentityToken"),
        )
        if provider and sub:
            ident["principalId"] = f"{provider}:{aud}:{sub}"
            ident["userName"] = sub
            ident["identityProvider"] = provider
        return ident
    if facts.operation == "AssumeRoleWithSAML":
        ident = {"type": "SAMLUser"}
        issuer, subject = result.get("Issuer"), result.get("Subject")
        if issuer and subject:
            ident["principalId"] = f"{result.get('NameQualifier', '')}:{subject}"
            ident["userName"] = subject
            ident["identityProvider"] = result.get("NameQualifier", "")
        return ident
    return {"type": "Unknown"}


def _username(ident: Mapping[str, Any], principal: Principal | None) -> str | None:
    """LookupEvents' ``Username``: the user name, the role session name, ``root``."""
    if principal is not None:
        if principal.kind is PrincipalKind.ROOT:
            return "root"
        if principal.session is not None and principal.session.session_name:
            return principal.session.session_name
        return principal.name or None
    name = ident.get("userName")
    return str(name) if name else None


def _account_of_arn(arn: object) -> str | None:
    if isinstance(arn, str) and arn.startswith("arn:"):
        parts = arn.split(":", 5)
        if len(parts) > 4 and parts[4].isdigit():
            return parts[4]
    return None


def _resources(facts: CallFacts, account: str | None) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    sources: list[Mapping[str, Any]] = []
    if facts.params:
        sources.append(facts.params)
    creds = (facts.result or {}).get("Credentials")
    if isinstance(creds, Mapping):
        sources.append({"AccessKeyId": creds.get("AccessKeyId")})
    for source in sources:
        for member, kind in _RESOURCE_MEMBERS:
            value = source.get(member)
            if not isinstance(value, str) or not value or (kind, value) in seen:
                continue
            seen.add((kind, value))
            item = {"accountId": _account_of_arn(value) or account or "", "type": kind}
            item["ARN" if value.startswith("arn:") else "name"] = value
            found.append(item)
    return found


#: serialised ``userIdentity`` elements by caller (see ``_identity_json``)
_IDENTITIES: dict[tuple[Any, ...], tuple[str, dict[str, Any]]] = {}
_MAX_IDENTITIES = 4096
_str = json.encoder.encode_basestring_ascii  # json.dumps of one str, in C


def _event_id() -> str:
    """A random (version 4) UUID for ``eventID``. From the ``random`` module's
    generator (seeded from the OS at start and re-seeded in every forked child),
    not ``os.urandom``: an event id must be unique, not secret, and a system call
    per request is a measurable part of the audit cost (bench/README.md)."""
    bits = random.getrandbits(128)
    bits = (bits & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def _dumps(value: Any) -> str:
    """``json.dumps(value, separators=(",", ":"), default=str)`` without building
    an encoder per call."""
    if value is None:
        return "null"
    if not value and isinstance(value, dict):
        return "{}"
    return _ENCODER.encode(value)


def _identity_json(principal: Principal | None, facts: CallFacts) -> tuple[str, dict[str, Any]]:
    """``userIdentity`` as JSON text and as a dict. A signed caller's element is the
    same on every call with the same key, so it is serialised once per key."""
    if principal is None or principal.access_key_id is None:
        ident = user_identity(principal, facts)
        return _dumps(ident), ident
    session = principal.session
    key = (
        principal.access_key_id,
        principal.arn,
        principal.kind,
        session.issued_at if session is not None else None,
    )
    found = _IDENTITIES.get(key)
    if found is None:
        ident = user_identity(principal, facts)
        found = (_dumps(ident), ident)
        if len(_IDENTITIES) >= _MAX_IDENTITIES:
            _IDENTITIES.clear()
        _IDENTITIES[key] = found
    return found


def build_event(facts: CallFacts) -> AuditEvent:
    """The CloudTrail record of one call, redacted, and its lookup columns. The
    record's JSON text is assembled from its parts (the caller's identity is
    serialised once per key), in the key order CloudTrail writes."""
    redactor = Redactor()
    principal = facts.principal
    ident_json, ident = _identity_json(principal, facts)
    event_source = EVENT_SOURCES.get(facts.service, f"{facts.service}.amazonaws.com")
    read_only = is_read_only(facts.service, facts.operation)
    params = redactor.request(facts.params) if facts.params is not None else None
    params_json = _dumps(params)
    if len(params_json) > MAX_PARAMETERS_CHARS:
        params_json = '{"omitted":"requestParameters too large"}'
    response = None
    if facts.result is not None and facts.error_code is None:
        response = redactor.response(facts.result) or None
    caller_account = principal.account_id if principal is not None else None
    recipient = caller_account
    role_account = _account_of_arn((facts.params or {}).get("RoleArn"))
    if facts.operation.startswith("AssumeRole") and role_account:
        recipient = role_account
    event_id = _event_id()
    parts = [
        '{"eventVersion":"',
        EVENT_VERSION,
        '","userIdentity":',
        ident_json,
        ',"eventTime":"',
        cloudtrail_time(facts.event_time),
        '","eventSource":',
        _str(event_source),
        ',"eventName":',
        _str(facts.operation),
        ',"awsRegion":',
        _str(facts.region),
        ',"sourceIPAddress":',
        _str(facts.source_ip),
        ',"userAgent":',
        _str(facts.user_agent[:1024]),
    ]
    if facts.error_code is not None:
        parts += (
            ',"errorCode":',
            _str(facts.error_code),
            ',"errorMessage":',
            _str((facts.error_message or "")[:1024]),
        )
    parts += (
        ',"requestParameters":',
        params_json,
        ',"responseElements":',
        _dumps(response),
        ',"requestID":',
        _str(facts.request_id),
        ',"eventID":"',
        event_id,
        '","readOnly":',
        "true" if read_only else "false",
    )
    resources = _resources(facts, recipient)
    if resources:
        parts += (',"resources":', _dumps(resources))
    parts += (
        ',"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":',
        _str(recipient or ""),
        ',"eventCategory":"Management"',
    )
    if facts.secure_transport:
        tls: dict[str, str] = {}
        if facts.tls_version:
            tls["tlsVersion"] = facts.tls_version
        if facts.cipher_suite:
            tls["cipherSuite"] = facts.cipher_suite
        if facts.host:
            tls["clientProvidedHostHeader"] = facts.host[:256]
        parts += (',"tlsDetails":', _dumps(tls))
    parts.append("}")
    scrubbed = scrub("".join(parts), redactor.secrets)
    accounts = tuple(dict.fromkeys(a for a in (caller_account, recipient) if a))
    return AuditEvent(
        event_id=event_id,
        event_time=facts.event_time,
        event_name=facts.operation,
        event_source=event_source,
        read_only=read_only,
        username=_username(ident, principal),
        access_key_id=principal.access_key_id if principal is not None else None,
        accounts=accounts,
        resources=tuple((r["type"], r.get("ARN") or r.get("name", "")) for r in resources),
        record_json=scrubbed,
    )


__all__ = ["HIDDEN", "AuditEvent", "CallFacts", "build_event", "is_read_only", "user_identity"]
