"""Public JWKs and key sets: which keys verify which algorithms.

Only RS256/384/512 (RSA keys of at least ``MIN_RSA_BITS``) and ES256/384/512
(P-256/P-384/P-521, the curve bound to the algorithm) exist here. ``none`` and
every ``HS*`` algorithm are unknown, so a public key can never be used as an HMAC
secret. A JWK's ``alg``, when present, narrows the key to that one algorithm;
``use`` other than ``sig`` and ``key_ops`` without ``verify`` make it unusable.
Unusable entries are skipped, never fatal.

The key numbers are decoded by hand (strict base64url, fixed EC coordinate
lengths) and turned into ``cryptography`` public keys, which check that EC points
lie on their curve.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tessera.jose.errors import DocumentError, MalformedToken
from tessera.jose.token import b64url_decode

__all__ = [
    "ALGORITHMS",
    "MAX_KEYS",
    "MIN_RSA_BITS",
    "PublicJwk",
    "PublicKey",
    "candidates",
    "parse_jwk",
    "parse_jwks",
]

#: Every algorithm any Tessera verifier accepts.
ALGORITHMS: Final[tuple[str, ...]] = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
RSA_ALGORITHMS: Final = frozenset({"RS256", "RS384", "RS512"})
MIN_RSA_BITS: Final = 2048
#: Entries after the first ``MAX_KEYS`` of a JWKS are ignored.
MAX_KEYS: Final = 100
_CURVES: Final[Mapping[str, tuple[str, type[ec.EllipticCurve], int]]] = MappingProxyType(
    {
        "P-256": ("ES256", ec.SECP256R1, 32),
        "P-384": ("ES384", ec.SECP384R1, 48),
        "P-521": ("ES512", ec.SECP521R1, 66),
    }
)

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True, slots=True)
class PublicJwk:
    """One verification key: its ``kid`` (may be absent), family (``RSA``/``EC``),
    the token algorithms it may verify, and the public key."""

    kid: str | None
    family: str
    algorithms: frozenset[str]
    key: PublicKey = field(repr=False)

    def verifies(self, alg: str) -> bool:
        return alg in self.algorithms


def _int(value: object, length: int | None = None) -> int:
    if not isinstance(value, str):
        raise ValueError("not a string")
    data = b64url_decode(value)
    if length is not None and len(data) != length:
        raise ValueError("wrong length")
    return int.from_bytes(data, "big")


def parse_jwk(jwk: Mapping[str, Any]) -> PublicJwk | None:
    """A verification key from one JWK, or ``None`` if it is not one we accept."""
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
            entry = PublicJwk(kid, "RSA", RSA_ALGORITHMS, rsa_key)
        elif jwk.get("kty") == "EC":
            curve = _CURVES.get(str(jwk.get("crv")))
            if curve is None:
                return None
            alg, curve_type, size = curve
            x, y = _int(jwk.get("x"), size), _int(jwk.get("y"), size)
            ec_key = ec.EllipticCurvePublicNumbers(x, y, curve_type()).public_key()
            entry = PublicJwk(kid, "EC", frozenset({alg}), ec_key)
        else:
            return None
    except (ValueError, MalformedToken, TypeError):
        return None
    if declared is not None:
        if declared not in entry.algorithms:
            return None
        entry = PublicJwk(kid, entry.family, frozenset({declared}), entry.key)
    return entry


def parse_jwks(doc: Mapping[str, Any], *, max_keys: int = MAX_KEYS) -> tuple[PublicJwk, ...]:
    """The usable keys of a JWKS document, in document order (possibly none);
    raises ``DocumentError`` when it has no ``keys`` array."""
    keys = doc.get("keys")
    if not isinstance(keys, list):
        raise DocumentError("JWKS has no 'keys' array")
    out: list[PublicJwk] = []
    for jwk in keys[:max_keys]:
        if isinstance(jwk, dict):
            entry = parse_jwk(jwk)
            if entry is not None:
                out.append(entry)
    return tuple(out)


def candidates(keys: Iterable[PublicJwk], alg: str | None, kid: str | None) -> list[PublicJwk]:
    """The keys that could verify a token with this ``alg`` and ``kid``: the keys
    named ``kid``, or every key of the right type when the token has no ``kid``
    (``alg=None`` matches any algorithm)."""
    return [k for k in keys if (alg is None or k.verifies(alg)) and (kid is None or k.kid == kid)]
