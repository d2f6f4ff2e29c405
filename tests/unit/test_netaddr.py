"""Tests for tessera.netaddr: trusted-proxy handling of X-Forwarded-For/-Proto, and
the classification of outbound destination addresses."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Network, ip_address

import pytest

from tessera.netaddr import (
    ClientView,
    canonical_address,
    client_view,
    is_loopback_address,
    parse_cidrs,
    special_use,
)

PROXIES = parse_cidrs(["10.0.0.0/8", "fd00::/8", "192.0.2.1"])


def view(peer: str | None, headers: dict[str, str], scheme: str = "http") -> ClientView:
    return client_view(peer, scheme, headers, PROXIES)


# --- parse_cidrs --------------------------------------------------------------------


def test_parse_cidrs() -> None:
    assert parse_cidrs([" 10.0.0.0/8", "::1", "2001:db8::/32", "192.0.2.1"]) == (
        IPv4Network("10.0.0.0/8"),
        IPv6Network("::1/128"),
        IPv6Network("2001:db8::/32"),
        IPv4Network("192.0.2.1/32"),
    )
    assert parse_cidrs([]) == ()


def test_parse_cidrs_ipv4_mapped_becomes_ipv4() -> None:
    assert parse_cidrs(["::ffff:10.0.0.0/104"]) == (IPv4Network("10.0.0.0/8"),)


@pytest.mark.parametrize(
    "junk", ["", "  ", "10.0.0.1/8", "10.0.0.0/33", "example.com", "10.0.0.0/8,10.1.0.0/16", "*"]
)
def test_parse_cidrs_rejects_junk(junk: str) -> None:
    with pytest.raises(ValueError, match="trusted-proxy network"):
        parse_cidrs([junk])


def test_parse_cidrs_rejects_bare_string() -> None:
    with pytest.raises(TypeError):
        parse_cidrs("10.0.0.0/8")


# --- untrusted peers: headers are ignored -------------------------------------------


def test_untrusted_peer_ignores_forwarded_headers() -> None:
    headers = {"x-forwarded-for": "1.2.3.4", "x-forwarded-proto": "https"}
    assert view("203.0.113.5", headers) == ClientView("203.0.113.5", False)
    assert view("203.0.113.5", headers, scheme="https") == ClientView("203.0.113.5", True)


def test_no_trusted_proxies_configured() -> None:
    headers = {"x-forwarded-for": "1.2.3.4", "x-forwarded-proto": "https"}
    assert client_view("10.0.0.1", "http", headers, ()) == ClientView("10.0.0.1", False)


def test_no_peer() -> None:
    headers = {"x-forwarded-for": "1.2.3.4", "x-forwarded-proto": "https"}
    assert view(None, headers) == ClientView("", False)
    assert view(None, {}, scheme="https") == ClientView("", True)


def test_unparseable_peer_is_never_trusted() -> None:
    headers = {"x-forwarded-for": "1.2.3.4"}
    assert view("testclient", headers) == ClientView("testclient", False)


# --- trusted peers ------------------------------------------------------------------


def test_trusted_peer_uses_forwarded_headers() -> None:
    headers = {"x-forwarded-for": "198.51.100.7", "x-forwarded-proto": "https"}
    assert view("10.1.2.3", headers) == ClientView("198.51.100.7", True)


def test_trusted_peer_without_headers_falls_back_to_peer() -> None:
    assert view("10.1.2.3", {}) == ClientView("10.1.2.3", False)
    assert view("10.1.2.3", {}, scheme="https") == ClientView("10.1.2.3", True)


def test_xff_walks_right_to_left_skipping_trusted_hops() -> None:
    # client-supplied spoof, real client, then two of our proxies
    headers = {"x-forwarded-for": "6.6.6.6, 198.51.100.7, 10.9.9.9, 192.0.2.1"}
    assert view("10.1.2.3", headers).source_ip == "198.51.100.7"


def test_xff_spoofed_left_entries_do_not_matter() -> None:
    headers = {"x-forwarded-for": "unknown, not-an-ip, 198.51.100.7"}
    assert view("10.1.2.3", headers).source_ip == "198.51.100.7"


def test_xff_all_trusted_returns_leftmost() -> None:
    headers = {"x-forwarded-for": "10.5.5.5, 10.6.6.6"}
    assert view("10.1.2.3", headers).source_ip == "10.5.5.5"


def test_xff_with_ports_and_brackets() -> None:
    assert view("10.1.2.3", {"x-forwarded-for": "198.51.100.7:51234"}).source_ip == "198.51.100.7"
    assert view("10.1.2.3", {"x-forwarded-for": "[2001:db8::5]:443"}).source_ip == "2001:db8::5"
    assert view("10.1.2.3", {"x-forwarded-for": "[2001:db8::5]"}).source_ip == "2001:db8::5"


def test_ipv6_peer_and_chain() -> None:
    headers = {"x-forwarded-for": "2001:DB8::1, fd00::2", "x-forwarded-proto": "https"}
    assert view("fd12::1", headers) == ClientView("2001:db8::1", True)
    assert view("2001:db8::9", headers) == ClientView("2001:db8::9", False)


def test_ipv4_mapped_peer_is_matched_as_ipv4() -> None:
    headers = {"x-forwarded-for": "198.51.100.7"}
    assert view("::ffff:10.1.2.3", headers).source_ip == "198.51.100.7"
    assert view("::ffff:203.0.113.5", headers).source_ip == "203.0.113.5"
    headers = {"x-forwarded-for": "::ffff:198.51.100.8, ::ffff:10.0.0.1"}
    assert view("10.1.2.3", headers).source_ip == "198.51.100.8"


def test_forwarded_proto_last_value_wins() -> None:
    assert view("10.1.2.3", {"x-forwarded-proto": "http, https"}).secure_transport is True
    assert view("10.1.2.3", {"x-forwarded-proto": "https, http"}, "https").secure_transport is False
    assert view("10.1.2.3", {"x-forwarded-proto": " HTTPS "}).secure_transport is True


@pytest.mark.parametrize(
    "xff",
    [
        "",
        " , ",
        "198.51.100.7, garbage",
        "198.51.100.7,",
        "1.2.3.4:notaport",
        "[2001:db8::1",
        "[2001:db8::1]x",
        "999.1.1.1",
        "1.2.3.4/24",
        "x" * 10000,
        "1.2.3.4," * 2000,
        "\x00",
        "fe80::1%" + "e" * 100,
    ],
)
def test_junk_xff_falls_back_to_peer(xff: str) -> None:
    assert view("10.1.2.3", {"x-forwarded-for": xff}).source_ip == "10.1.2.3"


@pytest.mark.parametrize("proto", ["", "ftp", "https;x", "x" * 10000, "\x00"])
def test_junk_proto_falls_back_to_scheme(proto: str) -> None:
    assert view("10.1.2.3", {"x-forwarded-proto": proto}).secure_transport is False
    assert view("10.1.2.3", {"x-forwarded-proto": proto}, "https").secure_transport is True


def test_source_ip_is_canonical() -> None:
    assert view("2001:0DB8:0:0::1", {}).source_ip == "2001:db8::1"


# --- outbound destinations ----------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::127.0.0.1", "loopback"),
        ("64:ff9b::127.0.0.1", "loopback"),
        ("2002:7f00:1::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("::ffff:0.0.0.0", "unspecified"),
        ("169.254.169.254", "link-local"),
        ("::ffff:169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("febf::1", "link-local"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "reserved"),
        ("240.0.0.1", "reserved"),
        ("fec0::1", "reserved"),
        ("8.8.8.8", None),
        ("10.0.0.1", None),
        ("192.168.1.10", None),
        ("fd12::1", None),
        ("2606:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_special_use(address: str, reason: str | None) -> None:
    assert special_use(ip_address(address)) == reason


def test_canonical_and_loopback() -> None:
    assert canonical_address(ip_address("::ffff:10.0.0.1")) == IPv4Address("10.0.0.1")
    assert canonical_address(ip_address("2001:db8::1")) == ip_address("2001:db8::1")
    assert canonical_address(ip_address("::1")) == ip_address("::1")
    assert is_loopback_address(ip_address("::ffff:127.0.0.1"))
    assert not is_loopback_address(ip_address("::ffff:128.0.0.1"))
