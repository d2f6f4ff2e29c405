"""Pure AWS Signature Version 4 verification for the STS and IAM Query APIs.

This module owns: reading the SigV4 authentication data out of a request (the
``Authorization`` header or the presigned ``X-Amz-*`` query parameters), the
credential-scope and clock-skew checks, rebuilding the canonical request and
string to sign, deriving (and caching) signing keys and comparing signatures in
constant time. It does no I/O and never looks a credential up: the caller maps
``SignatureInfo.access_key_id`` (and ``security_token``) to a secret.

Recommended call order, which mirrors the order in which AWS reports errors::

    info = extract(request)            # None -> MissingAuthenticationToken / noAuth op
    check_time(info, clock.now())      # SignatureDoesNotMatch "Signature expired: ..."
    check_scope(info, service="sts")   # SignatureDoesNotMatch "Credential should be ..."
    secret = <look up info.access_key_id>   # InvalidClientTokenId (caller's job)
    verify(request, info, secret)      # SignatureDoesNotMatch

Error texts. Where a message below is marked *[observed]* it was copied from a
real AWS response quoted in a public issue report or a capture-based emulator
(dynalite's notes on real DynamoDB/Coral responses, aws/aws-cli and
aws-sdk-go issues, the IAM user guide's SigV4 troubleshooting page);
*[emulator]* means it comes from scratchstack-aws-signature (a Rust
reimplementation of AWS's server-side rules) without an independent capture;
*[inferred]* means we found no AWS text and chose one.

Decisions worth knowing:

* Canonical URI: dot segments and repeated slashes removed, then the *raw*
  (already percent-encoded) path is URI-encoded once more ("double encoding"
  for non-S3 services), exactly as botocore and the AWS docs describe.
* Canonical query: each name and value percent-decoded (``+`` read as a space)
  and re-encoded per RFC 3986; pairs sorted by encoded name, then value;
  ``X-Amz-Signature`` dropped. Malformed ``%`` escapes raise
  ``MalformedQueryString`` *[emulator]*.
* Payload hash: ``X-Amz-Content-Sha256`` when the request carries it (as
  botocore does), otherwise SHA-256 of the body. A declared hash must equal the
  body's real hash, so an unsigned header can never detach the body from the
  signature; ``UNSIGNED-PAYLOAD`` is accepted for presigned URLs only.
* Presigned URLs: STS ignores ``X-Amz-Expires`` and accepts a presigned URL for
  15 minutes after ``X-Amz-Date`` (docs/wire-facts.md §5.2, from aws-iam-authenticator
  citing aws-sdk-go#2167). We do the same: the value is parsed and range-checked
  in ``extract`` (non-number, negative, more than a week -> ``IncompleteSignature``
  with S3's wording *[inferred for STS]*) but never shortens or extends the
  window, which is the ordinary ±15 minute skew check.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import quote, unquote_to_bytes

from tessera.errors import (
    IncompleteSignature,
    MalformedQueryString,
    SignatureDoesNotMatch,
)
from tessera.sensitive import constant_time_equals

__all__ = [
    "ALGORITHM",
    "MSG_SIGNATURE_MISMATCH",
    "HttpRequest",
    "SignatureInfo",
    "canonical_request",
    "check_scope",
    "check_time",
    "clear_signing_key_cache",
    "extract",
    "string_to_sign",
    "verify",
]

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_EXPIRES = 604800  # one week, in seconds

# [observed] STS/IAM (Query protocol) return this text alone: unlike the JSON/Coral
# services (DynamoDB, CloudFront) they do NOT append the canonical request and the
# string to sign. Seen for sts (awsteele.com "AWS SigV4 caching" XML body, scope
# .../sts/aws4_request) and for iam GetUser (aws/aws-cli#5166).
MSG_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
# [observed] dynalite notes ("'Host' must be ...") and aws/aws-sdk-php#2469 (current
# wording with ':authority'); it is an InvalidSignatureException in JSON services,
# i.e. SignatureDoesNotMatch in the Query protocol.
MSG_HOST_NOT_SIGNED = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
# [observed] dynalite notes (InvalidSignatureException -> SignatureDoesNotMatch).
MSG_BOTH_AUTH_FORMS = (
    "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."
)
# [observed] chalice#828, amazonka#316, cognitocurl#28, aws-sdk-ruby#317: each missing
# piece adds one sentence, then "Authorization=" and the header value as sent.
_MSG_AUTH_REQUIRES = "Authorization header requires '{}' parameter. "
_MSG_AUTH_REQUIRES_DATE = (
    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
)
# [observed] dynalite test-suite/notes, same order of parameters.
_MSG_QUERY_REQUIRES = "AWS query-string parameters must include '{}'. "
_MSG_QUERY_REEXAMINE = "Re-examine the query-string parameters."
_QUERY_REQUIRED = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-SignedHeaders",
    "X-Amz-Date",
)
# [observed] jenkinsci/aws-credentials-plugin#72 (sts get-caller-identity) and
# iann0036/cloud9-sync#10: a token without '=' in the Authorization header.
_MSG_NOT_KEY_VALUE = (
    "'{}' not a valid key=value pair (missing equal-sign) in Authorization header: '{}'."
)
# [observed] dynalite notes: "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA25' (only
# AWS4-HMAC-SHA256 for now). " (trailing space included).
_MSG_UNSUPPORTED_ALGORITHM = "Unsupported AWS 'algorithm': '{}' (only AWS4-HMAC-SHA256 for now). "
# [observed] dynalite notes and scratchstack tests.
_MSG_BAD_DATE = (
    "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601"
)
# [observed] aws-iam-authenticator#374 (sts), aws-sdk-go#1042 (iam), boto3#1752: no final period.
_MSG_CREDENTIAL_PARTS = (
    "Credential must have exactly 5 slash-delimited elements, "
    "e.g. keyid/date/region/service/term, got '{}'"
)
# [observed] dynalite notes (all four, concatenated in this order when several apply),
# scratchstack; single region/service forms with their trailing space in
# cognitect-labs/aws-api#27 and terraform-provider-aws#34865 (docs/wire-facts.md §5.3).
_MSG_SCOPE_REGION = "Credential should be scoped to a valid region, not '{}'. "
_MSG_SCOPE_SERVICE = "Credential should be scoped to correct service: '{}'. "
_MSG_SCOPE_TERMINATOR = (
    "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'. "
)
_MSG_SCOPE_DATE = (
    "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
    "from HTTP: '{}' != '{}', from '{}'."
)
# [observed] aws/aws-cli#6676 and dynalite notes.
_MSG_EXPIRED = "Signature expired: {} is now earlier than {} ({} - {}.)"
_MSG_NOT_YET_CURRENT = "Signature not yet current: {} is still later than {} ({} + {}.)"
# [inferred] S3's AuthorizationQueryParametersError wording; STS's own is unpublished.
_MSG_EXPIRES_NUMBER = "X-Amz-Expires should be a number"
_MSG_EXPIRES_NEGATIVE = "X-Amz-Expires must be non-negative"
_MSG_EXPIRES_WEEK = (
    "X-Amz-Expires must be less than a week (in seconds); that is, "
    "the given X-Amz-Expires must be less than 604800 seconds"
)
# [emulator] scratchstack (Java URLDecoder-style failures -> MalformedQueryString).
_MSG_BAD_HEX = "Illegal hex character in escape % pattern: %{}"
_MSG_TRAILING_ESCAPE = "Incomplete trailing escape % sequence"

_AMZ_DATE_RE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
# [inferred] the RFC 7231 / RFC 2822 date botocore writes into a ``Date`` header
# (``email.utils.formatdate``: "Mon, 03 Jun 2024 12:00:00 -0000"), UTC only.
_HTTP_DATE_RE = re.compile(
    r"(?:[A-Za-z]{3}, )?([0-9]{1,2}) ([A-Za-z]{3}) ([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) (?:GMT|UTC|[+-]0000)"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
# Any partition's region: us-east-1, cn-northwest-1, us-gov-west-1, us-isob-east-1,
# eusc-de-east-1, ... Tessera serves every region on one endpoint.
_REGION_RE = re.compile(r"[a-z]{2,4}(?:-[a-z]+)+-[0-9]{1,2}")
# Already-canonical query elements: unreserved characters and upper-case escapes ...
_CANONICAL_RE = re.compile(r"(?:[A-Za-z0-9\-_.~]|%[0-9A-F]{2})*")  # linear: no nested +
# ... none of which escapes an unreserved character.
_UNRESERVED_ESCAPE_RE = re.compile(r"%(?:2D|2E|3[0-9]|4[1-9A-F]|5[0-9A]|5F|6[1-9A-F]|7[0-9A]|7E)")
_BAD_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """The parts of an HTTP request that SigV4 covers, exactly as received."""

    method: str  # "GET" / "POST"
    path: str  # raw path as received (percent-encoded), e.g. "/"
    query_string: str  # raw query string (no leading "?")
    headers: tuple[tuple[str, str], ...]  # raw (name, value) pairs in arrival order
    body: bytes
    #: the first value of each header by lower-cased name, when the caller has it
    #: already (else built from ``headers``)
    header_map: Mapping[str, str] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SignatureInfo:
    """What a request claims about its signature; nothing in it is verified yet."""

    access_key_id: str
    date: str  # scope date, nominally YYYYMMDD
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str  # nominally 64 lowercase hex
    request_time: datetime  # from X-Amz-Date (or Date header), tz-aware UTC
    amz_date: str  # the YYYYMMDDTHHMMSSZ string used in the string to sign
    security_token: str | None  # X-Amz-Security-Token (header or query)
    presigned: bool
    expires: int | None  # X-Amz-Expires if presigned
    terminator: str = TERMINATOR  # fifth credential element, checked by check_scope
    #: the Authorization header's algorithm (``AWS4-X509-*`` for Roles Anywhere's
    #: CreateSession, see ``extract(algorithms=…)``), first line of the string to sign
    algorithm: str = ALGORITHM


# --- extract --------------------------------------------------------------------------


def extract(
    request: HttpRequest, *, algorithms: tuple[str, ...] = (ALGORITHM,)
) -> SignatureInfo | None:
    """Read the SigV4 data a request carries, or ``None`` if it carries none at all.

    ``algorithms``: the ``Authorization`` header algorithms accepted (Roles
    Anywhere's CreateSession passes ``AWS4-X509-RSA-SHA256`` and
    ``AWS4-X509-ECDSA-SHA256``, whose canonical request and string to sign are
    SigV4's); the presigned query form is HMAC SigV4 only.

    Raises ``IncompleteSignature`` for malformed authentication data and
    ``SignatureDoesNotMatch`` when both the header and the query form are used. Query
    parameters are decoded leniently here (a stray ``%`` stays literal); ``verify``
    is the strict one.
    """
    headers = request.header_map
    if headers is None:
        headers = _header_map(request.headers)
    query = _parse_query(request.query_string)
    authorization = headers.get("authorization")
    if authorization is not None:
        if "X-Amz-Algorithm" in query:
            raise SignatureDoesNotMatch(MSG_BOTH_AUTH_FORMS)
        return _extract_header(headers, authorization, query, algorithms)
    if "X-Amz-Algorithm" in query or "X-Amz-Signature" in query or "X-Amz-Credential" in query:
        return _extract_query(headers, query)
    return None


def _extract_header(
    headers: Mapping[str, str],
    authorization: str,
    query: dict[str, str],
    algorithms: tuple[str, ...] = (ALGORITHM,),
) -> SignatureInfo:
    head = authorization.split(None, 1)
    algorithm = head[0] if head else ""
    rest = head[1] if len(head) > 1 else ""
    params: dict[str, str] = {}
    for item in rest.replace(",", " ").split():  # tokens are split on commas and spaces
        key, eq, value = item.partition("=")
        if not eq:
            raise IncompleteSignature(_MSG_NOT_KEY_VALUE.format(item, authorization))
        params[key] = value  # last one wins

    credential = params.get("Credential", "")
    signature = params.get("Signature", "")
    signed = params.get("SignedHeaders")  # present-but-empty is allowed here
    amz_date_raw = headers.get("x-amz-date")
    date_raw = headers.get("date") if amz_date_raw is None else None

    missing = ""
    if not credential:
        missing += _MSG_AUTH_REQUIRES.format("Credential")
    if not signature:
        missing += _MSG_AUTH_REQUIRES.format("Signature")
    if signed is None:
        missing += _MSG_AUTH_REQUIRES.format("SignedHeaders")
    if amz_date_raw is None and date_raw is None:
        missing += _MSG_AUTH_REQUIRES_DATE
    if missing:
        raise IncompleteSignature(f"{missing}Authorization={authorization}")
    assert signed is not None

    if amz_date_raw is not None:
        request_time, amz_date = _parse_amz_date(amz_date_raw)
    else:
        assert date_raw is not None
        request_time, amz_date = _parse_http_date(date_raw)

    if algorithm not in algorithms:
        raise IncompleteSignature(_MSG_UNSUPPORTED_ALGORITHM.format(algorithm))

    key_id, date, region, service, term = _split_credential(credential)
    token = headers.get("x-amz-security-token")
    if token is None:
        token = query.get("X-Amz-Security-Token")
    return SignatureInfo(
        access_key_id=key_id,
        date=date,
        region=region,
        service=service,
        signed_headers=tuple(signed.split(";")) if signed else (),
        signature=signature,
        request_time=request_time,
        amz_date=amz_date,
        security_token=token,
        presigned=False,
        expires=None,
        terminator=term,
        algorithm=algorithm,
    )


def _extract_query(headers: Mapping[str, str], query: dict[str, str]) -> SignatureInfo:
    values = {name: query.get(name) for name in _QUERY_REQUIRED}
    missing = "".join(_MSG_QUERY_REQUIRES.format(n) for n, v in values.items() if not v)
    if missing:
        raise IncompleteSignature(missing + _MSG_QUERY_REEXAMINE)
    algorithm = values["X-Amz-Algorithm"] or ""
    credential = values["X-Amz-Credential"] or ""
    signature = values["X-Amz-Signature"] or ""
    signed = values["X-Amz-SignedHeaders"] or ""
    request_time, amz_date = _parse_amz_date(values["X-Amz-Date"] or "")
    if algorithm != ALGORITHM:
        # [inferred] scratchstack answers MissingAuthenticationToken here; we keep the
        # header form's message so the client learns what is wrong.
        raise IncompleteSignature(_MSG_UNSUPPORTED_ALGORITHM.format(algorithm))
    key_id, date, region, service, term = _split_credential(credential)
    expires = _parse_expires(query.get("X-Amz-Expires"))
    token = query.get("X-Amz-Security-Token")
    if token is None:
        token = headers.get("x-amz-security-token")
    return SignatureInfo(
        access_key_id=key_id,
        date=date,
        region=region,
        service=service,
        signed_headers=tuple(signed.split(";")),
        signature=signature,
        request_time=request_time,
        amz_date=amz_date,
        security_token=token,
        presigned=True,
        expires=expires,
        terminator=term,
    )


def _split_credential(credential: str) -> tuple[str, str, str, str, str]:
    parts = credential.split("/")
    # AWS splits like Java's String.split, which drops trailing empty strings, so a
    # trailing slash is tolerated (dynalite notes: "trailing slashes are ignored").
    while parts and not parts[-1]:
        parts.pop()
    if len(parts) != 5:
        raise IncompleteSignature(_MSG_CREDENTIAL_PARTS.format(credential))
    return parts[0], parts[1], parts[2], parts[3], parts[4]


def _parse_expires(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not re.fullmatch(r"[+-]?[0-9]{1,12}", raw):
        raise IncompleteSignature(_MSG_EXPIRES_NUMBER)
    value = int(raw)
    if value < 0:
        raise IncompleteSignature(_MSG_EXPIRES_NEGATIVE)
    if value > MAX_EXPIRES:
        raise IncompleteSignature(_MSG_EXPIRES_WEEK)
    return value


@lru_cache(maxsize=256)  # requests signed in the same second share the value
def _parse_amz_date(raw: str) -> tuple[datetime, str]:
    if _AMZ_DATE_RE.fullmatch(raw) is None:
        raise IncompleteSignature(_MSG_BAD_DATE.format(raw))
    try:
        when = datetime(
            int(raw[0:4]),
            int(raw[4:6]),
            int(raw[6:8]),
            int(raw[9:11]),
            int(raw[11:13]),
            int(raw[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        raise IncompleteSignature(_MSG_BAD_DATE.format(raw)) from None
    return when, raw


def _parse_http_date(raw: str) -> tuple[datetime, str]:
    value = raw.strip()
    if _AMZ_DATE_RE.fullmatch(value):
        return _parse_amz_date(value)
    m = _HTTP_DATE_RE.fullmatch(value)
    month = _MONTHS.get(m.group(2).lower()) if m else None
    if m is None or month is None:
        raise IncompleteSignature(_MSG_BAD_DATE.format(raw))
    day, year, hh, mm, ss = (int(m.group(i)) for i in (1, 3, 4, 5, 6))
    try:
        when = datetime(year, month, day, hh, mm, ss, tzinfo=UTC)
    except ValueError:
        raise IncompleteSignature(_MSG_BAD_DATE.format(raw)) from None
    return when, _compact(when)


# --- scope and time -------------------------------------------------------------------


def check_scope(info: SignatureInfo, *, service: str) -> None:
    """Check the credential scope (and that ``host`` is signed) for ``service``.

    Any region that is well formed is accepted. All scope problems are reported
    together, in AWS's order: region, service, terminator, date.
    """
    if "host" not in _lower_names(info.signed_headers):
        raise SignatureDoesNotMatch(MSG_HOST_NOT_SIGNED)
    message = ""
    if not _REGION_RE.fullmatch(info.region):
        message += _MSG_SCOPE_REGION.format(info.region)
    if info.service != service:
        message += _MSG_SCOPE_SERVICE.format(service)
    if info.terminator != TERMINATOR:
        message += _MSG_SCOPE_TERMINATOR.format(info.terminator)
    request_day = info.amz_date[:8]
    if info.date != request_day:
        message += _MSG_SCOPE_DATE.format(info.date, request_day, info.amz_date)
    if message:
        raise SignatureDoesNotMatch(message)


def check_time(info: SignatureInfo, now: datetime, *, skew_seconds: int = 900) -> None:
    """Reject a request whose time is more than ``skew_seconds`` from ``now``.

    Boundaries are inclusive (exactly 15 minutes old is accepted). ``now`` must be
    timezone-aware; sub-second parts of it are ignored, as the wire format has none.
    Presigned requests get the same window: X-Amz-Expires is ignored, like STS.
    """
    if now.tzinfo is None:
        raise ValueError("check_time needs a timezone-aware 'now'")
    now = now.astimezone(UTC).replace(microsecond=0)
    skew = timedelta(seconds=skew_seconds)
    request_time = info.request_time.astimezone(UTC)
    age = now - request_time  # a difference never overflows, unlike now ± skew
    if age > skew:
        raise SignatureDoesNotMatch(
            _MSG_EXPIRED.format(
                _compact(request_time),
                _compact_shifted(now, -skew),
                _compact(now),
                _duration(skew_seconds),
            )
        )
    if -age > skew:
        raise SignatureDoesNotMatch(
            _MSG_NOT_YET_CURRENT.format(
                _compact(request_time),
                _compact_shifted(now, skew),
                _compact(now),
                _duration(skew_seconds),
            )
        )


# --- verify ---------------------------------------------------------------------------


def verify(request: HttpRequest, info: SignatureInfo, secret_access_key: str) -> None:
    """Recompute the signature of ``request`` with ``secret_access_key``.

    Raises ``SignatureDoesNotMatch`` (AWS's full message) on any difference, and
    ``MalformedQueryString`` when the query string cannot be canonicalised.
    """
    if info.algorithm != ALGORITHM:  # an AWS4-X509-* request has no secret to check
        raise IncompleteSignature(_MSG_UNSUPPORTED_ALGORITHM.format(info.algorithm))
    if "host" not in _lower_names(info.signed_headers):
        raise SignatureDoesNotMatch(MSG_HOST_NOT_SIGNED)
    sts = string_to_sign(info, canonical_request(request, info))
    key = _signing_key(secret_access_key, info.date, info.region, info.service)
    expected = hmac.digest(key, sts.encode("utf-8", "surrogatepass"), "sha256").hex()
    if not constant_time_equals(expected, info.signature):
        raise SignatureDoesNotMatch(MSG_SIGNATURE_MISMATCH)


def canonical_request(request: HttpRequest, info: SignatureInfo) -> str:
    """The SigV4 canonical request for ``request`` as ``info`` says it was signed.

    Raises ``SignatureDoesNotMatch`` when a declared ``X-Amz-Content-Sha256`` cannot
    be honoured, ``MalformedQueryString`` for broken query escapes.
    """
    wanted = info.signed_headers
    lowered = _lower_names(wanted)
    values: dict[str, list[str]] = {}
    declared: str | None = None
    for name, value in request.headers:
        lname = name.lower()
        if lname in lowered:
            values.setdefault(lname, []).append(" ".join(value.split()))
        if declared is None and lname == "x-amz-content-sha256":
            declared = value
    lines = [request.method, _canonical_uri(request.path), _canonical_query(request.query_string)]
    for name in wanted:
        lname = name.lower()
        found = values.get(lname)
        if found is not None:
            lines.append(f"{lname}:{','.join(found)}")
    lines.append("")
    lines.append(";".join(wanted))
    lines.append(_payload_hash(request.body, declared, presigned=info.presigned))
    return "\n".join(lines)


def string_to_sign(info: SignatureInfo, canonical: str) -> str:
    """The SigV4 string to sign for a canonical request (its first line is
    ``info.algorithm``: ``AWS4-HMAC-SHA256``, or ``AWS4-X509-*`` for Roles Anywhere)."""
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    scope = f"{info.date}/{info.region}/{info.service}/{info.terminator}"
    return f"{info.algorithm}\n{info.amz_date}\n{scope}\n{digest}"


def clear_signing_key_cache() -> None:
    """Forget every cached derived signing key (e.g. after a key is deleted)."""
    _signing_key.cache_clear()


@lru_cache(maxsize=4096)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = hmac.digest(("AWS4" + secret).encode("utf-8", "surrogatepass"), _b(date), "sha256")
    k = hmac.digest(k, _b(region), "sha256")
    k = hmac.digest(k, _b(service), "sha256")
    return hmac.digest(k, TERMINATOR.encode(), "sha256")


def _payload_hash(body: bytes, declared: str | None, *, presigned: bool) -> str:
    body_hash = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
    if declared is None:
        return body_hash
    if declared == UNSIGNED_PAYLOAD:
        if presigned:
            return declared
        raise SignatureDoesNotMatch(MSG_SIGNATURE_MISMATCH)
    if declared != body_hash:  # [inferred] S3 says XAmzContentSHA256Mismatch
        raise SignatureDoesNotMatch(MSG_SIGNATURE_MISMATCH)
    return declared


def _canonical_uri(path: str) -> str:
    if path in ("", "/"):
        return "/"
    return quote(_b(_remove_dot_segments(path)), safe="/~")


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 §5.2.4 plus collapsing repeated slashes, as botocore does.
    out: list[str] = []
    for segment in path.split("/"):
        if not segment or segment == ".":
            continue
        if segment == "..":
            if out:
                out.pop()
        else:
            out.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and out else ""
    return first + "/".join(out) + last


def _canonical_query(query_string: str) -> str:
    if not query_string:
        return ""
    pairs: list[tuple[str, str]] = []
    for part in query_string.split("&"):
        if not part:
            continue
        raw_name, _, raw_value = part.partition("=")
        name = _encode_element(raw_name)
        if name == "X-Amz-Signature":
            continue
        pairs.append((name, _encode_element(raw_value)))
    pairs.sort()
    return "&".join(f"{n}={v}" for n, v in pairs)


def _encode_element(raw: str) -> str:
    # Fast path: already canonical (what every SDK sends) -> unchanged.
    if _CANONICAL_RE.fullmatch(raw) and not _UNRESERVED_ESCAPE_RE.search(raw):
        return raw
    bad = _BAD_ESCAPE_RE.search(raw)
    if bad is not None:
        rest = raw[bad.start() + 1 : bad.start() + 3]
        if len(rest) < 2:
            raise MalformedQueryString(_MSG_TRAILING_ESCAPE)
        raise MalformedQueryString(_MSG_BAD_HEX.format(rest))
    return quote(unquote_to_bytes(_b(raw.replace("+", "%20"))), safe="-_.~")


def _parse_query(query_string: str) -> dict[str, str]:
    """Lenient decode of a raw query string: the first value of each name."""
    first: dict[str, str] = {}
    if not query_string:
        return first
    for part in query_string.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        first.setdefault(_decode(name), _decode(value))
    return first


def _decode(raw: str) -> str:
    if "%" not in raw and "+" not in raw:
        return raw
    return unquote_to_bytes(_b(raw.replace("+", "%20"))).decode("utf-8", "replace")


def _header_map(headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The first value of each header, by lower-cased name."""
    first: dict[str, str] = {}
    for name, value in headers:
        first.setdefault(name.lower(), value)
    return first


@lru_cache(maxsize=256)  # SDKs sign the same few header sets
def _lower_names(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(n.lower() for n in names)


def _compact(when: datetime) -> str:
    return (
        f"{when.year:04d}{when.month:02d}{when.day:02d}"
        f"T{when.hour:02d}{when.minute:02d}{when.second:02d}Z"
    )


def _compact_shifted(when: datetime, delta: timedelta) -> str:
    try:
        return _compact(when + delta)
    except OverflowError:  # only at the ends of the calendar
        return _compact(datetime.max if delta > timedelta(0) else datetime.min)


def _duration(seconds: int) -> str:
    # [observed] "15 min" for AWS's 900 s window; other spellings are ours.
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} sec"


def _b(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")
