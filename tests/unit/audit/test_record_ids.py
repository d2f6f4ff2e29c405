"""Audit event ids are random version-4 UUIDs, distinct across events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tessera.audit.record import CallFacts, build_event


def test_event_ids_are_distinct_version_4_uuids() -> None:
    facts = CallFacts(
        request_id="r",
        event_time=datetime(2026, 1, 1, tzinfo=UTC),
        service="sts",
        operation="GetCallerIdentity",
        region="us-east-1",
        source_ip="127.0.0.1",
        user_agent="test",
        status=200,
    )
    ids = [build_event(facts).event_id for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == value
    assert build_event(facts).record["eventID"] != ids[-1]
