"""The container-credentials endpoint (GET /v1/credentials) over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.agent_support import RunningAgent, start_agent

from tessera.agent.container import check_token_file
from tessera.agent.errors import AgentError


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[RunningAgent]:
    running = start_agent(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def _get(agent: RunningAgent, path: str = "/v1/credentials", **headers: str) -> tuple:
    return agent.request("GET", path, headers, port=agent.container.port)


def test_credentials_for_the_token_holder(agent: RunningAgent) -> None:
    status, headers, body = _get(agent, Authorization=agent.token)
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "AccessKeyId": agent.creds.access_key_id,
        "SecretAccessKey": agent.creds.secret_access_key.reveal(),
        "Token": agent.creds.session_token.reveal(),
        "Expiration": agent.creds.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "RoleArn": agent.creds.role_arn,
        "AccountId": "123456789012",
    }


def test_token_file_is_reread_so_it_can_rotate(agent: RunningAgent) -> None:
    agent.token_file.write_text("rotated-token-0123456789\n")  # a newline is ignored
    assert _get(agent, Authorization=agent.token)[0] == 403
    assert _get(agent, Authorization="rotated-token-0123456789")[0] == 200


def test_paths_and_methods(agent: RunningAgent) -> None:
    assert _get(agent, "/v2/credentials", Authorization=agent.token)[0] == 404
    assert _get(agent, "/latest/api/token", Authorization=agent.token)[0] == 404
    status = agent.request(
        "PUT", "/v1/credentials", {"Authorization": agent.token}, port=agent.container.port
    )[0]
    assert status == 405


def test_token_file_checks(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    f = tmp_path / "t"
    with pytest.raises(AgentError, match="cannot read"):
        check_token_file(f)
    f.write_text("short")
    with pytest.raises(AgentError, match="fewer than 16"):
        check_token_file(f)
    f.write_text("x" * 5000)
    with pytest.raises(AgentError, match="over 4096 bytes"):
        check_token_file(f)
    f.write_text("a token with spaces")
    with pytest.raises(AgentError, match="printable ASCII"):
        check_token_file(f)
    f.write_text("0123456789abcdef\n")
    check_token_file(f)
    assert "ends with a line break" in caplog.text
