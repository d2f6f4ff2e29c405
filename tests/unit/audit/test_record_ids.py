"""Audit event ids are time-ordered (version 7) UUIDs whose millisecond is the
event's time (the store's unique index takes them in order), distinct across
calls, and the same when the same captured call is built again (a replayed spool
is skipped by the store, not stored twice)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.unit.audit.support import call_facts

from tessera.audit.record import CallFacts, build_event, capture


def _facts(at: datetime, request_id: str = "r") -> CallFacts:
    return call_facts(request_id=request_id, event_time=at)


def test_event_ids_are_distinct_version_7_uuids_of_the_event_time() -> None:
    at = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    ids = [build_event(_facts(at, str(uuid.uuid4()))).event_id for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == value
        assert parsed.int >> 80 == int(at.timestamp() * 1000)


def test_the_same_captured_call_always_gets_the_same_id() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    captured = capture(_facts(at, "req-1"))
    row = build_event(_facts(at, "req-1"))
    assert captured.event_id == row.event_id == row.record["eventID"]
    assert build_event(_facts(at, "req-2")).event_id != row.event_id


def test_later_events_sort_after_earlier_ones() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [
        build_event(_facts(start + timedelta(milliseconds=n), f"r{n}")).event_id for n in range(50)
    ]
    assert ids == sorted(ids)
