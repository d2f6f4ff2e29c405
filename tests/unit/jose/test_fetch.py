"""``tessera.jose.fetch``: resolution (literals, numeric spellings without
DNS, localhost names without DNS, the injected resolver), the address decision,
and the pinned transport over real loopback sockets — it connects only to the
checked address, refuses connections without a pin, and keeps SNI, the Host
header and certificate verification on the URL's name."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path

import httpx
import pytest
from tests.e2e.oidc_idp import TestIdp

from tessera.federation.oidc import IdpCertificateError, InboundOidc, UnverifiedToken
from tessera.jose.fetch import (
    ResolutionError,
    Target,
    TargetRefused,
    check_addresses,
    pinned,
    pinned_transport,
    resolve,
    system_resolver,
)
from tessera.tls.ca import init_local_ca
from tessera.tls.client import client_ssl_context
from tessera.tls.server import server_ssl_context

Address = IPv4Address | IPv6Address


def no_dns(host: str, port: int) -> list[Address]:
    raise AssertionError(f"resolver asked for {host}")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("203.0.113.5", ["203.0.113.5"]),
        ("[2001:db8::1]", ["2001:db8::1"]),
        ("::ffff:127.0.0.1", ["::ffff:127.0.0.1"]),
        ("127.1", ["127.0.0.1"]),
        ("2130706433", ["127.0.0.1"]),
        ("0x7f.0.0.1", ["127.0.0.1"]),
        ("localhost", ["127.0.0.1", "::1"]),
        ("Idp.LocalHost.", ["127.0.0.1", "::1"]),
    ],
)
def test_resolution_without_dns(host: str, expected: list[str]) -> None:
    assert resolve(host, 443, no_dns) == tuple(ip_address(a) for a in expected)


def test_other_names_go_to_the_resolver() -> None:
    asked: list[tuple[str, int]] = []

    def table(host: str, port: int) -> list[Address]:
        asked.append((host, port))
        return [IPv4Address("203.0.113.1")]

    assert resolve("idp.example.test", 8443, table) == (IPv4Address("203.0.113.1"),)
    assert asked == [("idp.example.test", 8443)]

    def fails(host: str, port: int) -> list[Address]:
        raise socket.gaierror("nope")

    with pytest.raises(ResolutionError):
        resolve("idp.example.test", 443, fails)
    with pytest.raises(ResolutionError):
        resolve("idp.example.test", 443, lambda h, p: [])


def test_system_resolver_on_a_numeric_host() -> None:
    assert IPv4Address("127.0.0.1") in system_resolver("127.0.0.1", 80)


def test_check_addresses() -> None:
    check_addresses([IPv4Address("203.0.113.1")], allow_loopback=False)
    check_addresses([IPv4Address("127.0.0.1"), ip_address("::1")], allow_loopback=True)
    with pytest.raises(TargetRefused, match="loopback"):
        check_addresses([IPv4Address("203.0.113.1"), ip_address("::1")], allow_loopback=False)
    for bad in ("169.254.169.254", "0.0.0.0", "fe80::1", "::ffff:169.254.169.254"):
        with pytest.raises(TargetRefused):  # never, not even for loopback issuers
            check_addresses([ip_address(bad)], allow_loopback=True)


def _client() -> httpx.Client:
    transport = pinned_transport(client_ssl_context(None), max_connections=4)
    return httpx.Client(transport=transport, trust_env=False, timeout=5.0)


def test_the_transport_connects_only_to_the_pinned_address() -> None:
    with TestIdp(host="idp.example.test") as idp, _client() as client:
        url = httpx.URL(idp.issuer + "/.well-known/openid-configuration")
        assert url.port is not None
        with pytest.raises(httpx.ConnectError, match="no checked address"):
            client.get(url)  # no pin
        other = Target("other.example.test", url.port, (IPv4Address("127.0.0.1"),))
        with pinned(other), pytest.raises(httpx.ConnectError, match="no checked address"):
            client.get(url)  # a pin for another host
        target = Target("idp.example.test", url.port, (IPv4Address("127.0.0.1"),))
        with pinned(target):
            resp = client.get(url)  # the .test name never resolves: only the pin works
        assert resp.status_code == 200
        assert resp.json()["issuer"] == idp.issuer
        assert idp.requests[idp.discovery_path] == 1


def _tls_idp(tmp_path: Path) -> tuple[TestIdp, Path]:
    paths = init_local_ca(tmp_path, ["idp.localhost"])
    ctx = server_ssl_context(paths.server_cert, paths.server_key)
    return TestIdp(host="idp.localhost", ssl_context=ctx), paths.ca_cert


def test_tls_is_verified_for_the_name_while_connecting_to_the_checked_address(
    tmp_path: Path,
) -> None:
    idp, ca = _tls_idp(tmp_path)
    with idp:
        oidc = InboundOidc(ca_bundle=ca, resolver=no_dns)
        assert oidc.keys_for(idp.issuer, UnverifiedToken.parse(idp.token()))
        oidc.close()
        # the same address under a name the certificate does not cover
        wrong = idp.issuer.replace("idp.localhost", "wrong.localhost")
        oidc2 = InboundOidc(ca_bundle=ca, resolver=no_dns)
        with pytest.raises(IdpCertificateError):
            oidc2.keys_for(wrong, UnverifiedToken.parse(idp.token(iss=wrong)))
        oidc2.close()
