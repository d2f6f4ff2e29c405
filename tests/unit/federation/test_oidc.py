"""The inbound OIDC client (``tessera.federation.oidc``) without sockets: token
parsing, JWK parsing and the algorithm/key binding, signature checks for all six
algorithms, and the discovery/JWKS cache over an ``httpx.MockTransport`` —
caching, refresh on an unknown kid with a cooldown, failure memory, stale keys on
a failed refresh, size caps, redirects, the http/loopback rules and the error
classes (unreachable vs bad documents vs certificate)."""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import httpx
import jwt
import pytest
from tests.e2e.oidc_idp import IdpKey, b64url, new_key

from tessera.federation.oidc import (
    IdpCertificateError,
    IdpDocumentError,
    IdpTargetRefused,
    IdpUnreachable,
    InboundOidc,
    MalformedToken,
    UnknownSigningKey,
    UnverifiedToken,
    parse_jwk,
    parse_jwks,
    verify_signature,
)

ISSUER = "https://idp.example.com/tenant"
JWKS_URI = "https://keys.example.com/jwks"
ALGS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")


@pytest.fixture(scope="module")
def keys() -> dict[str, IdpKey]:
    return {alg: new_key(alg) for alg in ALGS}


def token(key: IdpKey, alg: str | None = None, kid: str | None = "", **claims: Any) -> str:
    header: dict[str, Any] = {}
    if kid == "":
        header["kid"] = key.kid
    elif kid is not None:
        header["kid"] = kid
    body = {"iss": ISSUER, "sub": "someone", "aud": "app", "iat": 1, "exp": 2, **claims}
    return jwt.encode(body, key.private, algorithm=alg or key.alg, headers=header)


def public(host: str, port: int) -> tuple[IPv4Address | IPv6Address, ...]:
    """Every name is a public address (no DNS; the mock transport never connects)."""
    return (IPv4Address("203.0.113.7"),)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class FakeIdp:
    """Answers discovery and JWKS; records every request."""

    def __init__(self, keys: list[IdpKey]) -> None:
        self.keys = keys
        self.calls: list[str] = []
        self.routes: dict[str, Callable[[httpx.Request], httpx.Response]] = {}
        self.discovery: dict[str, Any] = {"issuer": ISSUER, "jwks_uri": JWKS_URI}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.calls.append(url)
        if url in self.routes:
            return self.routes[url](request)
        if url == ISSUER + "/.well-known/openid-configuration":
            return httpx.Response(200, json=self.discovery)
        if url == JWKS_URI:
            return httpx.Response(200, json={"keys": [k.jwk() for k in self.keys]})
        return httpx.Response(404)

    def client(self, **kw: Any) -> tuple[InboundOidc, Clock]:
        clock = Clock()
        oidc = InboundOidc(
            http_client=httpx.Client(transport=httpx.MockTransport(self)),
            monotonic=clock,
            resolver=public,
            **kw,
        )
        return oidc, clock


# --- parsing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "a.b",
        "a.b.c.d",
        "!!.e30.sig",
        b64url(b"[]") + ".e30.c2ln",
        "e30." + b64url(b"not json") + ".c2ln",
        "e30.e30.",
        b64url(json.dumps({"alg": "RS256", "crit": ["exp"]}).encode()) + ".e30.c2ln",
        b64url(json.dumps({"alg": 5}).encode()) + ".e30.c2ln",
    ],
)
def test_malformed_tokens(raw: str) -> None:
    with pytest.raises(MalformedToken):
        UnverifiedToken.parse(raw)


def test_unverified_token_never_shows_itself(keys: dict[str, IdpKey]) -> None:
    raw = token(keys["RS256"])
    parsed = UnverifiedToken.parse(raw)
    assert parsed.alg == "RS256" and parsed.kid == keys["RS256"].kid
    assert parsed.claims["iss"] == ISSUER
    assert raw not in repr(parsed) and raw.split(".")[1] not in repr(parsed)


@pytest.mark.parametrize("alg", ALGS)
def test_signatures_verify_for_each_algorithm(keys: dict[str, IdpKey], alg: str) -> None:
    entry = parse_jwk(keys[alg].jwk())
    assert entry is not None and entry.verifies(alg)
    assert verify_signature(UnverifiedToken.parse(token(keys[alg])), entry)
    other = parse_jwk(new_key(alg, kid=keys[alg].kid).jwk())
    assert other is not None
    assert not verify_signature(UnverifiedToken.parse(token(keys[alg])), other)


def test_algorithm_is_bound_to_the_key(keys: dict[str, IdpKey]) -> None:
    rsa_entry = parse_jwk(keys["RS256"].jwk())
    p256 = parse_jwk(keys["ES256"].jwk())
    assert rsa_entry is not None and p256 is not None
    assert rsa_entry.algorithms == {"RS256", "RS384", "RS512"}
    assert p256.algorithms == {"ES256"}  # the curve fixes the algorithm
    es384_token = UnverifiedToken.parse(token(keys["ES384"]))
    assert not verify_signature(es384_token, p256)
    # a JWK that declares an alg only verifies that alg
    declared = parse_jwk(keys["RS256"].jwk(with_alg=True))
    assert declared is not None and declared.algorithms == {"RS256"}
    rs512 = UnverifiedToken.parse(token(keys["RS256"], alg="RS512"))
    assert verify_signature(rs512, rsa_entry) and not verify_signature(rs512, declared)


def test_hmac_and_none_never_verify(keys: dict[str, IdpKey]) -> None:
    entry = parse_jwk(keys["RS256"].jwk())
    assert entry is not None
    header = b64url(json.dumps({"alg": "HS256", "kid": keys["RS256"].kid}).encode())
    forged = UnverifiedToken.parse(f"{header}.e30.c2ln")
    assert not verify_signature(forged, entry)
    none = UnverifiedToken.parse(b64url(b'{"alg":"none"}') + ".e30.c2ln")
    assert not verify_signature(none, entry)


def test_unusable_jwks_entries_are_skipped(keys: dict[str, IdpKey]) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    small = IdpKey("small", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=1024))
    assert parse_jwk(small.jwk()) is None  # RSA below 2048 bits
    assert parse_jwk({**keys["RS256"].jwk(), "use": "enc"}) is None
    assert parse_jwk({**keys["RS256"].jwk(), "alg": "HS256"}) is None
    assert parse_jwk({**keys["RS256"].jwk(), "key_ops": ["encrypt"]}) is None
    assert parse_jwk({**keys["ES256"].jwk(), "alg": "ES384"}) is None  # curve/alg mismatch
    assert parse_jwk({**keys["ES256"].jwk(), "crv": "P-384"}) is None  # wrong coordinate size
    assert parse_jwk({"kty": "oct", "k": "c2VjcmV0", "kid": "h"}) is None
    assert parse_jwk({"kty": "OKP", "crv": "Ed25519", "x": "AA", "kid": "e"}) is None
    with pytest.raises(IdpDocumentError):
        parse_jwks({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})
    with pytest.raises(IdpDocumentError):
        parse_jwks({"nokeys": []})


# --- fetching and caching -------------------------------------------------------------


def test_keys_are_fetched_once_and_cached(keys: dict[str, IdpKey]) -> None:
    idp = FakeIdp([keys["RS256"], keys["ES384"]])
    oidc, clock = idp.client()
    tok = UnverifiedToken.parse(token(keys["ES384"]))
    found = oidc.keys_for(ISSUER, tok)
    assert [k.kid for k in found] == [keys["ES384"].kid]
    assert idp.calls == [ISSUER + "/.well-known/openid-configuration", JWKS_URI]
    clock.t += 100
    oidc.keys_for(ISSUER, UnverifiedToken.parse(token(keys["RS256"])))
    assert len(idp.calls) == 2  # cached
    clock.t += 600  # past the cache TTL
    oidc.keys_for(ISSUER, tok)
    assert len(idp.calls) == 4


def test_unknown_kid_refreshes_once_per_cooldown(keys: dict[str, IdpKey]) -> None:
    idp = FakeIdp([keys["RS256"]])
    oidc, clock = idp.client(refresh_cooldown=30.0)
    oidc.keys_for(ISSUER, UnverifiedToken.parse(token(keys["RS256"])))
    rotated = new_key("RS256", kid="rotated")
    tok = UnverifiedToken.parse(token(rotated))
    clock.t += 31
    with pytest.raises(UnknownSigningKey):
        oidc.keys_for(ISSUER, tok)  # refresh: still unknown
    assert len(idp.calls) == 4
    for _ in range(20):  # a stream of random kids cannot hammer the IdP
        with pytest.raises(UnknownSigningKey):
            oidc.keys_for(ISSUER, UnverifiedToken.parse(token(rotated, kid="random")))
    assert len(idp.calls) == 4
    idp.keys.append(rotated)  # the IdP rotates
    clock.t += 31
    assert [k.kid for k in oidc.keys_for(ISSUER, tok)] == ["rotated"]
    assert len(idp.calls) == 6


def test_token_without_kid_gets_every_key_of_its_type(keys: dict[str, IdpKey]) -> None:
    second = new_key("RS256", kid="second")
    idp = FakeIdp([keys["RS256"], second, keys["ES256"]])
    oidc, _ = idp.client()
    found = oidc.keys_for(ISSUER, UnverifiedToken.parse(token(second, kid=None)))
    assert {k.kid for k in found} == {keys["RS256"].kid, "second"}


def test_failures_are_remembered_briefly(keys: dict[str, IdpKey]) -> None:
    idp = FakeIdp([keys["RS256"]])
    idp.routes[ISSUER + "/.well-known/openid-configuration"] = lambda r: httpx.Response(503)
    oidc, clock = idp.client(failure_ttl=5.0)
    tok = UnverifiedToken.parse(token(keys["RS256"]))
    with pytest.raises(IdpUnreachable):
        oidc.keys_for(ISSUER, tok)
    with pytest.raises(IdpUnreachable):
        oidc.keys_for(ISSUER, tok)
    assert len(idp.calls) == 1  # the second answer came from memory
    del idp.routes[ISSUER + "/.well-known/openid-configuration"]
    clock.t += 6
    assert oidc.keys_for(ISSUER, tok)


def test_cached_keys_survive_a_failed_refresh(keys: dict[str, IdpKey]) -> None:
    idp = FakeIdp([keys["RS256"]])
    oidc, clock = idp.client()
    tok = UnverifiedToken.parse(token(keys["RS256"]))
    oidc.keys_for(ISSUER, tok)
    idp.routes[JWKS_URI] = lambda r: httpx.Response(500)
    clock.t += 601
    assert [k.kid for k in oidc.keys_for(ISSUER, tok)] == [keys["RS256"].kid]


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(500), IdpUnreachable),
        (httpx.Response(429), IdpUnreachable),
        (httpx.Response(404), IdpDocumentError),
        (httpx.Response(200, content=b"<html>"), IdpDocumentError),
        (httpx.Response(200, json=[1, 2]), IdpDocumentError),
        (httpx.Response(200, json={"keys": []}), IdpDocumentError),
        (httpx.Response(302), IdpDocumentError),  # redirect without Location
    ],
)
def test_jwks_answers(keys: dict[str, IdpKey], response: httpx.Response, error: type) -> None:
    idp = FakeIdp([keys["RS256"]])
    idp.routes[JWKS_URI] = lambda r: response
    oidc, _ = idp.client()
    with pytest.raises(error):
        oidc.keys_for(ISSUER, UnverifiedToken.parse(token(keys["RS256"])))


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("x")],
)
def test_network_failures_are_unreachable(keys: dict[str, IdpKey], exc: Exception) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    idp = FakeIdp([keys["RS256"]])
    idp.routes[ISSUER + "/.well-known/openid-configuration"] = fail
    oidc, _ = idp.client()
    with pytest.raises(IdpUnreachable):
        oidc.keys_for(ISSUER, UnverifiedToken.parse(token(keys["RS256"])))


def test_certificate_failures_are_their_own_class(keys: dict[str, IdpKey]) -> None:
    def bad_cert(request: httpx.Request) -> httpx.Response:
        try:
            raise ssl.SSLCertVerificationError("certificate verify failed")
        except ssl.SSLCertVerificationError as inner:
            raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]") from inner

    idp = FakeIdp([keys["RS256"]])
    idp.routes[ISSUER + "/.well-known/openid-configuration"] = bad_cert
    oidc, _ = idp.client()
    with pytest.raises(IdpCertificateError):
        oidc.keys_for(ISSUER, UnverifiedToken.parse(token(keys["RS256"])))


def test_discovery_must_name_the_same_issuer(keys: dict[str, IdpKey]) -> None:
    idp = FakeIdp([keys["RS256"]])
    idp.discovery["issuer"] = ISSUER + "/"
    oidc, _ = idp.client()
    with pytest.raises(IdpDocumentError, match="discovery names issuer"):
        oidc.keys_for(ISSUER, UnverifiedToken.parse(token(keys["RS256"])))
    idp.discovery = {"issuer": ISSUER}
    oidc2, _ = idp.client()
    with pytest.raises(IdpDocumentError, match="jwks_uri"):
        oidc2.keys_for(ISSUER, UnverifiedToken.parse(token(keys["RS256"])))


def test_size_caps(keys: dict[str, IdpKey]) -> None:
    big = {"keys": [keys["RS256"].jwk()], "pad": "x" * 5000}
    idp = FakeIdp([keys["RS256"]])
    idp.routes[JWKS_URI] = lambda r: httpx.Response(200, json=big)
    oidc, _ = idp.client(max_jwks_bytes=4096)
    with pytest.raises(IdpDocumentError, match="larger than"):
        oidc.keys_for(ISSUER, UnverifiedToken.parse(token(keys["RS256"])))

    def streamed(request: httpx.Request) -> httpx.Response:  # no Content-Length
        chunks = [json.dumps(big).encode()[i : i + 512] for i in range(0, 6000, 512)]
        return httpx.Response(200, content=iter(chunks))

    idp.routes[JWKS_URI] = streamed
    oidc, _ = idp.client(max_jwks_bytes=4096)
    with pytest.raises(IdpDocumentError, match="larger than"):
        oidc.keys_for(ISSUER, UnverifiedToken.parse(token(keys["RS256"])))


def test_redirects_are_followed_only_to_allowed_urls(keys: dict[str, IdpKey]) -> None:
    idp = FakeIdp([keys["RS256"]])
    moved = "https://keys2.example.com/jwks"
    idp.routes[JWKS_URI] = lambda r: httpx.Response(301, headers={"Location": moved})
    idp.routes[moved] = lambda r: httpx.Response(200, json={"keys": [keys["RS256"].jwk()]})
    oidc, _ = idp.client()
    assert oidc.keys_for(ISSUER, UnverifiedToken.parse(token(keys["RS256"])))
    assert idp.calls[-1] == moved
    # https → plain http is never followed
    idp2 = FakeIdp([keys["RS256"]])
    idp2.routes[JWKS_URI] = lambda r: httpx.Response(
        302, headers={"Location": "http://keys.example.com/jwks"}
    )
    oidc2, _ = idp2.client()
    with pytest.raises(IdpDocumentError, match="plain http after https"):
        oidc2.keys_for(ISSUER, UnverifiedToken.parse(token(keys["RS256"])))
    assert "http://keys.example.com/jwks" not in idp2.calls
    # nor to loopback (refused like an unreachable host), nor forever
    idp3 = FakeIdp([keys["RS256"]])
    idp3.routes[JWKS_URI] = lambda r: httpx.Response(
        302, headers={"Location": "https://127.0.0.1/admin"}
    )
    oidc3, _ = idp3.client()
    with pytest.raises(IdpTargetRefused, match="loopback"):
        oidc3.keys_for(ISSUER, UnverifiedToken.parse(token(keys["RS256"])))
    idp4 = FakeIdp([keys["RS256"]])
    idp4.routes[JWKS_URI] = lambda r: httpx.Response(302, headers={"Location": JWKS_URI})
    oidc4, _ = idp4.client()
    with pytest.raises(IdpDocumentError, match="redirects"):
        oidc4.keys_for(ISSUER, UnverifiedToken.parse(token(keys["RS256"])))
    assert idp4.calls.count(JWKS_URI) == 4


def test_plain_http_rules(caplog: pytest.LogCaptureFixture) -> None:
    oidc = InboundOidc(
        http_client=httpx.Client(transport=httpx.MockTransport(FakeIdp([]))), resolver=public
    )
    oidc.check_url("http://127.0.0.1:8080/x", issuer_host="127.0.0.1")
    oidc.check_url("http://localhost/x", issuer_host="localhost")
    oidc.check_url("http://[::1]:9/x", issuer_host="::1")
    with pytest.raises(IdpDocumentError, match="plain http"):
        oidc.check_url("http://idp.example.com/x", issuer_host="idp.example.com")
    with pytest.raises(IdpTargetRefused, match="loopback"):
        oidc.check_url("https://localhost/x", issuer_host="idp.example.com")
    with pytest.raises(IdpDocumentError):
        oidc.check_url("ftp://idp.example.com/x", issuer_host="idp.example.com")
    with pytest.raises(IdpDocumentError, match="credentials"):
        oidc.check_url("https://u:p@idp.example.com/x", issuer_host="idp.example.com")
    insecure = InboundOidc(
        http_client=httpx.Client(transport=httpx.MockTransport(FakeIdp([]))),
        insecure_http=True,
        resolver=public,
    )
    assert "INSECURE" in caplog.text
    insecure.check_url("http://idp.example.com/x", issuer_host="idp.example.com")
