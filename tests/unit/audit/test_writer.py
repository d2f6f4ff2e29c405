"""The audit writer's write-ahead guarantee and batching (``tessera.audit.writer``):
an event is in the spool when ``record`` returns, a process that dies before its
batch is committed loses nothing (the next writer replays its spool), spools rotate
with committed batches, and events are committed in batches, not one per call."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.unit.audit.support import call_facts

from tessera.audit.record import CallFacts, Capture, build_row, capture, render, stored_row
from tessera.audit.writer import AuditWriter, parse_spool_line, read_spool
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


def _facts(n: int) -> CallFacts:
    return call_facts(
        event_time=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n),
        params={},
        result={"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:root"},
    )


def _die(writer: AuditWriter) -> list[Any]:
    """The writer's process dies: its spool descriptors close (the locks go) and
    nothing more is committed. Returns the spools it left."""
    assert writer._spool is not None
    left = [writer._spool, *writer._retired]
    for dead in left:
        dead.close(delete=False)
    writer._spool = None
    writer._retired.clear()
    return left


def _event(n: int) -> Capture:
    return capture(_facts(n))


def _replayed(spool: Path) -> dict[str, AuditRow]:
    """What the next worker to start on this data directory stores from the spools
    dead processes left there (its own writer is closed again)."""
    survivor = FakeStore()
    successor = AuditWriter(survivor, spool_dir=spool)  # type: ignore[arg-type]
    successor.close()
    return survivor.rows


def _spooled(spool: Path) -> list[AuditRow]:
    rows = []
    for path in spool.glob("*.jsonl"):
        rows += read_spool(path.read_bytes())
    return rows


def test_a_spool_line_is_the_capture_and_replays_to_the_same_row() -> None:
    captured = _event(1)
    line = captured.line
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    stored = parse_spool_line(line)
    assert stored == stored_row(captured.values, line.decode().rstrip("\n"))
    # what is stored renders to the same record the live event has
    assert stored is not None
    live = build_row(captured.values, captured.ident_json, captured.secrets)
    assert render(stored.record_json) == live.record_json
    assert (stored.event_id, stored.event_time, stored.accounts, stored.resources) == (
        live.event_id,
        live.event_time,
        live.accounts,
        live.resources,
    )
    row = parse_spool_line(line)
    assert row is not None and row.event_id == captured.event_id
    record = json.loads(render(row.record_json))
    assert record["eventID"] == captured.event_id
    assert record["responseElements"]["arn"] == "arn:aws:iam::123456789012:root"
    assert parse_spool_line(line[: len(line) // 2]) is None  # a torn last line


def test_a_spool_line_of_the_previous_version_is_replayed() -> None:
    old = (
        b'{"id":"e1","t":"2026-01-01T00:00:00+00:00","n":"GetCallerIdentity",'
        b'"s":"sts.amazonaws.com","ro":true,"u":"alice","k":"AKIAEXAMPLE",'
        b'"a":["123456789012"],"r":[["AWS::IAM::Role","arn:aws:iam::123456789012:role/r"]],'
        b'"rec":{"eventID":"e1"}}'
    )
    row = parse_spool_line(old)
    assert row is not None
    assert (row.event_id, row.username, row.accounts) == ("e1", "alice", ("123456789012",))
    assert row.resources == (("AWS::IAM::Role", "arn:aws:iam::123456789012:role/r"),)
    assert row.record == {"eventID": "e1"}


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
    assert spooled == {e.event_id for e in events}
    _die(writer)  # nothing committed
    assert not store.rows
    # the next worker on this data directory replays the dead process's spool
    try:
        assert set(_replayed(spool)) == spooled
    finally:
        store.gate.set()
        writer.close()


def test_events_are_committed_in_batches_and_spools_rotate_away(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    store = FakeStore()
    writer = AuditWriter(store, spool_dir=spool, linger=0.5)  # type: ignore[arg-type]
    events = [_event(n) for n in range(300)]
    for event in events:
        writer.record(event)  # type: ignore[arg-type]
    assert writer.flush(timeout=30)
    assert set(store.rows) == {e.event_id for e in events}
    # far fewer transactions than events (the linger gathers them)
    assert len(store.batches) < 30, store.batches
    # the live spool (and the spare the writer prepared) remain until close
    assert len(list(spool.glob("*.jsonl"))) <= 2
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


def test_a_full_spool_rotates_on_the_request_path_and_every_event_survives_a_death(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    store = FakeStore()
    store.gate.clear()  # nothing commits: every spool must stay
    writer = AuditWriter(
        store,  # type: ignore[arg-type]
        spool_dir=spool,
        linger=0.0,
        spool_bytes=4096,  # a few lines a file
    )
    events = [_event(n) for n in range(80)]
    for event in events:
        writer.record(event)  # type: ignore[arg-type]
    spooled_bytes = sum(len(e.line) for e in events)
    assert spooled_bytes > 3 * 4096
    assert len(list(spool.glob("*.jsonl"))) >= spooled_bytes // 4096  # rotated when full
    assert {r.event_id for r in _spooled(spool)} == {e.event_id for e in events}
    dead_spools = _die(writer)  # the next writer replays every file
    try:
        assert set(_replayed(spool)) == {e.event_id for e in events}
        assert not any(d.path.exists() for d in dead_spools)  # replayed, then deleted
    finally:
        store.gate.set()
        writer.close()


def test_rotated_full_spools_are_deleted_once_their_events_are_committed(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    store = FakeStore()
    writer = AuditWriter(
        store,  # type: ignore[arg-type]
        spool_dir=spool,
        linger=0.0,
        spool_bytes=4096,
    )
    for n in range(40):
        writer.record(_event(n))  # type: ignore[arg-type]
    assert writer.flush(timeout=30)
    assert len(store.rows) == 40
    # the full spools are gone; the live one (and the spare) remain, holding only
    # committed events (a replay of them would be skipped as duplicates)
    assert len(list(spool.glob("*.jsonl"))) <= 2
    assert {r.event_id for r in _spooled(spool)} <= set(store.rows)
    writer.close()
    assert list(spool.glob("*.jsonl")) == []


def test_a_torn_last_line_and_the_unwritten_tail_are_skipped() -> None:
    rows = [_event(n) for n in range(3)]
    data = rows[0].line + rows[1].line + rows[2].line[:50] + b"\0" * 500
    assert [r.event_id for r in read_spool(data)] == [r.event_id for r in rows[:2]]


def test_no_room_for_a_new_spool_keeps_recording_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from tessera.audit import writer as writer_module

    spool = tmp_path / "spool"
    store = FakeStore()
    writer = AuditWriter(
        store,  # type: ignore[arg-type]
        spool_dir=spool,
        linger=0.0,
        spool_bytes=4096,
    )
    try:

        def full(*args: object, **kwargs: object) -> None:
            raise OSError(28, "No space left on device")

        deadline = time.monotonic() + 10
        while writer._spare is None and time.monotonic() < deadline:
            time.sleep(0.01)  # the writer thread makes its first spare at start
        monkeypatch.setattr(writer_module._Spool, "__init__", full)
        monkeypatch.setattr(writer, "_prepare_spare", lambda: None)
        with writer._lock:
            if writer._spare is not None:
                writer._spare.close(delete=True)
                writer._spare = None
        events = [_event(n) for n in range(60)]  # overflows the 4 KB spool
        with caplog.at_level("ERROR", logger="tessera.audit"):
            for event in events:
                writer.record(event)
        assert writer.flush(timeout=30)
        assert set(store.rows) == {e.event_id for e in events}  # nothing dropped
        assert "no new one can be made" in caplog.text
    finally:
        monkeypatch.undo()
        writer.close()
