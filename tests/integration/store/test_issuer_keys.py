"""Issuer keys and outbound-federation state on every storage engine (SQLite and
PostgreSQL): sealed PEMs round-trip, enable/disable are compare-and-set, rotation
is one transaction (a duplicate kid changes nothing), lookups by issuer id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tessera.store.base import AlreadyExists
from tessera.store.issuer_keys import IssuerKeyRecord
from tessera.store.sql import SqlStore, schema

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACCT = "123456789012"
ISSUER = "3ba618dc-f142-4df4-9d08-4e168c13f27d"


@pytest.fixture()
def store(store: SqlStore) -> SqlStore:
    """The engine store from conftest, seeded."""
    store.create_account(ACCT, NOW)
    return store


def rec(kid: str, alg: str = "RS256", retired: datetime | None = None) -> IssuerKeyRecord:
    pem = f"-----BEGIN PRIVATE KEY-----\n{kid}\n-----END PRIVATE KEY-----\n".encode()
    return IssuerKeyRecord(ACCT, kid, alg, pem, NOW, NOW, retired)


def test_enable_disable_compare_and_set(store: SqlStore) -> None:
    assert store.get_account_by_issuer(ISSUER) is None
    assert store.disable_outbound(ACCT) is False
    assert store.enable_outbound(ACCT, ISSUER, [rec("RSA_0"), rec("EC384_0", "ES384")]) == ISSUER
    assert store.enable_outbound(ACCT, "other", []) is None
    account = store.get_account_by_issuer(ISSUER)
    assert account is not None and account.outbound_enabled and account.issuer_id == ISSUER
    assert store.disable_outbound(ACCT) is True
    assert store.disable_outbound(ACCT) is False
    # re-enable keeps the issuer id and does not add keys
    assert store.enable_outbound(ACCT, "ignored-new-id", [rec("RSA_9")]) == ISSUER
    assert [k.kid for k in store.list_issuer_keys(ACCT)] == ["EC384_0", "RSA_0"]


def test_keys_are_sealed_and_round_trip(store: SqlStore) -> None:
    store.enable_outbound(ACCT, ISSUER, [rec("RSA_0")])
    keys = store.list_issuer_keys(ACCT)
    assert keys == [rec("RSA_0")]
    assert "PRIVATE KEY" not in repr(keys[0])
    with store.engine.connect() as conn:
        sealed = conn.execute(select(schema.issuer_keys.c.private_sealed)).scalar_one()
    assert b"PRIVATE KEY" not in bytes(sealed)


def test_rotation_is_one_transaction(store: SqlStore) -> None:
    store.enable_outbound(ACCT, ISSUER, [rec("RSA_0")])
    later = NOW + timedelta(minutes=15)
    store.save_issuer_rotation(ACCT, [rec("RSA_1")], [("RSA_0", later)])
    keys = {k.kid: k for k in store.list_issuer_keys(ACCT)}
    assert keys["RSA_0"].retired_at == later and keys["RSA_1"].retired_at is None
    with pytest.raises(AlreadyExists):
        store.save_issuer_rotation(ACCT, [rec("RSA_2"), rec("RSA_1")], [("RSA_1", later)])
    keys = {k.kid: k for k in store.list_issuer_keys(ACCT)}
    assert sorted(keys) == ["RSA_0", "RSA_1"] and keys["RSA_1"].retired_at is None
    store.save_issuer_rotation(ACCT, [rec("RSA_2")], [], pruned=["RSA_0"])
    assert [k.kid for k in store.list_issuer_keys(ACCT)] == ["RSA_1", "RSA_2"]
