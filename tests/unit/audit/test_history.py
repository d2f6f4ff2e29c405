"""Reading the trail back (``tessera.audit.history``): events of overlapping
segments merged newest first, every page exactly once, each lookup attribute, the
time range, event ids (time-ordered and legacy) and bad tokens."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from tests.unit.audit.support import MemoryAuditStore, call_facts

from tessera.audit.history import decode_token, encode_token, lookup, v7_millisecond
from tessera.audit.record import Capture, capture
from tessera.audit.segments import build_segments

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _event(ms: int, **kw: object) -> Capture:
    kw.setdefault("params", {})
    return capture(call_facts(event_time=T0 + timedelta(milliseconds=ms), **kw))


def _store(batches: list[list[Capture]]) -> MemoryAuditStore:
    store = MemoryAuditStore()
    for batch in batches:
        segments, _parsed, _n = build_segments(b"".join(e.line for e in batch))
        store.put_audit_segments(segments, {})
    return store


def _all(store: MemoryAuditStore, page: int, **kw: object) -> list[str]:
    ids: list[str] = []
    token = None
    while True:
        rows, token = lookup(
            store,
            "",
            attribute=kw.get("attribute"),  # type: ignore[arg-type]
            start=kw.get("start"),  # type: ignore[arg-type]
            end=kw.get("end"),  # type: ignore[arg-type]
            limit=page,
            token=token,
        )
        assert len(rows) <= page
        ids += [r.event_id for r in rows]
        if token is None:
            return ids


def test_overlapping_segments_are_merged_newest_first_and_paged_exactly_once() -> None:
    rng = random.Random(7)
    # two workers' batches interleave in time; some events share a millisecond
    events = [_event(rng.randrange(0, 2000)) for _ in range(120)]
    store = _store([events[i : i + 17] for i in range(0, 120, 17)])
    expected = [
        e.event_id for e in sorted(events, key=lambda e: (e.values[0], e.event_id), reverse=True)
    ]
    for page in (1, 7, 50):
        assert _all(store, page) == expected


def test_attributes_filter_through_terms_and_rows() -> None:
    events = [
        _event(10, operation="AssumeRole"),
        _event(20, operation="GetCallerIdentity"),
        _event(30, operation="AssumeRole"),
    ]
    store = _store([events[:2], events[2:]])
    got = _all(store, 50, attribute=("EventName", "AssumeRole"))
    assert got == [events[2].event_id, events[0].event_id]
    assert _all(store, 50, attribute=("EventName", "CreateUser")) == []
    assert _all(store, 50, attribute=("ReadOnly", "true")) == [e.event_id for e in events[::-1]]
    assert _all(store, 50, attribute=("ReadOnly", "false")) == []
    assert _all(store, 50, attribute=("ReadOnly", "TRUE")) == [e.event_id for e in events[::-1]]
    assert _all(store, 50, attribute=("EventSource", "sts.amazonaws.com")) == [
        e.event_id for e in events[::-1]
    ]


def test_an_event_id_is_found_by_its_millisecond_or_by_its_term() -> None:
    events = [_event(ms) for ms in range(0, 5000, 100)]
    store = _store([events])
    wanted = events[17]
    assert v7_millisecond(wanted.event_id) is not None
    assert _all(store, 50, attribute=("EventId", wanted.event_id)) == [wanted.event_id]
    # an id of an earlier version (random): its segment lists it as a term
    legacy = "0b7e4cf1-6c2f-4d52-9f35-3c0c1a1e5a10"
    assert v7_millisecond(legacy) is None
    old = (
        b'{"id":"' + legacy.encode() + b'","t":"2026-06-01T00:00:09+00:00",'
        b'"n":"CreateUser","s":"iam.amazonaws.com","ro":false,"u":null,"k":null,'
        b'"a":[""],"r":[],"rec":{"eventID":"' + legacy.encode() + b'"}}\n'
    )
    segments, _p, _n = build_segments(old)
    store.put_audit_segments(segments, {})
    assert _all(store, 50, attribute=("EventId", legacy)) == [legacy]
    assert _all(store, 50, attribute=("EventId", "no-such-id")) == []


def test_the_time_range_bounds_every_page() -> None:
    events = [_event(ms) for ms in range(0, 10_000, 250)]
    store = _store([events[:20], events[20:]])
    start, end = T0 + timedelta(seconds=2), T0 + timedelta(seconds=6)
    got = _all(store, 4, start=start, end=end)
    expected = [
        e.event_id
        for e in events[::-1]
        if start <= T0 + timedelta(seconds=float(e.values[0]) - T0.timestamp()) <= end
    ]
    assert got == expected and len(got) == 17


def test_bad_tokens_and_keys_are_refused() -> None:
    store = _store([[_event(1)]])
    for token in ("not base64!", "e30=", "x" * 600, encode_token(T0, "id")[:-4]):
        with pytest.raises(ValueError):
            lookup(store, "", attribute=None, start=None, end=None, limit=5, token=token)
    with pytest.raises(ValueError):
        lookup(store, "", attribute=("Bogus", "x"), start=None, end=None, limit=5, token=None)
    assert decode_token(encode_token(T0, "abc")) == (T0, "abc")


def test_resource_names_are_found_whatever_their_characters() -> None:
    arns = ["arn:aws:iam::111111111111:role/plain", "arn:aws:iam::111111111111:role/caf\u00e9"]
    events = [
        _event(i, operation="AssumeRole", params={"RoleArn": arn, "RoleSessionName": "s"})
        for i, arn in enumerate(arns * 10)
    ]
    store = MemoryAuditStore()
    segments, _p, _n = build_segments(b"".join(e.line for e in events))
    store.put_audit_segments(segments, {})
    for arn in arns:
        found = []
        token = None
        while True:
            rows, token = lookup(
                store,
                "111111111111",
                attribute=("ResourceName", arn),
                start=None,
                end=None,
                limit=3,
                token=token,
            )
            found += rows
            if token is None:
                break
        assert len(found) == 10 and all((("AWS::IAM::Role", arn) in r.resources) for r in found)
    rows, _token = lookup(
        store,
        "111111111111",
        attribute=("ResourceName", "arn:aws:iam::111111111111:role/caf"),
        start=None,
        end=None,
        limit=50,
        token=None,
    )
    assert rows == []  # a part of a name is not the name


def test_an_event_stored_by_an_earlier_version_is_found_by_a_non_ascii_user() -> None:
    import json

    from tessera.store.audit import AuditSegment

    # migration 18 writes the columns with json.dumps: "caf\u00e9", not "café"
    head = ["e-1", T0.isoformat(), "CreateUser", "iam.amazonaws.com", False, "caf\u00e9", None, []]
    line = '{"r1":' + json.dumps(head, separators=(",", ":")) + ',"rec":{"eventID":"e-1"}}'
    assert "caf\u00e9" not in line
    store = MemoryAuditStore()
    store.put_audit_segments(
        [AuditSegment("1", T0, T0, 1, line, frozenset({("Username", "caf\u00e9")}))], {}
    )
    rows, _token = lookup(
        store, "1", attribute=("Username", "caf\u00e9"), start=None, end=None, limit=5, token=None
    )
    assert [r.event_id for r in rows] == ["e-1"] and rows[0].record == {"eventID": "e-1"}
