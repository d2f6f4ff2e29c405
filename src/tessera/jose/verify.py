"""``verify(...) -> VerifiedClaims``: the one place a token becomes trusted.

Order: the algorithm is on the caller's allow-list (never taken from the token
alone: ``none``/``HS*`` are not even known) → a key that is bound to that
algorithm (and named by ``kid``) → the signature over the exact signing input →
``iss`` equals the expected issuer → ``aud`` contains an accepted audience →
``exp``/``iat``/``nbf`` (integer NumericDates) against the caller's ``now`` with
the caller's explicit ``leeway`` → ``sub``. Every option is a required keyword:
there are no defaults to forget (DESIGN convention 3).

Signatures are checked by **PyJWT**'s algorithm objects (RSASSA-PKCS1-v1_5 and
ECDSA with the raw ``r||s`` form converted for ``cryptography``); no crypto is
written here. The claim checks are hand-written because PyJWT reads the system
clock (callers inject theirs) and because both callers need the failing claim by
name to word their own errors (AWS's texts on the server, ``reason`` codes for
relying parties).

:class:`VerifiedClaims` has no public constructor: ``__init__`` demands a private
seal that only this module holds, so holding one proves a verifier ran.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, NoReturn

from jwt.algorithms import get_default_algorithms

from tessera.jose.errors import (
    BadSignature,
    DisallowedAlgorithm,
    InvalidClaim,
    MissingClaim,
    TokenExpired,
    TokenNotYetValid,
    UnknownKid,
    WrongAudience,
    WrongIssuer,
)
from tessera.jose.jwk import ALGORITHMS, PublicJwk, candidates
from tessera.jose.token import UnverifiedToken

__all__ = ["VerifiedClaims", "check_algorithm", "verify", "verify_signature"]

_SEAL: Final = object()
_PYJWT: Final = {alg: get_default_algorithms()[alg] for alg in ALGORITHMS}


class VerifiedClaims:
    """The claims of a token whose signature, issuer, audience and lifetime were
    checked. Immutable; only :func:`verify` creates one.

    ``audience`` is the first token audience the verifier accepted; ``claims`` is
    the whole payload (read-only)."""

    __slots__ = (
        "algorithm",
        "audience",
        "audiences",
        "claims",
        "expires_at",
        "issued_at",
        "issuer",
        "kid",
        "not_before",
        "subject",
    )

    issuer: str
    subject: str
    audience: str
    audiences: tuple[str, ...]
    expires_at: int
    issued_at: int
    not_before: int | None
    kid: str | None
    algorithm: str
    claims: Mapping[str, Any]

    def __init__(self, seal: object, **values: Any) -> None:
        if seal is not _SEAL:
            raise TypeError("VerifiedClaims are only created by tessera.jose.verify")
        for name in self.__slots__:
            object.__setattr__(self, name, values[name])

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("VerifiedClaims are immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("VerifiedClaims are immutable")

    def __reduce__(self) -> NoReturn:
        raise TypeError("VerifiedClaims cannot be pickled or copied")

    def __repr__(self) -> str:
        return (
            f"VerifiedClaims(issuer={self.issuer!r}, subject={self.subject!r}, "
            f"audience={self.audience!r}, kid={self.kid!r}, algorithm={self.algorithm!r})"
        )


def check_algorithm(token: UnverifiedToken, algorithms: Iterable[str]) -> str:
    """The token's ``alg`` if it is on the allow-list (a subset of ``ALGORITHMS``)."""
    allowed = [a for a in algorithms if a in ALGORITHMS]
    if token.alg is None or token.alg not in allowed:
        raise DisallowedAlgorithm(
            f"algorithm {token.alg!r} is not allowed (allowed: {', '.join(allowed)})"
        )
    return token.alg


def verify_signature(token: UnverifiedToken, key: PublicJwk) -> bool:
    """True when ``key`` verifies ``token`` under the token's own algorithm, which
    must be one ``key`` is bound to."""
    alg = token.alg
    if alg is None or alg not in _PYJWT or not key.verifies(alg):
        return False
    return bool(_PYJWT[alg].verify(token.signing_input, key.key, token.signature))


def _numeric_date(claims: Mapping[str, Any], name: str, *, required: bool) -> int | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise MissingClaim(name)
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidClaim(name, f"{name} must be an integer NumericDate")
    return value


def _audiences(claims: Mapping[str, Any]) -> tuple[str, ...]:
    aud = claims.get("aud")
    if aud is None:
        raise MissingClaim("aud")
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
        return tuple(aud)
    raise InvalidClaim("aud", "aud must be a string or a non-empty array of strings")


def verify(
    token: UnverifiedToken,
    keys: Iterable[PublicJwk],
    *,
    algorithms: Sequence[str],
    issuer: str,
    audiences: Iterable[str],
    leeway: float,
    now: float,
) -> VerifiedClaims:
    """Verify ``token`` with one of ``keys`` or raise a ``JoseError`` subclass.

    ``now`` is seconds since the epoch from the caller's clock; ``leeway`` (seconds)
    applies to ``exp`` in the past and to ``iat``/``nbf`` in the future."""
    alg = check_algorithm(token, algorithms)
    usable = candidates(keys, alg, token.kid)
    if not usable:
        raise UnknownKid(f"no key for kid {token.kid!r} that verifies {alg}")
    key = next((k for k in usable if verify_signature(token, k)), None)
    if key is None:
        raise BadSignature("signature does not verify with the issuer's key")
    claims = token.claims
    iss = claims.get("iss")
    if iss is None:
        raise MissingClaim("iss")
    if iss != issuer:
        raise WrongIssuer(f"token issuer is not {issuer!r}")
    accepted = tuple(audiences)
    token_audiences = _audiences(claims)
    audience = next((a for a in token_audiences if a in accepted), None)
    if audience is None:
        raise WrongAudience(f"token audience does not include {' or '.join(map(repr, accepted))}")
    exp = _numeric_date(claims, "exp", required=True)
    iat = _numeric_date(claims, "iat", required=True)
    nbf = _numeric_date(claims, "nbf", required=False)
    assert exp is not None and iat is not None
    if now >= exp + leeway:
        raise TokenExpired(
            f"token expired at {exp} (now {int(now)}, leeway {leeway:g}s)", exp=exp, now=now
        )
    if iat > now + leeway:
        raise TokenNotYetValid(
            f"token issued in the future: iat {iat} (now {int(now)}, leeway {leeway:g}s)",
            claim="iat",
            value=iat,
            now=now,
        )
    if nbf is not None and nbf > now + leeway:
        raise TokenNotYetValid(
            f"token not valid before {nbf} (now {int(now)})", claim="nbf", value=nbf, now=now
        )
    sub = claims.get("sub")
    if sub is None:
        raise MissingClaim("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidClaim("sub", "sub must be a non-empty string")
    return VerifiedClaims(
        _SEAL,
        issuer=issuer,
        subject=sub,
        audience=audience,
        audiences=token_audiences,
        expires_at=exp,
        issued_at=iat,
        not_before=nbf,
        kid=key.kid,
        algorithm=alg,
        claims=MappingProxyType(dict(claims)),
    )
