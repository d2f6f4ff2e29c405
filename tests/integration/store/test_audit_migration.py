"""Migration 18 on both engines: a store as migration 17 left it (``audit_events``, a
row per account and event) gets its rows as segments (per account, by event time,
a thousand at a time), their lookup terms, and no ``audit_events`` any more."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, insert, inspect, select

from tessera.store.audit import MAX_TERM_VALUE
from tessera.store.sql import SqlStore
from tessera.store.sql import schema as s
from tests.integration.store.coverage import unwrap

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
A = "111111111111"
B = "222222222222"
C = "333333333333"


def _legacy(account: str, i: int, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict(
        account_id=account,
        event_id=f"00000000-0000-4000-8000-{i:012d}",
        event_time=T0 + timedelta(seconds=i),
        event_name="AssumeRole",
        event_source="sts.amazonaws.com",
        read_only=True,
        username="alice",
        access_key_id=f"AKIA{i:016d}",
        resource_type="AWS::IAM::Role",
        resource_name=f"arn:aws:iam::{account}:role/r{i}",
        resource_types=json.dumps(["AWS::IAM::Role"]),
        resource_names=json.dumps([f"arn:aws:iam::{account}:role/r{i}"]),
        record=json.dumps({"eventID": f"e{i}", "eventVersion": "1.08"}),
    )
    row.update(kw)
    return row


def _to_version_17(store: SqlStore, rows: list[dict[str, Any]]) -> None:
    """The store as migration 17 left it, holding ``rows`` in ``audit_events``."""
    with unwrap(store).engine.begin() as conn:
        for table in (s.audit_terms, s.audit_term_lists, s.audit_segments, s.audit_spool_marks):
            table.drop(conn)
        s._audit_events_v14.create(conn)
        if rows:
            conn.execute(insert(s._audit_events_v14), rows)
        conn.execute(delete(s.schema_migrations).where(s.schema_migrations.c.version == 18))


def _segments(store: SqlStore, account: str) -> list[Any]:
    """The account's segment rows as stored, their ``data`` unpacked (migration 18
    writes them packed, as the writer does: ``packed`` set, ``data`` empty)."""
    c = s.audit_segments.c
    with unwrap(store).engine.begin() as conn:
        rows = conn.execute(
            select(s.audit_segments).where(c.account_id == account).order_by(c.seq)
        ).all()
    assert all(row.packed is not None and row.data == "" for row in rows)
    return [
        SimpleNamespace(**{**row._asdict(), "data": s.unpack_lines(row.data, row.packed)})
        for row in rows
    ]


def _terms(store: SqlStore, seq: int) -> set[tuple[str, str]]:
    """The segment's terms, whether a row each or a list per key (many values)."""
    t = s.audit_terms.c
    lists = s.audit_term_lists.c
    with unwrap(store).engine.begin() as conn:
        found = {
            (key, value)
            for key, value in conn.execute(select(t.key, t.value).where(t.segment_seq == seq)).all()
        }
        for key, values in conn.execute(
            select(lists.key, lists.term_values).where(lists.segment_seq == seq)
        ).all():
            assert values.startswith("\n") and values.endswith("\n")
            found |= {(key, value) for value in values[1:-1].split("\n")}
        return found


def test_migration_18_converts_audit_events_to_segments(store: SqlStore) -> None:
    long_name = "n" * (MAX_TERM_VALUE + 1)
    rows = [
        # account A: 1003 events, stored out of time order: two segments (1000 + 3)
        *(_legacy(A, i) for i in range(1002, -1, -1)),
        # an event two accounts saw: a row for each
        _legacy(B, 5000, username=None, access_key_id=None),
        _legacy(C, 5000, username=None, access_key_id=None),
        # B: no resource lists (a row from before them), only the first resource
        _legacy(
            B,
            5001,
            read_only=False,
            event_name="CreateUser",
            event_source="iam.amazonaws.com",
            resource_types=None,
            resource_names=None,
            resource_type="AWS::IAM::User",
            resource_name=f"arn:aws:iam::{B}:user/bob",
        ),
        # B: no resources at all; two resources, one name too long to be a term
        _legacy(
            B,
            5002,
            resource_types=None,
            resource_names=None,
            resource_type=None,
            resource_name=None,
        ),
        _legacy(
            B,
            5003,
            resource_types=json.dumps(["AWS::IAM::Role", "AWS::IAM::Policy"]),
            resource_names=json.dumps(["r", long_name]),
        ),
    ]
    _to_version_17(store, rows)
    assert store.migrate() == max(v for v, _d, _r in s.MIGRATIONS)
    with unwrap(store).engine.begin() as conn:
        assert not inspect(conn).has_table("audit_events")

    big, small = _segments(store, A)
    assert (big.count, small.count) == (1000, 3)
    assert big.data.count("\n") == 999 and small.data.count("\n") == 2
    assert [json.loads(line)["r1"][0][-4:] for line in small.data.split("\n")] == [
        "1000",
        "1001",
        "1002",
    ]
    assert json.loads(big.data.split("\n")[0])["r1"][0].endswith("000000000000")
    assert (_utc(big.first_time), _utc(big.last_time)) == (T0, T0 + timedelta(seconds=999))
    assert (_utc(small.first_time), _utc(small.last_time)) == (
        T0 + timedelta(seconds=1000),
        T0 + timedelta(seconds=1002),
    )
    first_line = big.data.split("\n")[0]
    assert first_line == (
        '{"r1":["00000000-0000-4000-8000-000000000000","2026-03-01T12:00:00+00:00",'
        '"AssumeRole","sts.amazonaws.com",true,"alice","AKIA0000000000000000",'
        f'[["AWS::IAM::Role","arn:aws:iam::{A}:role/r0"]]],'
        '"rec":{"eventID": "e0", "eventVersion": "1.08"}}'
    )
    terms = _terms(store, small.seq)
    assert terms == {
        ("EventId", "00000000-0000-4000-8000-000000001000"),
        ("EventId", "00000000-0000-4000-8000-000000001001"),
        ("EventId", "00000000-0000-4000-8000-000000001002"),
        ("EventName", "AssumeRole"),
        ("EventSource", "sts.amazonaws.com"),
        ("ReadOnly", "true"),
        ("Username", "alice"),
        ("AccessKeyId", "AKIA0000000000001000"),
        ("AccessKeyId", "AKIA0000000000001001"),
        ("AccessKeyId", "AKIA0000000000001002"),
        ("ResourceType", "AWS::IAM::Role"),
        ("ResourceName", f"arn:aws:iam::{A}:role/r1000"),
        ("ResourceName", f"arn:aws:iam::{A}:role/r1001"),
        ("ResourceName", f"arn:aws:iam::{A}:role/r1002"),
    }
    assert len(_terms(store, big.seq)) == 5 + 3 * 1000

    (seg_b,) = _segments(store, B)
    (seg_c,) = _segments(store, C)
    assert (seg_b.count, seg_c.count) == (4, 1)
    lines = [json.loads(line) for line in seg_b.data.split("\n")]
    shared = [
        "00000000-0000-4000-8000-000000005000",
        "2026-03-01T13:23:20+00:00",
        "AssumeRole",
        "sts.amazonaws.com",
        True,
        None,
        None,
    ]
    assert lines[0]["r1"] == [*shared, [["AWS::IAM::Role", f"arn:aws:iam::{B}:role/r5000"]]]
    assert json.loads(seg_c.data)["r1"] == [
        *shared,
        [["AWS::IAM::Role", f"arn:aws:iam::{C}:role/r5000"]],
    ]
    assert lines[1]["r1"][4] is False
    assert lines[1]["r1"][7] == [["AWS::IAM::User", f"arn:aws:iam::{B}:user/bob"]]
    assert lines[2]["r1"][7] == []
    assert lines[3]["r1"][7] == [["AWS::IAM::Role", "r"], ["AWS::IAM::Policy", long_name]]
    assert [line["rec"] for line in lines] == [
        {"eventID": f"e{i}", "eventVersion": "1.08"} for i in range(5000, 5004)
    ]
    terms_b = _terms(store, seg_b.seq)
    assert ("ReadOnly", "true") in terms_b and ("ReadOnly", "false") in terms_b
    assert ("ResourceType", "AWS::IAM::Policy") in terms_b
    assert ("ResourceName", "r") in terms_b
    assert not any(value == long_name for _k, value in terms_b)
    assert ("Username", "alice") in terms_b  # from 5001..5003
    assert not any(key in ("Username", "AccessKeyId") for key, _v in _terms(store, seg_c.seq))

    # the store reads what the migration wrote
    found = store.audit_segments(
        B, term=("ResourceName", "r"), start=None, end=None, after=None, limit=10
    )
    assert [x.seq for x in found] == [seg_b.seq]
    found = store.audit_segments(
        A,
        term=("EventId", "00000000-0000-4000-8000-000000000007"),
        start=None,
        end=None,
        after=None,
        limit=10,
    )
    assert [x.seq for x in found] == [big.seq]


def test_migration_18_with_no_audit_events(store: SqlStore) -> None:
    _to_version_17(store, [])
    assert store.migrate() == max(v for v, _d, _r in s.MIGRATIONS)
    assert _segments(store, A) == []
    with unwrap(store).engine.begin() as conn:
        assert not inspect(conn).has_table("audit_events")
        assert inspect(conn).has_table("audit_spool_marks")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
