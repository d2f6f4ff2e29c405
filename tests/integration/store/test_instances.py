"""The instance registry on every storage engine: create with a join token (only
its hash stored), get/list/disable/delete, single-use and expiring join tokens
(one winner among concurrent consumers), certificate serial records (pruned once
expired), and the instance CA (key sealed, first writer wins)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tessera.store.base import AlreadyExists
from tessera.store.instances import InstanceCaRecord, InstanceRecord, JoinOutcome
from tessera.store.sql import SqlStore, schema
from tests.integration.store.coverage import unwrap

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACCT = "123456789012"
OTHER = "210987654321"


@pytest.fixture()
def store(store: SqlStore) -> SqlStore:
    store.create_account(ACCT, NOW)
    store.create_account(OTHER, NOW)
    return store


def _inst(iid: str, account: str = ACCT, **kw: object) -> InstanceRecord:
    return InstanceRecord(
        instance_id=iid,
        account_id=account,
        profile_name="web",
        profile_id="AIPAEXAMPLE0000000001",
        region="us-east-1",
        state="enabled",
        created_at=NOW,
        **kw,  # type: ignore[arg-type]
    )


def test_create_get_list_state_delete(store: SqlStore) -> None:
    a = _inst("i-0000000000000000a", name="web-1", private_ipv4="10.0.1.10", network="vpc-lab")
    b = _inst("i-0000000000000000b", account=OTHER)
    store.create_instance(a, "a" * 64, NOW + timedelta(minutes=10))
    store.create_instance(b, "b" * 64, NOW + timedelta(minutes=10))
    with pytest.raises(AlreadyExists):
        store.create_instance(a, "c" * 64, NOW)
    assert store.get_instance(a.instance_id) == a
    assert store.get_instance("i-0000000000000000f") is None
    assert store.list_instances(None, after=None, limit=10) == [a, b]
    assert store.list_instances(ACCT, after=None, limit=10) == [a]
    assert store.list_instances(None, after=a.instance_id, limit=10) == [b]
    assert store.list_instances(None, after=None, limit=1) == [a]
    assert store.set_instance_state(a.instance_id, "disabled") is True
    got = store.get_instance(a.instance_id)
    assert got is not None and got.state == "disabled"
    assert store.set_instance_state("i-0000000000000000f", "disabled") is False
    assert store.delete_instance(a.instance_id) is True
    assert store.delete_instance(a.instance_id) is False
    assert store.get_instance(a.instance_id) is None
    # its token went with it
    assert store.consume_join_token("a" * 64, NOW) == (JoinOutcome.UNKNOWN, None)


def test_join_token_single_use_and_expiry(store: SqlStore) -> None:
    store.create_instance(_inst("i-0000000000000000a"), "a" * 64, NOW + timedelta(minutes=10))
    store.create_instance(_inst("i-0000000000000000b"), "b" * 64, NOW + timedelta(minutes=10))
    assert store.consume_join_token("f" * 64, NOW) == (JoinOutcome.UNKNOWN, None)
    assert store.consume_join_token("a" * 64, NOW) == (JoinOutcome.CONSUMED, "i-0000000000000000a")
    assert store.consume_join_token("a" * 64, NOW) == (JoinOutcome.USED, None)
    late = NOW + timedelta(minutes=10)
    assert store.consume_join_token("b" * 64, late) == (JoinOutcome.EXPIRED, None)
    with unwrap(store).engine.connect() as conn:
        hashes = conn.execute(select(schema.instance_join_tokens.c.token_hash)).scalars().all()
    assert sorted(hashes) == ["a" * 64, "b" * 64]


def test_join_token_one_winner(store: SqlStore) -> None:
    store.create_instance(_inst("i-0000000000000000a"), "a" * 64, NOW + timedelta(minutes=10))
    results: list[JoinOutcome] = []
    barrier = threading.Barrier(4)

    def go() -> None:
        barrier.wait()
        results.append(store.consume_join_token("a" * 64, NOW)[0])

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(JoinOutcome.CONSUMED) == 1
    assert results.count(JoinOutcome.USED) == 3


def test_certificate_records(store: SqlStore) -> None:
    iid = "i-0000000000000000a"
    assert store.record_instance_certificate(iid, "1", NOW, NOW + timedelta(days=1)) is False
    store.create_instance(_inst(iid), "a" * 64, NOW)
    assert store.record_instance_certificate(iid, "1", NOW, NOW + timedelta(days=1)) is True
    assert store.instance_certificate_issued(iid, "1") is True
    assert store.instance_certificate_issued("i-0000000000000000b", "1") is False
    assert store.instance_certificate_issued(iid, "2") is False
    later = NOW + timedelta(days=2)
    assert store.record_instance_certificate(iid, "2", later, later + timedelta(days=1))
    assert store.instance_certificate_issued(iid, "1") is False  # expired: pruned
    assert store.instance_certificate_issued(iid, "2") is True


def test_instance_ca_sealed_first_writer_wins(store: SqlStore) -> None:
    pem = b"-----BEGIN PRIVATE KEY-----\nsecret-ca\n-----END PRIVATE KEY-----\n"
    ca = InstanceCaRecord("default", b"-----BEGIN CERTIFICATE-----\nx\n", pem, NOW)
    assert store.get_instance_ca("default") is None
    assert store.create_instance_ca(ca) == ca
    other = InstanceCaRecord("default", b"other", b"other-key", NOW + timedelta(hours=1))
    assert store.create_instance_ca(other) == ca
    assert store.get_instance_ca("default") == ca
    assert "secret-ca" not in repr(ca)
    with unwrap(store).engine.connect() as conn:
        sealed = conn.execute(select(schema.instance_ca.c.private_sealed)).scalar_one()
    assert b"secret-ca" not in bytes(sealed)
