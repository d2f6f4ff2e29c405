"""``Verifier``: checks tokens of ONE pinned issuer for a relying party, on the
JOSE core (``tessera.jose``) the server's inbound OIDC uses too.

Flow: discovery (``<issuer>/.well-known/openid-configuration``, whose ``issuer``
must equal the pinned issuer exactly; re-fetched after ``cache_ttl``) →
``jwks_uri`` → keys cached for ``cache_ttl`` by ``tessera.jose.keyset.KeySetCache``.
An unknown ``kid`` triggers at most one JWKS refresh per ``refresh_cooldown``
(default 30 s), so a stream of tokens with random kids cannot make the verifier
hammer the issuer; a failed fetch is not retried within the cooldown either, and
stale keys are used while the issuer is unavailable. Refreshes are single-flight
and run in a two-thread pool owned by the verifier (``close()`` stops it).

Fetching uses ``tessera.jose.documents.DocumentFetcher`` — the server's SSRF rules
(see ``tessera.verify.transport``) with no redirects; ``resolver`` is injectable
for tests. Verification is ``tessera.jose.verify.verify`` with every option
explicit: ``algorithms`` (the allow-list; the token's ``alg`` must also be bound to
the key its ``kid`` names — RSA ⇒ RS256, EC P-384 ⇒ ES384), ``issuer``,
``audience``, ``leeway`` and ``now`` from the injected ``Clock`` (PyJWT's
algorithm objects check the signature).

Algorithm allow-list: only RS256 and ES384 are supported; ``none``, ``HS*`` and
anything else are rejected before any key is looked up.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx

from tessera.clock import Clock, SystemClock
from tessera.jose import jwk as jose_jwk
from tessera.jose.documents import DocumentFetcher
from tessera.jose.errors import DocumentError
from tessera.jose.fetch import Resolver, system_resolver
from tessera.jose.jwk import PublicJwk, PublicKey
from tessera.jose.keyset import KeySetCache
from tessera.jose.verify import check_algorithm
from tessera.jose.verify import verify as verify_token
from tessera.verify.errors import (
    DisallowedAlgorithm,
    MalformedToken,
    UnknownKid,
    VerificationError,
)
from tessera.verify.tokens import UnverifiedToken, VerifiedClaims
from tessera.verify.transport import (
    DEFAULT_TIMEOUT,
    MAX_DISCOVERY_BYTES,
    MAX_JWKS_BYTES,
    check_url,
)

logger = logging.getLogger("tessera.verify")

SUPPORTED_ALGORITHMS: Final[tuple[str, ...]] = ("RS256", "ES384")
DEFAULT_LEEWAY: Final = 60.0
DEFAULT_CACHE_TTL: Final = 300.0
DEFAULT_REFRESH_COOLDOWN: Final = 30.0
MIN_RSA_BITS: Final = jose_jwk.MIN_RSA_BITS
REQUIRED_CLAIMS: Final[tuple[str, ...]] = ("iss", "sub", "aud", "exp", "iat")
#: The whole discovery + JWKS refresh must finish within this many seconds.
FETCH_DEADLINE: Final = 10.0


@dataclass(frozen=True, slots=True)
class PublicKeyEntry:
    kid: str
    alg: str
    key: PublicKey


def _entry(key: PublicJwk, algorithms: Sequence[str]) -> PublicKeyEntry | None:
    """``key`` as this library sees it: a kid and the one supported algorithm it is
    bound to (``None`` when it has no kid or verifies none of ``algorithms``)."""
    alg = next((a for a in algorithms if key.verifies(a)), None)
    if not key.kid or alg is None:
        return None
    return PublicKeyEntry(kid=key.kid, alg=alg, key=key.key)


def parse_jwk(jwk: Mapping[str, Any]) -> PublicKeyEntry | None:
    """A usable verification key from one JWK, or ``None`` if it is not one we
    accept (no kid, wrong ``use``, unsupported ``kty``/``crv``/``alg``, RSA < 2048
    bits, bad numbers). Never raises for a single bad entry."""
    key = jose_jwk.parse_jwk(jwk)
    return _entry(key, SUPPORTED_ALGORITHMS) if key is not None else None


def parse_jwks(doc: Mapping[str, Any]) -> dict[str, PublicKeyEntry]:
    """The usable keys by kid (the first of duplicates); ``IssuerUnavailable`` when
    the document has no ``keys`` array."""
    out: dict[str, PublicKeyEntry] = {}
    for key in jose_jwk.parse_jwks(doc, max_keys=len(doc.get("keys") or ())):
        entry = _entry(key, SUPPORTED_ALGORITHMS)
        if entry is not None and entry.kid not in out:
            out[entry.kid] = entry
    return out


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Verifier:
    """Verifies tokens of one pinned issuer for one relying party. Thread-safe."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str | Sequence[str],
        algorithms: Sequence[str] = SUPPORTED_ALGORITHMS,
        leeway: float | timedelta = DEFAULT_LEEWAY,
        http_client: httpx.Client | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        insecure_allow_http: bool = False,
        clock: Clock | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        cache_ttl: float | timedelta = DEFAULT_CACHE_TTL,
        refresh_cooldown: float | timedelta = DEFAULT_REFRESH_COOLDOWN,
        max_discovery_bytes: int = MAX_DISCOVERY_BYTES,
        max_jwks_bytes: int = MAX_JWKS_BYTES,
        resolver: Resolver = system_resolver,
    ) -> None:
        if not issuer or issuer != issuer.strip():
            raise ValueError("issuer must be a non-empty URL without surrounding spaces")
        check_url(issuer, insecure_allow_http=insecure_allow_http, what="issuer")
        audiences = (audience,) if isinstance(audience, str) else tuple(audience)
        if not audiences or not all(isinstance(a, str) and a for a in audiences):
            raise ValueError("audience must be one or more non-empty strings")
        algs = tuple(algorithms)
        bad = [a for a in algs if a not in SUPPORTED_ALGORITHMS]
        if bad or not algs:
            raise ValueError(
                f"unsupported algorithms {bad!r}: choose from {list(SUPPORTED_ALGORITHMS)}"
            )
        if http_client is not None and ca_bundle is not None:
            raise ValueError("pass ca_bundle or http_client, not both")
        self.issuer = issuer
        self.audiences = audiences
        self.algorithms = algs
        self.leeway = _seconds(leeway)
        self.insecure_allow_http = insecure_allow_http
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._cache_ttl = timedelta(seconds=_seconds(cache_ttl))
        cooldown = _seconds(refresh_cooldown)
        self._fetcher = DocumentFetcher(
            http_client=http_client,
            ca_bundle=Path(os.fspath(ca_bundle)) if ca_bundle is not None else None,
            insecure_http=insecure_allow_http,
            timeout=timeout,
            fetch_deadline=FETCH_DEADLINE,
            max_discovery_bytes=max_discovery_bytes,
            max_jwks_bytes=max_jwks_bytes,
            max_redirects=0,
            resolver=resolver,
            max_connections=4,
            user_agent="tessera-verify",
        )
        self._cache = KeySetCache(
            self._fetch_keys,
            cache_ttl=_seconds(cache_ttl),
            refresh_cooldown=cooldown,
            failure_ttl=cooldown,
            fetch_deadline=FETCH_DEADLINE,
            fetch_workers=2,
            monotonic=lambda: self._clock.now().timestamp(),
            thread_name="tessera-verify-fetch",
        )
        self._jwks_uri: tuple[str, bool] | None = None
        self._discovered_at: datetime | None = None
        self.jwks_fetches = 0
        self.discovery_fetches = 0

    # --- lifecycle --------------------------------------------------------------

    def close(self) -> None:
        self._cache.close()
        self._fetcher.close()

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- key cache ----------------------------------------------------------------

    def _discover(self, now: datetime) -> tuple[str, bool]:
        if (
            self._jwks_uri is not None
            and self._discovered_at is not None
            and now - self._discovered_at < self._cache_ttl
        ):
            return self._jwks_uri
        self.discovery_fetches += 1
        jwks_uri, https_only = self._fetcher.discover(self.issuer)
        try:
            check_url(
                jwks_uri, insecure_allow_http=self.insecure_allow_http, what="jwks_uri", warn=False
            )
        except ValueError as exc:
            raise DocumentError(str(exc)) from exc
        self._jwks_uri, self._discovered_at = (jwks_uri, https_only), now
        return self._jwks_uri

    def _fetch_keys(self, issuer: str) -> tuple[PublicJwk, ...]:
        """One refresh (run by the key-set cache, one at a time): discovery if it
        is stale, then the JWKS."""
        jwks_uri, https_only = self._discover(self._clock.now())
        self.jwks_fetches += 1
        keys = self._fetcher.jwks(issuer, jwks_uri, https_only=https_only)
        kids: set[str] = set()
        usable: list[PublicJwk] = []
        for key in keys:  # kids are required here; the first of duplicates wins
            if _entry(key, SUPPORTED_ALGORITHMS) is None or key.kid in kids:
                continue
            assert key.kid is not None
            kids.add(key.kid)
            usable.append(key)
        return tuple(usable)

    def warm(self) -> None:
        """Fetch discovery and JWKS now (e.g. at start-up) instead of on first use."""
        self._cache.refresh(self.issuer)

    # --- verification ---------------------------------------------------------------

    def verify(self, token: str | bytes | UnverifiedToken) -> VerifiedClaims:
        """Verify ``token`` or raise a ``VerificationError`` subclass naming the reason."""
        unverified = token if isinstance(token, UnverifiedToken) else UnverifiedToken.parse(token)
        alg = check_algorithm(unverified, self.algorithms)
        if not unverified.kid:
            raise MalformedToken("token header has no kid")
        named = self._cache.keys_for(self.issuer, None, unverified.kid)
        entries = [e for e in (_entry(k, SUPPORTED_ALGORITHMS) for k in named) if e is not None]
        if not entries:
            raise UnknownKid(f"no key with kid {unverified.kid!r} in the JWKS of {self.issuer}")
        if not any(k.verifies(alg) for k in named):
            raise DisallowedAlgorithm(
                f"token algorithm {alg} does not match key {entries[0].kid} ({entries[0].alg})"
            )
        verified = verify_token(
            unverified,
            named,
            algorithms=self.algorithms,
            issuer=self.issuer,
            audiences=self.audiences,
            leeway=self.leeway,
            now=self._clock.now().timestamp(),
        )
        return VerifiedClaims(verified)


__all__ = [
    "SUPPORTED_ALGORITHMS",
    "PublicKeyEntry",
    "VerificationError",
    "Verifier",
    "parse_jwk",
    "parse_jwks",
]
