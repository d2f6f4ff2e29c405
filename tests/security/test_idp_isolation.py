"""A slow identity provider cannot starve other callers (issue #13 point 5).

End to end: a deliberately slow IdP on loopback (every GET sleeps 2.5 s), 56
concurrent AssumeRoleWithWebIdentity calls at a real server, and meanwhile a
signed IAM ListUsers must still answer promptly — before the fix the federation
calls occupied every worker thread and ListUsers waited for the IdP (~3.5 s). The
IdP sees one discovery and one JWKS request (single-flight), and every federation
call answers either with credentials or ``IDPCommunicationError`` — never a 500.

Without sockets: concurrent callers of ``InboundOidc.keys_for`` share one
in-flight fetch; beyond ``max_waiters`` they fail fast; more concurrent refreshes
than ``fetch_workers`` are refused at once; and a percent-encoded Action cannot
smuggle AssumeRoleWithWebIdentity onto the event loop.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Address
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest

from tessera.app.operations import build_table
from tessera.app.pipeline import Pipeline, Request
from tessera.app.runtime import Runtime
from tessera.federation.oidc import IdpBusy, IdpUnreachable, InboundOidc, UnverifiedToken
from tests.e2e.oidc_idp import TestIdp, new_key
from tests.e2e.server import TesseraServer

AUD = "sts.amazonaws.com"
CALLS = 56


def _trust(provider_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                }
            ],
        }
    )


def _assume(client: httpx.Client, endpoint: str, role_arn: str, token: str) -> tuple[int, str]:
    form = {
        "Action": "AssumeRoleWithWebIdentity",
        "Version": "2011-06-15",
        "RoleArn": role_arn,
        "RoleSessionName": "slow",
        "WebIdentityToken": token,
    }
    resp = client.post(endpoint, data=form)
    return resp.status_code, resp.text


@pytest.mark.e2e
def test_slow_idp_does_not_delay_signed_iam_calls(server: TesseraServer) -> None:
    iam = server.client("iam")
    iam.list_users()  # warm the client and the server
    with TestIdp() as idp:
        provider = iam.create_open_id_connect_provider(Url=idp.issuer, ClientIDList=[AUD])
        role = iam.create_role(
            RoleName="slow-idp",
            AssumeRolePolicyDocument=_trust(provider["OpenIDConnectProviderArn"]),
        )["Role"]["Arn"]
        token = idp.token()
        idp.delay = 2.5  # each GET: discovery then JWKS
        limits = httpx.Limits(max_connections=CALLS)
        with (
            httpx.Client(timeout=30.0, limits=limits) as client,
            ThreadPoolExecutor(max_workers=CALLS) as pool,
        ):
            futures = [
                pool.submit(_assume, client, server.endpoint, role, token) for _ in range(CALLS)
            ]
            deadline = time.monotonic() + 5
            while not idp.requests[idp.discovery_path] and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(1.5)  # every federation call is in, waiting on the IdP
            started = time.monotonic()
            users = iam.list_users()
            waited = time.monotonic() - started
            answers = [f.result(timeout=30) for f in futures]
        assert "Users" in users
        # The security property: IAM is not blocked behind the IdP (it took ~3.5 s).
        assert waited < 1.0, f"signed ListUsers waited {waited:.1f} s behind a slow IdP"
        assert idp.requests[idp.discovery_path] == 1  # single-flight
        assert idp.requests[idp.jwks_path] == 1
        for status, body in answers:
            assert status in (200, 400), body
            if status == 400:
                assert "<Code>IDPCommunicationError</Code>" in body
        assert any(status == 200 for status, _ in answers)


# --- without sockets ---------------------------------------------------------------------

ISSUER = "https://idp.example.test"
JWKS = "https://idp.example.test/jwks"


def _public(host: str, port: int) -> tuple[IPv4Address, ...]:
    return (IPv4Address("203.0.113.9"),)


class _BlockedIdp:
    """A mock IdP whose answers wait for ``release``; counts requests per URL."""

    def __init__(self) -> None:
        self.key = new_key("RS256")
        self.release = threading.Event()
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        with self._lock:
            self.calls.append(url)
        self.release.wait(10)
        if url.endswith("/.well-known/openid-configuration"):
            issuer = url.removesuffix("/.well-known/openid-configuration")
            return httpx.Response(200, json={"issuer": issuer, "jwks_uri": issuer + "/jwks"})
        return httpx.Response(200, json={"keys": [self.key.jwk()]})

    def token(self, issuer: str = ISSUER) -> UnverifiedToken:
        import jwt

        raw = jwt.encode(
            {"iss": issuer, "sub": "s", "aud": AUD},
            self.key.private,
            algorithm="RS256",
            headers={"kid": self.key.kid},
        )
        return UnverifiedToken.parse(raw)


def _client(idp: _BlockedIdp, **kw: Any) -> InboundOidc:
    return InboundOidc(
        http_client=httpx.Client(transport=httpx.MockTransport(idp)),
        resolver=_public,
        **kw,
    )


def test_concurrent_callers_share_one_fetch_and_extra_waiters_fail_fast() -> None:
    idp = _BlockedIdp()
    oidc = _client(idp, max_waiters=4)
    token = idp.token()
    results: list[object] = []
    lock = threading.Lock()

    def call() -> None:
        try:
            out: object = oidc.keys_for(ISSUER, token)
        except IdpUnreachable as exc:
            out = exc
        with lock:
            results.append(out)

    threads = [threading.Thread(target=call) for _ in range(20)]
    started = time.monotonic()
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with lock:
            if len(results) >= 16:
                break
        time.sleep(0.01)
    fast = time.monotonic() - started
    with lock:
        busy = [r for r in results if isinstance(r, IdpBusy)]
    assert len(busy) == 16, results  # beyond 4 waiters: answered without waiting
    assert fast < 3.0  # not queued behind the blocked IdP
    idp.release.set()
    for t in threads:
        t.join(10)
    keys = [r for r in results if isinstance(r, list)]
    assert len(keys) == 4
    assert idp.calls == [ISSUER + "/.well-known/openid-configuration", JWKS]
    oidc.close()


def test_refreshes_in_flight_are_bounded_by_the_fetch_pool() -> None:
    idp = _BlockedIdp()
    oidc = _client(idp, fetch_workers=2, max_waiters=8)
    issuers = [f"https://idp{i}.example.test" for i in range(3)]
    errors: list[BaseException] = []

    def call(issuer: str) -> None:
        try:
            oidc.keys_for(issuer, idp.token(issuer))
        except IdpUnreachable as exc:
            errors.append(exc)

    first = [threading.Thread(target=call, args=(i,)) for i in issuers[:2]]
    for t in first:
        t.start()
    deadline = time.monotonic() + 5
    while len(idp.calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(IdpBusy):  # a third issuer while two refreshes hang
        oidc.keys_for(issuers[2], idp.token(issuers[2]))
    idp.release.set()
    for t in first:
        t.join(10)
    assert errors == []
    assert oidc.keys_for(issuers[2], idp.token(issuers[2]))  # capacity is back
    oidc.close()


def test_an_encoded_action_never_runs_a_federation_call_on_the_event_loop() -> None:
    runtime = SimpleNamespace(
        store=SimpleNamespace(dialect="sqlite"),
        operations=build_table(("issuers", "inbound_oidc")),
        bookkeeping=None,
    )
    pipeline = Pipeline(cast(Runtime, runtime))
    auth = (
        "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20250101/us-east-1/sts/aws4_request, "
        "SignedHeaders=host, Signature=00"
    )

    def request(body: bytes, query: str = "") -> Request:
        return Request(
            "POST",
            "/",
            query,
            (("authorization", auth), ("content-type", "application/x-www-form-urlencoded")),
            body,
            "127.0.0.1",
            False,
        )

    assert pipeline.runs_inline(request(b"Action=GetCallerIdentity&Version=2011-06-15"))
    for body, query in [
        (b"Action=AssumeRoleWith%57ebIdentity&Version=2011-06-15", ""),
        (b"Act%69on=AssumeRoleWithWebIdentity&Version=2011-06-15", ""),
        (b"Version=2011-06-15", "Action=AssumeRoleWithWeb%49dentity"),
    ]:
        assert not pipeline.runs_inline(request(body, query)), (body, query)
