"""Conformance of the audit trail store (AuditStore) on both engines: insert with
duplicate skipping, every lookup attribute, time range, account scoping, newest
first pagination and pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tessera.store.audit import AuditRow
from tessera.store.sql import SqlStore

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _row(i: int, **kw: object) -> AuditRow:
    base: dict[str, object] = dict(
        event_id=f"00000000-0000-4000-8000-{i:012d}",
        event_time=T0 + timedelta(seconds=i),
        event_name="AssumeRole" if i % 2 else "CreateUser",
        event_source="sts.amazonaws.com" if i % 2 else "iam.amazonaws.com",
        read_only=bool(i % 2),
        username=f"user{i % 3}",
        access_key_id=f"AKIA{i:016d}",
        accounts=("111111111111",),
        resources=(("AWS::IAM::Role", f"arn:aws:iam::111111111111:role/r{i}"),),
        record_json=f'{{"eventID": "{i}"}}',
    )
    base.update(kw)
    return AuditRow(**base)  # type: ignore[arg-type]


def test_put_skips_duplicates_and_scopes_by_account(store: SqlStore) -> None:
    rows = [_row(i) for i in range(6)]
    assert store.put_audit_events(rows) == 6
    assert store.put_audit_events(rows[:2]) == 0  # a replayed spool inserts nothing
    cross = _row(50, accounts=("111111111111", "222222222222"))
    assert store.put_audit_events([cross]) == 2
    other = store.lookup_audit_events(
        "222222222222", attribute=None, start=None, end=None, limit=50, cursor=None
    )
    assert [r.event_id for r in other.rows] == [cross.event_id]
    assert (
        store.lookup_audit_events(
            "333333333333", attribute=None, start=None, end=None, limit=50, cursor=None
        ).rows
        == ()
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("EventId", "00000000-0000-4000-8000-000000000003", [3]),
        ("EventName", "AssumeRole", [5, 3, 1]),
        ("ReadOnly", "false", [4, 2, 0]),
        ("Username", "user1", [4, 1]),
        ("ResourceType", "AWS::IAM::Role", [5, 4, 3, 2, 1, 0]),
        ("ResourceName", "arn:aws:iam::111111111111:role/r2", [2]),
        ("EventSource", "iam.amazonaws.com", [4, 2, 0]),
        ("AccessKeyId", "AKIA0000000000000005", [5]),
    ],
)
def test_lookup_attributes(store: SqlStore, key: str, value: str, expected: list[int]) -> None:
    store.put_audit_events([_row(i) for i in range(6)])
    page = store.lookup_audit_events(
        "111111111111", attribute=(key, value), start=None, end=None, limit=50, cursor=None
    )
    assert [int(r.event_id[-12:]) for r in page.rows] == expected
    assert page.next_cursor is None


def test_time_range_pagination_and_record(store: SqlStore) -> None:
    store.put_audit_events([_row(i) for i in range(10)])
    seen: list[int] = []
    cursor = None
    while True:
        page = store.lookup_audit_events(
            "111111111111",
            attribute=None,
            start=T0 + timedelta(seconds=2),
            end=T0 + timedelta(seconds=8),
            limit=3,
            cursor=cursor,
        )
        seen += [int(r.event_id[-12:]) for r in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [8, 7, 6, 5, 4, 3, 2]
    first = store.lookup_audit_events(
        "111111111111", attribute=None, start=None, end=None, limit=1, cursor=None
    ).rows[0]
    assert first.record_json == '{"eventID": "9"}'
    assert first.event_time == T0 + timedelta(seconds=9)
    assert first.resources == (("AWS::IAM::Role", "arn:aws:iam::111111111111:role/r9"),)
    with pytest.raises(ValueError):
        store.lookup_audit_events(
            "111111111111", attribute=None, start=None, end=None, limit=1, cursor="%%%"
        )
    with pytest.raises(ValueError):
        store.lookup_audit_events(
            "111111111111", attribute=("Nope", "x"), start=None, end=None, limit=1, cursor=None
        )


def test_prune(store: SqlStore) -> None:
    store.put_audit_events([_row(i) for i in range(5)])
    assert store.prune_audit_events(T0 + timedelta(seconds=3)) == 3
    left = store.lookup_audit_events(
        "111111111111", attribute=None, start=None, end=None, limit=50, cursor=None
    )
    assert [int(r.event_id[-12:]) for r in left.rows] == [4, 3]
