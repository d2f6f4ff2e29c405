"""The request-path read cache (``tessera.store.cache``) on both engines: reads are
memoised, and a write — in this process or by another process sharing the database
— is seen by the next request (the next ``validate_read_cache``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tessera import ids
from tessera.iam.model import Role, Tag
from tessera.kek import KeyEncryptionKey
from tessera.store.records import Owner
from tessera.store.sql import SqlStore, open_sql_store

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACCT = "123456789012"


@pytest.fixture(params=["sqlite", "postgresql"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SqlStore, SqlStore]]:
    """(server store with the read cache, another process's store on the same data)."""
    kek = KeyEncryptionKey(os.urandom(32))
    if request.param == "sqlite":
        opened = [open_sql_store(kek, data_dir=tmp_path) for _ in range(2)]
    else:
        url = request.getfixturevalue("pg_url")
        opened = [open_sql_store(kek, database_url=url) for _ in range(2)]
    server, other = opened
    server.enable_read_cache()
    server.create_account(ACCT, NOW)
    try:
        yield server, other
    finally:
        for st in opened:
            st.close()


def _role(trust: str = '{"v": 1}') -> Role:
    return Role(ACCT, "deployer", "/", ids.new_unique_id(ids.ROLE_PREFIX), NOW, trust)


def _key(store: SqlStore) -> str:
    akid = ids.new_access_key_id(ACCT)
    store.create_access_key(ACCT, None, akid, "secret-value", NOW)
    return akid


def test_reads_are_memoised(pair: tuple[SqlStore, SqlStore]) -> None:
    server, _ = pair
    server.create_role(_role())
    cache = server.read_cache
    assert cache is not None
    server.validate_read_cache()
    first = server.get_role(ACCT, "deployer")
    misses = cache.misses
    for _ in range(5):
        assert server.get_role(ACCT, "deployer") == first
    assert cache.misses == misses
    assert cache.hits >= 5


def test_local_writes_are_seen_at_once(pair: tuple[SqlStore, SqlStore]) -> None:
    server, _ = pair
    server.create_role(_role())
    akid = _key(server)
    server.validate_read_cache()
    assert server.get_role(ACCT, "deployer").trust_policy == '{"v": 1}'  # type: ignore[union-attr]
    assert server.get_access_key_with_secret(akid) is not None
    server.update_role(ACCT, "deployer", trust_policy='{"v": 2}')
    server.update_access_key_status(akid, "Inactive")
    assert server.get_role(ACCT, "deployer").trust_policy == '{"v": 2}'  # type: ignore[union-attr]
    found = server.get_access_key_with_secret(akid)
    assert found is not None and found[0].status == "Inactive"
    server.delete_access_key(akid)
    assert server.get_access_key_with_secret(akid) is None


def test_other_process_writes_are_seen_by_the_next_request(
    pair: tuple[SqlStore, SqlStore],
) -> None:
    server, other = pair
    server.create_role(_role())
    akid = _key(server)
    owner = Owner(ACCT, "role", "deployer")
    server.validate_read_cache()
    assert server.get_access_key_with_secret(akid) is not None
    assert server.get_tags(ACCT, "role", "deployer") == []
    assert server.list_inline_policies(owner) == []

    other.update_access_key_status(akid, "Inactive")
    other.update_role(ACCT, "deployer", trust_policy='{"v": 3}')
    other.set_tags(ACCT, "role", "deployer", [Tag("team", "blue")])

    server.validate_read_cache()  # what the pipeline does at the start of a request
    found = server.get_access_key_with_secret(akid)
    assert found is not None and found[0].status == "Inactive"
    assert server.get_role(ACCT, "deployer").trust_policy == '{"v": 3}'  # type: ignore[union-attr]
    assert server.get_tags(ACCT, "role", "deployer") == [Tag("team", "blue")]

    other.delete_access_key(akid)
    server.validate_read_cache()
    assert server.get_access_key_with_secret(akid) is None


def test_check_interval_bounds_staleness(pair: tuple[SqlStore, SqlStore]) -> None:
    server, other = pair
    now = [100.0]
    cache = server.enable_read_cache(check_interval=2.0)
    cache._monotonic = lambda: now[0]
    akid = _key(server)
    server.validate_read_cache()
    assert server.get_access_key_with_secret(akid) is not None
    other.delete_access_key(akid)
    now[0] += 1.0
    server.validate_read_cache()  # within the interval: not checked yet
    assert server.get_access_key_with_secret(akid) is not None
    now[0] += 1.5
    server.validate_read_cache()
    assert server.get_access_key_with_secret(akid) is None


def test_usage_bookkeeping_keeps_the_cache(pair: tuple[SqlStore, SqlStore]) -> None:
    server, other = pair
    akid = _key(server)
    server.validate_read_cache()
    server.get_access_key_with_secret(akid)
    cache = server.read_cache
    assert cache is not None and len(cache) == 1
    server.record_access_key_use(akid, NOW, "sts", "us-east-1")
    other.record_access_key_use(akid, NOW, "sts", "eu-west-1")
    server.validate_read_cache()
    assert len(cache) == 1
    # the uncached read still shows the bookkeeping
    key = server.get_access_key(akid)
    assert key is not None and key.last_used_region == "eu-west-1"


def test_list_results_are_copies(pair: tuple[SqlStore, SqlStore]) -> None:
    server, _ = pair
    server.create_role(_role())
    server.set_tags(ACCT, "role", "deployer", [Tag("a", "1")])
    server.validate_read_cache()
    tags = server.get_tags(ACCT, "role", "deployer")
    tags.append(Tag("mutated", "yes"))
    assert server.get_tags(ACCT, "role", "deployer") == [Tag("a", "1")]


def test_memo_is_bounded(pair: tuple[SqlStore, SqlStore]) -> None:
    server, _ = pair
    cache = server.enable_read_cache(max_entries=3)
    server.validate_read_cache()
    for i in range(10):
        server.get_role(ACCT, f"missing-{i}")
    assert len(cache) <= 3


def test_without_the_cache_nothing_is_memoised(tmp_path: Path) -> None:
    store = open_sql_store(KeyEncryptionKey(os.urandom(32)), data_dir=tmp_path)
    try:
        assert store.read_cache is None
        store.validate_read_cache()  # a no-op
        store.create_account(ACCT, NOW)
        assert store.get_role(ACCT, "nobody") is None
    finally:
        store.close()
