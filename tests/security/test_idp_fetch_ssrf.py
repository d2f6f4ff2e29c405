"""The issuer-fetch SSRF guard decides on resolved addresses (issue #13 points 3, 6).

An issuer that is not itself on loopback must not make Tessera fetch from this
host or its link: numeric spellings (``127.1``, ``2130706433``, ``0x7f.1``),
``0.0.0.0``, ``localhost.``, IPv4-mapped IPv6, link-local and metadata addresses,
names that resolve there, and redirects to any of them are refused — answered
like an unreachable IdP. An https discovery document never leads to an http
fetch. Refused and unreachable targets look the same to the caller (end to end).

"Non-loopback issuers" are simulated with an injected resolver (a table), so no
test sends traffic off loopback; numeric hosts are parsed without DNS.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address

import httpx
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tessera.federation.oidc import (
    IdpDocumentError,
    IdpUnreachable,
    InboundOidc,
    UnverifiedToken,
)
from tessera.iam.oidc_model import is_loopback_host
from tests.e2e.oidc_idp import TestIdp, new_key
from tests.e2e.server import TesseraServer, free_port

Address = IPv4Address | IPv6Address
ISSUER = "https://idp.example.test"
ISSUER_HOST = "idp.example.test"

INTERNAL_URLS = [
    "https://127.1/jwks",
    "https://2130706433/jwks",
    "https://0x7f.1/jwks",
    "https://017700000001/jwks",
    "https://0.0.0.0/jwks",
    "https://0/jwks",
    "https://[::]/jwks",
    "https://[::ffff:127.0.0.1]/jwks",
    "https://[::ffff:7f00:1]:8443/jwks",
    "https://[::127.0.0.1]/jwks",
    "https://[64:ff9b::127.0.0.1]/jwks",
    "https://localhost./jwks",
    "https://LOCALHOST/jwks",
    "https://admin.localhost/jwks",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::ffff:169.254.169.254]/latest/meta-data/",
    "https://[fe80::1]/jwks",
    "https://[fd00:ec2::254]/latest/meta-data/",
    "http://127.1:8080/jwks",
    "http://[::ffff:127.0.0.1]:8080/jwks",
]


class Table:
    """A resolver from a table; unknown names do not resolve. Counts lookups."""

    def __init__(self, names: dict[str, Sequence[str]]) -> None:
        self.names = names
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> Sequence[Address]:
        self.calls.append(host)
        if host not in self.names:
            raise OSError(f"{host} does not resolve")
        return [ip_address(a) for a in self.names[host]]


PUBLIC = {"idp.example.test": ["203.0.113.10"], "keys.example.test": ["203.0.113.11"]}


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_internal_spellings_are_refused_for_a_remote_issuer(url: str) -> None:
    oidc = InboundOidc()  # the default resolver: numeric hosts never reach DNS
    with pytest.raises(IdpUnreachable):
        oidc.check_url(url, issuer_host=ISSUER_HOST)
    oidc.close()


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["203.0.113.10", "127.0.0.1"],  # every address is checked, not the first
        ["::1"],
        ["::ffff:127.0.0.1"],
        ["169.254.169.254"],
        ["0.0.0.0"],
        ["fe80::1"],
    ],
)
def test_a_name_resolving_internally_is_refused(addresses: list[str]) -> None:
    resolver = Table({"keys.example.test": addresses})
    oidc = InboundOidc(resolver=resolver)
    with pytest.raises(IdpUnreachable, match="refused"):
        oidc.check_url("https://keys.example.test/jwks", issuer_host=ISSUER_HOST)
    assert resolver.calls == ["keys.example.test"]
    oidc.close()


class MockIdp:
    def __init__(self, issuer: str = ISSUER) -> None:
        self.key = new_key("RS256")
        self.issuer = issuer
        self.routes: dict[str, httpx.Response] = {}
        self.calls: list[str] = []
        self.discovery = {"issuer": issuer, "jwks_uri": "https://keys.example.test/jwks"}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.calls.append(url)
        if url in self.routes:
            return self.routes[url]
        if url == self.issuer + "/.well-known/openid-configuration":
            return httpx.Response(200, json=self.discovery)
        return httpx.Response(200, json={"keys": [self.key.jwk()]})

    def token(self) -> UnverifiedToken:
        import jwt

        raw = jwt.encode(
            {"iss": self.issuer, "sub": "s", "aud": "a"},
            self.key.private,
            algorithm="RS256",
            headers={"kid": self.key.kid},
        )
        return UnverifiedToken.parse(raw)

    def client(self, **kw: object) -> InboundOidc:
        return InboundOidc(
            http_client=httpx.Client(transport=httpx.MockTransport(self)),
            resolver=Table(PUBLIC),
            refresh_cooldown=0.0,
            failure_ttl=0.0,
            **kw,  # type: ignore[arg-type]
        )


@pytest.mark.parametrize("target", ["https://127.1/admin", "https://[::ffff:127.0.0.1]/x"])
def test_redirect_hops_and_jwks_uri_are_checked_after_resolution(target: str) -> None:
    idp = MockIdp()
    idp.routes["https://keys.example.test/jwks"] = httpx.Response(302, headers={"Location": target})
    oidc = idp.client()
    with pytest.raises(IdpUnreachable):
        oidc.keys_for(ISSUER, idp.token())
    assert target not in idp.calls
    idp2 = MockIdp()
    idp2.discovery["jwks_uri"] = target
    oidc2 = idp2.client()
    with pytest.raises(IdpUnreachable):
        oidc2.keys_for(ISSUER, idp2.token())
    assert target not in idp2.calls


@pytest.mark.parametrize("insecure", [False, True])
def test_an_https_discovery_document_never_leads_to_http(insecure: bool) -> None:
    issuer = "https://localhost:8443"  # a loopback issuer: http to loopback is otherwise fine
    idp = MockIdp(issuer)
    idp.discovery["jwks_uri"] = "http://127.0.0.1:8443/jwks"
    oidc = InboundOidc(
        http_client=httpx.Client(transport=httpx.MockTransport(idp)), insecure_http=insecure
    )
    with pytest.raises(IdpDocumentError, match="plain http after https"):
        oidc.keys_for(issuer, idp.token())
    assert "http://127.0.0.1:8443/jwks" not in idp.calls
    idp2 = MockIdp(issuer)
    idp2.discovery["jwks_uri"] = "https://localhost:8443/jwks"
    idp2.routes["https://localhost:8443/jwks"] = httpx.Response(
        307, headers={"Location": "http://localhost:8443/jwks"}
    )
    oidc2 = InboundOidc(
        http_client=httpx.Client(transport=httpx.MockTransport(idp2)), insecure_http=insecure
    )
    with pytest.raises(IdpDocumentError, match="plain http after https"):
        oidc2.keys_for(issuer, idp2.token())
    assert "http://localhost:8443/jwks" not in idp2.calls


def test_ipv4_mapped_loopback_is_a_loopback_issuer() -> None:
    assert is_loopback_host("[::ffff:127.0.0.1]")
    assert is_loopback_host("::ffff:127.0.0.1")
    assert is_loopback_host("localhost.")
    assert not is_loopback_host("127.1")  # a spelling, not an address literal
    assert not is_loopback_host("localhost.example.com")
    oidc = InboundOidc()
    oidc.check_url("http://[::ffff:127.0.0.1]:8080/jwks", issuer_host="[::ffff:127.0.0.1]")
    oidc.close()


def test_each_hop_is_resolved_once_and_connected_as_checked() -> None:
    """A name the system cannot resolve (``.test``), mapped to loopback by the
    injected table: the fetch works only if the connection goes to the checked
    address; the table is asked exactly once per hop."""
    with TestIdp(host="idp.example.test") as idp:
        resolver = Table({"idp.example.test": ["127.0.0.1"]})
        oidc = InboundOidc(resolver=resolver, insecure_http=True)
        raw = idp.token()
        assert oidc.keys_for(idp.issuer, UnverifiedToken.parse(raw))
        assert resolver.calls == ["idp.example.test", "idp.example.test"]
        oidc.close()


# --- end to end: refused and unreachable answer alike ----------------------------------


def _anonymous_sts(server: TesseraServer) -> object:
    import boto3

    return boto3.client(
        "sts",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}),
    )


@pytest.mark.e2e
def test_refused_and_unreachable_targets_answer_alike(server: TesseraServer) -> None:
    iam = server.client("iam")
    sts = _anonymous_sts(server)
    closed = free_port()
    answers = []
    with TestIdp(path="/open") as open_idp, TestIdp(path="/closed") as closed_idp:
        # a loopback issuer pointing at an open local port through 0.0.0.0 (refused)…
        open_idp.jwks_uri = (
            f"http://0.0.0.0:{open_idp.issuer.rsplit(':', 1)[1].split('/')[0]}/open/jwks"
        )
        # …and one pointing at a closed port (unreachable)
        closed_idp.jwks_uri = f"http://127.0.0.1:{closed}/jwks"
        for n, idp in enumerate((open_idp, closed_idp)):
            arn = iam.create_open_id_connect_provider(
                Url=idp.issuer, ClientIDList=["sts.amazonaws.com"]
            )["OpenIDConnectProviderArn"]
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": arn},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                    }
                ],
            }
            role = iam.create_role(
                RoleName=f"ssrf-{n}", AssumeRolePolicyDocument=json.dumps(trust)
            )["Role"]["Arn"]
            with pytest.raises(ClientError) as info:
                sts.assume_role_with_web_identity(  # type: ignore[attr-defined]
                    RoleArn=role, RoleSessionName="ssrf", WebIdentityToken=idp.token()
                )
            err = info.value.response
            answers.append(
                (
                    err["Error"]["Code"],
                    err["ResponseMetadata"]["HTTPStatusCode"],
                    err["Error"]["Message"],
                )
            )
        assert open_idp.requests[open_idp.jwks_path] == 0  # never fetched through 0.0.0.0
    assert answers[0] == answers[1]
    assert answers[0][0] == "IDPCommunicationError"
