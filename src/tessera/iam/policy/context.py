"""The request context the policy engine decides on.

A :class:`RequestContext` carries the action, the resource, the calling
principal (:class:`PrincipalInfo`) and the condition keys.  Condition key
*names* are case-insensitive (IAM User Guide, "IAM JSON policy elements:
Condition"), so they are normalised to lower case here, once per request.
Values are strings or, for multivalued keys (``aws:TagKeys``,
``sts:TransitiveTagKeys``, ...), tuples of strings.

The engine never computes ``aws:*`` keys itself; :func:`global_keys` is a
convenience for callers that builds the usual global keys from plain values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from tessera.iam.policy.patterns import ContextValue

__all__ = [
    "ContextValue",
    "PrincipalInfo",
    "PrincipalKind",
    "RawContextValue",
    "RequestContext",
    "add_moment_keys",
    "global_keys",
    "normalize_keys",
    "principal_keys",
]

PrincipalKind = Literal[
    "root",
    "user",
    "role-session",
    "federated-user",
    "web-identity",
    "saml",
    "service",
    "anonymous",
]

RawContextValue = str | bool | int | float | datetime | Iterable[str | bool | int | float] | None


@dataclass(frozen=True, slots=True)
class PrincipalInfo:
    """Who is calling.

    ``arn`` is the caller ARN as AWS reports it: the user ARN, the
    ``assumed-role`` session ARN, the ``federated-user`` ARN or the account
    root ARN.  For role sessions ``role_arn`` is the role's ARN (with path);
    for federated users ``source_user_arn`` is the IAM user that called
    GetFederationToken and ``source_user_id`` its ``AIDA…`` id.  ``unique_id``
    is the caller's ``AIDA…`` (user) / ``AROA…`` (role of a role session) id:
    stored policies bind the user and role ARNs they name to these ids.
    ``federated_provider`` is the provider ARN or well-known name
    (``cognito-identity.amazonaws.com``, ``www.amazon.com`` …) for web-identity /
    SAML callers, ``service`` the service principal name (``ec2.amazonaws.com``).
    """

    arn: str
    account: str | None
    kind: PrincipalKind
    role_arn: str | None = None
    source_user_arn: str | None = None
    unique_id: str | None = None
    source_user_id: str | None = None
    federated_provider: str | None = None
    service: str | None = None
    canonical_user: str | None = None

    @classmethod
    def anonymous(cls) -> PrincipalInfo:
        return cls(arn="anonymous", account=None, kind="anonymous")


_last_time: tuple[int, str] = (-1, "")


def _time_text(value: datetime) -> str:
    """ISO-8601 UTC to the second; the text of the last second converted is
    remembered (most requests of a second carry the same one)."""
    global _last_time
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    second = math.floor(value.timestamp())
    last = _last_time
    if last[0] == second:
        return last[1]
    text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _last_time = (second, text)
    return text


def _scalar(value: str | bool | int | float | datetime) -> str:
    kind = type(value)
    if kind is str:
        return value  # type: ignore[return-value]
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if isinstance(value, datetime):
        return _time_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return json.dumps(value)
    return str(value)


_SCALARS = (str, bool, int, float, datetime)


def normalize_keys(keys: Mapping[str, RawContextValue]) -> dict[str, ContextValue]:
    """Lower-case key names and coerce values to ``str`` / ``tuple[str, ...]``.

    Booleans become ``"true"``/``"false"``, datetimes ISO-8601 UTC, lists and
    sets tuples (multivalued keys).  ``None`` values are dropped (key absent).
    """
    out: dict[str, ContextValue] = {}
    for name, value in keys.items():
        if value is None:
            continue
        if type(value) is str:
            out[name.lower()] = value
        elif isinstance(value, _SCALARS):
            out[name.lower()] = _scalar(value)
        else:
            out[name.lower()] = tuple(_scalar(v) for v in value)
    return out


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Action, resource, principal and condition keys of one request."""

    action: str
    resource: str
    principal: PrincipalInfo
    keys: Mapping[str, ContextValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        keys = self.keys
        if any(k != k.lower() for k in keys) or any(
            not isinstance(v, str | tuple) for v in keys.values()
        ):
            object.__setattr__(self, "keys", normalize_keys(keys))

    @classmethod
    def normalized(
        cls,
        action: str,
        resource: str,
        principal: PrincipalInfo,
        keys: dict[str, ContextValue],
    ) -> RequestContext:
        """A context from keys that ``normalize_keys``/``global_keys`` just returned
        (lower-case names, ``str``/``tuple`` values): skips the check
        ``__post_init__`` makes."""
        ctx = object.__new__(cls)
        object.__setattr__(ctx, "action", action)
        object.__setattr__(ctx, "resource", resource)
        object.__setattr__(ctx, "principal", principal)
        object.__setattr__(ctx, "keys", keys)
        return ctx

    @classmethod
    def build(
        cls,
        action: str,
        resource: str,
        principal: PrincipalInfo,
        keys: Mapping[str, RawContextValue] | None = None,
    ) -> RequestContext:
        return cls(action, resource, principal, normalize_keys(keys or {}))


def global_keys(
    principal: PrincipalInfo,
    *,
    current_time: datetime,
    secure_transport: bool = True,
    source_ip: str | None = None,
    username: str | None = None,
    userid: str | None = None,
    principal_type: str | None = None,
    principal_tags: Mapping[str, str] | None = None,
    request_tags: Mapping[str, str] | None = None,
    resource_tags: Mapping[str, str] | None = None,
    mfa_present: bool | None = None,
    mfa_age_seconds: int | None = None,
    token_issue_time: datetime | None = None,
    source_identity: str | None = None,
    requested_region: str | None = "us-east-1",
    org_id: str | None = None,
    org_paths: Iterable[str] | None = None,
    extra: Mapping[str, RawContextValue] | None = None,
) -> dict[str, ContextValue]:
    """Build the common ``aws:*`` global condition keys (IAM User Guide, "AWS
    global condition context keys").  ``aws:PrincipalArn`` is the role ARN for
    role sessions, not the session ARN."""
    keys = principal_keys(
        principal,
        username=username,
        userid=userid,
        principal_type=principal_type,
        principal_tags=principal_tags,
        mfa_present=mfa_present,
        token_issue_time=token_issue_time,
        source_identity=source_identity,
        org_id=org_id,
        org_paths=org_paths,
    )
    add_moment_keys(
        keys,
        current_time=current_time,
        secure_transport=secure_transport,
        source_ip=source_ip,
        requested_region=requested_region,
        mfa_age_seconds=mfa_age_seconds,
    )
    raw: dict[str, RawContextValue] = {}
    for k, v in (request_tags or {}).items():
        raw[f"aws:RequestTag/{k}"] = v
    if request_tags is not None:
        raw["aws:TagKeys"] = tuple(request_tags)
    for k, v in (resource_tags or {}).items():
        raw[f"aws:ResourceTag/{k}"] = v
    if extra:
        raw.update(extra)
    keys.update(normalize_keys(raw))
    return keys


# --- the same keys in two parts: the caller's (memoisable) and the moment's ---------


def principal_keys(
    principal: PrincipalInfo,
    *,
    username: str | None = None,
    userid: str | None = None,
    principal_type: str | None = None,
    principal_tags: Mapping[str, str] | None = None,
    mfa_present: bool | None = None,
    token_issue_time: datetime | None = None,
    source_identity: str | None = None,
    org_id: str | None = None,
    org_paths: Iterable[str] | None = None,
    extra: Mapping[str, RawContextValue] | None = None,
) -> dict[str, ContextValue]:
    """The keys of :func:`global_keys` that describe the caller, not the request:
    the same for every request of one principal, so a caller may keep them.
    ``principal_keys(...)`` then :func:`add_moment_keys`, resource tags and the
    request's own keys give what :func:`global_keys` gives (``extra`` here: keys
    that come from the caller's session, such as ``aws:FederatedProvider``)."""
    raw: dict[str, RawContextValue] = {
        "aws:username": username,
        "aws:userid": userid,
        "aws:PrincipalType": principal_type,
        "aws:MultiFactorAuthPresent": mfa_present,
        "aws:TokenIssueTime": token_issue_time,
        "aws:SourceIdentity": source_identity,
        "aws:PrincipalOrgID": org_id,
        "aws:PrincipalOrgPaths": tuple(org_paths) if org_paths is not None else None,
    }
    if principal.kind not in ("anonymous", "service", "web-identity", "saml"):
        raw["aws:PrincipalArn"] = principal.role_arn or principal.arn
        raw["aws:PrincipalAccount"] = principal.account
    if principal.kind == "service":
        raw["aws:PrincipalServiceName"] = principal.service
        raw["aws:PrincipalIsAWSService"] = True
    else:
        raw["aws:PrincipalIsAWSService"] = False
    for k, v in (principal_tags or {}).items():
        raw[f"aws:PrincipalTag/{k}"] = v
    if extra:
        raw.update(extra)
    return normalize_keys(raw)


def add_moment_keys(
    keys: dict[str, ContextValue],
    *,
    current_time: datetime,
    secure_transport: bool = True,
    source_ip: str | None = None,
    requested_region: str | None = "us-east-1",
    mfa_age_seconds: int | None = None,
) -> None:
    """Add the keys of :func:`global_keys` that change with each request (time,
    transport, source address, region, MFA age) to normalised ``keys``."""
    keys["aws:currenttime"] = _time_text(current_time)
    keys["aws:epochtime"] = str(int(current_time.timestamp()))
    keys["aws:securetransport"] = "true" if secure_transport else "false"
    if source_ip is not None:
        keys["aws:sourceip"] = source_ip
    if mfa_age_seconds is not None:
        keys["aws:multifactorauthage"] = str(mfa_age_seconds)
    if requested_region is not None:
        keys["aws:requestedregion"] = requested_region
