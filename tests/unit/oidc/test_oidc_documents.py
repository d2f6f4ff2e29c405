"""Discovery document, JWKS document and ETags."""

from __future__ import annotations

import json

from tessera.oidc import documents as D
from tessera.oidc.keys import SigningKey, public_jwk

ISS = "https://a103a2cc-b461-473d-84fe-6c4f6d45af88.tokens.sts.global.api.aws"


def test_discovery_exactly_aws_fields() -> None:
    doc = json.loads(D.discovery_document(ISS))
    assert doc == {
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "jti",
            "https://sts.amazonaws.com/",
        ],
        "id_token_signing_alg_values_supported": ["RS256", "ES384"],
        "issuer": ISS,
        "jwks_uri": ISS + "/.well-known/jwks.json",
        "subject_types_supported": ["public"],
    }
    assert list(doc) == sorted(doc)


def test_discovery_path_form_issuer() -> None:
    iss = "https://tessera.example/issuers/5e0c"
    doc = json.loads(D.discovery_document(iss))
    assert doc["jwks_uri"] == "https://tessera.example/issuers/5e0c/.well-known/jwks.json"
    assert D.discovery_url(iss) == iss + "/.well-known/openid-configuration"


def test_discovery_is_deterministic_and_compact() -> None:
    assert D.discovery_document(ISS) == D.discovery_document(ISS)
    assert b" " not in D.discovery_document(ISS)


def test_jwks_document(rsa_key: SigningKey, ec_key: SigningKey) -> None:
    body = D.jwks_document([rsa_key, ec_key])
    doc = json.loads(body)
    assert doc == {"keys": [public_jwk(rsa_key), public_jwk(ec_key)]}
    assert body.startswith(b'{"keys":[{"e":"AQAB","kid":"RSA_0","kty":"RSA","n":"')
    assert D.jwks_document([]) == b'{"keys":[]}'


def test_strong_etag() -> None:
    a = D.strong_etag(b"one")
    assert a.startswith('"') and a.endswith('"') and not a.startswith("W/")
    assert a == D.strong_etag(b"one") and a != D.strong_etag(b"two")


def test_etag_matches() -> None:
    e = D.strong_etag(b"x")
    assert D.etag_matches(e, e)
    assert D.etag_matches(f'"nope", {e}', e)
    assert D.etag_matches(f"W/{e}", e)
    assert D.etag_matches("*", e)
    assert not D.etag_matches(None, e)
    assert not D.etag_matches("", e)
    assert not D.etag_matches('"nope"', e)
