"""SAML storage conformance (SQLite and PostgreSQL): providers keyed by account and
case-insensitive name, sealed private keys, tags dropped with the provider, and the
assertion replay cache — atomic insert-or-fail, also across two store instances
("replicas") and concurrent threads, with expired entries purged."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from tessera.iam.model import Tag
from tessera.iam.saml_model import RESOURCE_TYPE, SamlProvider
from tessera.kek import KeyEncryptionKey
from tessera.store.base import AlreadyExists
from tessera.store.sql import SqlStore, open_sql_store
from tests.integration.store.coverage import RecordingStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACCT = "111111111111"


@pytest.fixture(params=["sqlite", "postgresql"])
def url_and_kek(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str | None, Path, KeyEncryptionKey]]:
    kek = KeyEncryptionKey(os.urandom(32))
    url = None if request.param == "sqlite" else request.getfixturevalue("pg_url")
    yield url, tmp_path, kek


@pytest.fixture
def store(url_and_kek: tuple[str | None, Path, KeyEncryptionKey]) -> Iterator[SqlStore]:
    url, data_dir, kek = url_and_kek
    st = open_sql_store(kek, data_dir=data_dir, database_url=url)
    st.initialise()
    st.create_account(ACCT, NOW)
    st.create_account("222222222222", NOW)
    try:
        yield cast(SqlStore, RecordingStore(st, "sqlite" if url is None else "postgresql"))
    finally:
        st.close()


def _provider(name: str, account: str = ACCT, **kw: object) -> SamlProvider:
    values: dict[str, object] = {
        "account_id": account,
        "name": name,
        "provider_uuid": os.urandom(16).hex().upper(),
        "metadata_document": f"<md:EntityDescriptor entityID='{name}'/>",
        "valid_until": NOW + timedelta(days=365),
        "created_at": NOW,
    }
    values.update(kw)
    return SamlProvider(**values)  # type: ignore[arg-type]


def test_provider_crud(store: SqlStore) -> None:
    store.create_saml_provider(_provider("Corp"))
    with pytest.raises(AlreadyExists):
        store.create_saml_provider(_provider("CORP"))
    store.create_saml_provider(_provider("Corp", account="222222222222"))
    got = store.get_saml_provider(ACCT, "corp")
    assert got is not None and got.name == "Corp"
    assert got.arn == f"arn:aws:iam::{ACCT}:saml-provider/Corp"
    assert got.valid_until == NOW + timedelta(days=365) and got.created_at == NOW
    assert got.encryption_mode is None and got.private_keys_sealed is None
    store.create_saml_provider(_provider("alpha"))
    assert [p.name for p in store.list_saml_providers(ACCT)] == ["alpha", "Corp"]

    sealed = store.kek.seal(b"[]", "saml-keys:x")
    assert store.update_saml_provider(
        ACCT,
        "Corp",
        metadata_document="<new/>",
        valid_until=NOW,
        encryption_mode="Required",
        private_keys_sealed=sealed,
    )
    got = store.get_saml_provider(ACCT, "Corp")
    assert got is not None
    assert (got.metadata_document, got.valid_until, got.encryption_mode) == (
        "<new/>",
        NOW,
        "Required",
    )
    assert got.private_keys_sealed == sealed
    assert store.update_saml_provider(ACCT, "Corp", private_keys_sealed=None)
    got = store.get_saml_provider(ACCT, "Corp")
    assert got is not None and got.private_keys_sealed is None and got.encryption_mode == "Required"
    assert not store.update_saml_provider(ACCT, "missing", metadata_document="<x/>")

    store.set_tags(ACCT, RESOURCE_TYPE, "corp", [Tag("team", "sec")])
    assert store.delete_saml_provider(ACCT, "CORP")
    assert store.get_saml_provider(ACCT, "Corp") is None
    assert store.get_tags(ACCT, RESOURCE_TYPE, "corp") == []
    assert not store.delete_saml_provider(ACCT, "Corp")
    assert store.get_saml_provider("222222222222", "Corp") is not None


def test_replay_cache_is_insert_or_fail(store: SqlStore) -> None:
    arn = f"arn:aws:iam::{ACCT}:saml-provider/Corp"
    later = NOW + timedelta(minutes=5)
    assert store.use_saml_assertion(arn, "_a1", later, NOW)
    assert not store.use_saml_assertion(arn, "_a1", later, NOW + timedelta(minutes=1))
    assert store.use_saml_assertion(arn + "2", "_a1", later, NOW)  # per provider
    assert store.use_saml_assertion(arn, "_a2", later, NOW)
    # an expired row no longer blocks its key (the assertion would fail its own time
    # checks long before reaching the cache); purging drops whatever has expired
    assert store.use_saml_assertion(arn, "_a1", later + timedelta(minutes=5), later)
    assert not store.use_saml_assertion(arn, "_a1", later + timedelta(minutes=5), later)
    assert store.purge_saml_assertions(later) == 2  # (arn2, _a1) and (arn, _a2)
    assert store.purge_saml_assertions(later + timedelta(minutes=10)) == 1
    assert list(store.saml_assertion_rows()) == []


def test_replay_cache_across_replicas_and_threads(
    store: SqlStore, url_and_kek: tuple[str | None, Path, KeyEncryptionKey]
) -> None:
    url, data_dir, kek = url_and_kek
    replica = open_sql_store(kek, data_dir=data_dir, database_url=url)
    arn = f"arn:aws:iam::{ACCT}:saml-provider/Corp"
    later = NOW + timedelta(minutes=5)
    try:
        assert store.use_saml_assertion(arn, "_shared", later, NOW)
        assert not replica.use_saml_assertion(arn, "_shared", later, NOW)

        results: list[bool] = []
        lock = threading.Lock()
        barrier = threading.Barrier(6)

        def race(st: SqlStore) -> None:
            barrier.wait()
            ok = st.use_saml_assertion(arn, "_race", later, NOW)
            with lock:
                results.append(ok)

        threads = [threading.Thread(target=race, args=(s,)) for s in [store, replica] * 3]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(results) == [False] * 5 + [True]
    finally:
        replica.close()
