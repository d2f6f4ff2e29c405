"""The IMDSv2-compatible endpoint over real HTTP on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.agent_support import ROLE_ARN, RunningAgent, start_agent

from tessera.agent.imds import TokenStore, role_name
from tessera.clock import FixedClock

CREDS = "/latest/meta-data/iam/security-credentials/"
TTL = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN = "X-aws-ec2-metadata-token"


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[RunningAgent]:
    running = start_agent(tmp_path, clock=FixedClock(datetime(2026, 3, 1, 12, tzinfo=UTC)))
    try:
        yield running
    finally:
        running.stop()


def test_role_name_drops_the_path() -> None:
    assert role_name(ROLE_ARN) == "web-role"
    assert role_name("arn:aws:iam::123456789012:role/r") == "r"


def test_token_then_listing_then_credentials(agent: RunningAgent) -> None:
    status, headers, body = agent.request("PUT", "/latest/api/token", {TTL: "21600"})
    assert status == 200
    assert headers["content-type"] == "text/plain"
    assert headers[TTL.lower()] == "21600"
    token = body.decode()
    assert len(token) >= 32
    status, headers, body = agent.request("GET", CREDS, {TOKEN: token})
    assert (status, body) == (200, b"web-role")  # no trailing newline
    assert headers["content-type"] == "text/plain"
    status, headers, body = agent.request("GET", CREDS + "web-role", {TOKEN: token})
    assert status == 200 and headers["content-type"] == "text/plain"
    doc = json.loads(body)
    assert doc == {
        "Code": "Success",
        "LastUpdated": "2026-03-01T12:00:00Z",
        "Type": "AWS-HMAC",
        "AccessKeyId": agent.creds.access_key_id,
        "SecretAccessKey": agent.creds.secret_access_key.reveal(),
        "Token": agent.creds.session_token.reveal(),
        "Expiration": "2026-03-01T13:00:00Z",
    }
    assert "access-control-allow-origin" not in headers
    assert headers["cache-control"] == "no-store"


def test_extended_path_adds_the_account(agent: RunningAgent) -> None:
    token = agent.token_for()
    prefix = "/latest/meta-data/iam/security-credentials-extended/"
    assert agent.request("GET", prefix, {TOKEN: token})[2] == b"web-role"
    doc = json.loads(agent.request("GET", prefix + "web-role", {TOKEN: token})[2])
    assert doc["AccountId"] == "123456789012"


def test_unknown_role_and_paths_are_404(agent: RunningAgent) -> None:
    token = agent.token_for()
    for path in (CREDS + "other-role", "/latest/meta-data/", "/latest/user-data", "/"):
        assert agent.request("GET", path, {TOKEN: token})[0] == 404, path


def test_methods(agent: RunningAgent) -> None:
    token = agent.token_for()
    assert agent.request("GET", "/latest/api/token", {TTL: "60"})[0] == 405
    assert agent.request("POST", CREDS, {TOKEN: token})[0] == 405
    assert agent.request("OPTIONS", CREDS, {TOKEN: token})[0] == 405
    status, headers, body = agent.request("HEAD", CREDS, {TOKEN: token})
    assert status == 200 and body == b"" and headers["content-length"] == "8"


def test_token_expiry_with_the_injected_clock(agent: RunningAgent) -> None:
    token = agent.token_for(ttl=60)
    status, headers, _ = agent.request("GET", CREDS, {TOKEN: token})
    assert status == 200 and headers[TTL.lower()] == "60"
    agent.clock.advance(59)
    assert agent.request("GET", CREDS, {TOKEN: token})[0] == 200
    agent.clock.advance(1)
    assert agent.request("GET", CREDS, {TOKEN: token})[0] == 401


def test_no_credentials_is_503(tmp_path: Path) -> None:
    from tessera.agent.errors import AgentError

    def failing() -> object:
        raise AgentError("CreateSession failed: HTTP 403")

    running = start_agent(tmp_path, fetch=failing)
    try:
        token = running.token_for()
        assert running.request("GET", CREDS, {TOKEN: token})[0] == 200
        assert running.request("GET", CREDS + "web-role", {TOKEN: token})[0] == 503
    finally:
        running.stop()


def test_token_store_is_bounded() -> None:
    clock = FixedClock()
    store = TokenStore(clock, max_tokens=3)
    first = store.issue(10)
    others = [store.issue(100) for _ in range(3)]
    assert len(store) == 3
    assert store.remaining(first) is None  # the soonest to expire was evicted
    assert all(store.remaining(t) == 100 for t in others)
    assert store.remaining("") is None and store.remaining("x" * 1000) is None
