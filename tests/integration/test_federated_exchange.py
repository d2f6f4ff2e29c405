"""The federated-exchange example end to end: a local issuer (tessera.oidc keys,
discovery + JWKS over real HTTP on 127.0.0.1) mints tokens; the example's OAuth
token endpoint verifies them with tessera.verify and hands out access tokens."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from examples.federated_exchange.app import (
    CLIENT_ASSERTION_TYPE,
    JWT_BEARER_GRANT,
    FederatedExchange,
    create_app,
)
from starlette.applications import Starlette

from tessera.clock import FixedClock
from tessera.oidc.jwt import sign_jwt
from tessera.oidc.keys import generate_rsa
from tessera.verify import FederatedCredentialRule, Verifier
from tessera.verify.testing import LocalIssuer

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
AUD = "https://rp.example/oauth2/token"
SUB = "arn:aws:iam::123456789012:role/ci-deploy"


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(now=NOW, path="/issuers/7f3c") as iss:
        yield iss


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@contextlib.contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (ephemeral port) in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def app(issuer: LocalIssuer) -> Iterator[tuple[Starlette, str]]:
    placeholder = FederatedExchange([], [])
    application = create_app(placeholder)
    with serve(application) as base:
        yield application, base


@pytest.fixture
def client(
    app: tuple[Starlette, str], issuer: LocalIssuer, clock: FixedClock
) -> Iterator[httpx.Client]:
    application, base = app
    rule = FederatedCredentialRule(
        name="ci",
        issuer=issuer.issuer,
        subject="arn:aws:iam::123456789012:role/ci-*",
        audience=AUD,
        accounts=frozenset({"123456789012"}),
    )
    verifier = Verifier(issuer=issuer.issuer, audience=AUD, clock=clock, leeway=30)
    application.state.exchange = FederatedExchange([rule], [verifier], clock=clock)
    with httpx.Client(base_url=base) as http:
        yield http
    verifier.close()


def exchange(client: httpx.Client, assertion: str, **extra: str) -> httpx.Response:
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion,
        **extra,
    }
    return client.post("/oauth2/token", data=data)


@pytest.mark.parametrize("alg", ["RS256", "ES384"])
def test_success_and_protected_api(
    client: httpx.Client, issuer: LocalIssuer, clock: FixedClock, alg: str
) -> None:
    resp = exchange(client, issuer.issue(alg, subject=SUB, audience=AUD))  # type: ignore[arg-type]
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert resp.headers["cache-control"] == "no-store"
    api = client.get("/api/whoami", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert api.status_code == 200
    assert api.json()["subject"] == SUB and api.json()["credential"] == "ci"
    assert api.json()["account"] == "123456789012"
    clock.advance(901)  # the access token expires
    again = client.get("/api/whoami", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert again.status_code == 401


def test_jwt_bearer_grant(client: httpx.Client, issuer: LocalIssuer) -> None:
    ok = client.post(
        "/oauth2/token",
        data={"grant_type": JWT_BEARER_GRANT, "assertion": issuer.issue(subject=SUB, audience=AUD)},
    )
    assert ok.status_code == 200
    bad = client.post(
        "/oauth2/token",
        data={"grant_type": JWT_BEARER_GRANT, "assertion": issuer.issue(audience="nope")},
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"


def assert_invalid_client(resp: httpx.Response, reason: str) -> None:
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"] == "invalid_client"
    assert reason in resp.json()["error_description"]


def test_wrong_subject(client: httpx.Client, issuer: LocalIssuer) -> None:
    token = issuer.issue(subject="arn:aws:iam::123456789012:role/admin", audience=AUD)
    assert_invalid_client(exchange(client, token), "no federated credential matches")


def test_wrong_account(client: httpx.Client, issuer: LocalIssuer) -> None:
    claims = issuer.claims(subject=SUB, audience=AUD)
    claims["https://sts.amazonaws.com/"]["aws_account"] = "999999999999"
    token = sign_jwt(claims, issuer.key())
    assert_invalid_client(exchange(client, token), "no federated credential matches")


def test_wrong_audience(client: httpx.Client, issuer: LocalIssuer) -> None:
    token = issuer.issue(subject=SUB, audience="https://someone-else.example")
    assert_invalid_client(exchange(client, token), "wrong_audience")


def test_expired(client: httpx.Client, issuer: LocalIssuer, clock: FixedClock) -> None:
    token = issuer.issue(subject=SUB, audience=AUD, duration=60)
    clock.advance(91)
    assert_invalid_client(exchange(client, token), "expired")


def test_wrong_issuer_untrusted(client: httpx.Client, issuer: LocalIssuer) -> None:
    with LocalIssuer(now=NOW, path="/issuers/other") as other:
        token = other.issue(subject=SUB, audience=AUD)
    assert_invalid_client(exchange(client, token), "is not trusted")


def test_wrong_issuer_claim_with_trusted_key(client: httpx.Client, issuer: LocalIssuer) -> None:
    # Signed with the trusted issuer's key, but claiming to be another issuer.
    token = issuer.issue(subject=SUB, audience=AUD, issuer="https://evil.example")
    assert_invalid_client(exchange(client, token), "is not trusted")


def test_forged_signature(client: httpx.Client, issuer: LocalIssuer) -> None:
    real = issuer.key("RS256")  # an impostor key published under the real key's kid
    impostor = dataclasses.replace(real, private_key=generate_rsa())
    forged = issuer.issue(key=impostor, subject=SUB, audience=AUD)
    assert_invalid_client(exchange(client, forged), "bad_signature")


def test_replay_rejected(client: httpx.Client, issuer: LocalIssuer) -> None:
    token = issuer.issue(subject=SUB, audience=AUD)
    assert exchange(client, token).status_code == 200
    assert_invalid_client(exchange(client, token), "already been used")


def test_client_id_must_name_the_credential(client: httpx.Client, issuer: LocalIssuer) -> None:
    token = issuer.issue(subject=SUB, audience=AUD)
    assert_invalid_client(exchange(client, token, client_id="other"), "no federated credential")
    assert (
        exchange(client, issuer.issue(subject=SUB, audience=AUD), client_id="ci").status_code == 200
    )


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        ({}, 400, "invalid_request"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, 401, "invalid_client"),
        (
            {"grant_type": "client_credentials", "client_assertion_type": CLIENT_ASSERTION_TYPE},
            401,
            "invalid_client",
        ),
        (
            {
                "grant_type": "client_credentials",
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": "not-a-jwt",
            },
            401,
            "invalid_client",
        ),
    ],
)
def test_protocol_errors(
    client: httpx.Client, data: dict[str, str], status: int, error: str
) -> None:
    resp = client.post("/oauth2/token", data=data)
    assert resp.status_code == status and resp.json()["error"] == error


def test_repeated_parameter_and_content_type(client: httpx.Client) -> None:
    resp = client.post(
        "/oauth2/token",
        content=b"grant_type=client_credentials&grant_type=password",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 400 and "repeated" in resp.json()["error_description"]
    resp = client.post("/oauth2/token", json={"grant_type": "client_credentials"})
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"


def test_api_requires_bearer(client: httpx.Client) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer nope"}):
        resp = client.get("/api/whoami", headers=headers)
        assert resp.status_code == 401
        assert resp.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_real_clock_end_to_end() -> None:
    """A fresh app and issuer on the system clock, over real HTTP."""
    with LocalIssuer(path="/issuers/live") as live:
        rule = FederatedCredentialRule(issuer=live.issuer, subject=SUB, audience=AUD, name="ci")
        with Verifier(issuer=live.issuer, audience=AUD) as verifier:
            app = create_app(FederatedExchange([rule], [verifier]))
            with serve(app) as base, httpx.Client(base_url=base) as http:
                resp = http.post(
                    "/oauth2/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_assertion_type": CLIENT_ASSERTION_TYPE,
                        "client_assertion": live.issue(
                            "ES384", subject=SUB, audience=AUD, issued_at=datetime.now(UTC)
                        ),
                    },
                )
                assert resp.status_code == 200, resp.text
                token = resp.json()["access_token"]
                who = http.get("/api/whoami", headers={"Authorization": f"Bearer {token}"})
                assert who.json()["subject"] == SUB
                expired = live.issue(
                    subject=SUB, audience=AUD, issued_at=datetime.now(UTC) - timedelta(hours=1)
                )
                resp = http.post(
                    "/oauth2/token", data={"grant_type": JWT_BEARER_GRANT, "assertion": expired}
                )
                assert resp.status_code == 400 and "expired" in resp.json()["error_description"]


# -- user-scoped exchange: GetWebIdentityToken SubjectMode=OriginIdentity + Scope --

ORIGIN_ISS = "idp.example.com/realms/corp"
AGENT = "arn:aws:iam::123456789012:role/agent"


def origin_token(
    issuer: LocalIssuer,
    *,
    subject: str = "alice",
    origin_issuer: str = ORIGIN_ISS,
    scope: str | None = "orders:read orders:write admin",
    mode: str = "OriginIdentity",
) -> str:
    """The claims Tessera emits (tessera.oidc.claims / tessera.sts.subject_mode) for
    an agent's TIP session whose origin subject is ``subject``."""
    claims = issuer.claims(subject=AGENT, audience=AUD)
    claims["sub"] = subject
    claims["https://sts.amazonaws.com/"] |= {
        "subject_mode": mode,
        "origin_identity": {
            "issuer": origin_issuer,
            "federated_provider_arn": f"arn:aws:iam::123456789012:oidc-provider/{origin_issuer}",
            "subject_type": "user",
        },
    }
    if scope is not None:
        claims["scope"] = scope
    return sign_jwt(claims, issuer.key())


@pytest.fixture
def user_client(
    app: tuple[Starlette, str], issuer: LocalIssuer, clock: FixedClock
) -> Iterator[httpx.Client]:
    """An AWSIdentity credential ("ci", as above) plus an OriginIdentity one ("orders")."""
    application, base = app
    ci = FederatedCredentialRule(
        name="ci",
        issuer=issuer.issuer,
        subject="*",
        audience=AUD,  # no subject_mode
    )
    orders = FederatedCredentialRule(
        name="orders",
        issuer=issuer.issuer,
        subject="*",
        audience=AUD,
        subject_mode="OriginIdentity",
        origin_issuer="idp.example.com/realms/*",
        required_scopes=frozenset({"orders:read"}),
    )
    verifier = Verifier(issuer=issuer.issuer, audience=AUD, clock=clock, leeway=30)
    application.state.exchange = FederatedExchange(
        [ci, orders],
        [verifier],
        clock=clock,
        allowed_scopes={"orders": {"orders:write", "orders:cancel"}},
    )
    with httpx.Client(base_url=base) as http:
        yield http
    verifier.close()


def whoami_of(client: httpx.Client, access_token: str) -> dict[str, object]:
    resp = client.get("/api/whoami", headers={"Authorization": f"Bearer {access_token}"})
    assert resp.status_code == 200, resp.text
    body: dict[str, object] = resp.json()
    return body


def test_user_scoped_exchange(user_client: httpx.Client, issuer: LocalIssuer) -> None:
    resp = exchange(user_client, origin_token(issuer))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    # requested "orders:read orders:write admin" ∩ allowed {read, write, cancel}
    assert body["scope"] == "orders:read orders:write"
    assert body["token_type"] == "Bearer" and resp.headers["cache-control"] == "no-store"
    who = whoami_of(user_client, body["access_token"])
    assert who["subject"] == "alice" and who["issuer"] == ORIGIN_ISS
    assert who["subject_mode"] == "OriginIdentity" and who["subject_type"] == "user"
    assert who["scope"] == "orders:read orders:write"
    assert who["credential"] == "orders" and who["actor"] == AGENT
    assert who["assertion_issuer"] == issuer.issuer and who["account"] == "123456789012"


def test_user_scoped_exchange_bearer_grant_and_client_id(
    user_client: httpx.Client, issuer: LocalIssuer
) -> None:
    resp = user_client.post(
        "/oauth2/token",
        data={
            "grant_type": JWT_BEARER_GRANT,
            "assertion": origin_token(issuer, scope="orders:read"),
        },
    )
    assert resp.status_code == 200 and resp.json()["scope"] == "orders:read"
    # "ci" has no subject_mode: it must not take an origin subject, even by name
    token = origin_token(issuer)
    assert_invalid_client(exchange(user_client, token, client_id="ci"), "no federated credential")


def test_aws_identity_unchanged_next_to_origin_rule(
    user_client: httpx.Client, issuer: LocalIssuer
) -> None:
    resp = exchange(user_client, issuer.issue(subject=SUB, audience=AUD))
    assert resp.status_code == 200
    assert set(resp.json()) == {"access_token", "token_type", "expires_in"}
    who = whoami_of(user_client, resp.json()["access_token"])
    assert who == {
        "subject": SUB,
        "credential": "ci",
        "account": "123456789012",
        "issuer": issuer.issuer,
        "expires_at": who["expires_at"],
    }
    # an AWSIdentity token by client_id "orders" (which requires OriginIdentity)
    token = issuer.issue(subject=SUB, audience=AUD)
    assert_invalid_client(exchange(user_client, token, client_id="orders"), "no federated")


@pytest.mark.parametrize(
    "kw",
    [
        {"mode": "AWSIdentity"},  # wrong subject mode (sub would then be an ARN)
        {"scope": "orders:write"},  # missing required scope orders:read
        {"scope": None},  # no scope at all
        {"origin_issuer": "evil.example/realms/corp"},  # wrong origin issuer
        {"origin_issuer": "idp.example.com/other/corp"},
    ],
)
def test_user_scoped_refusals(
    user_client: httpx.Client, issuer: LocalIssuer, kw: dict[str, str | None]
) -> None:
    resp = exchange(user_client, origin_token(issuer, **kw), client_id="orders")  # type: ignore[arg-type]
    assert_invalid_client(resp, "no federated credential matches")


def test_user_scoped_rule_reasons(issuer: LocalIssuer, clock: FixedClock) -> None:
    """The refusals above are for the right reasons (the rule's own mismatches)."""
    rule = FederatedCredentialRule(
        name="orders",
        issuer=issuer.issuer,
        subject="alice",
        audience=AUD,
        subject_mode="OriginIdentity",
        origin_issuer=ORIGIN_ISS,
        required_scopes=frozenset({"orders:read"}),
    )
    with Verifier(issuer=issuer.issuer, audience=AUD, clock=clock) as verifier:
        cases = {
            "subject mode 'AWSIdentity'": origin_token(issuer, mode="AWSIdentity"),
            "scope lacks 'orders:read'": origin_token(issuer, scope="orders:write"),
            "origin issuer 'evil.example'": origin_token(issuer, origin_issuer="evil.example"),
            "subject 'bob'": origin_token(issuer, subject="bob"),
        }
        for reason, token in cases.items():
            mismatches = rule.mismatches(verifier.verify(token))
            assert len(mismatches) == 1 and mismatches[0].startswith(reason), mismatches
        assert rule.matches(verifier.verify(origin_token(issuer)))


def test_user_scoped_nothing_grantable(app: tuple[Starlette, str], issuer: LocalIssuer) -> None:
    application, base = app
    rule = FederatedCredentialRule(
        name="any-scope",
        issuer=issuer.issuer,
        subject="alice",
        audience=AUD,
        subject_mode="OriginIdentity",
        origin_issuer=ORIGIN_ISS,
    )
    clock = FixedClock(NOW)
    with Verifier(issuer=issuer.issuer, audience=AUD, clock=clock) as verifier:
        application.state.exchange = FederatedExchange(
            [rule], [verifier], clock=clock, allowed_scopes={"any-scope": {"orders:read"}}
        )
        with httpx.Client(base_url=base) as http:
            bad = exchange(http, origin_token(issuer, scope="admin"))
            assert bad.status_code == 400 and bad.json()["error"] == "invalid_scope"
            # no scope requested: a token for alice without scope
            ok = exchange(http, origin_token(issuer, scope=None))
            assert ok.status_code == 200 and "scope" not in ok.json()
            who = whoami_of(http, ok.json()["access_token"])
            assert who["subject"] == "alice" and who["scope"] == ""
