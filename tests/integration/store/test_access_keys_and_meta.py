"""Access keys and store bookkeeping on every storage engine: key status, delete
and "last used" (which does not empty the read cache), the per-user key list,
and initialisation with the KEK check (``is_initialised`` / ``initialise`` /
``check_kek``) and the ``kek`` services seal with."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tessera import ids
from tessera.iam.model import User
from tessera.kek import KekError, KeyEncryptionKey
from tessera.store.sql import SqlStore, open_sql_store
from tests.integration.store.coverage import RecordingStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACCT = "111111111111"


@pytest.fixture()
def store(store: SqlStore) -> SqlStore:
    store.create_account(ACCT, NOW)
    store.create_user(User(ACCT, "alice", "/", ids.new_unique_id(ids.USER_PREFIX), NOW))
    return store


def test_key_status_use_and_delete(store: SqlStore) -> None:
    first = ids.new_access_key_id(ACCT)
    second = ids.new_access_key_id(ACCT)
    store.create_access_key(ACCT, "alice", first, ids.new_secret_access_key(), NOW)
    store.create_access_key(
        ACCT, "alice", second, ids.new_secret_access_key(), NOW + timedelta(seconds=1)
    )
    root = ids.new_access_key_id(ACCT)
    store.create_access_key(ACCT, None, root, ids.new_secret_access_key(), NOW)
    assert [k.access_key_id for k in store.list_access_keys(ACCT, "ALICE")] == [first, second]
    assert [k.access_key_id for k in store.list_access_keys(ACCT, None)] == [root]

    store.update_access_key_status(first, "Inactive")
    key = store.get_access_key(first)
    assert key is not None and key.status == "Inactive"

    used = NOW + timedelta(hours=2)
    store.record_access_key_use(second, used, "sts", "eu-west-1")
    key = store.get_access_key(second)
    assert key is not None
    assert (key.last_used_at, key.last_used_service, key.last_used_region) == (
        used,
        "sts",
        "eu-west-1",
    )

    store.delete_access_key(first)
    assert store.get_access_key(first) is None
    assert store.get_access_key_with_secret(first) is None
    assert [k.access_key_id for k in store.list_access_keys(ACCT, "alice")] == [second]


def test_key_use_does_not_empty_the_read_cache(store: SqlStore) -> None:
    key_id = ids.new_access_key_id(ACCT)
    store.create_access_key(ACCT, "alice", key_id, ids.new_secret_access_key(), NOW)
    cache = store.enable_read_cache()
    store.get_account(ACCT)
    assert len(cache) == 1
    store.record_access_key_use(key_id, NOW, "iam", "us-east-1")
    assert len(cache) == 1  # bookkeeping: nothing memoised depends on it


def test_initialisation_and_kek_check(tmp_path: Path, pg_or_sqlite: tuple[str, str]) -> None:
    engine, url = pg_or_sqlite
    kek = KeyEncryptionKey(os.urandom(32))
    raw = open_sql_store(kek, database_url=url) if url else open_sql_store(kek, data_dir=tmp_path)
    store = RecordingStore(raw, engine)
    try:
        assert store.is_initialised() is False
        store.check_kek()  # nothing recorded yet: nothing to check
        store.initialise()
        assert store.is_initialised() is True
        store.check_kek()
        sealed = store.kek.seal(b"seed", "mfa-seed:x")
        assert store.kek.open(sealed, "mfa-seed:x") == b"seed"
    finally:
        raw.close()
    other = SqlStore(raw.url, KeyEncryptionKey(os.urandom(32)))
    try:
        with pytest.raises(KekError):
            other.check_kek()
    finally:
        other.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def pg_or_sqlite(request: pytest.FixtureRequest) -> tuple[str, str]:
    if request.param == "sqlite":
        return "sqlite", ""
    return "postgresql", str(request.getfixturevalue("pg_url"))
