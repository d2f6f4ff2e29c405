"""Session-token size (issue #14 §5): padding inside the sealed document to
``MinimumSessionTokenSize`` (exact, for raw and compressed documents, readable by
the unchanged decoder), the 4,096-byte limit on the real token with
``PackedPolicyTooLarge`` naming both sizes, utilization rounding, and the
response fields."""

from __future__ import annotations

import base64
import json
import math
import os
import random
import secrets
import zlib
from datetime import UTC, datetime, timedelta

import pytest

from tessera.auth.principal import Session, SessionKind
from tessera.errors import PackedPolicyTooLarge, ValidationError
from tessera.iam.model import Tag
from tessera.kek import KeyEncryptionKey
from tessera.protocol.query import Params
from tessera.store.sql import SqlStore
from tessera.sts import packing, token_size
from tessera.sts.sessions import (
    TOKEN_VERSION,
    TOKEN_VERSION_RAW,
    IssuedCredentials,
    SessionCodec,
    SessionKeyRing,
    _decode_session,
    _encode_session,
)
from tessera.sts.token_size import (
    MAX_TOKEN_SIZE,
    document_bytes_for,
    pad_document,
    token_length,
    too_large_message,
    utilization,
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


def _session(tags: int = 0, value_len: int = 40, random_values: bool = False) -> Session:
    def value() -> str:
        return secrets.token_hex(value_len // 2) if random_values else "v" * value_len

    return Session(
        kind=SessionKind.ASSUMED_ROLE,
        account_id="123456789012",
        issued_at=NOW,
        expires_at=NOW + timedelta(hours=1),
        source_arn="arn:aws:iam::123456789012:role/app",
        source_id="AROAEXAMPLEEXAMPLE123",
        source_name="app",
        session_name="s1",
        tags=tuple(Tag(f"k{i}", value()) for i in range(tags)),
    )


def _plain(version: int, document: bytes) -> dict[str, object]:
    text = document if version == TOKEN_VERSION_RAW else zlib.decompress(document, bufsize=4096)
    doc: dict[str, object] = json.loads(text)
    return doc


# --- arithmetic ---------------------------------------------------------------------------


def test_token_length_matches_the_codec(codec: SessionCodec) -> None:
    for tags in (0, 3, 20):
        session = _session(tags, random_values=True)
        issued = codec.issue(session, NOW)
        sealed = base64.b64decode(issued.session_token)
        document_bytes = len(sealed) - 3 - 12 - 16  # header, nonce, GCM tag
        assert len(issued.session_token) == token_length(document_bytes)
        assert issued.token_size == len(issued.session_token)


def test_document_bytes_for_is_the_shortest() -> None:
    for minimum in range(100, MAX_TOKEN_SIZE + 1, 7):
        n = document_bytes_for(minimum)
        assert token_length(n) >= minimum
        assert token_length(n - 1) < minimum


def test_utilization_rounds_up() -> None:
    assert utilization(0) == 0
    assert utilization(1) == 1
    assert utilization(40) == 1
    assert utilization(41) == 2
    assert utilization(2048) == 50
    assert utilization(4095) == 100
    assert utilization(4096) == 100


def test_too_large_message_names_both_sizes() -> None:
    assert too_large_message(4213) == (
        "Session token size 4213 bytes exceeds the maximum allowed size of 4096 bytes."
    )


# --- padding ------------------------------------------------------------------------------


def test_no_padding_when_long_enough() -> None:
    doc = b'{"a":"x"}'
    assert pad_document(TOKEN_VERSION_RAW, doc, 0) == (TOKEN_VERSION_RAW, doc)
    assert pad_document(TOKEN_VERSION_RAW, doc, token_length(len(doc))) == (
        TOKEN_VERSION_RAW,
        doc,
    )


@pytest.mark.parametrize("minimum", [105, 106, 107, 108, 109, 112, 1000, 3001, MAX_TOKEN_SIZE])
def test_raw_documents_are_padded_exactly(minimum: int) -> None:
    doc = json.dumps({"a": "ASIAX", "s": "secret", "k": "assumed-role"}).encode()
    version, padded = pad_document(TOKEN_VERSION_RAW, doc, minimum)
    assert version == TOKEN_VERSION_RAW
    assert token_length(len(padded)) == 4 * math.ceil(minimum / 4)
    decoded = _plain(version, padded)
    decoded.pop("z", None)
    assert decoded == json.loads(doc)


def test_compressed_documents_are_padded_exactly() -> None:
    raw = json.dumps({"x": secrets.token_urlsafe(2400)}, separators=(",", ":")).encode()
    packer = zlib.compressobj(9, zlib.DEFLATED, 12, 4)
    compressed = packer.compress(raw) + packer.flush()
    base = token_length(len(compressed))
    assert len(raw) > document_bytes_for(MAX_TOKEN_SIZE)  # raw JSON would not fit
    for minimum in (base + 1, base + 5, base + 13, base + 40, MAX_TOKEN_SIZE):
        version, padded = pad_document(TOKEN_VERSION, compressed, minimum)
        assert version == TOKEN_VERSION
        assert token_length(len(padded)) == 4 * math.ceil(minimum / 4), minimum
        decoded = _plain(version, padded)
        decoded.pop("z", None)
        assert decoded == json.loads(raw)


def test_padding_property() -> None:
    """Random documents and minimums: at least the minimum, the same document once the
    filler is dropped, and almost always exactly the shortest token length."""
    rng = random.Random(14)
    exact = 0
    trials = 400
    for _ in range(trials):
        doc = {
            "a": "ASIAX",
            "x": secrets.token_urlsafe(rng.randint(0, 2800)),
            "t": [["k", "v" * rng.randint(0, 300)]],
        }
        raw = json.dumps(doc, separators=(",", ":")).encode()
        if len(raw) > 512:
            packer = zlib.compressobj(9, zlib.DEFLATED, 12, 4)
            version, document = TOKEN_VERSION, packer.compress(raw) + packer.flush()
        else:
            version, document = TOKEN_VERSION_RAW, raw
        base = token_length(len(document))
        minimum = rng.choice([rng.randint(0, MAX_TOKEN_SIZE), min(MAX_TOKEN_SIZE, base + 4)])
        new_version, padded = pad_document(version, document, minimum)
        got = token_length(len(padded))
        assert got >= minimum
        decoded = _plain(new_version, padded)
        decoded.pop("z", None)
        assert decoded == doc
        if base >= minimum:
            assert padded == document
            exact += 1
        elif got == 4 * math.ceil(minimum / 4):
            exact += 1
    assert exact >= trials * 0.97


def test_padding_lives_in_the_sealed_document(codec: SessionCodec) -> None:
    """The filler is a member of the authenticated document: the token decodes to the
    same session, older decoders (which ignore unknown members) read it, and changing
    any byte of it is refused."""
    session = _session(2)
    issued = codec.issue(session, NOW, min_size=3000)
    assert len(issued.session_token) == 3000
    decoded, akid, _ = codec.decode(issued.session_token)
    assert decoded == session
    assert akid == issued.access_key_id
    raw = bytearray(base64.b64decode(issued.session_token))
    raw[-40] ^= 1
    from tessera.errors import InvalidClientTokenId

    with pytest.raises(InvalidClientTokenId):
        codec.decode(base64.b64encode(bytes(raw)).decode())
    truncated = base64.b64encode(base64.b64decode(issued.session_token)[:-100]).decode()
    with pytest.raises(InvalidClientTokenId):
        codec.decode(truncated)


def test_old_decoder_reads_padded_documents() -> None:
    session = _session(1)
    version, document = _encode_session(session, "ASIAX", "secret")
    padded_version, padded = pad_document(version, document, 2000)
    assert b'"z":"' in padded
    decoded, akid, secret = _decode_session(padded, padded_version)
    assert (decoded, akid, secret) == (session, "ASIAX", "secret")


@pytest.mark.parametrize("tags", [0, 10, 40])
def test_codec_pads_raw_and_compressed_sessions(codec: SessionCodec, tags: int) -> None:
    session = _session(tags, value_len=60, random_values=True)
    for minimum in (0, 1200, 3001, MAX_TOKEN_SIZE):
        issued = codec.issue(session, NOW, min_size=minimum)
        assert len(issued.session_token) >= minimum
        natural = len(codec.issue(session, NOW).session_token)  # varies by a few bytes
        if minimum > natural + 32:  # padded: the shortest length (rarely a step more)
            assert len(issued.session_token) <= 4 * math.ceil(minimum / 4) + 4
        assert codec.decode(issued.session_token)[0] == session


# --- the limit ----------------------------------------------------------------------------


def test_whole_token_limit(codec: SessionCodec) -> None:
    big = _session(50, value_len=256, random_values=True)
    with pytest.raises(PackedPolicyTooLarge) as exc:
        codec.issue(big, NOW)
    size = int(exc.value.message.split()[3])
    assert size > MAX_TOKEN_SIZE
    assert exc.value.message == too_large_message(size)
    assert exc.value.code == "PackedPolicyTooLarge"
    assert exc.value.status == 400
    # just under the limit is fine, padded to exactly the limit
    ok = codec.issue(_session(8, value_len=200, random_values=True), NOW, min_size=4096)
    assert len(ok.session_token) == MAX_TOKEN_SIZE


def test_limit_is_configurable(codec: SessionCodec) -> None:
    small = SessionCodec(codec.ring, max_token_size=600)
    with pytest.raises(PackedPolicyTooLarge) as exc:
        small.issue(_session(), NOW, min_size=700)
    assert exc.value.message.endswith("maximum allowed size of 600 bytes.")


# --- packing helpers ----------------------------------------------------------------------


class _Params:
    def __init__(self, value: int | None) -> None:
        self.value = value

    def get_int(self, name: str) -> int | None:
        assert name == "MinimumSessionTokenSize"
        return self.value


def _params(value: int | None) -> Params[str]:
    return _Params(value)  # type: ignore[return-value]


def test_minimum_token_size() -> None:
    assert packing.minimum_token_size(_params(None)) == 0
    assert packing.minimum_token_size(_params(0)) == 0
    assert packing.minimum_token_size(_params(4096)) == 4096
    for bad, bound in ((4097, "less than or equal to 4096"), (-1, "greater than or equal to 0")):
        with pytest.raises(ValidationError) as exc:
            packing.minimum_token_size(_params(bad))
        assert exc.value.message == (
            f"1 validation error detected: Value '{bad}' at 'minimumSessionTokenSize' "
            f"failed to satisfy constraint: Member must have value {bound}"
        )


def test_token_size_fields() -> None:
    issued = IssuedCredentials("ASIAX", "s", "A" * 1000, NOW)
    assert packing.token_size_fields(issued, packed_policy_size=False) == {
        "SessionTokenSize": 1000,
        "SessionTokenUtilization": 25,
    }
    assert packing.token_size_fields(issued, packed_policy_size=True) == {
        "SessionTokenSize": 1000,
        "SessionTokenUtilization": 25,
        "PackedPolicySize": 25,
    }
    assert token_size.utilization(1000) == 25
