"""The agent's instance pieces without a server: the IMDS view of an instance
(metadata paths, ``iam/info`` and the identity document, the role taken from the
credentials served, 404 for the rest) and the state directory rules."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tessera.agent.cache import CredentialCache
from tessera.agent.client import RoleCredentials
from tessera.agent.errors import AgentError
from tessera.agent.imds import ImdsEndpoint
from tessera.agent.instance import InstanceMetadata, InstanceState, join, load_state
from tessera.sensitive import Secret

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STATE = InstanceState(
    endpoint="http://127.0.0.1:1",
    instance_id="i-0123456789abcdef0",
    account_id="123456789012",
    region="eu-west-1",
    availability_zone="eu-west-1a",
    instance_arn="arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0",
    instance_profile_id="AIPAEXAMPLE",
    ca_fingerprint="sha256:" + "0" * 64,
    created="2026-03-01T11:00:00Z",
    instance_profile_arn="arn:aws:iam::123456789012:instance-profile/web",
    private_ipv4="10.0.1.10",
    network="lab",
)


class _Clock:
    def now(self) -> datetime:
        return NOW


def _endpoint() -> ImdsEndpoint:
    creds = RoleCredentials(
        "ASIAEXAMPLE",
        Secret("secret"),
        Secret("token"),
        NOW + timedelta(hours=6),
        "arn:aws:iam::123456789012:role/path/web-role",
    )
    cache = CredentialCache(lambda: creds, clock=_Clock())
    cache.run_once()
    meta = InstanceMetadata(
        STATE, lambda: ("arn:aws:iam::123456789012:instance-profile/web", "AIPAX"), lambda: NOW
    )
    return ImdsEndpoint(cache, None, clock=_Clock(), metadata=meta)


def _get(ep: ImdsEndpoint, path: str) -> tuple[int, str]:
    token = ep.handle(
        "PUT", "/latest/api/token", {"x-aws-ec2-metadata-token-ttl-seconds": ["60"]}
    ).body.decode()
    answer = ep.handle("GET", path, {"x-aws-ec2-metadata-token": [token]})
    return answer.status, answer.body.decode()


def test_metadata_paths() -> None:
    ep = _endpoint()
    assert _get(ep, "/latest/meta-data/instance-id") == (200, "i-0123456789abcdef0")
    assert _get(ep, "/latest/meta-data/local-ipv4") == (200, "10.0.1.10")
    assert _get(ep, "/latest/meta-data/placement/region") == (200, "eu-west-1")
    assert _get(ep, "/latest/meta-data/placement/availability-zone/") == (200, "eu-west-1a")
    assert _get(ep, "/latest/meta-data/iam/security-credentials/") == (200, "web-role")
    status, body = _get(ep, "/latest/meta-data/iam/security-credentials/web-role")
    assert status == 200 and json.loads(body)["AccessKeyId"] == "ASIAEXAMPLE"
    status, body = _get(ep, "/latest/meta-data/iam/info")
    assert status == 200 and json.loads(body) == {
        "Code": "Success",
        "LastUpdated": "2026-03-01T12:00:00Z",
        "InstanceProfileArn": "arn:aws:iam::123456789012:instance-profile/web",
        "InstanceProfileId": "AIPAX",
    }
    status, body = _get(ep, "/latest/dynamic/instance-identity/document")
    doc = json.loads(body)
    assert doc["instanceId"] == STATE.instance_id and doc["privateIp"] == "10.0.1.10"
    assert doc["pendingTime"] == STATE.created and doc["version"] == "2017-09-30"
    for path in (
        "/latest/meta-data/ami-id",
        "/latest/meta-data/iam/security-credentials/other-role",
        "/latest/meta-data/",
        "/latest/user-data",
    ):
        assert _get(ep, path)[0] == 404, path


def test_no_local_ipv4_without_a_registered_address() -> None:
    state = InstanceState(**{**STATE.__dict__, "private_ipv4": None})
    meta = InstanceMetadata(state, lambda: None, lambda: None)
    assert meta("/latest/meta-data/local-ipv4") is None
    assert meta("/latest/meta-data/iam/info") is None


def test_state_dir_rules(tmp_path: Path) -> None:
    with pytest.raises(AgentError, match="no enrolled instance"):
        load_state(tmp_path / "missing")
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    with pytest.raises(AgentError, match="group or others"):
        join("http://127.0.0.1:9", "token", loose, clock=_Clock())
    with pytest.raises(AgentError, match="--ca-fingerprint"):
        join("http://127.0.0.1:9", "token", tmp_path / "s", clock=_Clock(), ca_fingerprint="md5:x")
    with pytest.raises(AgentError, match="--token"):
        join("http://127.0.0.1:9", "x" * 200, tmp_path / "s", clock=_Clock())
