"""Inbound OIDC: the client STS uses to verify third-party ID tokens for
AssumeRoleWithWebIdentity — parsing a token without trusting it, fetching an
issuer's discovery document and JWKS (cached), and checking a signature.

**Fetching.** ``<issuer>/.well-known/openid-configuration`` (whose ``issuer``
must equal the token's ``iss`` exactly) names ``jwks_uri``; both are fetched
through one ``httpx.Client`` (tests inject one with a mock transport) with bounded
timeouts (5 s per network operation, ``fetch_deadline`` — 10 s — for the whole
refresh), a size cap counted on decoded bytes, and HTTPS verified by
``tessera.tls.client.client_ssl_context`` (certificate + host name, system trust store
plus an optional CA bundle). Redirects are followed by hand, at most
``max_redirects`` hops.

**Where it may connect** (``check_url``, each hop and the ``jwks_uri`` alike).
The host is resolved first — once — and the decision is made on every address it
resolved to (``tessera.federation.fetch``): unspecified, link-local, metadata,
multicast and reserved addresses are never fetched; loopback only for a
*loopback issuer* (``localhost``/``*.localhost`` or a loopback address literal,
``[::ffff:127.0.0.1]`` included — ``is_loopback_host``) or with
``insecure_http``. The connection then goes to exactly the checked addresses (the
transport pins them; no second DNS lookup), while the ``Host`` header, SNI and
certificate check use the name. Plain ``http`` is allowed only when every address
is loopback, or with ``insecure_http`` (the server option ``insecure_oidc_http``,
which warns). Once a chain is on https (an https issuer, an https hop, a discovery
document served over https), nothing in it is fetched over http — not even with
``insecure_http``. A refused address raises ``IdpTargetRefused``, a kind of
``IdpUnreachable``: callers see the same ``IDPCommunicationError`` for a refused
target, a closed port and a host that does not answer, so answers do not map which
local ports are open.

**Isolation** (a slow IdP cannot starve other callers). Fetches never run in the
request thread: each issuer has at most one refresh in flight (discovery then
JWKS, so every (issuer, URL) is single-flight), run by a small thread pool owned
by this object (``fetch_workers``, 8; more concurrent refreshes are refused at
once). A caller that needs a refresh waits on that one future, at most
``fetch_deadline`` (+1 s); at most ``max_waiters`` (16) request threads wait on
IdP work at any time in a process, beyond that callers get ``IdpBusy`` (an
``IdpUnreachable``) at once instead of queueing. Request threads that wait are
therefore bounded well below the application's worker-thread limit (anyio's 40),
so signed IAM/STS calls keep their threads however many slow tokens arrive; a
cache hit never waits.

**Keys and algorithms.** RS256/384/512 (RSA keys of at least 2048 bits) and
ES256/384/512 (P-256/P-384/P-521, the curve bound to the algorithm) only; a JWK's
``alg``, when present, must equal the token's; ``use`` other than ``sig`` is
ignored. ``none`` and every ``HS*`` algorithm are refused before any key is
looked up, so a public key can never be used as an HMAC secret. Signatures are
checked with PyJWT's JWS layer, naming the one algorithm explicitly.

Errors are this module's own (``IdpUnreachable`` — network, timeouts, 5xx,
refused targets, too many waiters;
``IdpDocumentError`` — bad status, size, JSON, issuer mismatch, unusable keys;
``IdpCertificateError``; ``UnknownSigningKey``); the STS operation maps them to
AWS's codes. Tokens are never logged.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tessera.federation.fetch import (
    ResolutionError,
    Resolver,
    Target,
    TargetRefused,
    check_addresses,
    pinned,
    pinned_transport,
    resolve,
    system_resolver,
)
from tessera.iam.oidc_model import is_loopback_host
from tessera.netaddr import is_loopback_address
from tessera.sensitive import Secret
from tessera.tls.client import client_ssl_context

log = logging.getLogger("tessera.federation.oidc")

ALGORITHMS: Final[tuple[str, ...]] = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
_EC_CURVES: Final[Mapping[str, tuple[type[ec.EllipticCurve], int]]] = MappingProxyType(
    {"ES256": (ec.SECP256R1, 32), "ES384": (ec.SECP384R1, 48), "ES512": (ec.SECP521R1, 66)}
)
_CRV_NAMES: Final = MappingProxyType({"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"})
MIN_RSA_BITS: Final = 2048
DEFAULT_TIMEOUT: Final = 5.0
DEFAULT_CACHE_TTL: Final = 600.0
DEFAULT_REFRESH_COOLDOWN: Final = 30.0
DEFAULT_FAILURE_TTL: Final = 5.0
MAX_DISCOVERY_BYTES: Final = 64 * 1024
MAX_JWKS_BYTES: Final = 256 * 1024
MAX_KEYS: Final = 100
MAX_REDIRECTS: Final = 3
DEFAULT_FETCH_DEADLINE: Final = 10.0
FETCH_WORKERS: Final = 8
MAX_WAITERS: Final = 16
MAX_CACHED_ISSUERS: Final = 1024
DISCOVERY_SUFFIX: Final = "/.well-known/openid-configuration"

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


# --- errors ---------------------------------------------------------------------------


class InboundError(Exception):
    """Base class; ``str()`` is a diagnostic for the server log, never for callers."""


class MalformedToken(InboundError):
    """Not a compact JWS with JSON header and payload objects."""


class IdpUnreachable(InboundError):
    """Network failure, timeout or a 5xx/429 answer: worth retrying later."""


class IdpTargetRefused(IdpUnreachable):
    """The URL resolves to an address Tessera may not fetch from for this issuer.
    Answered like an unreachable IdP on purpose."""


class IdpBusy(IdpUnreachable):
    """Too many callers already wait on IdP fetches (or too many are in flight)."""


class IdpDocumentError(InboundError):
    """The IdP answered, but not with usable discovery/JWKS documents."""


class IdpCertificateError(IdpDocumentError):
    """The IdP's TLS certificate did not verify."""


class UnknownSigningKey(InboundError):
    """No key in the issuer's JWKS can verify this token (even after a refresh)."""


# --- the unverified token ------------------------------------------------------------


def _b64url(segment: str) -> bytes:
    if not segment or any(c in segment for c in "=+/ \t\r\n"):
        raise MalformedToken("segment is not base64url without padding")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MalformedToken("segment is not valid base64url") from exc


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedToken(f"{what} is not JSON") from exc
    if not isinstance(obj, dict):
        raise MalformedToken(f"{what} is not a JSON object")
    return obj


@dataclass(frozen=True, slots=True)
class UnverifiedToken:
    """A compact JWS that has NOT been verified: ``claims`` may be forged until
    ``verify_signature`` succeeds. Its repr never shows the token."""

    raw: Secret[str] = field(repr=False)
    alg: str | None
    kid: str | None
    header: Mapping[str, Any] = field(repr=False)
    claims: Mapping[str, Any] = field(repr=False)

    @classmethod
    def parse(cls, token: str) -> UnverifiedToken:
        parts = token.strip().split(".")
        if len(parts) != 3 or not parts[2]:
            raise MalformedToken("not three dot-separated parts with a signature")
        header = _json_object(_b64url(parts[0]), "header")
        claims = _json_object(_b64url(parts[1]), "payload")
        _b64url(parts[2])
        alg, kid = header.get("alg"), header.get("kid")
        if alg is not None and not isinstance(alg, str):
            raise MalformedToken("header alg is not a string")
        if kid is not None and not isinstance(kid, str):
            raise MalformedToken("header kid is not a string")
        if header.get("crit") is not None:
            raise MalformedToken("critical header extensions are not supported")
        return cls(
            raw=Secret(token.strip()),
            alg=alg,
            kid=kid,
            header=MappingProxyType(header),
            claims=MappingProxyType(claims),
        )


# --- keys -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str | None
    family: str  # "RSA" | "EC"
    algorithms: frozenset[str]  # the token algorithms this key may verify
    key: PublicKey = field(repr=False)

    def verifies(self, alg: str) -> bool:
        return alg in self.algorithms


def _int(value: object, length: int | None = None) -> int:
    if not isinstance(value, str):
        raise ValueError("not a string")
    data = _b64url(value)
    if length is not None and len(data) != length:
        raise ValueError("wrong length")
    return int.from_bytes(data, "big")


def parse_jwk(jwk: Mapping[str, Any]) -> VerificationKey | None:
    """A signature key from one JWK, or ``None`` if it is not one we accept."""
    kid = jwk.get("kid")
    if kid is not None and not isinstance(kid, str):
        return None
    if jwk.get("use", "sig") != "sig":
        return None
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        return None
    declared = jwk.get("alg")
    if declared is not None and declared not in ALGORITHMS:
        return None
    try:
        if jwk.get("kty") == "RSA":
            rsa_key = rsa.RSAPublicNumbers(_int(jwk.get("e")), _int(jwk.get("n"))).public_key()
            if rsa_key.key_size < MIN_RSA_BITS:
                return None
            algs = {"RS256", "RS384", "RS512"}
            entry = VerificationKey(kid, "RSA", frozenset(algs), rsa_key)
        elif jwk.get("kty") == "EC":
            alg = _CRV_NAMES.get(str(jwk.get("crv")))
            if alg is None:
                return None
            curve, size = _EC_CURVES[alg]
            x, y = _int(jwk.get("x"), size), _int(jwk.get("y"), size)
            ec_key = ec.EllipticCurvePublicNumbers(x, y, curve()).public_key()
            entry = VerificationKey(kid, "EC", frozenset({alg}), ec_key)
        else:
            return None
    except (ValueError, MalformedToken, TypeError):
        return None
    if declared is not None:
        if declared not in entry.algorithms:
            return None
        entry = VerificationKey(kid, entry.family, frozenset({declared}), entry.key)
    return entry


def parse_jwks(doc: Mapping[str, Any]) -> tuple[VerificationKey, ...]:
    keys = doc.get("keys")
    if not isinstance(keys, list):
        raise IdpDocumentError("JWKS has no 'keys' array")
    out: list[VerificationKey] = []
    for jwk in keys[:MAX_KEYS]:
        if isinstance(jwk, dict):
            entry = parse_jwk(jwk)
            if entry is not None:
                out.append(entry)
    if not out:
        raise IdpDocumentError("JWKS holds no usable RSA/EC signature key")
    return tuple(out)


def verify_signature(token: UnverifiedToken, key: VerificationKey) -> bool:
    """True when ``key`` verifies ``token`` under the token's own (allowed) algorithm."""
    alg = token.alg
    if alg is None or alg not in ALGORITHMS or not key.verifies(alg):
        return False
    try:
        jwt.PyJWS().decode_complete(token.raw.reveal(), key=key.key, algorithms=[alg])
    except jwt.InvalidTokenError:
        return False
    return True


# --- fetching -------------------------------------------------------------------------


def _is_cert_failure(exc: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(cur):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _again(exc: InboundError) -> InboundError:
    """A fresh instance of a shared failure (one per waiting thread, so tracebacks
    of different callers never pile onto one object)."""
    try:
        return type(exc)(*exc.args)
    except TypeError:  # pragma: no cover - every InboundError takes its message
        return IdpUnreachable(str(exc))


@dataclass(slots=True)
class _IssuerState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    keys: tuple[VerificationKey, ...] | None = None
    fetched_at: float = 0.0
    last_attempt: float | None = None
    failure: InboundError | None = None
    failed_at: float = 0.0
    job: Future[tuple[VerificationKey, ...]] | None = None  # the refresh in flight


class InboundOidc:
    """Discovery + JWKS client with a per-issuer key cache. Thread-safe."""

    def __init__(
        self,
        *,
        http_client: httpx.Client | None = None,
        ca_bundle: Path | None = None,
        insecure_http: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        cache_ttl: float = DEFAULT_CACHE_TTL,
        refresh_cooldown: float = DEFAULT_REFRESH_COOLDOWN,
        failure_ttl: float = DEFAULT_FAILURE_TTL,
        max_discovery_bytes: int = MAX_DISCOVERY_BYTES,
        max_jwks_bytes: int = MAX_JWKS_BYTES,
        max_redirects: int = MAX_REDIRECTS,
        monotonic: Callable[[], float] = time.monotonic,
        resolver: Resolver = system_resolver,
        fetch_deadline: float = DEFAULT_FETCH_DEADLINE,
        fetch_workers: int = FETCH_WORKERS,
        max_waiters: int = MAX_WAITERS,
    ) -> None:
        self.insecure_http = insecure_http
        self.timeout = timeout
        self.cache_ttl = cache_ttl
        self.refresh_cooldown = refresh_cooldown
        self.failure_ttl = failure_ttl
        self.max_discovery_bytes = max_discovery_bytes
        self.max_jwks_bytes = max_jwks_bytes
        self.max_redirects = max_redirects
        self.fetch_deadline = fetch_deadline
        self.fetch_workers = fetch_workers
        self.max_waiters = max_waiters
        self._monotonic = monotonic
        self._resolver = resolver
        self._owns_client = http_client is None
        self._client = (
            http_client
            if http_client is not None
            else httpx.Client(
                transport=pinned_transport(
                    client_ssl_context(ca_bundle), max_connections=2 * fetch_workers
                ),
                timeout=httpx.Timeout(timeout),
                follow_redirects=False,
                trust_env=False,
                headers={"User-Agent": "tessera-sts (inbound OIDC)"},
            )
        )
        self._lock = threading.Lock()
        self._issuers: dict[str, _IssuerState] = {}
        self._waiters = threading.BoundedSemaphore(max_waiters)
        self._jobs = 0  # refreshes submitted and not finished (under _lock)
        self._executor: ThreadPoolExecutor | None = None
        self.fetches: dict[str, int] = {}  # url -> count (tests, diagnostics)
        if insecure_http:
            log.warning(
                "INSECURE: inbound OIDC may fetch IdP documents over plain http from any "
                "host (insecure_oidc_http); use only for testing"
            )

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        if self._owns_client:
            self._client.close()

    # --- URL policy ---------------------------------------------------------------

    def check_url(self, url: str, *, issuer_host: str, https_only: bool = False) -> Target:
        """The checked destination of ``url`` fetched for an issuer on ``issuer_host``.

        Raises ``IdpDocumentError`` for a URL Tessera never fetches (not absolute
        http(s), credentials, plain http after https, plain http to anything but
        loopback), ``IdpTargetRefused`` when an address it resolves to is off
        limits, ``IdpUnreachable`` when it does not resolve."""
        try:
            parsed = httpx.URL(url)
            host = parsed.raw_host.decode("ascii")
        except (httpx.InvalidURL, UnicodeError, TypeError) as exc:
            raise IdpDocumentError(f"{url[:200]!r} is not a valid URL") from exc
        parts = urlsplit(url)
        if parsed.scheme not in ("https", "http") or not host:
            raise IdpDocumentError(f"{url!r} is not an absolute http(s) URL")
        if parts.username is not None or parts.password is not None or parsed.userinfo:
            raise IdpDocumentError(f"{url!r} carries credentials")
        if https_only and parsed.scheme != "https":
            raise IdpDocumentError(f"{url!r}: plain http after https is never followed")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            addresses = resolve(host, port, self._resolver)
        except ResolutionError as exc:
            raise IdpUnreachable(f"GET {url} failed: {exc}") from exc
        allow_loopback = self.insecure_http or is_loopback_host(issuer_host)
        try:
            check_addresses(addresses, allow_loopback=allow_loopback)
        except TargetRefused as exc:
            raise IdpTargetRefused(
                f"GET {url} refused for an issuer on {issuer_host}: {exc}"
            ) from exc
        loopback = all(is_loopback_address(a) for a in addresses)
        if parsed.scheme == "http" and not loopback and not self.insecure_http:
            raise IdpDocumentError(f"{url!r} uses plain http to a non-loopback host")
        return Target(host=host, port=port, addresses=addresses)

    def _get_json(
        self,
        url: str,
        *,
        issuer_host: str,
        max_bytes: int,
        https_only: bool = False,
        deadline: float | None = None,
    ) -> tuple[dict[str, Any], str]:
        """The JSON object at ``url`` (redirects followed by hand, each hop checked and
        pinned) and the URL it finally came from."""
        if deadline is None:
            deadline = time.monotonic() + self.fetch_deadline
        for _hop in range(self.max_redirects + 1):
            target = self.check_url(url, issuer_host=issuer_host, https_only=https_only)
            https_only = https_only or url.lower().startswith("https:")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise IdpUnreachable(f"GET {url}: out of time")
            self.fetches[url] = self.fetches.get(url, 0) + 1
            try:
                with (
                    pinned(target),
                    self._client.stream(
                        "GET",
                        url,
                        headers={"Accept": "application/json", "Connection": "close"},
                        timeout=min(self.timeout, remaining),
                        follow_redirects=False,
                    ) as resp,
                ):
                    if resp.is_redirect:
                        location = resp.headers.get("location")
                        if not location:
                            raise IdpDocumentError(f"GET {url}: redirect without Location")
                        url = urljoin(url, location)
                        continue
                    if resp.status_code >= 500 or resp.status_code == 429:
                        raise IdpUnreachable(f"GET {url} returned HTTP {resp.status_code}")
                    if resp.status_code != 200:
                        raise IdpDocumentError(f"GET {url} returned HTTP {resp.status_code}")
                    declared = resp.headers.get("content-length")
                    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                        raise IdpDocumentError(f"GET {url}: larger than {max_bytes} bytes")
                    body = bytearray()
                    for chunk in resp.iter_bytes():
                        body += chunk
                        if len(body) > max_bytes:
                            raise IdpDocumentError(f"GET {url}: larger than {max_bytes} bytes")
                        if time.monotonic() > deadline:
                            raise IdpUnreachable(f"GET {url}: out of time")
            except httpx.HTTPError as exc:
                if _is_cert_failure(exc):
                    raise IdpCertificateError(f"GET {url}: certificate: {exc}") from exc
                raise IdpUnreachable(f"GET {url} failed: {type(exc).__name__}: {exc}") from exc
            try:
                obj = json.loads(bytes(body))
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                raise IdpDocumentError(f"GET {url}: not JSON") from exc
            if not isinstance(obj, dict):
                raise IdpDocumentError(f"GET {url}: not a JSON object")
            return obj, url
        raise IdpDocumentError(f"more than {self.max_redirects} redirects fetching {url}")

    def _fetch_keys(self, issuer: str) -> tuple[VerificationKey, ...]:
        issuer_host = (urlsplit(issuer).hostname or "").lower()
        deadline = time.monotonic() + self.fetch_deadline
        discovery_url = issuer.rstrip("/") + DISCOVERY_SUFFIX
        doc, came_from = self._get_json(
            discovery_url,
            issuer_host=issuer_host,
            max_bytes=self.max_discovery_bytes,
            deadline=deadline,
        )
        if doc.get("issuer") != issuer:
            raise IdpDocumentError(
                f"discovery names issuer {str(doc.get('issuer'))[:200]!r}, not {issuer!r}"
            )
        jwks_uri = doc.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise IdpDocumentError("discovery document has no jwks_uri")
        jwks, _ = self._get_json(
            jwks_uri,
            issuer_host=issuer_host,
            max_bytes=self.max_jwks_bytes,
            https_only=came_from.lower().startswith("https:"),
            deadline=deadline,
        )
        return parse_jwks(jwks)

    # --- the fetch pool -------------------------------------------------------------

    def _start_refresh(
        self, issuer: str, state: _IssuerState
    ) -> Future[tuple[VerificationKey, ...]]:
        """Submit the one refresh of ``issuer`` (caller holds ``state.lock``)."""
        with self._lock:
            if self._jobs >= self.fetch_workers:
                raise IdpBusy(f"{self._jobs} IdP fetches in flight; not fetching {issuer}")
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.fetch_workers, thread_name_prefix="tessera-idp-fetch"
                )
            self._jobs += 1
            try:
                job = self._executor.submit(self._refresh, issuer, state)
            except RuntimeError as exc:  # shut down
                self._jobs -= 1
                raise IdpUnreachable("the IdP client is closed") from exc
        state.job = job
        return job

    def _refresh(self, issuer: str, state: _IssuerState) -> tuple[VerificationKey, ...]:
        """One refresh, in a fetch-pool thread: fetch, then publish the outcome."""
        failure: InboundError | None = None
        keys: tuple[VerificationKey, ...] = ()
        try:
            keys = self._fetch_keys(issuer)
        except InboundError as exc:
            failure = exc
        except Exception as exc:  # never let a bug leave waiters hanging
            log.exception("fetching keys of %s failed unexpectedly", issuer)
            failure = IdpUnreachable(f"unexpected {type(exc).__name__}")
        with state.lock:
            state.job = None
            if failure is None:
                state.keys, state.fetched_at, state.failure = keys, self._monotonic(), None
            else:
                state.failure, state.failed_at = failure, self._monotonic()
        with self._lock:
            self._jobs -= 1
        if failure is not None:
            log.warning("fetching keys of %s failed: %s", issuer, failure)
            raise failure
        return keys

    # --- the cache ------------------------------------------------------------------

    def _state(self, issuer: str) -> _IssuerState:
        with self._lock:
            state = self._issuers.get(issuer)
            if state is None:
                if len(self._issuers) >= MAX_CACHED_ISSUERS:
                    self._issuers.pop(next(iter(self._issuers)))
                state = _IssuerState()
                self._issuers[issuer] = state
            return state

    def keys_for(self, issuer: str, token: UnverifiedToken) -> list[VerificationKey]:
        """The cached (or freshly fetched) keys of ``issuer`` that could verify
        ``token``: the key named by its ``kid``, or every key of the right type when
        the token has no ``kid``. Raises ``IdpUnreachable`` (``IdpBusy`` when too
        many callers already wait on IdPs) / ``IdpDocumentError`` /
        ``UnknownSigningKey``."""
        alg = token.alg or ""
        state = self._state(issuer)

        def matching(keys: tuple[VerificationKey, ...]) -> list[VerificationKey]:
            return [
                k for k in keys if k.verifies(alg) and (token.kid is None or k.kid == token.kid)
            ]

        with state.lock:
            now = self._monotonic()
            fresh = state.keys is not None and now - state.fetched_at < self.cache_ttl
            found = matching(state.keys) if state.keys is not None else []
            if fresh and found:
                return found
            job = state.job
            if job is None:
                if state.failure is not None and now - state.failed_at < self.failure_ttl:
                    if found:
                        return found
                    raise _again(state.failure)
                cooling = state.last_attempt is not None and (
                    now - state.last_attempt < self.refresh_cooldown
                )
                if fresh and cooling:  # unknown kid, refreshed a moment ago
                    raise UnknownSigningKey(f"no key for kid {token.kid!r} at {issuer}")
            if not self._waiters.acquire(blocking=False):
                if found:
                    return found
                raise IdpBusy(f"{self.max_waiters} callers already wait on IdPs; not {issuer}")
            if job is None:
                try:
                    state.last_attempt = now
                    job = self._start_refresh(issuer, state)
                except InboundError:
                    self._waiters.release()
                    if found:
                        return found
                    raise
        try:
            keys = job.result(timeout=self.fetch_deadline + 1.0)
        except FutureTimeout as exc:
            if found:
                return found
            raise IdpUnreachable(f"keys of {issuer}: no answer in time") from exc
        except InboundError as exc:
            if found:
                return found
            raise _again(exc) from exc
        except CancelledError as exc:
            raise IdpUnreachable("the IdP client is closed") from exc
        finally:
            self._waiters.release()
        found = matching(keys)
        if not found:
            raise UnknownSigningKey(f"no key for kid {token.kid!r} at {issuer}")
        return found
