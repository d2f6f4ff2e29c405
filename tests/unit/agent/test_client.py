"""CreateSession over HTTP(S) against a fake server that verifies the X.509
signature independently; one-line error reasons that never hold secrets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.agent_support import (
    ANCHOR_ARN,
    PROFILE_ARN,
    REGION,
    ROLE_ARN,
    FakeRolesAnywhere,
    Pki,
)

from tessera.agent.client import (
    SessionClient,
    SessionParams,
    parse_timestamp,
    resolve_region,
)
from tessera.agent.errors import AgentError
from tessera.agent.signer import load_identity
from tessera.tls.ca import init_local_ca


@pytest.fixture
def fake() -> Iterator[FakeRolesAnywhere]:
    server = FakeRolesAnywhere().start()
    try:
        yield server
    finally:
        server.stop()


def _client(pki: Pki, endpoint: str, **kw: object) -> SessionClient:
    params = SessionParams(
        endpoint=endpoint,
        region=REGION,
        trust_anchor_arn=ANCHOR_ARN,
        profile_arn=PROFILE_ARN,
        role_arn=ROLE_ARN,
        duration_seconds=int(kw.pop("duration", 3600)),  # type: ignore[call-overload]
        role_session_name=kw.pop("name", None),  # type: ignore[arg-type]
    )
    return SessionClient(load_identity(pki.cert_path, pki.key_path), params, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_create_session(kind: str, tmp_path: Path, fake: FakeRolesAnywhere) -> None:
    pki = Pki(tmp_path, kind=kind)
    creds = _client(pki, fake.endpoint, name="job-7", duration=1800).create_session()
    assert fake.errors == []
    issued = fake.issued[-1]
    assert issued.serial == pki.leaf_cert.serial_number
    assert creds.access_key_id == issued.access_key_id
    assert creds.secret_access_key.reveal() == issued.secret_access_key
    assert creds.session_token.reveal() == issued.session_token
    assert creds.expiration == issued.expiration
    assert creds.account_id == "123456789012"
    assert issued.secret_access_key not in repr(creds)
    request = fake.requests[-1]
    assert request["path"] == "/sessions"
    assert request["query"] == {
        "profileArn": PROFILE_ARN,
        "roleArn": ROLE_ARN,
        "trustAnchorArn": ANCHOR_ARN,
    }
    assert request["body"] == {
        "durationSeconds": 1800,
        "profileArn": PROFILE_ARN,
        "roleArn": ROLE_ARN,
        "trustAnchorArn": ANCHOR_ARN,
        "roleSessionName": "job-7",
    }


def test_endpoint_with_a_path_prefix(tmp_path: Path, fake: FakeRolesAnywhere) -> None:
    pki = Pki(tmp_path)
    _client(pki, fake.endpoint + "/prefix/").create_session()
    assert fake.errors == []  # signed over the prefixed path
    assert fake.requests[-1]["path"] == "/prefix/sessions"


def test_error_reason_is_one_line_from_the_rest_json_error(
    tmp_path: Path, fake: FakeRolesAnywhere
) -> None:
    fake.fail_with = (
        403,
        {"__type": "com.amazon#AccessDeniedException", "message": "Untrusted\ncertificate."},
    )
    with pytest.raises(AgentError) as info:
        _client(Pki(tmp_path), fake.endpoint).create_session()
    assert info.value.reason == (
        "CreateSession failed: HTTP 403 AccessDeniedException: Untrusted certificate."
    )


def test_long_server_messages_are_bounded(tmp_path: Path, fake: FakeRolesAnywhere) -> None:
    fake.fail_with = (400, {"__type": "ValidationException", "message": "x" * 5000})
    with pytest.raises(AgentError) as info:
        _client(Pki(tmp_path), fake.endpoint).create_session()
    assert len(info.value.reason) <= 300 and "\n" not in info.value.reason


def test_total_timeout(tmp_path: Path) -> None:
    fake = FakeRolesAnywhere(hang=threading.Event()).start()
    try:
        with pytest.raises(AgentError, match=r"no answer within 0\.5 s"):
            _client(Pki(tmp_path), fake.endpoint, timeout=0.5).create_session()
    finally:
        fake.stop()


def test_unreachable_endpoint(tmp_path: Path, fake: FakeRolesAnywhere) -> None:
    endpoint = fake.endpoint
    fake.stop()
    with pytest.raises(AgentError, match=r"cannot reach http://127\.0\.0\.1:"):
        _client(Pki(tmp_path), endpoint).create_session()


def test_https_needs_the_ca_bundle(tmp_path: Path) -> None:
    paths = init_local_ca(tmp_path / "tls")
    fake = FakeRolesAnywhere().start(tls=(paths.server_cert, paths.server_key))
    try:
        pki = Pki(tmp_path / "pki")
        with pytest.raises(AgentError, match=r"not trusted.*--ca-bundle"):
            _client(pki, fake.endpoint).create_session()
        creds = _client(pki, fake.endpoint, ca_bundle=paths.ca_cert).create_session()
        assert creds.access_key_id == fake.issued[-1].access_key_id
    finally:
        fake.stop()


def test_bad_arguments(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    with pytest.raises(AgentError, match="--session-duration must be 900-43200"):
        _client(pki, "http://127.0.0.1:1", duration=60)
    with pytest.raises(AgentError, match="http:// or https://"):
        _client(pki, "ftp://example.com")
    with pytest.raises(AgentError, match="must not carry credentials"):
        _client(pki, "https://user:pw@example.com")
    with pytest.raises(AgentError, match="regions don't match"):
        resolve_region(ANCHOR_ARN, PROFILE_ARN.replace("us-east-1", "eu-west-1"), None)
    with pytest.raises(AgentError, match="trust anchor ARN"):
        resolve_region(PROFILE_ARN, PROFILE_ARN, None)
    assert resolve_region(ANCHOR_ARN, PROFILE_ARN, None) == "us-east-1"
    assert resolve_region(ANCHOR_ARN, PROFILE_ARN, "eu-west-1") == "eu-west-1"


def test_parse_timestamp() -> None:
    want = datetime(2026, 4, 10, 20, 48, 12, tzinfo=UTC)
    assert parse_timestamp("2026-04-10T20:48:12Z") == want
    assert parse_timestamp("2026-04-10T22:48:12+02:00") == want
    assert parse_timestamp("2026-04-10T20:48:12.000Z") == want
    assert parse_timestamp(want.timestamp()) == want
    assert parse_timestamp("2026-04-10T20:48:12") == want
    with pytest.raises(ValueError):
        parse_timestamp(True)
    assert parse_timestamp("2026-04-10T20:48:12Z") - want == timedelta(0)
