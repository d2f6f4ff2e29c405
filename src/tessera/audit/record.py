"""One API call as a CloudTrail record (``eventVersion`` 1.11): the facts the
pipeline hands over (``CallFacts``) become the dict CloudTrail writes, field by
field as its documented STS and IAM examples show them, plus the indexed columns
LookupEvents filters on (``AuditEvent``). Pure: no I/O.

Recording is split so the request path does as little as possible:
``capture_line`` (on the request path) redacts the call's input and result and
serialises every fact with one orjson call into the spool line; the audit writer
stores the captures with their lookup terms (``index_terms``, a line at a time,
off the request path; ``tessera.audit.segments``); reading them back,
``stored_row`` gives an event's LookupEvents fields and ``build_row``/``render``
assemble its CloudTrail record (LookupEvents, ``--audit-log``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from tessera.audit.redact import HIDDEN, Redactor, cloudtrail_time, scrub, secret_may_appear
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


class AuditRow(NamedTuple):
    """One audit event with the fields LookupEvents answers and filters on.
    ``record_json`` is what the trail keeps of it: the event's capture (rendered
    into the CloudTrail record by ``render``) or the record itself (``build_row``,
    and events stored by versions that kept rendered records). A named tuple, not
    a frozen dataclass: a tuple is made in C."""

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
        """``record_json`` parsed (the record itself for ``build_row``'s rows)."""
        value = json.loads(self.record_json)
        assert isinstance(value, dict)
        return value


#: A record and the columns LookupEvents filters on (``build_event``'s result).
AuditEvent = AuditRow


def event_source(service: str) -> str:
    """CloudTrail's ``eventSource`` of a service."""
    return EVENT_SOURCES.get(service) or f"{service}.amazonaws.com"


def is_read_only(service: str, operation: str) -> bool:
    """CloudTrail's ``readOnly``: STS calls (they change no resource) and reads."""
    return service == "sts" or operation.startswith(_READ_PREFIXES)


#: STS calls that issue nothing: reads, whose records have no ``responseElements``
_STS_READS = frozenset({"GetCallerIdentity", "GetAccessKeyInfo", "DecodeAuthorizationMessage"})
_KEEPS_RESPONSE: dict[tuple[str, str], bool] = {}
_MAX_KEEPS_RESPONSE = 4096


def keeps_response(service: str, operation: str) -> bool:
    """Whether a call's record has ``responseElements``: CloudTrail writes them for
    actions that make changes and for STS's credential and token issuers (its
    documented AssumeRole, GetSessionToken … records), and omits them for reads
    (``Get``/``List``/``Describe``… of IAM and the other services,
    GetCallerIdentity, GetAccessKeyInfo and DecodeAuthorizationMessage of STS):
    "if an action does not change state (for example, a request to get or list
    objects), this element is omitted" (CloudTrail record contents)."""
    found = _KEEPS_RESPONSE.get((service, operation))
    if found is None:
        if service == "sts":
            found = operation not in _STS_READS
        else:
            found = not operation.startswith(_READ_PREFIXES)
        if len(_KEEPS_RESPONSE) >= _MAX_KEEPS_RESPONSE:
            _KEEPS_RESPONSE.clear()
        _KEEPS_RESPONSE[(service, operation)] = found
    return found


def user_identity(principal: Principal | None, facts: CallFacts) -> dict[str, Any]:
    """The ``userIdentity`` element."""
    return _identity(principal, facts.operation, facts.result)


def _identity(
    principal: Principal | None, operation: str, result: Mapping[str, Any] | None
) -> dict[str, Any]:
    if principal is None:
        return _unsigned_identity(operation, result)
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


def _unsigned_identity(operation: str, result: Mapping[str, Any] | None) -> dict[str, Any]:
    """AssumeRoleWithWebIdentity / -WithSAML: the identity the IdP vouched for (once
    verified; before that only the kind of caller)."""
    result = result or {}
    if operation == "AssumeRoleWithWebIdentity":
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
    if operation == "AssumeRoleWithSAML":
        ident = {"type": "SAMLUser"}
        issuer, subject = result.get("Issuer"), result.get("Subject")
        if issuer and subject:
            ident["principalId"] = f"{result.get('NameQualifier', '')}:{subject}"
            ident["userName"] = subject
            ident["identityProvider"] = result.get("NameQualifier", "")
        return ident
    return {"type": "Unknown"}


def _username(principal: Principal) -> str | None:
    """LookupEvents' ``Username`` of a signed caller: the user name, the role
    session name, ``root``."""
    if principal.kind is PrincipalKind.ROOT:
        return "root"
    if principal.session is not None and principal.session.session_name:
        return principal.session.session_name
    return principal.name or None


def _unsigned_username(ident_json: str) -> str | None:
    """``Username`` of an unsigned caller: the user name its IdP vouched for."""
    if '"userName"' not in ident_json:
        return None
    name = json.loads(ident_json).get("userName")
    return str(name) if name else None


_ARN_ACCOUNTS: dict[str, str | None] = {}
_MAX_ARN_ACCOUNTS = 4096


def _account_of_arn(arn: object) -> str | None:
    """The account of an ARN (memoised: a busy server names a few roles)."""
    if not isinstance(arn, str):
        return None
    try:
        return _ARN_ACCOUNTS[arn]
    except KeyError:
        pass
    account = None
    if arn.startswith("arn:"):
        parts = arn.split(":", 5)
        if len(parts) > 4 and parts[4].isdigit():
            account = parts[4]
    if len(_ARN_ACCOUNTS) >= _MAX_ARN_ACCOUNTS:
        _ARN_ACCOUNTS.clear()
    _ARN_ACCOUNTS[arn] = account
    return account


#: camelCase member name (as in the record) → (its rank in ``_RESOURCE_MEMBERS``,
#: the resource type it names)
_RESOURCE_OF: dict[str, tuple[int, str]] = {
    member[:1].lower() + member[1:]: (rank, kind)
    for rank, (member, kind) in enumerate(_RESOURCE_MEMBERS)
}
#: the rank of the access key a call issues (after every parameter's resource)
_ACCESS_KEY_RANK = len(_RESOURCE_MEMBERS)


def _issued_key(response: Mapping[str, Any] | None) -> str | None:
    """The access key id a call's (redacted) result issued, if any."""
    if response:
        creds = response.get("credentials")
        if isinstance(creds, Mapping):
            key_id = creds.get("accessKeyId")
            if isinstance(key_id, str) and key_id:
                return key_id
    return None


def _named_resources(
    params: Mapping[str, Any] | None, issued_key: str | None
) -> list[tuple[int, str, str]]:
    """(rank in ``_RESOURCE_MEMBERS``, type, ARN or name) of each member of the
    (redacted, camelCase) parameters that names a resource, then of the access key
    the call issued (``_issued_key``): what both the record's ``resources`` and the
    index's terms are made of."""
    named: list[tuple[int, str, str]] = []
    if params:
        resource_of = _RESOURCE_OF
        named = [
            (hit[0], hit[1], value)
            for key, value in params.items()
            if (hit := resource_of.get(key)) is not None and isinstance(value, str) and value
        ]
    if issued_key:
        named.append((_ACCESS_KEY_RANK, "AWS::IAM::AccessKey", issued_key))
    return named


def _resources(
    params: Mapping[str, Any] | None, response: Mapping[str, Any] | None, account: str | None
) -> list[tuple[str, str, str]]:
    """The record's ``resources``: (accountId, type, ARN or name) of each resource
    the call names, in ``_RESOURCE_MEMBERS`` order (the issued access key after
    the parameters' own), without repeats."""
    named = _named_resources(params, _issued_key(response))
    if len(named) > 1:
        named.sort(key=lambda item: item[0])  # stable: the issued key stays last
    found: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for _rank, kind, value in named:
        if (kind, value) not in seen:
            seen.add((kind, value))
            found.append((_account_of_arn(value) or account or "", kind, value))
    return found


def _resources_json(resources: list[tuple[str, str, str]]) -> str:
    return (
        "["
        + ",".join(
            f'{{"accountId":{_str(account)},"type":{_str(kind)},'
            f'"{"ARN" if value.startswith("arn:") else "name"}":{_str(value)}}}'
            for account, kind, value in resources
        )
        + "]"
    )


#: serialised ``userIdentity`` elements by caller (see ``_identity_json``)
_IDENTITIES: dict[tuple[Any, ...], tuple[str, bytes, bool, str | None]] = {}
_MAX_IDENTITIES = 4096
_str = json.encoder.encode_basestring_ascii  # json.dumps of one str, in C


#: the last millisecond's id prefix (``tttttttt-tttt-7``), shared by its events
_PREFIX: tuple[int, str] = (-1, "")
_VARIANT_CLEAR = ~(0xC << 60)
_VARIANT_SET = 0x8 << 60


def _event_id(request_id: str, ms: int) -> str:
    """The ``eventID`` of a call: a time-ordered (version 7) UUID, the event's
    millisecond then 74 bits of a keyed hash of its request id. Time-ordered
    because LookupEvents finds an event by its id through that millisecond (the
    segments that span it; ``tessera.audit.history``). Derived, not drawn: the
    request id is already unique (random) and is in the spool line, so the id is
    computed off the request path, and the same capture always gives the same id
    (a replayed spool, the live ``--audit-log`` and LookupEvents agree)."""
    global _PREFIX
    last = _PREFIX
    if last[0] == ms:
        prefix = last[1]
    else:
        stamp = f"{ms & 0xFFFF_FFFF_FFFF:012x}"
        prefix = f"{stamp[:8]}-{stamp[8:]}-7"
        _PREFIX = (ms, prefix)
    digest = hashlib.blake2b(request_id.encode(), digest_size=10, person=b"tessera-event").digest()
    # 19 hex digits: 3 of rand_a, then the variant (10xx) and 15 of rand_b
    h = f"{int.from_bytes(digest, 'big') >> 4 & _VARIANT_CLEAR | _VARIANT_SET:019x}"
    return f"{prefix}{h[:3]}-{h[3:7]}-{h[7:]}"


_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
#: the C encoder ``json.dumps(value, separators=(",", ":"), default=str)`` uses,
#: made once; the fallback for what orjson refuses (integers past 64 bits)
_C_ENCODE = (
    _c_make_encoder(None, str, _str, None, ":", ",", False, False, True)
    if _c_make_encoder is not None
    else None
)
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def _dumps_bytes(value: Any) -> bytes:
    """Compact JSON of ``value`` as UTF-8 bytes. orjson (a maintained Rust
    encoder) rather than ``json``: serialising a call's capture is on every
    request's path, and orjson does it ~10x faster than the standard library's C
    encoder (bench/README.md). Anything it refuses (an integer past 64 bits) goes
    through ``json`` instead."""
    try:
        return orjson.dumps(value, default=str)
    except TypeError:
        if _C_ENCODE is not None:
            return "".join(_C_ENCODE(value, 0)).encode()
        return _ENCODER.encode(value).encode()


def _dumps(value: Any) -> str:
    """``json.dumps(value, separators=(",", ":"), default=str)``, cheaply."""
    if value is None:
        return "null"
    return _dumps_bytes(value).decode()


def _identity_entry(
    principal: Principal | None, operation: str, result: Mapping[str, Any] | None
) -> tuple[str, bytes, bool, str | None]:
    """``_identity_json``'s value, built (for a signed caller, once per key)."""
    text = _dumps(_identity(principal, operation, result))
    raw = text.encode()
    user = _username(principal) if principal is not None else _unsigned_username(text)
    return text, raw, b"eyJ" in raw, user


def _identity_json(
    principal: Principal | None, operation: str, result: Mapping[str, Any] | None
) -> tuple[str, bytes, bool, str | None]:
    """``userIdentity`` as JSON text and as UTF-8 bytes, whether it holds a
    JWT-shaped string's start (``eyJ``), and the caller's LookupEvents ``Username``.
    A signed caller's are the same on every call with the same key (the ARN names
    the user, role session or root), so they are made (and looked at) once per key."""
    if principal is None or principal.access_key_id is None:
        return _identity_entry(principal, operation, result)
    session = principal.session
    # the kind is implied by the ARN and the unique id, and hashing an enum member
    # is a Python call (this runs on every request)
    key = (
        principal.access_key_id,
        principal.arn,
        principal.user_id,
        session.issued_at if session is not None else None,
    )
    found = _IDENTITIES.get(key)
    if found is None:
        found = _identity_entry(principal, operation, result)
        if len(_IDENTITIES) >= _MAX_IDENTITIES:
            _IDENTITIES.clear()
        _IDENTITIES[key] = found
    return found


#: The capture's fields, in order (a JSON array on the spool line, a tuple in memory)
_FIELDS = (
    "event_time",  # POSIX seconds (float)
    "service",
    "operation",
    "region",
    "source_ip",
    "user_agent",
    "request_id",
    "error_code",
    "error_message",
    "host",
    "secure_transport",
    "tls_version",
    "cipher_suite",
    "username",
    "access_key_id",
    "caller_account",
    "params",
    "response",
)
(
    _TIME,
    _SERVICE,
    _OPERATION,
    _REGION,
    _IP,
    _AGENT,
    _REQUEST,
    _ERROR_CODE,
    _ERROR_MESSAGE,
    _HOST,
    _SECURE,
    _TLS,
    _CIPHER,
    _USER,
    _KEY,
    _ACCOUNT,
    _PARAMS,
    _RESPONSE,
) = range(len(_FIELDS))
_TOO_LARGE: dict[str, Any] = {"omitted": "requestParameters too large"}
#: the secrets of a call with nothing to redact (never added to: a new set is made
#: before anything is)
_NO_SECRETS: set[str] = set()


def event_id_of(values: Sequence[Any]) -> str:
    """The event id of a captured call (the same wherever and whenever it is built)."""
    return _event_id(str(values[_REQUEST]), int(float(values[_TIME]) * 1000))


@dataclass(slots=True)
class Capture:
    """What the request path keeps of one call: every fact the record needs,
    already redacted (``values``, in ``_FIELDS`` order), the caller's identity as
    JSON, the secret values the redaction saw (in memory only, to scrub the final
    record as well) and the spool line (the same, scrubbed, as bytes)."""

    values: tuple[Any, ...]
    ident_json: str
    secrets: set[str]
    line: bytes

    @property
    def event_id(self) -> str:
        return event_id_of(self.values)


def capture(facts: CallFacts) -> Capture:
    """The request path's share of recording a call: redact the input and the
    result and serialise it all with one orjson call. Everything else is derived
    later from the capture: its lookup terms on the writer thread, a batch at a
    time (``index_terms``), the CloudTrail record when it is read or logged
    (``build_row``)."""
    return Capture(
        *_capture(
            facts.request_id,
            facts.event_time.timestamp(),
            facts.service,
            facts.operation,
            facts.region,
            facts.source_ip,
            facts.user_agent,
            facts.principal,
            facts.params,
            facts.result,
            facts.error_code,
            facts.error_message,
            facts.host,
            facts.secure_transport,
            facts.tls_version,
            facts.cipher_suite,
        )
    )


def capture_line(
    request_id: str,
    seconds: float,
    service: str,
    operation: str,
    region: str,
    source_ip: str,
    user_agent: str,
    principal: Principal | None,
    params: Mapping[str, Any] | None,
    result: Mapping[str, Any] | None,
    error_code: str | None,
    error_message: str | None,
    host: str | None,
    secure_transport: bool,
) -> bytes:
    """``capture(CallFacts(…)).line`` of a call answered at POSIX time
    ``seconds``, without the ``CallFacts`` (the request path's form: nothing else
    of the call outlives it)."""
    return _capture(
        request_id,
        seconds,
        service,
        operation,
        region,
        source_ip,
        user_agent,
        principal,
        params,
        result,
        error_code,
        error_message,
        host,
        secure_transport,
        None,
        None,
    )[3]


def _capture(
    request_id: str,
    seconds: float,
    service: str,
    operation: str,
    region: str,
    source_ip: str,
    user_agent: str,
    principal: Principal | None,
    params: Mapping[str, Any] | None,
    result: Mapping[str, Any] | None,
    error_code: str | None,
    error_message: str | None,
    host: str | None,
    secure_transport: bool,
    tls_version: str | None,
    cipher_suite: str | None,
) -> tuple[tuple[Any, ...], str, set[str], bytes]:
    ident_json, ident_bytes, ident_jwt, username = _identity_json(principal, operation, result)
    secrets: set[str] = _NO_SECRETS
    if params:
        redactor = Redactor()
        params = redactor.request(params)
        secrets = redactor.secrets
    elif params is not None:
        params = {}
    response = None
    if result and error_code is None and keeps_response(service, operation):
        if secrets is _NO_SECRETS:
            redactor = Redactor()
            secrets = redactor.secrets
        response = redactor.response(result) or None
    values: tuple[Any, ...] = (
        seconds,
        service,
        operation,
        region,
        source_ip,
        user_agent[:1024],
        request_id,
        error_code,
        None if error_message is None else error_message[:1024],
        None if host is None else host[:256],
        secure_transport,
        tls_version,
        cipher_suite,
        username,
        principal.access_key_id if principal is not None else None,
        principal.account_id if principal is not None else None,
        params,
        response,
    )
    data = _dumps_bytes(values)
    if len(data) > MAX_PARAMETERS_CHARS and len(_dumps_bytes(params)) > MAX_PARAMETERS_CHARS:
        values = (*values[:_PARAMS], _TOO_LARGE, *values[_PARAMS + 1 :])
        data = _dumps_bytes(values)
    line = b"".join((b'{"c1":', data, b',"i":', ident_bytes, b"}\n"))
    # (may_hold, with the identity's share of the JWT check made once per caller)
    # (``rfind``: see ``secret_may_appear``)
    if ident_jwt or data.rfind(b"eyJ") >= 0 or (secrets and secret_may_appear(line, secrets)):
        text = line.decode()
        scrubbed = scrub(text, secrets)
        if scrubbed is not text:
            line = scrubbed.encode()
    if secrets is _NO_SECRETS:
        secrets = set()  # (the caller's own: Capture.secrets)
    return values, ident_json, secrets, line


def parse_capture(line: bytes) -> tuple[tuple[Any, ...], str] | None:
    """A spool line written by ``capture``: its values and identity JSON; None for
    another kind of line."""
    value = json.loads(line)
    if not isinstance(value, dict) or "c1" not in value:
        return None
    values, ident = value["c1"], value["i"]
    if not isinstance(values, list) or len(values) != len(_FIELDS):
        raise ValueError("malformed capture")
    if not isinstance(ident, dict):
        raise ValueError("malformed identity")
    return tuple(values), _dumps(ident)


class _Columns(NamedTuple):
    """What the record and the row of a captured call derive from its values."""

    event_id: str
    event_time: datetime
    event_source: str
    read_only: bool
    recipient: str | None
    accounts: tuple[str, ...]
    #: (accountId, type, ARN or name) of each resource the call names
    resources: list[tuple[str, str, str]]

    def row(self, values: Sequence[Any], record_json: str) -> AuditRow:
        return AuditRow(
            event_id=self.event_id,
            event_time=self.event_time,
            event_name=values[_OPERATION],
            event_source=self.event_source,
            read_only=self.read_only,
            username=values[_USER],
            access_key_id=values[_KEY],
            accounts=self.accounts,
            resources=tuple((kind, value) for _account, kind, value in self.resources),
            record_json=record_json,
        )


def _recipient(values: Sequence[Any]) -> tuple[str | None, tuple[str, ...]]:
    """``recipientAccountId`` (the role's account for AssumeRole*, else the
    caller's) and the accounts that see the event (caller and recipient)."""
    return _recipient_of(values[_ACCOUNT], values[_OPERATION], values[_PARAMS])


def _recipient_of(
    caller_account: str | None, operation: str, params: Mapping[str, Any] | None
) -> tuple[str | None, tuple[str, ...]]:
    """``_recipient`` of a call's caller account, operation and parameters."""
    recipient = caller_account
    if params and operation.startswith("AssumeRole"):
        role_account = _account_of_arn(params.get("roleArn"))
        if role_account:
            recipient = role_account
    if caller_account and recipient and caller_account != recipient:
        return recipient, (caller_account, recipient)
    only = caller_account or recipient
    return recipient, ((only,) if only else ())


def _columns(values: Sequence[Any]) -> _Columns:
    service: str = values[_SERVICE]
    operation: str = values[_OPERATION]
    recipient, accounts = _recipient(values)
    return _Columns(
        event_id=event_id_of(values),
        event_time=datetime.fromtimestamp(float(values[_TIME]), UTC),
        event_source=event_source(service),
        read_only=is_read_only(service, operation),
        recipient=recipient,
        accounts=accounts,
        resources=_resources(values[_PARAMS], values[_RESPONSE], recipient),
    )


#: the terms every event of a (service, operation) has (see ``index_terms``)
_BASE_TERMS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
_MAX_BASE_TERMS = 4096


def _base_terms(service: str, operation: str) -> tuple[tuple[str, str], ...]:
    found = _BASE_TERMS.get((service, operation))
    if found is None:
        found = (
            ("EventName", operation),
            ("EventSource", event_source(service)),
            ("ReadOnly", "true" if is_read_only(service, operation) else "false"),
        )
        if len(_BASE_TERMS) >= _MAX_BASE_TERMS:
            _BASE_TERMS.clear()
        _BASE_TERMS[(service, operation)] = found
    return found


#: ``index_terms``' result: time, accounts, the operation's shared terms, the event's own
IndexTerms = tuple[float, tuple[str, ...], tuple[tuple[str, str], ...], list[tuple[str, str]]]


def index_terms(values: Sequence[Any]) -> IndexTerms:
    """What the store indexes of a captured call (on the writer thread, for every
    event: only what a segment needs, no event id, no datetime): its time in POSIX
    seconds, the accounts that see it, and its LookupEvents terms: those every call
    of its operation has (one shared tuple) and its own (``EventId`` excepted: an
    event id names its millisecond, and LookupEvents reads that millisecond's
    segments). The same resources as the record's, without their accounts."""
    return index_fields(
        float(values[_TIME]),
        values[_SERVICE],
        values[_OPERATION],
        values[_USER],
        values[_KEY],
        values[_ACCOUNT],
        values[_PARAMS],
        _issued_key(values[_RESPONSE]),
    )


def index_fields(
    seconds: float,
    service: str,
    operation: str,
    user: str | None,
    key: str | None,
    caller_account: str | None,
    params: Mapping[str, Any] | None,
    issued_key: str | None,
) -> IndexTerms:
    """``index_terms`` of the capture's fields it reads (the writer's typed parse
    of a capture line hands them over without the rest; ``issued_key`` is the
    response's ``credentials.accessKeyId``)."""
    base = _base_terms(service, operation)
    _recipient_account, accounts = _recipient_of(caller_account, operation, params)
    own: list[tuple[str, str]] = []
    if user:
        own.append(("Username", user))
    if key:
        own.append(("AccessKeyId", key))
    if params or issued_key:
        for _rank, kind, name in _named_resources(params, issued_key):
            own += (("ResourceType", kind), ("ResourceName", name))
    return seconds, accounts, base, own


def build_row(values: Sequence[Any], ident_json: str, secrets: set[str] | None) -> AuditRow:
    """The CloudTrail record of one captured call and its lookup columns. The
    record's JSON text is assembled from its parts, in the key order CloudTrail
    writes, and scrubbed of every secret the capture saw."""
    columns = _columns(values)
    error_code: str | None = values[_ERROR_CODE]
    parts = [
        '{"eventVersion":"',
        EVENT_VERSION,
        '","userIdentity":',
        ident_json,
        ',"eventTime":"',
        cloudtrail_time(columns.event_time),
        '","eventSource":',
        _str(columns.event_source),
        ',"eventName":',
        _str(values[_OPERATION]),
        ',"awsRegion":',
        _str(values[_REGION]),
        ',"sourceIPAddress":',
        _str(values[_IP]),
        ',"userAgent":',
        _str(values[_AGENT]),
    ]
    if error_code is not None:
        parts += (
            ',"errorCode":',
            _str(error_code),
            ',"errorMessage":',
            _str(values[_ERROR_MESSAGE] or ""),
        )
    parts += (
        ',"requestParameters":',
        _dumps(values[_PARAMS]),
        ',"responseElements":',
        _dumps(values[_RESPONSE]),
        ',"requestID":',
        _str(values[_REQUEST]),
        ',"eventID":',
        _str(columns.event_id),
        ',"readOnly":',
        "true" if columns.read_only else "false",
    )
    if columns.resources:
        parts += (',"resources":', _resources_json(columns.resources))
    parts += (
        ',"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":',
        _str(columns.recipient or ""),
        ',"eventCategory":"Management"',
    )
    if values[_SECURE]:
        tls: dict[str, str] = {}
        if values[_TLS]:
            tls["tlsVersion"] = values[_TLS]
        if values[_CIPHER]:
            tls["cipherSuite"] = values[_CIPHER]
        if values[_HOST]:
            tls["clientProvidedHostHeader"] = values[_HOST]
        parts += (',"tlsDetails":', _dumps(tls))
    parts.append("}")
    text = "".join(parts)
    if secrets or "eyJ" in text:
        text = scrub(text, secrets or ())
    return columns.row(values, text)


def stored_row(values: Sequence[Any], capture_json: str) -> AuditRow:
    """A stored capture's LookupEvents fields, with the capture itself (its spool
    line's JSON, already redacted and scrubbed) in place of the rendered record:
    LookupEvents reads many events to answer a page, so only the answered ones
    are rendered (``render``)."""
    return _columns(values).row(values, capture_json)


_CAPTURE_PREFIX = '{"c1":'


def render(stored_json: str) -> str:
    """The CloudTrail record (JSON) of a stored event: rendered from its capture,
    or as stored by a version that kept rendered records."""
    if not stored_json.startswith(_CAPTURE_PREFIX):
        return stored_json
    captured = parse_capture(stored_json.encode())
    if captured is None:
        return stored_json
    return build_row(captured[0], captured[1], None).record_json


def build_event(facts: CallFacts) -> AuditEvent:
    """The CloudTrail record of one call and its lookup columns (``capture`` and
    ``build_row`` in one step)."""
    captured = capture(facts)
    return build_row(captured.values, captured.ident_json, captured.secrets)


__all__ = [
    "HIDDEN",
    "AuditEvent",
    "AuditRow",
    "CallFacts",
    "Capture",
    "build_event",
    "build_row",
    "capture",
    "capture_line",
    "event_id_of",
    "event_source",
    "index_fields",
    "index_terms",
    "is_read_only",
    "keeps_response",
    "parse_capture",
    "render",
    "stored_row",
    "user_identity",
]
