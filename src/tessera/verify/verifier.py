"""``Verifier``: checks tokens of ONE pinned issuer for a relying party.

Flow: discovery (``<issuer>/.well-known/openid-configuration``, whose ``issuer``
must equal the pinned issuer exactly) → ``jwks_uri`` → keys cached by ``kid``
for ``cache_ttl``. An unknown ``kid`` triggers at most one JWKS refresh per
``refresh_cooldown`` (default 30 s), so a stream of tokens with random kids
cannot make the verifier hammer the issuer.

Decoding uses **PyJWT** (a runtime dependency of Tessera). Every decode names
its ``algorithms`` (the single algorithm bound to the selected key — never
taken from the token alone), ``issuer``, ``audience`` and ``leeway``
explicitly. Time-based checks (``exp``, ``iat``, ``nbf``) are done here against
the injected ``Clock`` with the same leeway, because PyJWT reads the system clock.

Algorithm allow-list: only RS256 and ES384 are supported; ``none``, ``HS*`` and
anything else are rejected before any key is looked up, and the token's ``alg``
must match the key type of the JWK it names (RSA ⇒ RS256, EC P-384 ⇒ ES384).
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tessera.clock import Clock, SystemClock
from tessera.verify.errors import (
    BadSignature,
    DisallowedAlgorithm,
    DiscoveryMismatch,
    IssuerUnavailable,
    MalformedToken,
    TokenExpired,
    TokenNotYetValid,
    UnknownKid,
    VerificationError,
    WrongAudience,
    WrongIssuer,
)
from tessera.verify.tokens import UnverifiedToken, VerifiedClaims, b64url_decode
from tessera.verify.transport import (
    DEFAULT_TIMEOUT,
    MAX_DISCOVERY_BYTES,
    MAX_JWKS_BYTES,
    check_url,
    fetch_json,
)

logger = logging.getLogger("tessera.verify")

SUPPORTED_ALGORITHMS: Final[tuple[str, ...]] = ("RS256", "ES384")
DEFAULT_LEEWAY: Final = 60.0
DEFAULT_CACHE_TTL: Final = 300.0
DEFAULT_REFRESH_COOLDOWN: Final = 30.0
MIN_RSA_BITS: Final = 2048
REQUIRED_CLAIMS: Final[tuple[str, ...]] = ("iss", "sub", "aud", "exp", "iat")

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True, slots=True)
class PublicKeyEntry:
    kid: str
    alg: str
    key: PublicKey


def _b64_int(value: object, *, length: int | None = None) -> int:
    if not isinstance(value, str):
        raise ValueError("not a string")
    data = b64url_decode(value)
    if length is not None and len(data) != length:
        raise ValueError("wrong coordinate length")
    return int.from_bytes(data, "big")


def parse_jwk(jwk: Mapping[str, Any]) -> PublicKeyEntry | None:
    """A usable verification key from one JWK, or ``None`` if it is not one we
    accept (wrong ``use``, unsupported ``kty``/``crv``/``alg``, RSA < 2048 bits, bad
    numbers). Never raises for a single bad entry."""
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        return None
    if jwk.get("use", "sig") != "sig":
        return None
    declared = jwk.get("alg")
    key_obj: PublicKey
    try:
        if jwk.get("kty") == "RSA":
            n, e = _b64_int(jwk.get("n")), _b64_int(jwk.get("e"))
            rsa_key = rsa.RSAPublicNumbers(e, n).public_key()
            if rsa_key.key_size < MIN_RSA_BITS:
                return None
            alg, key_obj = "RS256", rsa_key
        elif jwk.get("kty") == "EC" and jwk.get("crv") == "P-384":
            x = _b64_int(jwk.get("x"), length=48)
            y = _b64_int(jwk.get("y"), length=48)
            ec_key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP384R1()).public_key()
            alg, key_obj = "ES384", ec_key
        else:
            return None
    except (ValueError, MalformedToken):
        return None
    if declared is not None and declared != alg:
        return None
    return PublicKeyEntry(kid=kid, alg=alg, key=key_obj)


def parse_jwks(doc: Mapping[str, Any]) -> dict[str, PublicKeyEntry]:
    keys = doc.get("keys")
    if not isinstance(keys, list):
        raise IssuerUnavailable("JWKS has no 'keys' array")
    out: dict[str, PublicKeyEntry] = {}
    for jwk in keys:
        if not isinstance(jwk, dict):
            continue
        entry = parse_jwk(jwk)
        if entry is None:
            logger.info("ignoring unusable JWK %r", jwk.get("kid"))
        elif entry.kid in out:
            logger.warning("duplicate kid %r in JWKS; keeping the first", entry.kid)
        else:
            out[entry.kid] = entry
    return out


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Verifier:
    """Verify tokens from one issuer for one relying party. Thread-safe."""

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
        self._timeout = timeout
        self._cache_ttl = timedelta(seconds=_seconds(cache_ttl))
        self._cooldown = timedelta(seconds=_seconds(refresh_cooldown))
        self._max_discovery = max_discovery_bytes
        self._max_jwks = max_jwks_bytes
        self._owns_client = http_client is None
        self._client = (
            http_client
            if http_client is not None
            else httpx.Client(
                # an SSLContext, not a path: httpx deprecates verify=<str>
                verify=(
                    ssl.create_default_context(cafile=os.fspath(ca_bundle))
                    if ca_bundle is not None
                    else True
                ),
                timeout=timeout,
                follow_redirects=False,
            )
        )
        self._lock = threading.Lock()
        self._jwks_uri: str | None = None
        self._discovered_at: datetime | None = None
        self._keys: dict[str, PublicKeyEntry] | None = None
        self._fetched_at: datetime | None = None
        self._last_attempt: datetime | None = None
        self.jwks_fetches = 0
        self.discovery_fetches = 0

    # --- lifecycle --------------------------------------------------------------

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- key cache ----------------------------------------------------------------

    def _discover(self, now: datetime) -> str:
        if (
            self._jwks_uri is not None
            and self._discovered_at is not None
            and now - self._discovered_at < self._cache_ttl
        ):
            return self._jwks_uri
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        self.discovery_fetches += 1
        doc = fetch_json(self._client, url, max_bytes=self._max_discovery, timeout=self._timeout)
        if doc.get("issuer") != self.issuer:
            raise DiscoveryMismatch(
                f"discovery document names issuer {doc.get('issuer')!r}, expected {self.issuer!r}"
            )
        jwks_uri = doc.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise IssuerUnavailable("discovery document has no jwks_uri")
        try:
            check_url(jwks_uri, insecure_allow_http=self.insecure_allow_http, what="jwks_uri")
        except ValueError as exc:
            raise IssuerUnavailable(str(exc)) from exc
        self._jwks_uri, self._discovered_at = jwks_uri, now
        return jwks_uri

    def _refresh(self, now: datetime) -> None:
        """Fetch discovery (if stale) and the JWKS. Caller holds the lock."""
        self._last_attempt = now
        jwks_uri = self._discover(now)
        self.jwks_fetches += 1
        doc = fetch_json(self._client, jwks_uri, max_bytes=self._max_jwks, timeout=self._timeout)
        self._keys = parse_jwks(doc)
        self._fetched_at = now

    def _cooling_down(self, now: datetime) -> bool:
        return self._last_attempt is not None and now - self._last_attempt < self._cooldown

    def key_for(self, kid: str) -> PublicKeyEntry:
        """The issuer key named ``kid``; raises ``UnknownKid`` / ``IssuerUnavailable``."""
        with self._lock:
            now = self._clock.now()
            stale = self._fetched_at is None or now - self._fetched_at >= self._cache_ttl
            if stale and not self._cooling_down(now):
                try:
                    self._refresh(now)
                except IssuerUnavailable:
                    if self._keys is None:
                        raise
                    logger.warning("JWKS refresh for %s failed; using cached keys", self.issuer)
            if self._keys is None:
                raise IssuerUnavailable(
                    f"issuer {self.issuer} keys are unavailable (retrying after the cooldown)"
                )
            entry = self._keys.get(kid)
            if entry is None and not self._cooling_down(now):
                self._refresh(now)
                entry = self._keys.get(kid)
            if entry is None:
                raise UnknownKid(f"no key with kid {kid!r} in the JWKS of {self.issuer}")
            return entry

    def warm(self) -> None:
        """Fetch discovery and JWKS now (e.g. at start-up) instead of on first use."""
        with self._lock:
            self._refresh(self._clock.now())

    # --- verification ---------------------------------------------------------------

    def verify(self, token: str | bytes | UnverifiedToken) -> VerifiedClaims:
        """Verify ``token`` or raise a ``VerificationError`` subclass naming the reason."""
        unverified = token if isinstance(token, UnverifiedToken) else UnverifiedToken.parse(token)
        alg = unverified.alg
        if alg is None or alg not in self.algorithms:
            raise DisallowedAlgorithm(
                f"algorithm {alg!r} is not allowed (allowed: {', '.join(self.algorithms)})"
            )
        if not unverified.kid:
            raise MalformedToken("token header has no kid")
        entry = self.key_for(unverified.kid)
        if entry.alg != alg:
            raise DisallowedAlgorithm(
                f"token algorithm {alg} does not match key {entry.kid} ({entry.alg})"
            )
        payload = self._decode(unverified, entry)
        claims = VerifiedClaims.from_payload(payload, kid=entry.kid, algorithm=entry.alg)
        self._check_times(payload)
        return claims

    def _decode(self, token: UnverifiedToken, entry: PublicKeyEntry) -> dict[str, Any]:
        try:
            payload: dict[str, Any] = jwt.decode(
                token.raw.reveal(),
                key=entry.key,
                algorithms=[entry.alg],
                issuer=self.issuer,
                audience=list(self.audiences),
                leeway=self.leeway,
                options={
                    "verify_signature": True,
                    "verify_iss": True,
                    "verify_aud": True,
                    "strict_aud": False,
                    # exp/iat/nbf are checked in _check_times against the injected clock
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": list(REQUIRED_CLAIMS),
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise BadSignature("signature does not verify with the issuer's key") from exc
        except jwt.InvalidIssuerError as exc:
            raise WrongIssuer(f"token issuer is not {self.issuer!r}") from exc
        except jwt.InvalidAudienceError as exc:
            raise WrongAudience(
                f"token audience does not include {' or '.join(map(repr, self.audiences))}"
            ) from exc
        except jwt.MissingRequiredClaimError as exc:
            raise MalformedToken(f"token has no {exc.claim!r} claim") from exc
        except (jwt.InvalidAlgorithmError, jwt.InvalidKeyError) as exc:
            raise DisallowedAlgorithm(str(exc)) from exc
        except jwt.InvalidTokenError as exc:
            raise MalformedToken(f"{type(exc).__name__}: {exc}") from exc
        return payload

    def _check_times(self, payload: Mapping[str, Any]) -> None:
        now = self._clock.now().timestamp()
        exp, iat = payload["exp"], payload["iat"]
        if exp <= now - self.leeway:
            raise TokenExpired(f"token expired at {exp} (now {int(now)}, leeway {self.leeway:g}s)")
        if iat > now + self.leeway:
            raise TokenNotYetValid(
                f"token issued in the future: iat {iat} (now {int(now)}, leeway {self.leeway:g}s)"
            )
        nbf = payload.get("nbf")
        if nbf is not None:
            if isinstance(nbf, bool) or not isinstance(nbf, int | float):
                raise MalformedToken("nbf must be a NumericDate")
            if nbf > now + self.leeway:
                raise TokenNotYetValid(f"token not valid before {nbf} (now {int(now)})")


__all__ = ["SUPPORTED_ALGORITHMS", "PublicKeyEntry", "VerificationError", "Verifier"]
