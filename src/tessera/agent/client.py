"""Calling Roles Anywhere's CreateSession (``POST /sessions``) with a signed request
and reading the role credentials out of the answer.

The request carries ``profileArn``, ``roleArn`` and ``trustAnchorArn`` in the query
string (as AWS's ``aws_signing_helper`` sends them) and, with ``durationSeconds``
and the optional ``roleSessionName``, in the JSON body, so a server that reads
either place finds them. The answer is ``201`` with ``credentialSet[0].credentials``.

Every call has a total deadline (10 s by default, covering name resolution,
connect, TLS, sending and reading): the exchange runs in a daemon thread and is
abandoned when the deadline passes. Failures raise :class:`AgentError` with one
line built from the status and the REST-JSON error (``__type`` / ``message``),
never from a request header, the private key or a credential. No proxy is used.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

from tessera.agent.errors import AgentError, one_line
from tessera.agent.signer import X509Identity, sign_request
from tessera.clock import Clock, SystemClock
from tessera.sensitive import Secret

__all__ = [
    "DEFAULT_TIMEOUT",
    "RoleCredentials",
    "SessionClient",
    "SessionParams",
    "default_endpoint",
    "parse_timestamp",
    "resolve_region",
]

DEFAULT_TIMEOUT = 10.0
#: the largest CreateSession answer we read
MAX_RESPONSE_BYTES = 256 * 1024
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
        url = urlsplit(params.endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise AgentError("--endpoint must be an http:// or https:// URL")
        if url.username is not None or url.password is not None or url.query or url.fragment:
            raise AgentError("--endpoint must not carry credentials, a query or a fragment")
        try:
            self._port = url.port
        except ValueError:
            raise AgentError("--endpoint has an invalid port") from None
        self._identity = identity
        self._params = params
        self._timeout = timeout
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._user_agent = user_agent
        self._https = url.scheme == "https"
        self._hostname = url.hostname
        self._host_header = url.netloc
        self._path = url.path.rstrip("/") + "/sessions"
        self._context: ssl.SSLContext | None = None
        if self._https:
            from tessera.tls.client import client_ssl_context
            from tessera.tls.errors import TlsConfigError

            try:
                self._context = client_ssl_context(ca_bundle)
            except TlsConfigError as exc:
                raise AgentError(str(exc)) from None

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
            host=self._host_header,
            path=self._path,
            query_string=query,
            body=body,
            region=self._params.region,
            now=self._clock.now(),
        )
        headers.append(("User-Agent", self._user_agent))
        headers.append(("Accept", "application/json"))
        conn: http.client.HTTPConnection
        if self._https:
            conn = http.client.HTTPSConnection(
                self._hostname, self._port, timeout=self._timeout, context=self._context
            )
        else:
            conn = http.client.HTTPConnection(self._hostname, self._port, timeout=self._timeout)
        outcome: list[tuple[int, str, bytes] | BaseException] = []

        def exchange() -> None:
            try:
                conn.request("POST", f"{self._path}?{query}", body, dict(headers))
                resp = conn.getresponse()
                data = resp.read(MAX_RESPONSE_BYTES + 1)
                error_type = resp.getheader("x-amzn-ErrorType", "") or ""
                outcome.append((resp.status, error_type, data))
            except BaseException as exc:  # reported by the caller
                outcome.append(exc)

        worker = threading.Thread(target=exchange, name="tessera-agent-create-session", daemon=True)
        worker.start()
        worker.join(self._timeout)
        if worker.is_alive() or not outcome:
            conn.close()
            raise AgentError(
                f"CreateSession at {self._params.endpoint}: no answer within {self._timeout:g} s"
            )
        conn.close()
        result = outcome[0]
        if isinstance(result, BaseException):
            raise AgentError(_network_reason(self._params.endpoint, result, self._timeout))
        status, error_type, data = result
        if len(data) > MAX_RESPONSE_BYTES:
            raise AgentError(f"CreateSession answer larger than {MAX_RESPONSE_BYTES} bytes")
        if status not in (200, 201):
            raise AgentError(_error_reason(status, error_type, data))
        return self._parse_success(data)

    def _parse_success(self, data: bytes) -> RoleCredentials:
        # never echo the body: it holds the secret
        try:
            doc = json.loads(data)
            entry = doc["credentialSet"][0]
            creds = entry["credentials"]
            access_key_id = creds["accessKeyId"]
            secret = creds["secretAccessKey"]
            token = creds["sessionToken"]
            expiration = parse_timestamp(creds["expiration"])
            role_arn = entry.get("roleArn") or self._params.role_arn
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise AgentError("CreateSession answered without usable credentials") from None
        if not all(isinstance(v, str) and v for v in (access_key_id, secret, token, role_arn)):
            raise AgentError("CreateSession answered without usable credentials")
        if expiration <= self._clock.now():
            raise AgentError("CreateSession answered with credentials that already expired")
        return RoleCredentials(access_key_id, Secret(secret), Secret(token), expiration, role_arn)


def _network_reason(endpoint: str, exc: BaseException, timeout: float) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason or "verification failed"
        return f"TLS certificate of {endpoint} not trusted: {detail} (see --ca-bundle)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error talking to {endpoint}: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return f"CreateSession at {endpoint}: no answer within {timeout:g} s"
    if isinstance(exc, OSError):
        return f"cannot reach {endpoint}: {exc.strerror or exc}"
    if isinstance(exc, http.client.HTTPException):
        return f"bad HTTP answer from {endpoint}: {type(exc).__name__}"
    return f"CreateSession at {endpoint} failed: {type(exc).__name__}"


def _error_reason(status: int, error_type: str, data: bytes) -> str:
    code = error_type
    message = ""
    try:
        doc = json.loads(data)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        raw_type = doc.get("__type") or doc.get("code") or doc.get("Code")
        if isinstance(raw_type, str) and raw_type:
            code = raw_type
        raw_message = doc.get("message") or doc.get("Message")
        if isinstance(raw_message, str):
            message = raw_message
    # "aws.protocoltests#ValidationException:http://…" -> "ValidationException"
    code = code.split(":", 1)[0].rsplit("#", 1)[-1]
    reason = f"CreateSession failed: HTTP {status}"
    if code:
        reason += f" {code}"
    if message:
        reason += f": {message}"
    return one_line(reason)
