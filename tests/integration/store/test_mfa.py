"""Virtual MFA devices on every storage engine: create / get / list filters,
assignment (only of an unassigned device), unassign and delete, and the replay
protection of codes: ``use_mfa_step`` accepts each time step once, only moving
forward, atomically even under concurrent callers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from tessera.iam.mfa_model import MfaDevice, mfa_serial
from tessera.store.base import AlreadyExists
from tessera.store.sql import SqlStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACCT = "111111111111"


@pytest.fixture()
def store(store: SqlStore) -> SqlStore:
    store.create_account(ACCT, NOW)
    return store


def _device(name: str, account: str = ACCT) -> MfaDevice:
    return MfaDevice(
        account, mfa_serial(account, "/", name), "/", name, b"sealed-" + name.encode(), NOW
    )


def test_create_get_list_assign_unassign_delete(store: SqlStore) -> None:
    a, b = _device("a"), _device("b")
    store.create_mfa_device(a)
    store.create_mfa_device(b)
    with pytest.raises(AlreadyExists):
        store.create_mfa_device(a)
    got = store.get_mfa_device(a.serial_number)
    assert got == a and not got.assigned
    assert store.get_mfa_device(mfa_serial(ACCT, "/", "zz")) is None

    enabled = NOW + timedelta(minutes=1)
    assert store.assign_mfa_device(a.serial_number, "Alice", enabled, 100) is True
    assert store.assign_mfa_device(a.serial_number, "bob", enabled, 100) is False  # taken
    got = store.get_mfa_device(a.serial_number)
    assert got is not None and got.assigned
    assert (got.user_name, got.enable_date, got.last_used_step) == ("Alice", enabled, 100)

    serials = [d.serial_number for d in store.list_mfa_devices(ACCT)]
    assert serials == sorted([a.serial_number, b.serial_number])
    assert [d.name for d in store.list_mfa_devices(ACCT, user_name="alice")] == ["a"]
    assert [d.name for d in store.list_mfa_devices(ACCT, assigned=True)] == ["a"]
    assert [d.name for d in store.list_mfa_devices(ACCT, assigned=False)] == ["b"]
    assert store.list_mfa_devices("222222222222") == []

    store.unassign_mfa_device(a.serial_number)
    got = store.get_mfa_device(a.serial_number)
    assert got is not None and not got.assigned and got.enable_date is None
    assert store.list_mfa_devices(ACCT, user_name="alice") == []

    store.delete_mfa_device(a.serial_number)
    assert store.get_mfa_device(a.serial_number) is None
    assert [d.name for d in store.list_mfa_devices(ACCT)] == ["b"]


def test_use_mfa_step_is_monotonic(store: SqlStore) -> None:
    device = _device("a")
    store.create_mfa_device(device)
    serial = device.serial_number
    assert store.use_mfa_step(serial, 5) is True  # never used: any step
    assert store.use_mfa_step(serial, 5) is False  # replay
    assert store.use_mfa_step(serial, 4) is False  # an older code
    assert store.use_mfa_step(serial, 7) is True
    got = store.get_mfa_device(serial)
    assert got is not None and got.last_used_step == 7

    # assignment records the steps of the two enabling codes
    assert store.assign_mfa_device(serial, "alice", NOW, 20) is True
    assert store.use_mfa_step(serial, 20) is False
    assert store.use_mfa_step(serial, 21) is True
    assert store.use_mfa_step(mfa_serial(ACCT, "/", "missing"), 99) is False


def test_use_mfa_step_accepts_a_step_once_under_concurrency(store: SqlStore) -> None:
    device = _device("a")
    store.create_mfa_device(device)
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def use() -> None:
        barrier.wait()
        results.append(store.use_mfa_step(device.serial_number, 42))

    threads = [threading.Thread(target=use) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True]
