"""Shared by the audit tests: the facts of one answered call, with defaults, and an
audit store in memory."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tessera.audit.record import AuditRow, CallFacts
from tessera.audit.segments import read_segment
from tessera.store.audit import AuditSegment


def call_facts(**overrides: Any) -> CallFacts:
    """A GetCallerIdentity answered now from 127.0.0.1 (a fresh request id),
    with any field replaced."""
    fields: dict[str, Any] = {
        "request_id": str(uuid.uuid4()),
        "event_time": datetime.now(UTC),
        "service": "sts",
        "operation": "GetCallerIdentity",
        "region": "us-east-1",
        "source_ip": "127.0.0.1",
        "user_agent": "test",
        "status": 200,
    }
    fields.update(overrides)
    return CallFacts(**fields)


class MemoryAuditStore:
    """An ``AuditStore`` in memory, as the SQL store behaves, that can be held back
    (a slow or stopped database) or made to fail."""

    def __init__(self) -> None:
        self.segments: list[AuditSegment] = []
        self.marks: dict[str, int] = {}
        self.batches: list[int] = []  # events per put
        self.gate = threading.Event()
        self.gate.set()
        self.fail = 0  # the next puts that raise

    def put_audit_segments(
        self, segments: Sequence[AuditSegment], marks: Mapping[str, int]
    ) -> None:
        self.gate.wait()
        if self.fail:
            self.fail -= 1
            raise RuntimeError("database unavailable")
        for segment in segments:
            self.segments.append(dataclasses.replace(segment, seq=len(self.segments) + 1))
        self.marks.update(marks)
        self.batches.append(sum(s.count for s in segments))

    def audit_spool_marks(self, spools: Sequence[str]) -> dict[str, int]:
        return {name: self.marks[name] for name in spools if name in self.marks}

    def drop_audit_spool_marks(self, spools: Sequence[str]) -> None:
        for name in spools:
            self.marks.pop(name, None)

    def audit_segments(
        self,
        account_id: str,
        *,
        term: tuple[str, str] | None,
        start: datetime | None,
        end: datetime | None,
        after: tuple[datetime, int] | None,
        limit: int,
    ) -> list[AuditSegment]:
        found = [
            dataclasses.replace(s, terms=frozenset())
            for s in self.segments
            if s.account_id == account_id
            and (term is None or term in s.terms)
            and (start is None or s.last_time >= start)
            and (end is None or s.first_time <= end)
            and (after is None or (s.last_time, s.seq) < after)
        ]
        found.sort(key=lambda s: (s.last_time, s.seq), reverse=True)
        return found[:limit]

    def prune_audit_events(self, before: datetime) -> int:
        """Prunes nothing (the tests' events are dated in the past on purpose; the
        SQL store's pruning has its own tests)."""
        return 0

    def view(self) -> MemoryAuditStore:
        """The same database through another connection: its own gate (a second
        process's writer is not held back by the first one's stuck transaction)."""
        other = MemoryAuditStore()
        other.segments, other.marks, other.batches = self.segments, self.marks, self.batches
        return other

    def rows(self) -> list[AuditRow]:
        """Every stored event (once per account that sees it)."""
        return [row for segment in self.segments for row in read_segment(segment)]

    def event_ids(self) -> list[str]:
        """The id of every stored event, in the order stored (an event appears once
        per account that sees it: a duplicate shows)."""
        return [row.event_id for row in self.rows()]
