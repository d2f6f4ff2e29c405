"""UnverifiedToken parsing and VerifiedClaims construction (only from the JOSE
core's verified claims)."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tessera.jose.jwk import PublicJwk
from tessera.jose.verify import verify
from tessera.verify import MalformedToken, UnverifiedToken, VerifiedClaims
from tessera.verify.testing import LocalIssuer

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def verified(payload: dict[str, Any]) -> VerifiedClaims:
    """Claims through the real path: sign ``payload``, verify it with the JOSE core
    (at its own ``iat``), wrap it. ``VerifiedClaims`` has no other constructor."""
    raw = jwt.encode(payload, _KEY, algorithm="RS256", headers={"kid": "RSA_0"})
    key = PublicJwk("RSA_0", "RSA", frozenset({"RS256"}), _KEY.public_key())
    aud = payload["aud"]
    core = verify(
        UnverifiedToken.parse(raw),
        [key],
        algorithms=["RS256"],
        issuer=payload["iss"],
        audiences=[aud] if isinstance(aud, str) else aud,
        leeway=0,
        now=payload["iat"],
    )
    return VerifiedClaims(core)


def test_parse_and_repr_hides_token(issuer: LocalIssuer) -> None:
    token = issuer.issue("ES384")
    u = UnverifiedToken.parse(token)
    kid = issuer.key("ES384").kid
    assert u.kid == kid and kid.startswith("EC384_0_") and u.alg == "ES384"
    assert dict(u.header) == {"kid": kid, "typ": "JWT", "alg": "ES384"}
    assert token not in repr(u) and token.split(".")[2] not in repr(u)
    assert u.peek_issuer() == issuer.issuer


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "a.b",
        "e30=.e30.x",  # padding is not allowed
        "eyJraWQiOjF9.e30.x",  # kid not a string
        "eyJhbGciOjF9.e30.x",  # alg not a string
        "x" * 70000,
        b"\xff.\xff.\xff",
    ],
)
def test_parse_rejects(bad: str | bytes) -> None:
    with pytest.raises(MalformedToken):
        UnverifiedToken.parse(bad)


def test_ou_path_string_form_accepted() -> None:
    payload = {
        "iss": "https://i",
        "sub": "s",
        "aud": "a",
        "exp": 2,
        "iat": 1,
        "https://sts.amazonaws.com/": {"ou_path": "o-1/r-1/"},
    }
    claims = verified(payload)
    assert claims.ou_path == ("o-1/r-1/",)
    assert claims.account is None and dict(claims.principal_tags) == {}
    summary = claims.to_json_dict()
    assert summary["issued_at"] == "1970-01-01T00:00:01Z"
    assert summary["claims"]["https://sts.amazonaws.com/"] == {"ou_path": "o-1/r-1/"}


@pytest.mark.parametrize(
    "aws",
    [[], {"ou_path": [1]}, {"request_tags": "x"}, {"aws_account": 123456789012}],
)
def test_bad_aws_claims(aws: object) -> None:
    payload = {
        "iss": "https://i",
        "sub": "s",
        "aud": "a",
        "exp": 2,
        "iat": 1,
        "https://sts.amazonaws.com/": aws,
    }
    with pytest.raises(MalformedToken):
        verified(payload)


def test_verified_claims_have_no_public_constructor() -> None:
    payload = {"iss": "https://i", "sub": "s", "aud": "a", "exp": 2, "iat": 1}
    claims = verified(payload)
    with pytest.raises(TypeError):
        VerifiedClaims(payload)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        claims.subject = "admin"  # type: ignore[misc]
    assert not hasattr(VerifiedClaims, "from_payload")
