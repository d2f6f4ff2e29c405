"""JWS signing: exact header bytes, signature formats, and interoperability with
PyJWT (PyJWKClient over a local HTTP JWKS), joserfc and jwcrypto for both algs."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jwt as jose_jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet
from jwcrypto import jwk as jc_jwk
from jwcrypto import jwt as jc_jwt

from tessera import errors
from tessera.oidc import documents
from tessera.oidc.claims import TokenContext, build_claims
from tessera.oidc.jwt import issue_token, sign_jwt, sign_payload
from tessera.oidc.keys import SigningKey
from tessera.sensitive import Secret

ISS = "https://11111111-2222-3333-4444-555555555555.tokens.sts.global.api.aws"
AUD = "https://api.example.com"


def b64d(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def claims_now() -> dict[str, Any]:
    ctx = TokenContext(
        issuer=ISS,
        audiences=[AUD],
        subject="arn:aws:iam::123456789012:role/example",
        account="123456789012",
        source_region="us-east-1",
        principal_id="arn:aws:iam::123456789012:role/example",
        principal_tags={"team": "data"},
    )
    return build_claims(ctx, issued_at=datetime.now(UTC), duration=300)


@pytest.fixture(params=["RS256", "ES384"])
def key(request: pytest.FixtureRequest, rsa_key: SigningKey, ec_key: SigningKey) -> SigningKey:
    return rsa_key if request.param == "RS256" else ec_key


@pytest.fixture(scope="module")
def jwks_server(rsa_key: SigningKey, ec_key: SigningKey) -> Iterator[str]:
    body = documents.jwks_document([rsa_key, ec_key])

    class H(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/.well-known/jwks.json"
    srv.shutdown()
    srv.server_close()
    t.join()


def test_header_bytes_exact(key: SigningKey) -> None:
    token = sign_jwt(claims_now(), key)
    header = b64d(token.split(".")[0])
    expected = '{"kid":"' + key.kid + '","typ":"JWT","alg":"' + key.alg + '"}'
    assert header == expected.encode()


def test_payload_segment_is_compact_json(key: SigningKey) -> None:
    c = claims_now()
    token = sign_jwt(c, key)
    raw = b64d(token.split(".")[1])
    assert raw == json.dumps(c, separators=(",", ":"), ensure_ascii=False).encode()
    assert "=" not in token


def test_signature_formats(rsa_key: SigningKey, ec_key: SigningKey) -> None:
    rs = sign_jwt(claims_now(), rsa_key)
    assert len(b64d(rs.split(".")[2])) == 256
    es = sign_jwt(claims_now(), ec_key)
    raw = b64d(es.split(".")[2])
    assert len(raw) == 96
    # raw R||S converts back to DER and verifies with cryptography
    r, s = int.from_bytes(raw[:48], "big"), int.from_bytes(raw[48:], "big")
    pub = ec_key.private_key.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    signing_input = es.rsplit(".", 1)[0].encode()
    pub.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA384()))
    rpub = rsa_key.private_key.public_key()
    assert isinstance(rpub, rsa.RSAPublicKey)
    rpub.verify(b64d(rs.split(".")[2]), rs.rsplit(".", 1)[0].encode(), PKCS1v15(), hashes.SHA256())


def test_pyjwt_pyjwkclient_verifies(key: SigningKey, jwks_server: str) -> None:
    token = sign_jwt(claims_now(), key)
    client = pyjwt.PyJWKClient(jwks_server, cache_keys=False)
    signing_key = client.get_signing_key_from_jwt(token)
    decoded = pyjwt.decode(
        token,
        signing_key.key,
        algorithms=[key.alg],
        audience=AUD,
        issuer=ISS,
        leeway=0,
    )
    assert decoded["sub"] == "arn:aws:iam::123456789012:role/example"
    assert pyjwt.get_unverified_header(token) == {"kid": key.kid, "typ": "JWT", "alg": key.alg}


def test_joserfc_verifies(key: SigningKey, rsa_key: SigningKey, ec_key: SigningKey) -> None:
    keyset = KeySet.import_key_set(json.loads(documents.jwks_document([rsa_key, ec_key])))
    token = sign_jwt(claims_now(), key)
    decoded = jose_jwt.decode(token, keyset, algorithms=[key.alg])
    assert decoded.header["kid"] == key.kid
    registry = jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISS}, aud={"essential": True, "value": AUD}
    )
    registry.validate(decoded.claims)


def test_jwcrypto_verifies(key: SigningKey, rsa_key: SigningKey, ec_key: SigningKey) -> None:
    keyset = jc_jwk.JWKSet.from_json(documents.jwks_document([rsa_key, ec_key]).decode())
    token = sign_jwt(claims_now(), key)
    verified = jc_jwt.JWT(jwt=token, key=keyset, algs=[key.alg], expected_type="JWS")
    assert json.loads(verified.claims)["iss"] == ISS


def test_tampered_token_fails_elsewhere(
    key: SigningKey, rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    keyset = KeySet.import_key_set(json.loads(documents.jwks_document([rsa_key, ec_key])))
    h, _, s = sign_jwt(claims_now(), key).split(".")
    other = sign_jwt({**claims_now(), "sub": "evil"}, key).split(".")[1]

    with pytest.raises(BadSignatureError):
        jose_jwt.decode(f"{h}.{other}.{s}", keyset, algorithms=[key.alg])


def test_sign_payload_and_size_limit(rsa_key: SigningKey) -> None:
    token = sign_payload(b'{"a":1}', rsa_key)
    assert b64d(token.split(".")[1]) == b'{"a":1}'
    with pytest.raises(errors.JWTPayloadSizeExceeded):
        sign_jwt({"x": "y" * 17000}, rsa_key)


def test_issue_token(ec_key: SigningKey) -> None:
    now = datetime(2026, 4, 21, 7, 32, 10, 500000, tzinfo=UTC)
    ctx = TokenContext(
        issuer=ISS,
        audiences=[AUD, "b"],
        subject="arn:aws:iam::123456789012:user/alice",
        account="123456789012",
        source_region="eu-north-1",
        principal_id="arn:aws:iam::123456789012:user/alice",
    )
    issued = issue_token(ctx, ec_key, now=now, duration=900, jti_factory=lambda: "jti-1")
    assert isinstance(issued.token, Secret) and "ey" not in repr(issued)
    assert issued.kid == "EC384_0" and issued.jti == "jti-1"
    assert issued.issued_at == now.replace(microsecond=0)
    assert issued.expires_at == now.replace(microsecond=0) + timedelta(seconds=900)
    payload = json.loads(b64d(issued.token.reveal().split(".")[1]))
    assert payload["aud"] == [AUD, "b"] and payload["exp"] - payload["iat"] == 900
    with pytest.raises(errors.JWTPayloadSizeExceeded):
        issue_token(ctx, ec_key, now=now, duration=900, max_payload_bytes=100)
