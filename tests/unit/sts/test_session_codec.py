"""Session tokens: small documents as plain JSON (version 2), large ones compressed
(version 1, also what older servers wrote), both read back; the header is
authenticated, so neither the version nor the key id can be changed."""

from __future__ import annotations

import base64
import json
import os
import secrets
import struct
import zlib
from datetime import UTC, datetime, timedelta

import pytest

from tessera.auth.principal import Session, SessionKind
from tessera.errors import InvalidClientTokenId
from tessera.iam.model import Tag
from tessera.kek import KeyEncryptionKey
from tessera.store.sql import SqlStore
from tessera.sts.sessions import (
    COMPRESS_ABOVE,
    TOKEN_VERSION,
    TOKEN_VERSION_RAW,
    SessionCodec,
    SessionKeyRing,
    _encode_session,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def codec() -> SessionCodec:
    store = SqlStore("sqlite://", KeyEncryptionKey(os.urandom(32)))
    store.migrate()
    store.initialise()
    ring = SessionKeyRing(store)
    ring.rotate(NOW)
    return SessionCodec(ring)


def _session(policy: str | None = None, tags: int = 0) -> Session:
    return Session(
        kind=SessionKind.ASSUMED_ROLE,
        account_id="123456789012",
        issued_at=NOW,
        expires_at=NOW + timedelta(hours=1),
        source_arn="arn:aws:iam::123456789012:role/app",
        source_id="AROAEXAMPLEEXAMPLE123",
        source_name="app",
        session_name="s1",
        session_policy=policy,
        tags=tuple(Tag(f"k{i}", "v" * 40) for i in range(tags)),
    )


def _version(token: str) -> int:
    return int(base64.b64decode(token)[0])


@pytest.mark.parametrize(("tags", "version"), [(0, TOKEN_VERSION_RAW), (20, TOKEN_VERSION)])
def test_round_trip_in_both_forms(codec: SessionCodec, tags: int, version: int) -> None:
    session = _session(tags=tags)
    issued = codec.issue(session, NOW)
    assert _version(issued.session_token) == version
    decoded, akid, secret = codec.decode(issued.session_token)
    assert decoded == session
    assert (akid, secret) == (issued.access_key_id, issued.secret_access_key)


def test_only_large_documents_are_compressed() -> None:
    small = _encode_session(_session(), "ASIAEXAMPLE", "secret")
    large = _encode_session(_session(tags=20), "ASIAEXAMPLE", "secret")
    assert small[0] == TOKEN_VERSION_RAW and len(small[1]) <= COMPRESS_ABOVE
    assert json.loads(small[1])["sn"] == "app"
    assert large[0] == TOKEN_VERSION and json.loads(zlib.decompress(large[1]))["sn"] == "app"


def test_compressed_tokens_of_older_servers_still_open(codec: SessionCodec) -> None:
    session = _session()
    version, document = _encode_session(session, "ASIAOLDOLDOLDOLDOLD0", "s" * 40)
    assert version == TOKEN_VERSION_RAW
    key = codec.ring.active(NOW)
    header = struct.pack(">BH", TOKEN_VERSION, key.kid)
    nonce = secrets.token_bytes(12)
    packer = zlib.compressobj(9, zlib.DEFLATED, 12, 4)
    old = codec._aead(key).encrypt(nonce, packer.compress(document) + packer.flush(), header)
    token = base64.b64encode(header + nonce + old).decode()
    assert codec.decode(token) == (session, "ASIAOLDOLDOLDOLDOLD0", "s" * 40)


def test_header_is_authenticated(codec: SessionCodec) -> None:
    raw = bytearray(base64.b64decode(codec.issue(_session(), NOW).session_token))
    for version in (TOKEN_VERSION, 3):
        raw[0] = version
        with pytest.raises(InvalidClientTokenId):
            codec.decode(base64.b64encode(bytes(raw)).decode())


def test_compute_context_round_trips_and_is_absent_by_default(codec: SessionCodec) -> None:
    """#16: the instance context is sealed in the token and read back exactly;
    sessions without one carry none (so no ec2:* key appears for them)."""
    from dataclasses import replace

    from tessera.auth.principal import ComputeContext

    compute = ComputeContext(
        "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0", "lab", "10.0.0.7", "2.0"
    )
    for session in (replace(_session(), compute=compute), _session()):
        issued = codec.issue(session, NOW)
        decoded, _, _ = codec.decode(issued.session_token)
        assert decoded.compute == session.compute
    partial = replace(_session(), compute=ComputeContext(compute.instance_arn))
    decoded, _, _ = codec.decode(codec.issue(partial, NOW).session_token)
    assert decoded.compute is not None
    assert decoded.compute.condition_keys() == {"ec2:SourceInstanceArn": compute.instance_arn}
