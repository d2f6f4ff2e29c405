"""Conformance of the audit trail store (AuditStore) on both engines: segments and
spool marks stored in one transaction (all or nothing), the marks read, updated
and dropped, segments found by account, term and time overlap, newest first with
keyset paging, and pruning (segments with their terms, marks by age)."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tessera.store.audit import AuditSegment
from tessera.store.sql import SqlStore
from tessera.store.sql import schema as s
from tests.integration.store.coverage import unwrap

T0 = datetime(2020, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
A = "111111111111"
B = "222222222222"


def _seg(
    first: float,
    last: float,
    *,
    account: str = A,
    count: int = 1,
    terms: frozenset[tuple[str, str]] = frozenset(),
    data: str | None = None,
) -> AuditSegment:
    return AuditSegment(
        account_id=account,
        first_time=T0 + timedelta(seconds=first),
        last_time=T0 + timedelta(seconds=last),
        count=count,
        data=f"{account}:{first}-{last}" if data is None else data,
        terms=terms,
    )


def _all(store: SqlStore, account: str = A, **kw: object) -> list[AuditSegment]:
    args: dict[str, object] = dict(term=None, start=None, end=None, after=None, limit=100)
    args.update(kw)
    return store.audit_segments(account, **args)  # type: ignore[arg-type]


def _spans(found: list[AuditSegment]) -> list[tuple[float, float]]:
    return [
        ((x.first_time - T0).total_seconds(), (x.last_time - T0).total_seconds()) for x in found
    ]


def _term_rows(store: SqlStore) -> int:
    with unwrap(store).engine.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(s.audit_terms)).scalar_one())


def test_segments_and_marks_are_stored_and_read_back(store: SqlStore) -> None:
    first = _seg(0, 1, count=2, data='{"a":1}\n{"a":2}', terms=frozenset({("EventName", "X")}))
    second = _seg(2, 3)
    other = _seg(0, 5, account=B)
    store.put_audit_segments([first, second, other], {"spool-1": 10, "spool-2": 20})
    got = _all(store)
    assert [x.data for x in got] == [second.data, first.data]
    newest, oldest = got
    assert oldest.first_time == first.first_time and oldest.last_time == first.last_time
    assert oldest.first_time.tzinfo is not None and oldest.first_time.utcoffset() == timedelta(0)
    assert (oldest.count, oldest.account_id, oldest.terms) == (2, A, frozenset())
    assert 0 < oldest.seq < newest.seq
    assert [x.data for x in _all(store, B)] == [other.data]
    assert _all(store, "333333333333") == []

    assert store.audit_spool_marks(["spool-1", "spool-2", "spool-3"]) == {
        "spool-1": 10,
        "spool-2": 20,
    }
    assert store.audit_spool_marks([]) == {}
    # a mark moves on (with or without segments), another is left as it was
    store.put_audit_segments([], {"spool-1": 30})
    store.put_audit_segments([_seg(4, 4)], {"spool-3": 1 << 40})
    assert store.audit_spool_marks(["spool-1", "spool-2", "spool-3"]) == {
        "spool-1": 30,
        "spool-2": 20,
        "spool-3": 1 << 40,
    }
    store.drop_audit_spool_marks(["spool-1", "spool-3", "gone"])
    store.drop_audit_spool_marks([])
    assert store.audit_spool_marks(["spool-1", "spool-2", "spool-3"]) == {"spool-2": 20}


def test_a_failed_put_stores_nothing(store: SqlStore) -> None:
    store.put_audit_segments([], {"spool": 1})
    good = _seg(0, 1, terms=frozenset({("EventName", "X")}))
    # account_id is NOT NULL on both engines: the second insert fails after the first
    bad = AuditSegment(None, T0, T0, 1, "x")  # type: ignore[arg-type]
    with pytest.raises(IntegrityError):
        store.put_audit_segments([good, bad], {"spool": 2, "other": 3})
    assert _all(store) == []
    assert _term_rows(store) == 0
    assert store.audit_spool_marks(["spool", "other"]) == {"spool": 1}


TERMS = {
    "EventId": "00000000-0000-4000-8000-000000000001",
    "EventName": "AssumeRole",
    "ReadOnly": "true",
    "Username": "alice",
    "ResourceType": "AWS::IAM::Role",
    "ResourceName": "arn:aws:iam::111111111111:role/r1",
    "EventSource": "sts.amazonaws.com",
    "AccessKeyId": "AKIA0000000000000001",
}


@pytest.mark.parametrize("key", sorted(TERMS))
def test_segments_by_term(store: SqlStore, key: str) -> None:
    value = TERMS[key]
    store.put_audit_segments(
        [
            _seg(0, 1, terms=frozenset(TERMS.items())),
            _seg(2, 3, terms=frozenset({(key, value + "-not")})),
            _seg(4, 5, terms=frozenset({(key, value), ("EventName", "Other")})),
            _seg(6, 7),
            # the same term in another account's segment
            _seg(8, 9, account=B, terms=frozenset({(key, value)})),
        ],
        {},
    )
    assert _spans(_all(store, term=(key, value))) == [(4, 5), (0, 1)]
    assert _spans(_all(store, term=(key, value), start=T0 + timedelta(seconds=2))) == [(4, 5)]
    assert _spans(_all(store, B, term=(key, value))) == [(8, 9)]
    assert _all(store, term=(key, "nothing")) == []


def test_a_long_term_value_is_found(store: SqlStore) -> None:
    # 2000 characters, 6000 bytes of UTF-8: more than a PostgreSQL index entry holds
    long = "\u20ac" * 2000
    store.put_audit_segments(
        [
            _seg(0, 1, terms=frozenset({("ResourceName", long)})),
            _seg(2, 3, terms=frozenset({("ResourceName", long[:-1])})),
            _seg(4, 5, terms=frozenset({("ResourceName", "a" * 2000)})),
        ],
        {},
    )
    assert _spans(_all(store, term=("ResourceName", long))) == [(0, 1)]
    assert _spans(_all(store, term=("ResourceName", long[:-1]))) == [(2, 3)]
    assert _spans(_all(store, term=("ResourceName", "a" * 2000))) == [(4, 5)]


def test_unknown_term_key(store: SqlStore) -> None:
    with pytest.raises(ValueError):
        _all(store, term=("Nope", "x"))


def test_time_range_overlap(store: SqlStore) -> None:
    store.put_audit_segments([_seg(0, 10), _seg(10, 20), _seg(20, 30), _seg(12, 13)], {})

    def at(seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)

    # partly inside the range: returned
    assert _spans(_all(store, start=at(15), end=at(25))) == [(20, 30), (10, 20)]
    # both bounds inclusive
    assert _spans(_all(store, start=at(10), end=at(10))) == [(10, 20), (0, 10)]
    assert _spans(_all(store, start=at(20))) == [(20, 30), (10, 20)]
    assert _spans(_all(store, end=at(11))) == [(10, 20), (0, 10)]
    assert _spans(_all(store, start=at(14), end=at(19))) == [(10, 20)]
    assert _all(store, start=at(31)) == []
    assert _all(store, end=at(-1)) == []
    # bounds in another time zone mean the same instants
    plus2 = timezone(timedelta(hours=2))
    assert _spans(_all(store, start=at(30).astimezone(plus2))) == [(20, 30)]


def test_keyset_paging_and_limit(store: SqlStore) -> None:
    # five segments end at the same instant: seq orders them
    store.put_audit_segments([_seg(i, 10, data=f"same-{i}") for i in range(5)], {})
    store.put_audit_segments([_seg(0, 11, data="later"), _seg(0, 9, data="earlier")], {})
    everything = _all(store)
    assert [x.data for x in everything] == [
        "later",
        "same-4",
        "same-3",
        "same-2",
        "same-1",
        "same-0",
        "earlier",
    ]
    assert [x.data for x in _all(store, limit=2)] == ["later", "same-4"]
    pages: list[list[str]] = []
    after: tuple[datetime, int] | None = None
    while True:
        page = _all(store, limit=2, after=after)
        if not page:
            break
        pages.append([x.data for x in page])
        after = (page[-1].last_time, page[-1].seq)
    assert pages == [["later", "same-4"], ["same-3", "same-2"], ["same-1", "same-0"], ["earlier"]]
    # paging combined with a range and a term
    store.put_audit_segments(
        [_seg(1, 10, data="termed", terms=frozenset({("Username", "bob")}))], {}
    )
    termed = _all(store, term=("Username", "bob"), start=T0, end=T0 + timedelta(seconds=10))
    assert [x.data for x in termed] == ["termed"]
    last = termed[0]
    assert _all(store, term=("Username", "bob"), after=(last.last_time, last.seq)) == []


def test_prune(store: SqlStore) -> None:
    store.put_audit_segments(
        [
            _seg(0, 5, count=3, terms=frozenset({("EventName", "X"), ("Username", "u")})),
            _seg(6, 9, count=4, terms=frozenset({("EventName", "X")})),
            _seg(0, 20, count=5, terms=frozenset({("EventName", "X")})),
            _seg(0, 30, account=B, count=7, terms=frozenset({("EventName", "X")})),
        ],
        {"spool": 1},
    )
    assert _term_rows(store) == 5
    # last_time before the cutoff: the first two (the third ends after it)
    assert store.prune_audit_events(T0 + timedelta(seconds=10)) == 7
    assert _spans(_all(store)) == [(0, 20)]
    assert _spans(_all(store, term=("EventName", "X"))) == [(0, 20)]
    assert _all(store, term=("Username", "u")) == []
    assert _term_rows(store) == 2
    # marks written now are younger than that
    assert store.audit_spool_marks(["spool"]) == {"spool": 1}
    assert store.prune_audit_events(T0) == 0
    # a cutoff after now prunes the rest and the marks
    assert store.prune_audit_events(datetime.now(UTC) + timedelta(days=1)) == 12
    assert _all(store) == [] and _all(store, B) == []
    assert _term_rows(store) == 0
    assert store.audit_spool_marks(["spool"]) == {}


def _list_rows(store: SqlStore) -> int:
    with unwrap(store).engine.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(s.audit_term_lists)).scalar_one())


def test_a_key_with_many_values_is_one_list_row_and_each_value_is_found(store: SqlStore) -> None:
    # an access key issued by every AssumeRole: a value per event, not a row each
    keys = [f"ASIA{i:016d}" for i in range(40)] + ["odd%_\\value"]
    many = frozenset({("ResourceName", k) for k in keys} | {("EventName", "AssumeRole")})
    store.put_audit_segments([_seg(0, 1, terms=many), _seg(2, 3, terms=frozenset())], {})
    assert _list_rows(store) == 1
    assert _term_rows(store) == 1  # EventName: a row
    for key in keys:
        assert _spans(_all(store, term=("ResourceName", key))) == [(0, 1)], key
    # a part of a value, or a LIKE pattern, is not a value
    for near in ("ASIA", "ASIA0000000000000000000", "%", "_", "odd%_", "SIA00000000000000001"):
        assert _all(store, term=("ResourceName", near)) == [], near
    assert _all(store, term=("AccessKeyId", keys[0])) == []  # another key
    assert _all(store, B, term=("ResourceName", keys[0])) == []  # another account
    assert store.prune_audit_events(T0 + timedelta(seconds=2)) == 1
    assert _list_rows(store) == 0


_ZLIB = zlib.compress("zlib \u00fc\nsegment".encode(), 1)


def test_segments_are_stored_packed_and_earlier_text_segments_still_read(
    store: SqlStore,
) -> None:
    """Migration 19: a segment's lines are stored compressed (``packed``, a zstd
    frame, with ``data`` empty) and read back whole, non-ASCII and lone surrogates
    included; a segment stored before (its text in ``data``, ``packed`` NULL) reads
    as before, and so does one packed by zlib (the format before zstd)."""
    lines = "\n".join(
        f'{{"c1":[{i},"sts","AssumeRole","ünïcode \\ud800 {i}"]}}' for i in range(500)
    )
    store.put_audit_segments([_seg(0, 1, data=lines + "\udc80")], {})
    c = s.audit_segments.c
    with unwrap(store).engine.begin() as conn:
        data, packed = conn.execute(select(c.data, c.packed)).one()
        # as earlier versions stored them: text in ``data``, then zlib in ``packed``
        for at, text, zlib_packed in ((5, "earlier\nsegment", None), (7, "", _ZLIB)):
            conn.execute(
                s.audit_segments.insert().values(
                    account_id=A,
                    first_time=T0 + timedelta(seconds=at),
                    last_time=T0 + timedelta(seconds=at + 1),
                    count=2,
                    data=text,
                    packed=zlib_packed,
                )
            )
    assert data == "" and packed is not None
    assert bytes(packed)[:4] == b"\x28\xb5\x2f\xfd"  # a zstd frame
    assert len(packed) * 10 < len(lines)  # compressed, not merely stored as bytes
    zlib_packed, newest, oldest = _all(store)
    assert zlib_packed.data == "zlib \u00fc\nsegment" and zlib_packed.count == 2
    assert newest.data == "earlier\nsegment" and newest.count == 2
    assert oldest.data == lines + "\udc80"
