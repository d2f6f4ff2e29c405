"""Audit event ids are time-ordered (version 7) UUIDs, distinct across events, whose
millisecond is the event's time (the store's unique index takes them in order)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tessera.audit.record import CallFacts, build_event


def _facts(at: datetime) -> CallFacts:
    return CallFacts(
        request_id="r",
        event_time=at,
        service="sts",
        operation="GetCallerIdentity",
        region="us-east-1",
        source_ip="127.0.0.1",
        user_agent="test",
        status=200,
    )


def test_event_ids_are_distinct_version_7_uuids_of_the_event_time() -> None:
    at = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    facts = _facts(at)
    ids = [build_event(facts).event_id for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == value
        assert parsed.int >> 80 == int(at.timestamp() * 1000)
    assert build_event(facts).record["eventID"] != ids[-1]


def test_later_events_sort_after_earlier_ones() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [build_event(_facts(start + timedelta(milliseconds=n))).event_id for n in range(50)]
    assert ids == sorted(ids)
