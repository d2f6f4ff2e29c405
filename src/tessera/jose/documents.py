"""Fetching an issuer's discovery document and JWKS under one policy, for inbound
OIDC and ``tessera.verify`` alike.

**Which URLs** (:meth:`DocumentFetcher.check_url`, every hop and the ``jwks_uri``
alike): absolute ``http(s)`` without credentials. The host is resolved first —
once — and the decision is made on every address it resolved to
(``tessera.jose.fetch``): unspecified, link-local, metadata, multicast and reserved
addresses are never fetched; loopback only for a *loopback issuer*
(``localhost``/``*.localhost`` or a loopback address literal, ``[::ffff:127.0.0.1]``
included — ``tessera.iam.oidc_model.is_loopback_host``) or with ``insecure_http``.
Plain ``http`` is allowed only when every address is loopback, or with
``insecure_http``. Once a chain is on https (an https issuer, an https hop, a
discovery document served over https), nothing in it is fetched over http — not
even with ``insecure_http``. A refused address raises ``TargetRefused``, a kind of
``Unreachable``, so callers cannot tell a refused target from a closed port.

**How** (:meth:`DocumentFetcher.get_json`): one ``httpx.Client`` (tests inject one
with a mock transport; by default the pinned transport of ``tessera.jose.fetch``,
so the connection goes to exactly the checked addresses while ``Host``, SNI and the
certificate check use the name; TLS by ``tessera.tls.client.client_ssl_context``),
bounded timeouts (``timeout`` per network operation, a deadline for the whole
discovery+JWKS refresh), a size cap counted on decoded bytes, redirects followed by
hand (at most ``max_redirects`` hops; ``0`` follows none), the answer a JSON object.

Errors (``tessera.jose.errors``): ``Unreachable`` (network, timeouts, 5xx/429,
refused targets), ``DocumentError`` (bad status, size, JSON, unusable URLs),
``CertificateError``, ``DiscoveryMismatch``.
"""

from __future__ import annotations

import json
import ssl
import time
from pathlib import Path
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import httpx

from tessera.iam.oidc_model import is_loopback_host
from tessera.jose.errors import (
    CertificateError,
    DiscoveryMismatch,
    DocumentError,
    TargetRefused,
    Unreachable,
)
from tessera.jose.fetch import (
    ResolutionError,
    Resolver,
    Target,
    check_addresses,
    pinned,
    pinned_transport,
    resolve,
    system_resolver,
)
from tessera.jose.fetch import TargetRefused as AddressRefused
from tessera.jose.jwk import PublicJwk, parse_jwks
from tessera.netaddr import is_loopback_address
from tessera.tls.client import client_ssl_context

__all__ = [
    "DEFAULT_FETCH_DEADLINE",
    "DEFAULT_TIMEOUT",
    "DISCOVERY_SUFFIX",
    "MAX_DISCOVERY_BYTES",
    "MAX_JWKS_BYTES",
    "MAX_REDIRECTS",
    "DocumentFetcher",
]

DEFAULT_TIMEOUT: Final = 5.0
DEFAULT_FETCH_DEADLINE: Final = 10.0
MAX_DISCOVERY_BYTES: Final = 64 * 1024
MAX_JWKS_BYTES: Final = 256 * 1024
MAX_REDIRECTS: Final = 3
DISCOVERY_SUFFIX: Final = "/.well-known/openid-configuration"


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


def issuer_host(issuer: str) -> str:
    return (urlsplit(issuer).hostname or "").lower()


class DocumentFetcher:
    """Bounded, checked GETs of issuer documents. Thread-safe (``fetches`` is a
    diagnostic counter and may miss increments under races)."""

    def __init__(
        self,
        *,
        http_client: httpx.Client | None = None,
        ca_bundle: Path | None = None,
        insecure_http: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        fetch_deadline: float = DEFAULT_FETCH_DEADLINE,
        max_discovery_bytes: int = MAX_DISCOVERY_BYTES,
        max_jwks_bytes: int = MAX_JWKS_BYTES,
        max_redirects: int = MAX_REDIRECTS,
        resolver: Resolver = system_resolver,
        max_connections: int = 16,
        user_agent: str = "tessera",
    ) -> None:
        self.insecure_http = insecure_http
        self.timeout = timeout
        self.fetch_deadline = fetch_deadline
        self.max_discovery_bytes = max_discovery_bytes
        self.max_jwks_bytes = max_jwks_bytes
        self.max_redirects = max_redirects
        self._resolver = resolver
        self._owns_client = http_client is None
        self._client = (
            http_client
            if http_client is not None
            else httpx.Client(
                transport=pinned_transport(
                    client_ssl_context(ca_bundle), max_connections=max_connections
                ),
                timeout=httpx.Timeout(timeout),
                follow_redirects=False,
                trust_env=False,
                headers={"User-Agent": user_agent},
            )
        )
        self.fetches: dict[str, int] = {}  # url -> count (tests, diagnostics)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    # --- the URL policy -------------------------------------------------------------

    def check_url(self, url: str, *, issuer_host: str, https_only: bool = False) -> Target:
        """The checked destination of ``url`` fetched for an issuer on ``issuer_host``.

        Raises ``DocumentError`` for a URL that is never fetched (not absolute
        http(s), credentials, plain http after https, plain http to anything but
        loopback), ``TargetRefused`` when an address it resolves to is off limits,
        ``Unreachable`` when it does not resolve."""
        try:
            parsed = httpx.URL(url)
            host = parsed.raw_host.decode("ascii")
        except (httpx.InvalidURL, UnicodeError, TypeError) as exc:
            raise DocumentError(f"{url[:200]!r} is not a valid URL") from exc
        parts = urlsplit(url)
        if parsed.scheme not in ("https", "http") or not host:
            raise DocumentError(f"{url!r} is not an absolute http(s) URL")
        if parts.username is not None or parts.password is not None or parsed.userinfo:
            raise DocumentError(f"{url!r} carries credentials")
        if https_only and parsed.scheme != "https":
            raise DocumentError(f"{url!r}: plain http after https is never followed")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            addresses = resolve(host, port, self._resolver)
        except ResolutionError as exc:
            raise Unreachable(f"GET {url} failed: {exc}") from exc
        allow_loopback = self.insecure_http or is_loopback_host(issuer_host)
        try:
            check_addresses(addresses, allow_loopback=allow_loopback)
        except AddressRefused as exc:
            raise TargetRefused(f"GET {url} refused for an issuer on {issuer_host}: {exc}") from exc
        loopback = all(is_loopback_address(a) for a in addresses)
        if parsed.scheme == "http" and not loopback and not self.insecure_http:
            raise DocumentError(f"{url!r} uses plain http to a non-loopback host")
        return Target(host=host, port=port, addresses=addresses)

    # --- one document -----------------------------------------------------------------

    def get_json(
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
        status = 0
        for _hop in range(self.max_redirects + 1):
            target = self.check_url(url, issuer_host=issuer_host, https_only=https_only)
            https_only = https_only or url.lower().startswith("https:")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Unreachable(f"GET {url}: out of time")
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
                    status = resp.status_code
                    if resp.is_redirect:
                        location = resp.headers.get("location")
                        if not location:
                            raise DocumentError(f"GET {url}: redirect without Location")
                        url = urljoin(url, location)
                        continue
                    if status >= 500 or status == 429:
                        raise Unreachable(f"GET {url} returned HTTP {status}")
                    if status != 200:
                        raise DocumentError(f"GET {url} returned HTTP {status}")
                    body = self._read(resp, url, max_bytes, deadline)
            except httpx.HTTPError as exc:
                if _is_cert_failure(exc):
                    raise CertificateError(f"GET {url}: certificate: {exc}") from exc
                raise Unreachable(f"GET {url} failed: {type(exc).__name__}: {exc}") from exc
            try:
                obj = json.loads(bytes(body))
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:
                raise DocumentError(f"GET {url}: response is not valid JSON") from exc
            if not isinstance(obj, dict):
                raise DocumentError(f"GET {url}: response is not a JSON object")
            return obj, url
        raise DocumentError(
            f"GET {url} returned HTTP {status}: more than {self.max_redirects} redirects"
        )

    @staticmethod
    def _read(resp: httpx.Response, url: str, max_bytes: int, deadline: float) -> bytearray:
        declared = resp.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise DocumentError(f"GET {url}: response is larger than {max_bytes} bytes")
        body = bytearray()
        for chunk in resp.iter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise DocumentError(f"GET {url}: response is larger than {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise Unreachable(f"GET {url}: out of time")
        return body

    # --- discovery and JWKS -------------------------------------------------------------

    def discover(self, issuer: str, *, deadline: float | None = None) -> tuple[str, bool]:
        """``jwks_uri`` from ``<issuer>/.well-known/openid-configuration`` (whose
        ``issuer`` must equal ``issuer`` exactly) and whether the discovery document
        came over https (then the JWKS must too)."""
        doc, came_from = self.get_json(
            issuer.rstrip("/") + DISCOVERY_SUFFIX,
            issuer_host=issuer_host(issuer),
            max_bytes=self.max_discovery_bytes,
            deadline=deadline,
        )
        if doc.get("issuer") != issuer:
            raise DiscoveryMismatch(
                f"discovery names issuer {str(doc.get('issuer'))[:200]!r}, not {issuer!r}"
            )
        jwks_uri = doc.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise DocumentError("discovery document has no jwks_uri")
        return jwks_uri, came_from.lower().startswith("https:")

    def jwks(
        self, issuer: str, jwks_uri: str, *, https_only: bool, deadline: float | None = None
    ) -> tuple[PublicJwk, ...]:
        """The usable keys published at ``jwks_uri`` for ``issuer`` (maybe none)."""
        doc, _ = self.get_json(
            jwks_uri,
            issuer_host=issuer_host(issuer),
            max_bytes=self.max_jwks_bytes,
            https_only=https_only,
            deadline=deadline,
        )
        return parse_jwks(doc)

    def fetch_keys(self, issuer: str) -> tuple[PublicJwk, ...]:
        """Discovery then JWKS within one deadline; ``DocumentError`` when the JWKS
        holds no usable key."""
        deadline = time.monotonic() + self.fetch_deadline
        jwks_uri, https_only = self.discover(issuer, deadline=deadline)
        keys = self.jwks(issuer, jwks_uri, https_only=https_only, deadline=deadline)
        if not keys:
            raise DocumentError("JWKS holds no usable RSA/EC signature key")
        return keys
