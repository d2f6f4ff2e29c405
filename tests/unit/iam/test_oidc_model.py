"""``tessera.iam.oidc_model.is_loopback_host``: decided on parsed addresses and the
RFC 6761 ``localhost`` names, never on how an address is spelled."""

from __future__ import annotations

import pytest

from tessera.iam.oidc_model import is_loopback_host


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST",
        "localhost.",
        "idp.localhost",
        "127.0.0.1",
        "127.9.9.9",
        "::1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "::ffff:7f00:1",
    ],
)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "127.1",  # a spelling the C library accepts, not an address literal
        "2130706433",
        "0.0.0.0",
        "::",
        "localhost.example.com",
        "notlocalhost",
        "a..localhost",
        "10.0.0.1",
        "[::ffff:10.0.0.1]",
        "",
    ],
)
def test_other_hosts(host: str) -> None:
    assert not is_loopback_host(host)
