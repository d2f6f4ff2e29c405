"""Attacks on ``tessera agent``'s loopback endpoints: DNS rebinding (Host),
SSRF through a proxy (X-Forwarded-For), tokenless and forged-token reads, token
TTL bounds, the container token, oversized requests, CORS."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent_support import RunningAgent, start_agent

CREDS = "/latest/meta-data/iam/security-credentials/web-role"
TTL = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN = "X-aws-ec2-metadata-token"


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[RunningAgent]:
    running = start_agent(tmp_path)
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.parametrize(
    "host",
    [
        "evil.example.com",
        "evil.example.com:{port}",
        "127.0.0.1",
        "127.0.0.1:1",
        "",
        "[::1]:{port}",
        "127.0.0.2:{port}",
        "localhost.evil.com:{port}",
    ],
)
def test_foreign_host_header_is_refused(agent: RunningAgent, host: str) -> None:
    """A page whose name rebinds to 127.0.0.1 sends its own name as Host."""
    token = agent.token_for()
    for port in (agent.imds.port, agent.container.port):
        h = host.format(port=port)
        assert agent.request("PUT", "/latest/api/token", {TTL: "60"}, port=port, host=h)[0] == 403
        status, _, body = agent.request(
            "GET", CREDS, {TOKEN: token, "Authorization": agent.token}, port=port, host=h
        )
        assert status == 403 and b"Secret" not in body


def test_localhost_host_is_accepted(agent: RunningAgent) -> None:
    port = agent.imds.port
    host = f"LOCALHOST:{port}"
    assert agent.request("PUT", "/latest/api/token", {TTL: "60"}, host=host)[0] == 200


def test_put_with_x_forwarded_for_is_refused(agent: RunningAgent) -> None:
    for header in ("X-Forwarded-For", "Forwarded"):
        status, _, body = agent.request(
            "PUT", "/latest/api/token", {TTL: "60", header: "203.0.113.9"}
        )
        assert status == 403 and body == b"Forbidden"


@pytest.mark.parametrize("ttl", [None, "", "0", "21601", "-1", "1e3", "abc", "99999999", " 60x"])
def test_token_ttl_bounds(agent: RunningAgent, ttl: str | None) -> None:
    headers = {} if ttl is None else {TTL: ttl}
    assert agent.request("PUT", "/latest/api/token", headers)[0] == 400


@pytest.mark.parametrize("ttl", ["1", "21600"])
def test_token_ttl_limits_are_inclusive(agent: RunningAgent, ttl: str) -> None:
    assert agent.request("PUT", "/latest/api/token", {TTL: ttl})[0] == 200


def test_tokenless_and_forged_token_reads_are_401(agent: RunningAgent) -> None:
    for headers in ({}, {TOKEN: ""}, {TOKEN: "forged"}, {TOKEN: "A" * 43}):
        for path in (CREDS, "/latest/meta-data/iam/security-credentials/", "/nope"):
            status, _, body = agent.request("GET", path, headers)
            assert status == 401 and b"Secret" not in body, (headers, path)


def test_container_token_is_required_and_exact(agent: RunningAgent) -> None:
    port = agent.container.port
    assert agent.request("GET", "/v1/credentials", port=port)[0] == 401
    for wrong in (
        "",
        "x",
        agent.token + "x",
        agent.token[:-1],
        f"Bearer {agent.token}",
        agent.token.upper(),
    ):
        status, _, body = agent.request(
            "GET", "/v1/credentials", {"Authorization": wrong}, port=port
        )
        assert status in (401, 403) and b"SecretAccessKey" not in body, wrong
    # an IMDS token is no container token, and the IMDS port does not serve /v1
    imds_token = agent.token_for()
    assert (
        agent.request("GET", "/v1/credentials", {"Authorization": imds_token}, port=port)[0] == 403
    )
    assert (
        agent.request("GET", "/v1/credentials", {"Authorization": agent.token, TOKEN: imds_token})[
            0
        ]
        == 404
    )


def test_no_cors_even_when_asked(agent: RunningAgent) -> None:
    token = agent.token_for()
    for method in ("OPTIONS", "GET"):
        _, headers, _ = agent.request(
            method,
            CREDS,
            {
                TOKEN: token,
                "Origin": "http://evil.example.com",
                "Access-Control-Request-Method": "GET",
            },
        )
        assert not any(h.startswith("access-control-") for h in headers)


def test_oversized_head_and_bodies_are_refused(agent: RunningAgent) -> None:
    status = agent.request("GET", CREDS, {"X-Junk": "a" * 9000})[0]
    assert status in (400, 431)
    status = agent.request("PUT", "/latest/api/token", {TTL: "60", "Content-Length": "5"})[0]
    assert status == 400
    with socket.create_connection(("127.0.0.1", agent.imds.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 2000 + b"\r\n")
        answer = sock.recv(200)
    assert answer.split(b" ")[1] in (b"400", b"431")


def test_listens_on_loopback_only(agent: RunningAgent) -> None:
    assert agent.imds.server_address[0] == "127.0.0.1"
    assert agent.container.server_address[0] == "127.0.0.1"
