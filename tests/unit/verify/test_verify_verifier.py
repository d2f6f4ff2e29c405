"""Verifier: happy paths for both algorithms and every rejection reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from ipaddress import IPv4Address
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from tessera.clock import FixedClock
from tessera.oidc.jwt import sign_jwt
from tessera.oidc.keys import KeyRing, SigningKey, generate_ec384, generate_rsa
from tessera.verify import (
    BadSignature,
    DisallowedAlgorithm,
    DiscoveryMismatch,
    InsecureIssuer,
    IssuerUnavailable,
    MalformedToken,
    TokenExpired,
    TokenNotYetValid,
    UnknownKid,
    UnverifiedToken,
    Verifier,
    WrongAudience,
    WrongIssuer,
)
from tessera.verify import verifier as verifier_module
from tessera.verify.testing import LocalIssuer

AUD = "https://rp.example"


def public(host: str, port: int) -> tuple[IPv4Address, ...]:
    """Every name is a public address (no DNS; the mock transports never connect):
    the fetch policy resolves and checks every host, injected client or not."""
    return (IPv4Address("203.0.113.7"),)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], sig: bytes = b"") -> str:
    h = b64(json.dumps(header, separators=(",", ":")).encode())
    p = b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{h}.{p}.{b64(sig)}"


@pytest.fixture
def verifier(issuer: LocalIssuer, clock: FixedClock) -> Iterator[Verifier]:
    with Verifier(issuer=issuer.issuer, audience=AUD, clock=clock, leeway=60) as v:
        yield v


@pytest.mark.parametrize("alg", ["RS256", "ES384"])
def test_verifies_both_algorithms(verifier: Verifier, issuer: LocalIssuer, alg: Any) -> None:
    token = issuer.issue(
        alg,
        principal_tags={"team": "ci"},
        request_tags={"job": "42"},
        org_id="o-abc",
        ou_path=["o-abc/r-1/ou-1/"],
    )
    claims = verifier.verify(token)
    assert claims.issuer == issuer.issuer
    assert claims.subject == "arn:aws:iam::123456789012:role/ci-deploy"
    assert claims.audiences == (AUD,)
    assert claims.account == "123456789012" and claims.source_region == "us-east-1"
    assert claims.principal_id == claims.subject
    assert claims.org_id == "o-abc" and claims.ou_path == ("o-abc/r-1/ou-1/",)
    assert dict(claims.principal_tags) == {"team": "ci"}
    assert dict(claims.request_tags) == {"job": "42"}
    assert claims.issued_at == issuer.now and claims.expires_at == issuer.now + timedelta(minutes=5)
    assert claims.algorithm == alg and claims.kid == issuer.key(alg).kid
    assert claims.jti and claims.raw["jti"] == claims.jti
    assert claims.aws["aws_account"] == "123456789012"


def test_keys_cached_between_verifications(verifier: Verifier, issuer: LocalIssuer) -> None:
    for alg in ("RS256", "ES384", "RS256"):
        verifier.verify(issuer.issue(alg))  # type: ignore[arg-type]
    assert issuer.requests[issuer.jwks_path] == 1
    assert issuer.requests[issuer.discovery_path] == 1


def test_multiple_audiences(issuer: LocalIssuer, clock: FixedClock) -> None:
    token = issuer.issue(audience=["https://other", AUD])
    with Verifier(issuer=issuer.issuer, audience=AUD, clock=clock) as v:
        assert v.verify(token).audiences == ("https://other", AUD)
    with Verifier(issuer=issuer.issuer, audience=["x", "https://other"], clock=clock) as v:
        v.verify(token)


def test_accepts_unverified_token_and_bytes(verifier: Verifier, issuer: LocalIssuer) -> None:
    token = issuer.issue()
    verifier.verify(UnverifiedToken.parse(token))
    verifier.verify(token.encode())


# --- algorithm attacks -----------------------------------------------------------------


def test_rejects_alg_none(verifier: Verifier, issuer: LocalIssuer) -> None:
    token = forge({"kid": "RSA_0", "typ": "JWT", "alg": "none"}, issuer.claims())
    with pytest.raises(DisallowedAlgorithm, match="'none'"):
        verifier.verify(token)
    assert issuer.requests[issuer.jwks_path] == 0  # rejected before any key lookup


def test_rejects_missing_alg(verifier: Verifier, issuer: LocalIssuer) -> None:
    with pytest.raises(DisallowedAlgorithm):
        verifier.verify(forge({"kid": "RSA_0"}, issuer.claims(), b"x"))


def test_rejects_hs256_with_public_key_as_secret(verifier: Verifier, issuer: LocalIssuer) -> None:
    pub = issuer.key("RS256").private_key.public_key()
    secret = pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    h = b64(b'{"kid":"RSA_0","typ":"JWT","alg":"HS256"}')
    p = b64(json.dumps(issuer.claims()).encode())
    sig = hmac.new(secret, f"{h}.{p}".encode(), hashlib.sha256).digest()
    with pytest.raises(DisallowedAlgorithm, match="HS256"):
        verifier.verify(f"{h}.{p}.{b64(sig)}")


def test_rejects_alg_key_type_mismatch(verifier: Verifier, issuer: LocalIssuer) -> None:
    # A genuine ES384 signature, but the header names the RSA key.
    token = issuer.issue("ES384")
    _, p, s = token.split(".")
    kid = issuer.key("RS256").kid
    h = b64(json.dumps({"kid": kid, "typ": "JWT", "alg": "ES384"}).encode())
    with pytest.raises(DisallowedAlgorithm, match=f"does not match key {kid}"):
        verifier.verify(f"{h}.{p}.{s}")


def test_constructor_rejects_unsupported_algorithms(issuer: LocalIssuer) -> None:
    for algs in (("HS256",), ("none",), ("RS256", "PS256"), ()):
        with pytest.raises(ValueError):
            Verifier(issuer=issuer.issuer, audience=AUD, algorithms=algs)


def test_restricted_algorithms(issuer: LocalIssuer, clock: FixedClock) -> None:
    with Verifier(issuer=issuer.issuer, audience=AUD, algorithms=["ES384"], clock=clock) as v:
        v.verify(issuer.issue("ES384"))
        with pytest.raises(DisallowedAlgorithm):
            v.verify(issuer.issue("RS256"))


# --- signature -------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES384"])
def test_rejects_wrong_key_with_known_kid(
    verifier: Verifier, issuer: LocalIssuer, alg: Any
) -> None:
    real = issuer.key(alg)
    pk = generate_rsa() if alg == "RS256" else generate_ec384()
    impostor = SigningKey(
        kid=real.kid,
        alg=alg,
        private_key=pk,
        created_at=real.created_at,
        not_before=real.not_before,
    )
    with pytest.raises(BadSignature):
        verifier.verify(issuer.issue(key=impostor))


def test_rejects_tampered_payload(verifier: Verifier, issuer: LocalIssuer) -> None:
    h, _, s = issuer.issue().split(".")
    p = b64(json.dumps(issuer.claims(subject="arn:aws:iam::123456789012:role/admin")).encode())
    with pytest.raises(BadSignature):
        verifier.verify(f"{h}.{p}.{s}")


# --- registered claims -------------------------------------------------------------


def test_expired_respects_leeway(
    verifier: Verifier, issuer: LocalIssuer, clock: FixedClock
) -> None:
    token = issuer.issue(duration=300)
    clock.advance(300 + 59)
    verifier.verify(token)  # within the 60 s leeway
    clock.advance(1)
    with pytest.raises(TokenExpired):
        verifier.verify(token)


def test_future_iat_rejected(verifier: Verifier, issuer: LocalIssuer) -> None:
    verifier.verify(issuer.issue(issued_at=issuer.now + timedelta(seconds=60)))
    with pytest.raises(TokenNotYetValid):
        verifier.verify(issuer.issue(issued_at=issuer.now + timedelta(seconds=61)))


def test_future_nbf_rejected(verifier: Verifier, issuer: LocalIssuer) -> None:
    claims = issuer.claims()
    claims["nbf"] = claims["iat"] + 3600
    with pytest.raises(TokenNotYetValid):
        verifier.verify(sign_jwt(claims, issuer.key()))


def test_wrong_audience(verifier: Verifier, issuer: LocalIssuer) -> None:
    with pytest.raises(WrongAudience, match=r"rp\.example"):
        verifier.verify(issuer.issue(audience="https://someone-else.example"))


def test_wrong_issuer_claim(verifier: Verifier, issuer: LocalIssuer) -> None:
    token = issuer.issue(issuer="https://evil.example")
    with pytest.raises(WrongIssuer):
        verifier.verify(token)


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "exp", "iat"])
def test_missing_required_claim(verifier: Verifier, issuer: LocalIssuer, claim: str) -> None:
    claims = issuer.claims()
    del claims[claim]
    with pytest.raises(MalformedToken, match=claim):
        verifier.verify(sign_jwt(claims, issuer.key()))


@pytest.mark.parametrize(
    ("claim", "value"),
    [("exp", "soon"), ("iat", 1.5), ("sub", 7), ("aud", []), ("exp", True)],
)
def test_mistyped_claims(verifier: Verifier, issuer: LocalIssuer, claim: str, value: Any) -> None:
    claims = issuer.claims()
    claims[claim] = value
    with pytest.raises((MalformedToken, WrongAudience)):
        verifier.verify(sign_jwt(claims, issuer.key()))


def test_mistyped_aws_claims(verifier: Verifier, issuer: LocalIssuer) -> None:
    claims = issuer.claims()
    claims["https://sts.amazonaws.com/"]["principal_tags"] = {"a": 1}
    with pytest.raises(MalformedToken, match="principal_tags"):
        verifier.verify(sign_jwt(claims, issuer.key()))


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c.d", "!!!.e30.", "e30.e30.", "W10.e30.AA", "eyJhbGciOiJSUzI1NiJ9.e30"],
)
def test_malformed_tokens(verifier: Verifier, token: str) -> None:
    with pytest.raises((MalformedToken, DisallowedAlgorithm)):
        verifier.verify(token)


def test_missing_kid(verifier: Verifier, issuer: LocalIssuer) -> None:
    with pytest.raises(MalformedToken, match="kid"):
        verifier.verify(forge({"alg": "RS256", "typ": "JWT"}, issuer.claims(), b"x"))


# --- key cache, unknown kid, cooldown ----------------------------------------------------


def _unknown_kid_token(issuer: LocalIssuer, kid: str) -> str:
    h = b64(json.dumps({"kid": kid, "typ": "JWT", "alg": "RS256"}).encode())
    return h + "." + issuer.issue().split(".", 1)[1]


def test_unknown_kid_refreshes_once_then_cools_down(
    verifier: Verifier, issuer: LocalIssuer, clock: FixedClock
) -> None:
    verifier.verify(issuer.issue())
    assert issuer.requests[issuer.jwks_path] == 1
    clock.advance(31)
    with pytest.raises(UnknownKid, match="RSA_99"):
        verifier.verify(_unknown_kid_token(issuer, "RSA_99"))
    assert issuer.requests[issuer.jwks_path] == 2  # one refresh
    for i in range(20):  # kid spraying inside the cooldown: no more fetches
        clock.advance(1)
        with pytest.raises(UnknownKid):
            verifier.verify(_unknown_kid_token(issuer, f"RSA_{100 + i}"))
    assert issuer.requests[issuer.jwks_path] == 2
    clock.advance(10)  # 30 s after the last refresh
    with pytest.raises(UnknownKid):
        verifier.verify(_unknown_kid_token(issuer, "RSA_500"))
    assert issuer.requests[issuer.jwks_path] == 3
    assert verifier.jwks_fetches == 3


def test_first_unknown_kid_right_after_fetch_waits_for_cooldown(
    verifier: Verifier, issuer: LocalIssuer
) -> None:
    verifier.verify(issuer.issue())
    with pytest.raises(UnknownKid):
        verifier.verify(_unknown_kid_token(issuer, "RSA_7"))
    assert issuer.requests[issuer.jwks_path] == 1


def test_rotated_key_picked_up_on_refresh(
    verifier: Verifier, issuer: LocalIssuer, clock: FixedClock
) -> None:
    verifier.verify(issuer.issue())
    rot = issuer.ring.rotate("RS256", issuer.now, publish_ahead=timedelta(0))
    issuer.ring = rot.ring
    clock.advance(30)
    claims = verifier.verify(issuer.issue("RS256"))
    assert claims.kid == rot.new_key.kid and claims.kid.startswith("RSA_1_")
    assert issuer.requests[issuer.jwks_path] == 2


def test_cache_ttl_refetches(issuer: LocalIssuer, clock: FixedClock) -> None:
    with Verifier(issuer=issuer.issuer, audience=AUD, clock=clock, cache_ttl=300, leeway=1e6) as v:
        token = issuer.issue()
        v.verify(token)
        clock.advance(299)
        v.verify(token)
        assert issuer.requests[issuer.jwks_path] == 1
        clock.advance(1)
        v.verify(token)
        assert issuer.requests[issuer.jwks_path] == 2
        assert issuer.requests[issuer.discovery_path] == 2


def test_stale_keys_used_when_refresh_fails(issuer: LocalIssuer, clock: FixedClock) -> None:
    with Verifier(issuer=issuer.issuer, audience=AUD, clock=clock, leeway=1e6) as v:
        token = issuer.issue()
        v.verify(token)
        issuer.overrides[issuer.jwks_path] = (b"oops", 503)
        clock.advance(301)
        assert v.verify(token).kid == issuer.key("RS256").kid


def test_unavailable_issuer_is_not_hammered(issuer: LocalIssuer, clock: FixedClock) -> None:
    issuer.overrides[issuer.discovery_path] = (b"{}", 500)
    with Verifier(issuer=issuer.issuer, audience=AUD, clock=clock) as v:
        for _ in range(5):
            with pytest.raises(IssuerUnavailable):
                v.verify(issuer.issue())
        assert issuer.requests[issuer.discovery_path] == 1
        clock.advance(30)
        issuer.overrides.clear()
        v.verify(issuer.issue())
        assert issuer.requests[issuer.discovery_path] == 2


# --- discovery / JWKS documents ----------------------------------------------------------


def test_discovery_issuer_must_match(issuer: LocalIssuer, clock: FixedClock) -> None:
    doc = json.loads(issuer.body_for(issuer.discovery_path)[0])
    doc["issuer"] = issuer.issuer + "/"
    issuer.overrides[issuer.discovery_path] = (json.dumps(doc).encode(), 200)
    with Verifier(issuer=issuer.issuer, audience=AUD, clock=clock) as v:
        with pytest.raises(DiscoveryMismatch):
            v.verify(issuer.issue())
    assert issuer.requests[issuer.jwks_path] == 0


def test_jwks_uri_must_be_secure(issuer: LocalIssuer, clock: FixedClock) -> None:
    doc = json.loads(issuer.body_for(issuer.discovery_path)[0])
    doc["jwks_uri"] = "http://keys.example.com/jwks.json"
    issuer.overrides[issuer.discovery_path] = (json.dumps(doc).encode(), 200)
    with Verifier(issuer=issuer.issuer, audience=AUD, clock=clock) as v:
        with pytest.raises(IssuerUnavailable, match="plain http"):
            v.verify(issuer.issue())


@pytest.mark.parametrize("which", ["discovery", "jwks"])
def test_oversize_documents_rejected(issuer: LocalIssuer, clock: FixedClock, which: str) -> None:
    path = issuer.discovery_path if which == "discovery" else issuer.jwks_path
    issuer.overrides[path] = (b'{"keys":[],"pad":"' + b"x" * 300_000 + b'"}', 200)
    with Verifier(issuer=issuer.issuer, audience=AUD, clock=clock) as v:
        with pytest.raises(IssuerUnavailable, match="larger than"):
            v.verify(issuer.issue())


def test_oversize_streamed_without_content_length(clock: FixedClock) -> None:
    iss = "https://issuer.example"
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path.endswith("openid-configuration"):
            return httpx.Response(
                200, json={"issuer": iss, "jwks_uri": iss + "/.well-known/jwks.json"}
            )

        def chunks() -> Iterator[bytes]:
            for _ in range(1000):
                yield b"x" * 1024

        return httpx.Response(200, content=chunks())

    client = httpx.Client(transport=httpx.MockTransport(handler))
    v = Verifier(
        issuer=iss,
        audience=AUD,
        clock=clock,
        http_client=client,
        max_jwks_bytes=4096,
        resolver=public,
    )
    with pytest.raises(IssuerUnavailable, match="larger than 4096"):
        v.warm()
    assert calls == ["/.well-known/openid-configuration", "/.well-known/jwks.json"]
    client.close()


@pytest.mark.parametrize(
    ("body", "status", "match"),
    [
        (b"not json", 200, "not valid JSON"),
        (b"[]", 200, "not a JSON object"),
        (b'{"nokeys":1}', 200, "'keys'"),
        (b"{}", 404, "HTTP 404"),
    ],
)
def test_bad_jwks_responses(
    issuer: LocalIssuer, clock: FixedClock, body: bytes, status: int, match: str
) -> None:
    issuer.overrides[issuer.jwks_path] = (body, status)
    with Verifier(issuer=issuer.issuer, audience=AUD, clock=clock) as v:
        with pytest.raises(IssuerUnavailable, match=match):
            v.verify(issuer.issue())


def test_redirects_not_followed(clock: FixedClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "https://elsewhere.example/"})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    v = Verifier(
        issuer="https://issuer.example",
        audience=AUD,
        clock=clock,
        http_client=client,
        resolver=public,
    )
    with pytest.raises(IssuerUnavailable, match="HTTP 302"):
        v.warm()
    client.close()


def test_unusable_jwks_entries_ignored(issuer: LocalIssuer, clock: FixedClock) -> None:
    good = json.loads(issuer.body_for(issuer.jwks_path)[0])["keys"]
    bad = [
        "not-an-object",
        {"kty": "oct", "kid": "HS_0", "k": "c2VjcmV0"},
        {**good[0], "kid": "RSA_enc", "use": "enc"},
        {**good[0], "kid": "RSA_badalg", "alg": "ES384"},
        {**good[1], "kid": "EC_short", "x": good[1]["x"][:10]},
        {"kty": "RSA", "kid": "RSA_small", "e": "AQAB", "n": b64(b"\xff" * 64)},
        {**good[0]},  # duplicate kid: first one wins
        {"kty": "EC", "crv": "P-256", "kid": "P256", "x": "AA", "y": "AA"},
    ]
    issuer.overrides[issuer.jwks_path] = (json.dumps({"keys": good + bad}).encode(), 200)
    with Verifier(issuer=issuer.issuer, audience=AUD, clock=clock) as v:
        v.verify(issuer.issue("RS256"))
        v.verify(issuer.issue("ES384"))
        assert set(verifier_module.parse_jwks({"keys": good + bad})) == {
            issuer.key("RS256").kid,
            issuer.key("ES384").kid,
        }


# --- transport security --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/iss",
        "http://127.1.2.3/iss",
        "http://[::1]:9000",
        "http://localhost:8000",
        "https://issuer.example",
    ],
)
def test_loopback_http_and_https_allowed(url: str) -> None:
    Verifier(issuer=url, audience=AUD).close()


@pytest.mark.parametrize(
    "url", ["http://issuer.example", "http://10.0.0.1/iss", "http://127.0.0.1.evil.example"]
)
def test_plain_http_non_loopback_rejected(url: str) -> None:
    with pytest.raises(InsecureIssuer, match="plain http"):
        Verifier(issuer=url, audience=AUD)


def test_insecure_allow_http_warns() -> None:
    with pytest.warns(RuntimeWarning, match="INSECURE"):
        Verifier(issuer="http://issuer.example", audience=AUD, insecure_allow_http=True).close()


@pytest.mark.parametrize("url", ["ftp://issuer.example", "issuer.example", "https://u:p@i.example"])
def test_bad_issuer_urls(url: str) -> None:
    with pytest.raises(ValueError):
        Verifier(issuer=url, audience=AUD)


def test_constructor_validation(issuer: LocalIssuer) -> None:
    with pytest.raises(ValueError):
        Verifier(issuer=issuer.issuer, audience=[])
    with pytest.raises(ValueError):
        Verifier(issuer=issuer.issuer, audience="")
    with httpx.Client() as http, pytest.raises(ValueError):
        Verifier(issuer=issuer.issuer, audience=AUD, http_client=http, ca_bundle="x")


# --- decode options are pinned (DESIGN convention 3) ---------------------------------------


def test_decode_names_algorithms_issuer_audience_leeway(
    verifier: Verifier, issuer: LocalIssuer, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []
    real = verifier_module.verify_token  # tessera.jose.verify.verify

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(verifier_module, "verify_token", spy)
    verifier.verify(issuer.issue("ES384"))
    (kw,) = seen
    assert set(kw) == {"algorithms", "issuer", "audiences", "leeway", "now"}
    assert tuple(kw["algorithms"]) == ("RS256", "ES384")
    assert kw["issuer"] == issuer.issuer
    assert tuple(kw["audiences"]) == (AUD,)
    assert kw["leeway"] == 60.0
    assert kw["now"] == clock.now().timestamp()


def test_path_form_and_ring_with_rotation(clock: FixedClock) -> None:
    ring, _ = KeyRing(()).bootstrap(clock.now() - timedelta(days=1))
    ring = ring.rotate("ES384", clock.now() - timedelta(minutes=20)).ring
    with LocalIssuer(now=clock.now(), path="/issuers/0d4c", ring=ring) as iss:
        with Verifier(issuer=iss.issuer, audience=AUD, clock=clock) as v:
            first, second = (k for k in ring.keys if k.alg == "ES384")
            old = sign_jwt(iss.claims(), first)
            assert v.verify(old).kid == first.kid  # retired but still published
            assert v.verify(iss.issue("ES384")).kid == second.kid
