"""tessera.ids: the fast UUID text is exactly uuid.UUID(bytes=…, version=4)."""

from __future__ import annotations

import os
import uuid

from tessera.ids import new_request_id, uuid4_text


def test_uuid4_text_matches_the_uuid_module() -> None:
    for _ in range(500):
        raw = os.urandom(16)
        assert uuid4_text(raw) == str(uuid.UUID(bytes=raw, version=4))
    for raw in (bytes(16), b"\xff" * 16):
        assert uuid4_text(raw) == str(uuid.UUID(bytes=raw, version=4))


def test_request_ids_are_random_version_4_uuids() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(uuid.UUID(i).version == 4 and str(uuid.UUID(i)) == i for i in ids)


def test_access_key_ids_encode_the_account() -> None:
    from tessera.ids import account_from_access_key_id, new_access_key_id

    for account in ("123456789012", "100000000000", "999999999999"):
        for temporary in (False, True):
            akid = new_access_key_id(account, temporary=temporary)
            assert akid.startswith("ASIA" if temporary else "AKIA") and len(akid) == 20
            assert account_from_access_key_id(akid) == account
