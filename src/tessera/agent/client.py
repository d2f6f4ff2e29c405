"""Calling Roles Anywhere's CreateSession (``POST /sessions``) with a signed request
and reading the role credentials out of the answer.

The request carries ``profileArn``, ``roleArn`` and ``trustAnchorArn`` in the query
string (as AWS's ``aws_signing_helper`` sends them) and, with ``durationSeconds``
and the optional ``roleSessionName``, in the JSON body, so a server that reads
either place finds them. The answer is ``201`` with ``credentialSet[0].credentials``.

The exchange itself (deadline, TLS, no proxy, one-line errors that never echo a
header, key or credential) is :mod:`tessera.agent.transport`'s.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from tessera.agent.errors import AgentError, one_line
from tessera.agent.signer import X509Identity, sign_request
from tessera.agent.transport import Transport
from tessera.clock import Clock, SystemClock
from tessera.sensitive import Secret

__all__ = [
    "DEFAULT_TIMEOUT",
    "RoleCredentials",
    "SessionClient",
    "SessionParams",
    "default_endpoint",
    "parse_credential_set",
    "parse_timestamp",
    "resolve_region",
]

DEFAULT_TIMEOUT = 10.0
MIN_DURATION, MAX_DURATION = 900, 43_200

_ARN_RE = re.compile(r"arn:[a-z0-9-]+:rolesanywhere:([a-z0-9-]+):\d{12}:(trust-anchor|profile)/\S+")
_ROLE_ARN_RE = re.compile(r"arn:[a-z0-9-]+:iam::\d{12}:role/\S+")
_REGION_RE = re.compile(r"[a-z0-9-]{1,64}")


@dataclass(frozen=True)
class SessionParams:
    """What CreateSession is asked for."""

    endpoint: str
    region: str
    trust_anchor_arn: str
    profile_arn: str
    role_arn: str
    duration_seconds: int = 3600
    role_session_name: str | None = None


@dataclass(frozen=True)
class RoleCredentials:
    """Temporary role credentials; the secret parts are masked in repr."""

    access_key_id: str
    secret_access_key: Secret[str] = field(repr=False)
    session_token: Secret[str] = field(repr=False)
    expiration: datetime
    role_arn: str

    @property
    def account_id(self) -> str | None:
        parts = self.role_arn.split(":")
        return parts[4] if len(parts) > 5 and parts[4].isdigit() else None


def resolve_region(trust_anchor_arn: str, profile_arn: str, region: str | None) -> str:
    """The signing region: ``region`` if given, else the trust anchor's. The trust
    anchor and profile must be Roles Anywhere ARNs of the same region."""
    anchor = _ARN_RE.fullmatch(trust_anchor_arn)
    if anchor is None or anchor.group(2) != "trust-anchor":
        raise AgentError("--trust-anchor-arn is not a Roles Anywhere trust anchor ARN")
    profile = _ARN_RE.fullmatch(profile_arn)
    if profile is None or profile.group(2) != "profile":
        raise AgentError("--profile-arn is not a Roles Anywhere profile ARN")
    if anchor.group(1) != profile.group(1):
        raise AgentError("trust anchor and profile regions don't match")
    if region is None or region == "":
        return anchor.group(1)
    if _REGION_RE.fullmatch(region) is None:
        raise AgentError(f"invalid --region {one_line(region)!r}")
    return region


def check_role_arn(role_arn: str) -> None:
    if _ROLE_ARN_RE.fullmatch(role_arn) is None:
        raise AgentError("--role-arn is not an IAM role ARN")


def default_endpoint(region: str) -> str:
    """AWS's regional Roles Anywhere endpoint (what ``aws_signing_helper`` uses)."""
    return f"https://rolesanywhere.{region}.amazonaws.com"


def parse_timestamp(value: object) -> datetime:
    """An ISO 8601 string (``Z`` or an offset, fractions allowed) or epoch seconds."""
    if isinstance(value, bool):
        raise ValueError("not a timestamp")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("not a timestamp")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


class SessionClient:
    """Signs and sends CreateSession for one identity and one set of parameters."""

    def __init__(
        self,
        identity: X509Identity,
        params: SessionParams,
        *,
        ca_bundle: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Clock | None = None,
        user_agent: str = "tessera-agent",
    ) -> None:
        if not MIN_DURATION <= params.duration_seconds <= MAX_DURATION:
            raise AgentError(
                f"--session-duration must be {MIN_DURATION}-{MAX_DURATION} seconds "
                f"(got {params.duration_seconds})"
            )
        check_role_arn(params.role_arn)
        self._transport = Transport(params.endpoint, ca_bundle=ca_bundle, timeout=timeout)
        self._identity = identity
        self._params = params
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._user_agent = user_agent
        self._path = self._transport.base_path + "/sessions"

    @property
    def params(self) -> SessionParams:
        return self._params

    def _request_parts(self) -> tuple[str, bytes]:
        p = self._params
        query = "&".join(
            f"{name}={quote(value, safe='-_.~')}"
            for name, value in sorted(
                {
                    "profileArn": p.profile_arn,
                    "roleArn": p.role_arn,
                    "trustAnchorArn": p.trust_anchor_arn,
                }.items()
            )
        )
        doc: dict[str, object] = {
            "durationSeconds": p.duration_seconds,
            "profileArn": p.profile_arn,
            "roleArn": p.role_arn,
            "trustAnchorArn": p.trust_anchor_arn,
        }
        if p.role_session_name:
            doc["roleSessionName"] = p.role_session_name
        return query, json.dumps(doc).encode()

    def create_session(self) -> RoleCredentials:
        """Call CreateSession; raises :class:`AgentError` (one line) on any failure."""
        query, body = self._request_parts()
        headers = sign_request(
            self._identity,
            method="POST",
            host=self._transport.host_header,
            path=self._path,
            query_string=query,
            body=body,
            region=self._params.region,
            now=self._clock.now(),
        )
        headers.append(("User-Agent", self._user_agent))
        headers.append(("Accept", "application/json"))
        _, data = self._transport.exchange(
            "CreateSession", "POST", f"{self._path}?{query}", body, headers
        )
        return self._parse_success(data)

    def _parse_success(self, data: bytes) -> RoleCredentials:
        return parse_credential_set(data, "CreateSession", self._params.role_arn, self._clock)


def parse_credential_set(
    data: bytes, what: str, default_role_arn: str | None, clock: Clock
) -> RoleCredentials:
    """The credentials in a CreateSession-shaped answer
    (``credentialSet[0].credentials``); never echoes the body (it holds the secret)."""
    try:
        doc = json.loads(data)
        entry = doc["credentialSet"][0]
        creds = entry["credentials"]
        access_key_id = creds["accessKeyId"]
        secret = creds["secretAccessKey"]
        token = creds["sessionToken"]
        expiration = parse_timestamp(creds["expiration"])
        role_arn = entry.get("roleArn") or default_role_arn
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise AgentError(f"{what} answered without usable credentials") from None
    if not all(isinstance(v, str) and v for v in (access_key_id, secret, token)) or not (
        isinstance(role_arn, str) and role_arn
    ):
        raise AgentError(f"{what} answered without usable credentials")
    if expiration <= clock.now():
        raise AgentError(f"{what} answered with credentials that already expired")
    return RoleCredentials(access_key_id, Secret(secret), Secret(token), expiration, role_arn)
