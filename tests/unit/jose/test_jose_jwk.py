"""``tessera.jose.jwk``: which JWKs become keys, and for which algorithms."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tessera.jose.errors import DocumentError
from tessera.jose.jwk import candidates, parse_jwk, parse_jwks


def b64int(n: int, size: int | None = None) -> str:
    raw = n.to_bytes(size or (n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def rsa_jwk(bits: int = 2048, **kw: Any) -> dict[str, Any]:
    nums = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    pub = nums.public_numbers()
    return {"kty": "RSA", "kid": "r", "n": b64int(pub.n), "e": b64int(pub.e), **kw}


def ec_jwk(curve: ec.EllipticCurve, crv: str, size: int, **kw: Any) -> dict[str, Any]:
    pub = ec.generate_private_key(curve).public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": crv,
        "kid": crv,
        "x": b64int(pub.x, size),
        "y": b64int(pub.y, size),
        **kw,
    }


def test_families_and_algorithm_binding() -> None:
    r = parse_jwk(rsa_jwk())
    assert r is not None and r.algorithms == {"RS256", "RS384", "RS512"}
    for curve, crv, size, alg in (
        (ec.SECP256R1(), "P-256", 32, "ES256"),
        (ec.SECP384R1(), "P-384", 48, "ES384"),
        (ec.SECP521R1(), "P-521", 66, "ES512"),
    ):
        key = parse_jwk(ec_jwk(curve, crv, size))
        assert key is not None and key.algorithms == {alg}
    narrowed = parse_jwk(rsa_jwk(alg="RS384"))
    assert narrowed is not None and narrowed.algorithms == {"RS384"}


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "oct", "k": "c2VjcmV0"},
        {"kty": "OKP", "crv": "Ed25519", "x": "AA"},
        {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},  # wrong coordinate size
        {"kty": "RSA", "n": "AA==", "e": "AQAB"},  # padded base64url
    ],
)
def test_unusable_entries(jwk: dict[str, Any]) -> None:
    assert parse_jwk(jwk) is None


def test_unusable_rsa_variants() -> None:
    assert parse_jwk(rsa_jwk(1024)) is None
    assert parse_jwk(rsa_jwk(use="enc")) is None
    assert parse_jwk(rsa_jwk(key_ops=["encrypt"])) is None
    assert parse_jwk(rsa_jwk(alg="HS256")) is None
    assert parse_jwk(rsa_jwk(alg="ES256")) is None
    assert parse_jwk(rsa_jwk(kid=7)) is None


def test_key_sets_and_candidates() -> None:
    keys = parse_jwks({"keys": [rsa_jwk(), "junk", {"kty": "oct"}, rsa_jwk(kid="r2")]})
    assert [k.kid for k in keys] == ["r", "r2"]
    assert parse_jwks({"keys": []}) == ()
    assert len(parse_jwks({"keys": [rsa_jwk()] * 3}, max_keys=2)) == 2
    with pytest.raises(DocumentError, match="'keys'"):
        parse_jwks({"nokeys": 1})
    assert [k.kid for k in candidates(keys, "RS256", "r2")] == ["r2"]
    assert [k.kid for k in candidates(keys, "RS512", None)] == ["r", "r2"]
    assert candidates(keys, "ES384", None) == []
    assert [k.kid for k in candidates(keys, None, "r")] == ["r"]
