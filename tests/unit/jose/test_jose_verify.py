"""``tessera.jose.verify``: the one verifier — algorithm allow-list and key
binding, signature over the exact signing input, iss/aud/exp/iat/nbf/sub with an
explicit leeway, and ``VerifiedClaims`` that nothing else can create."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tessera.jose import errors
from tessera.jose.jwk import PublicJwk
from tessera.jose.token import UnverifiedToken
from tessera.jose.verify import VerifiedClaims, verify, verify_signature

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP384R1())
RSA_JWK = PublicJwk("r", "RSA", frozenset({"RS256", "RS384", "RS512"}), RSA_KEY.public_key())
EC_JWK = PublicJwk("e", "EC", frozenset({"ES384"}), EC_KEY.public_key())
ISS, AUD, NOW = "https://idp.example", "app", 1_000_000


def claims(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": "s", "iat": NOW, "exp": NOW + 300}
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


def token(alg: str = "RS256", kid: str | None = "r", **kw: Any) -> UnverifiedToken:
    key: Any = EC_KEY if alg.startswith("ES") else RSA_KEY
    headers = {"kid": kid} if kid is not None else {}
    return UnverifiedToken.parse(jwt.encode(claims(**kw), key, algorithm=alg, headers=headers))


def run(tok: UnverifiedToken, **kw: Any) -> VerifiedClaims:
    options: dict[str, Any] = {
        "algorithms": ("RS256", "RS384", "ES384"),
        "issuer": ISS,
        "audiences": (AUD,),
        "leeway": 60,
        "now": NOW,
    }
    options.update(kw)
    return verify(tok, [RSA_JWK, EC_JWK], **options)


def test_verifies_and_reports_what_it_checked() -> None:
    out = run(token(aud=["other", AUD], nbf=NOW))
    assert (out.issuer, out.subject, out.audience) == (ISS, "s", AUD)
    assert out.audiences == ("other", AUD)
    assert (out.issued_at, out.expires_at, out.not_before) == (NOW, NOW + 300, NOW)
    assert (out.kid, out.algorithm) == ("r", "RS256")
    assert out.claims["sub"] == "s"
    assert run(token("ES384", kid="e")).kid == "e"
    assert run(token("RS384", kid=None)).kid == "r"  # no kid: every key of the type


def test_verified_claims_have_no_public_constructor() -> None:
    with pytest.raises(TypeError):
        VerifiedClaims(object(), issuer=ISS)
    with pytest.raises(TypeError):
        VerifiedClaims()  # type: ignore[call-arg]
    out = run(token())
    with pytest.raises(AttributeError):
        out.subject = "admin"  # type: ignore[misc]
    with pytest.raises(TypeError):
        copy.copy(out)
    with pytest.raises(TypeError):
        pickle.dumps(out)


def test_algorithm_allow_list_and_key_binding() -> None:
    with pytest.raises(errors.DisallowedAlgorithm):
        run(token("RS512"))  # a valid signature, but not on the caller's list
    with pytest.raises(errors.DisallowedAlgorithm):
        run(token(), algorithms=("HS256", "none"))  # unknown algorithms never count
    es = token("ES384", kid="r")  # names the RSA key
    with pytest.raises(errors.UnknownKid):
        run(es)
    assert not verify_signature(es, RSA_JWK)


def test_signature_is_over_the_exact_bytes() -> None:
    good = token()
    other = token(sub="admin")
    h, p, _ = other.raw.reveal().split(".")
    forged = UnverifiedToken.parse(".".join([h, p, good.raw.reveal().split(".")[2]]))
    with pytest.raises(errors.BadSignature):
        run(forged)


@pytest.mark.parametrize(
    ("kw", "error", "claim"),
    [
        ({"iss": "https://evil"}, errors.WrongIssuer, None),
        ({"iss": None}, errors.MissingClaim, "iss"),
        ({"aud": "other"}, errors.WrongAudience, None),
        ({"aud": None}, errors.MissingClaim, "aud"),
        ({"aud": []}, errors.InvalidClaim, "aud"),
        ({"exp": None}, errors.MissingClaim, "exp"),
        ({"exp": NOW + 1.5}, errors.InvalidClaim, "exp"),
        ({"iat": True}, errors.InvalidClaim, "iat"),
        ({"nbf": "soon"}, errors.InvalidClaim, "nbf"),
        ({"sub": None}, errors.MissingClaim, "sub"),
        ({"sub": ""}, errors.InvalidClaim, "sub"),
    ],
)
def test_claims(kw: dict[str, Any], error: type[Exception], claim: str | None) -> None:
    with pytest.raises(error) as info:
        run(token(**kw))
    if claim is not None:
        assert info.value.claim == claim


def test_times_with_explicit_leeway() -> None:
    tok = token(exp=NOW)
    run(tok, now=NOW + 59)
    with pytest.raises(errors.TokenExpired) as expired:
        run(tok, now=NOW + 60)
    assert (expired.value.exp, expired.value.now) == (NOW, NOW + 60)
    run(token(iat=NOW + 60))
    with pytest.raises(errors.TokenNotYetValid) as early:
        run(token(iat=NOW + 61))
    assert early.value.claim == "iat"
    with pytest.raises(errors.TokenNotYetValid) as nbf:
        run(token(nbf=NOW + 61))
    assert (nbf.value.claim, nbf.value.value) == ("nbf", NOW + 61)
    run(token(iat=NOW + 61), leeway=61)
