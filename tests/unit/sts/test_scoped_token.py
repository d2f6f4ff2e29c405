"""The GetScopedCredentials facts in the session token (``sl``/``ss``/``sd``): they
round-trip, are absent from tokens of sessions that were never scoped (so those
tokens are unchanged), and tokens without them still open with the defaults."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from tessera.auth.principal import Session, SessionKind
from tessera.kek import KeyEncryptionKey
from tessera.store.sql import SqlStore
from tessera.sts.sessions import SessionCodec, SessionKeyRing, _decode_session, _encode_session

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
LAYER = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'


@pytest.fixture
def codec() -> SessionCodec:
    store = SqlStore("sqlite://", KeyEncryptionKey(os.urandom(32)))
    store.migrate()
    store.initialise()
    ring = SessionKeyRing(store)
    ring.rotate(NOW)
    return SessionCodec(ring)


BASE = Session(
    kind=SessionKind.ASSUMED_ROLE,
    account_id="123456789012",
    issued_at=NOW,
    expires_at=NOW + timedelta(hours=1),
    source_arn="arn:aws:iam::123456789012:role/app",
    source_id="AROAEXAMPLEEXAMPLE123",
    source_name="app",
    session_name="s1",
)


def test_scoped_facts_round_trip(codec: SessionCodec) -> None:
    scoped = dataclasses.replace(
        BASE,
        scope_policies=(LAYER, LAYER.replace("s3:*", "s3:Get*")),
        scoped_session_id="AROAEXAMPLEEXAMPLE123:s1:scoped-0123456789abcdef",
        scoped_description="nightly agent",
    )
    decoded, _, _ = codec.decode(codec.issue(scoped, NOW).session_token)
    assert decoded == scoped


def test_unscoped_sessions_write_no_new_keys() -> None:
    _, raw = _encode_session(BASE, "ASIAEXAMPLE", "secret")
    assert not {"sl", "ss", "sd"} & set(json.loads(raw))


def test_documents_without_the_keys_open_with_defaults() -> None:
    _, raw = _encode_session(BASE, "ASIAEXAMPLE", "secret")
    session, _, _ = _decode_session(raw, 2)
    assert session.scope_policies == ()
    assert session.scoped_session_id is None and session.scoped_description is None
