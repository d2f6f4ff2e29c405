"""Inbound OIDC: how STS verifies third-party ID tokens for
AssumeRoleWithWebIdentity. ``InboundOidc`` composes the JOSE core
(``tessera.jose``) for the server:

* fetching with ``tessera.jose.documents.DocumentFetcher`` — the SSRF-safe policy
  (resolve once, decide on every address, pin the connection; loopback only for
  loopback issuers or ``insecure_http``; no http after https; size caps; redirects
  followed by hand, at most 3), ``<issuer>/.well-known/openid-configuration`` then
  ``jwks_uri``, 5 s per network operation and 10 s for the whole refresh, TLS by
  ``tessera.tls.client.client_ssl_context`` (system trust plus an optional bundle);
* caching with ``tessera.jose.keyset.KeySetCache`` — per issuer, 10 min TTL, 30 s
  refresh cooldown for unknown kids, failures remembered 5 s, single-flight
  refreshes in this object's bounded pool (8 workers, 16 waiting callers at most:
  a slow IdP cannot take the application's worker threads);
* verifying with ``tessera.jose.verify.verify`` — the only way to obtain
  ``VerifiedClaims``; the STS operation never reads claims it has not verified
  except ``iss`` and ``aud`` for routing (the provider lookup), which ``verify``
  then checks again.

``insecure_http`` (the server option ``insecure_oidc_http``) warns at construction.
The error classes below are the core's (``tessera.jose.errors``) under the names
this module has always exported; the STS operation maps them to AWS's codes:
``IdpUnreachable`` (network, timeouts, 5xx, refused targets — ``IdpTargetRefused``
— and too many waiters — ``IdpBusy``), ``IdpDocumentError`` (bad status, size,
JSON, issuer mismatch, unusable keys), ``IdpCertificateError``,
``UnknownSigningKey``. Tokens are never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import httpx

from tessera.jose import errors as jose_errors
from tessera.jose import jwk as jose_jwk
from tessera.jose.documents import (
    DEFAULT_FETCH_DEADLINE,
    DEFAULT_TIMEOUT,
    MAX_DISCOVERY_BYTES,
    MAX_JWKS_BYTES,
    MAX_REDIRECTS,
    DocumentFetcher,
)
from tessera.jose.fetch import Resolver, Target, system_resolver
from tessera.jose.jwk import ALGORITHMS, PublicJwk, parse_jwk
from tessera.jose.keyset import (
    DEFAULT_CACHE_TTL,
    DEFAULT_FAILURE_TTL,
    DEFAULT_REFRESH_COOLDOWN,
    FETCH_WORKERS,
    MAX_WAITERS,
    KeySetCache,
)
from tessera.jose.token import UnverifiedToken
from tessera.jose.verify import VerifiedClaims, verify, verify_signature

log = logging.getLogger("tessera.federation.oidc")

__all__ = [
    "ALGORITHMS",
    "IdpBusy",
    "IdpCertificateError",
    "IdpDocumentError",
    "IdpTargetRefused",
    "IdpUnreachable",
    "InboundError",
    "InboundOidc",
    "MalformedToken",
    "UnknownSigningKey",
    "UnverifiedToken",
    "VerificationKey",
    "VerifiedClaims",
    "parse_jwk",
    "parse_jwks",
    "verify_signature",
]

InboundError = jose_errors.JoseError
MalformedToken = jose_errors.MalformedToken
IdpUnreachable = jose_errors.Unreachable
IdpTargetRefused = jose_errors.TargetRefused
IdpBusy = jose_errors.Busy
IdpDocumentError = jose_errors.DocumentError
IdpCertificateError = jose_errors.CertificateError
UnknownSigningKey = jose_errors.UnknownKid
VerificationKey = PublicJwk

MAX_KEYS: Final = jose_jwk.MAX_KEYS


def parse_jwks(doc: Mapping[str, Any]) -> tuple[PublicJwk, ...]:
    """The usable keys of a JWKS; ``IdpDocumentError`` when there are none."""
    keys = jose_jwk.parse_jwks(doc)
    if not keys:
        raise IdpDocumentError("JWKS holds no usable RSA/EC signature key")
    return keys


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
        self.fetcher = DocumentFetcher(
            http_client=http_client,
            ca_bundle=ca_bundle,
            insecure_http=insecure_http,
            timeout=timeout,
            fetch_deadline=fetch_deadline,
            max_discovery_bytes=max_discovery_bytes,
            max_jwks_bytes=max_jwks_bytes,
            max_redirects=max_redirects,
            resolver=resolver,
            max_connections=2 * fetch_workers,
            user_agent="tessera-sts (inbound OIDC)",
        )
        self.cache = KeySetCache(
            self.fetcher.fetch_keys,
            cache_ttl=cache_ttl,
            refresh_cooldown=refresh_cooldown,
            failure_ttl=failure_ttl,
            fetch_deadline=fetch_deadline,
            fetch_workers=fetch_workers,
            max_waiters=max_waiters,
            monotonic=monotonic,
            thread_name="tessera-idp-fetch",
        )
        if insecure_http:
            log.warning(
                "INSECURE: inbound OIDC may fetch IdP documents over plain http from any "
                "host (insecure_oidc_http); use only for testing"
            )

    @property
    def fetches(self) -> dict[str, int]:
        """url -> number of GETs (tests, diagnostics)."""
        return self.fetcher.fetches

    def close(self) -> None:
        self.cache.close()
        self.fetcher.close()

    def check_url(self, url: str, *, issuer_host: str, https_only: bool = False) -> Target:
        """See ``DocumentFetcher.check_url``."""
        return self.fetcher.check_url(url, issuer_host=issuer_host, https_only=https_only)

    def keys_for(self, issuer: str, token: UnverifiedToken) -> list[PublicJwk]:
        """The cached (or freshly fetched) keys of ``issuer`` that could verify
        ``token``: the key named by its ``kid``, or every key of the right type when
        the token has no ``kid``. Raises ``IdpUnreachable`` (``IdpBusy`` when too
        many callers already wait on IdPs) / ``IdpDocumentError`` /
        ``UnknownSigningKey``."""
        return self.cache.keys_for(issuer, token.alg or "", token.kid)

    def verify(
        self,
        token: UnverifiedToken,
        *,
        issuer: str,
        audiences: Iterable[str],
        leeway: float,
        now: float,
        algorithms: Iterable[str] = ALGORITHMS,
    ) -> VerifiedClaims:
        """Keys of ``issuer`` for ``token`` (fetching errors as ``keys_for``), then
        ``tessera.jose.verify.verify`` with every option explicit."""
        keys = self.keys_for(issuer, token)
        return verify(
            token,
            keys,
            algorithms=tuple(algorithms),
            issuer=issuer,
            audiences=audiences,
            leeway=leeway,
            now=now,
        )
