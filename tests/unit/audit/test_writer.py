"""The audit writer's write-ahead guarantee and batching (``tessera.audit.writer``):
an event is in the spool when ``record`` returns, a process that dies before its
batch is committed loses nothing (the next writer replays its spool), spools rotate
with committed batches, and events are committed in batches, not one per call."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tessera.audit.record import CallFacts, build_event
from tessera.audit.writer import AuditWriter, parse_spool_line, spool_line
from tessera.store.audit import AuditPage, AuditRow


class FakeStore:
    """An AuditStore in memory that can be held back (a slow or stopped database)."""

    def __init__(self) -> None:
        self.rows: dict[str, AuditRow] = {}
        self.batches: list[int] = []
        self.gate = threading.Event()
        self.gate.set()

    def put_audit_events(self, rows: Sequence[AuditRow]) -> int:
        self.gate.wait()
        new = [r for r in rows if r.event_id not in self.rows]
        for r in new:
            self.rows[r.event_id] = r
        self.batches.append(len(rows))
        return len(new)

    def prune_audit_events(self, before: datetime) -> int:
        return 0

    def lookup_audit_events(self, *args: object, **kwargs: object) -> AuditPage:
        raise NotImplementedError  # not used by the writer


def _event(n: int) -> object:
    return build_event(
        CallFacts(
            request_id=str(uuid.uuid4()),
            event_time=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n),
            service="sts",
            operation="GetCallerIdentity",
            region="us-east-1",
            source_ip="127.0.0.1",
            user_agent="test",
            status=200,
            params={},
            result={"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:root"},
        )
    )


def _spooled(spool: Path) -> list[AuditRow]:
    rows = []
    for path in spool.glob("*.jsonl"):
        rows += [r for r in map(parse_spool_line, path.read_bytes().splitlines()) if r]
    return rows


def test_a_spool_line_round_trips_the_row_and_record() -> None:
    event = _event(1)
    row = AuditRow(
        event_id=event.event_id,  # type: ignore[attr-defined]
        event_time=event.event_time,  # type: ignore[attr-defined]
        event_name="GetCallerIdentity",
        event_source="sts.amazonaws.com",
        read_only=True,
        username=None,
        access_key_id="AKIAEXAMPLE",
        accounts=("123456789012",),
        resources=(("AWS::IAM::Role", "arn:aws:iam::123456789012:role/r"),),
        record_json=event.record_json,  # type: ignore[attr-defined]
    )
    line = spool_line(row)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert parse_spool_line(line) == row
    assert parse_spool_line(line[: len(line) // 2]) is None  # a torn last line


def test_recorded_events_are_spooled_before_record_returns_and_survive_a_dead_writer(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    store = FakeStore()
    store.gate.clear()  # the database is stuck: nothing gets committed
    writer = AuditWriter(store, spool_dir=spool, linger=0.0)  # type: ignore[arg-type]
    events = [_event(n) for n in range(25)]
    for event in events:
        writer.record(event)  # type: ignore[arg-type]
    spooled = {r.event_id for r in _spooled(spool)}
    assert spooled == {e.event_id for e in events}  # type: ignore[attr-defined]
    # the process dies: its spool descriptors close (the locks go), nothing committed
    assert writer._spool_fd is not None
    for fd in [writer._spool_fd, *(fd for fd, _path in writer._retired)]:
        os.close(fd)
    writer._spool_fd = None
    writer._retired.clear()
    assert not store.rows
    # the next worker on this data directory replays the dead process's spool
    survivor = FakeStore()
    successor = AuditWriter(survivor, spool_dir=spool)  # type: ignore[arg-type]
    try:
        assert set(survivor.rows) == spooled
    finally:
        successor.close()
        store.gate.set()
        writer.close()


def test_events_are_committed_in_batches_and_spools_rotate_away(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    store = FakeStore()
    writer = AuditWriter(store, spool_dir=spool, linger=0.5)  # type: ignore[arg-type]
    events = [_event(n) for n in range(300)]
    for event in events:
        writer.record(event)  # type: ignore[attr-defined, arg-type]
    assert writer.flush(timeout=30)
    assert set(store.rows) == {e.event_id for e in events}  # type: ignore[attr-defined]
    # far fewer transactions than events (the linger gathers them)
    assert len(store.batches) < 30, store.batches
    # committed spools are gone; only the live (empty) spool file remains
    assert _spooled(spool) == []
    assert len(list(spool.glob("*.jsonl"))) == 1
    writer.close()
    assert list(spool.glob("*.jsonl")) == []


def test_a_live_writers_spool_is_not_replayed_by_another(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    store = FakeStore()
    store.gate.clear()
    first = AuditWriter(store, spool_dir=spool, linger=0.0)  # type: ignore[arg-type]
    first.record(_event(1))  # type: ignore[arg-type]
    other = FakeStore()
    second = AuditWriter(other, spool_dir=spool)  # type: ignore[arg-type]
    try:
        assert not other.rows  # the first writer holds its spool's lock
    finally:
        second.close()
        store.gate.set()
        first.close()
    assert len(store.rows) == 1
