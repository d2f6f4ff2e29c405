"""The audit writer's write-ahead guarantee and batching (``tessera.audit.writer``):
an event is in the spool when ``record`` returns, a process that dies before its
batch is stored loses nothing and duplicates nothing (the next writer replays its
spool from the mark the store keeps), spools rotate and go once stored, and events
are stored in batches, as segments, not one per call."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.unit.audit.support import MemoryAuditStore, call_facts

from tessera.audit.record import (
    CallFacts,
    Capture,
    build_row,
    capture,
    event_id_of,
    render,
    stored_row,
)
from tessera.audit.segments import build_segments, parse_lines, read_segment
from tessera.audit.writer import AuditWriter, _MemorySpool, _Spool


def _facts(n: int) -> CallFacts:
    return call_facts(
        event_time=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n),
        params={},
        result={"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:root"},
    )


def _die(writer: AuditWriter) -> list[_Spool]:
    """The writer's process dies: its spool descriptors close (the locks go) and
    nothing more is stored. Returns the spools it left."""
    with writer._lock:
        left = [s for s in (writer._spool, *writer._retired) if isinstance(s, _Spool)]
        for dead in left:
            dead.close(delete=False)
        # this (test) process's writer goes on with nothing: it must not touch the
        # dead spools (their descriptors may be reused)
        writer._spool = _MemorySpool()
        writer._retired.clear()
        writer._fast = None  # (its mapping is gone with it)
    return left


def _event(n: int) -> Capture:
    return capture(_facts(n))


def _replayed(spool: Path, store: MemoryAuditStore | None = None) -> MemoryAuditStore:
    """What the next worker to start on this data directory stores from the spools
    dead processes left there (its own writer is closed again)."""
    survivor = store or MemoryAuditStore()
    successor = AuditWriter(survivor, spool_dir=spool)
    successor.close()
    return survivor


def _spooled(spool: Path) -> list[str]:
    """The event ids in the spool files."""
    ids = []
    for path in spool.glob("*.spool"):
        data = path.read_bytes()
        segments, _parsed, _n = build_segments(data[: data.rfind(b"\n") + 1])
        ids += [row.event_id for segment in segments for row in read_segment(segment)]
    return ids


def test_a_spool_line_is_the_capture_and_is_stored_as_it_is() -> None:
    captured = _event(1)
    line = captured.line
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    segments, _parsed, events = build_segments(line)
    assert events == 1 and len(segments) == 1
    segment = segments[0]
    assert segment.data == line.decode().rstrip("\n")
    assert segment.account_id == "" and segment.count == 1  # an unsigned caller
    assert segment.first_time == segment.last_time == datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert ("EventName", "GetCallerIdentity") in segment.terms
    assert ("EventSource", "sts.amazonaws.com") in segment.terms
    assert ("ReadOnly", "true") in segment.terms
    (stored,) = read_segment(segment)
    assert stored == stored_row(captured.values, line.decode().rstrip("\n"))
    # what is stored renders to the same record the live event has
    live = build_row(captured.values, captured.ident_json, captured.secrets)
    assert render(stored.record_json) == live.record_json
    assert (stored.event_id, stored.event_time, stored.accounts, stored.resources) == (
        live.event_id,
        live.event_time,
        live.accounts,
        live.resources,
    )
    record = json.loads(render(stored.record_json))
    assert record["eventID"] == captured.event_id
    assert record["responseElements"] is None  # a read: CloudTrail omits its result


def test_a_spool_line_of_a_version_before_captures_is_stored_with_its_columns() -> None:
    old = (
        b'{"id":"e1","t":"2026-01-01T00:00:00+00:00","n":"GetCallerIdentity",'
        b'"s":"sts.amazonaws.com","ro":true,"u":"alice","k":"AKIAEXAMPLE",'
        b'"a":["123456789012"],"r":[["AWS::IAM::Role","arn:aws:iam::123456789012:role/r"]],'
        b'"rec":{"eventID":"e1"}}\n'
    )
    (segment,), _parsed, events = build_segments(old)
    assert events == 1
    assert ("EventId", "e1") in segment.terms and ("Username", "alice") in segment.terms
    assert ("ResourceName", "arn:aws:iam::123456789012:role/r") in segment.terms
    (row,) = read_segment(segment)
    assert (row.event_id, row.username, row.accounts) == ("e1", "alice", ("123456789012",))
    assert row.resources == (("AWS::IAM::Role", "arn:aws:iam::123456789012:role/r"),)
    assert row.record == {"eventID": "e1"}


def test_an_event_seen_by_two_accounts_is_in_a_segment_of_each() -> None:
    facts = call_facts(
        operation="AssumeRole",
        params={"RoleArn": "arn:aws:iam::222222222222:role/r", "RoleSessionName": "s"},
        result={},
        principal=None,
    )
    captured = capture(facts)
    # an unsigned caller: only the role's account sees it
    (segment,), _parsed, _n = build_segments(captured.line)
    assert segment.account_id == "222222222222"
    assert ("ResourceName", "arn:aws:iam::222222222222:role/r") in segment.terms
    assert ("ResourceType", "AWS::IAM::Role") in segment.terms


def test_a_segment_spans_at_most_a_minute() -> None:
    lines = b"".join(_event(n * 20).line for n in range(10))  # 180 seconds
    segments, _parsed, events = build_segments(lines)
    assert events == 10
    assert len(segments) >= 3
    for segment in segments:
        assert (segment.last_time - segment.first_time).total_seconds() <= 60
    assert sum(s.count for s in segments) == 10


def test_recorded_events_are_spooled_before_record_returns_and_survive_a_dead_writer(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    store = MemoryAuditStore()
    store.gate.clear()  # the database is stuck: nothing gets stored
    writer = AuditWriter(store, spool_dir=spool, linger=0.0)
    events = [_event(n) for n in range(25)]
    for event in events:
        writer.record(event.line)
    assert sorted(_spooled(spool)) == sorted(e.event_id for e in events)
    dead = _die(writer)  # nothing stored
    try:
        assert not store.segments
        # the next worker on this data directory replays the dead process's spool
        assert sorted(_replayed(spool).event_ids()) == sorted(e.event_id for e in events)
        assert not any(d.path.exists() for d in dead)
    finally:
        store.gate.set()
        writer.close()


def test_a_replay_stores_only_what_the_dead_writer_had_not_stored(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    store = MemoryAuditStore()
    writer = AuditWriter(store, spool_dir=spool, linger=0.0)
    first = [_event(n) for n in range(10)]
    for event in first:
        writer.record(event.line)
    assert writer.flush(timeout=30)
    assert store.marks  # how far into its spool the stored events reach
    store.gate.clear()  # then the database hangs and the process dies
    rest = [_event(n) for n in range(10, 17)]
    for event in rest:
        writer.record(event.line)
    _die(writer)
    try:
        survivor = _replayed(spool, store.view())  # the same database, after the crash
        ids = survivor.event_ids()
        assert sorted(ids) == sorted(e.event_id for e in first + rest)  # none twice
        assert not survivor.marks  # the replayed spool is gone, and its mark
    finally:
        store.gate.set()
        writer.close()


def test_a_spool_of_a_version_before_segments_skips_the_events_already_stored(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    events = [_event(n) for n in range(6)]
    store = MemoryAuditStore()
    # that version stored the first four (migration 18 kept their ids as terms)
    (segment,), _p, _n = build_segments(b"".join(e.line for e in events[:4]))
    store.put_audit_segments(
        [
            type(segment)(
                account_id=segment.account_id,
                first_time=segment.first_time,
                last_time=segment.last_time,
                count=segment.count,
                data=segment.data,
                terms=segment.terms | {("EventId", e.event_id) for e in events[:4]},
            )
        ],
        {},
    )
    (spool / "1234-1.jsonl").write_bytes(b"".join(e.line for e in events) + b"\0" * 64)
    ids = _replayed(spool, store.view()).event_ids()
    assert sorted(ids) == sorted(e.event_id for e in events)
    assert list(spool.glob("*.jsonl")) == []


def test_events_are_stored_in_batches_and_spools_go_when_closed(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    store = MemoryAuditStore()
    writer = AuditWriter(store, spool_dir=spool, linger=0.5)
    events = [_event(n) for n in range(300)]
    for event in events:
        writer.record(event.line)
    assert writer.flush(timeout=30)
    assert sorted(store.event_ids()) == sorted(e.event_id for e in events)
    # far fewer transactions than events (the linger gathers them)
    assert len(store.batches) < 30, store.batches
    # the live spool (and the spare the writer prepared) remain until close
    assert len(list(spool.glob("*.spool"))) <= 2
    writer.close()
    assert list(spool.glob("*.spool")) == []
    assert not store.marks


def test_after_a_large_batch_the_writer_waits_its_busy_linger(tmp_path: Path) -> None:
    """A large batch (a busy server) makes the writer wait its longer linger before
    the next one, so each batch's fixed cost is shared by more events; a small one
    brings the short linger back. ``flush`` still cuts either short."""
    from tessera.audit.writer import _BUSY_BATCH

    store = MemoryAuditStore()
    writer = AuditWriter(store, spool_dir=tmp_path / "spool", linger=0.5, busy_linger=60)
    try:
        lines = [_event(n).line for n in range(1, _BUSY_BATCH + 10)]
        writer.record(_event(0).line)
        assert writer.flush(timeout=10)  # a batch of one
        writer.record(b"".join(lines))  # (one write: one batch, whenever it is taken)
        assert writer.flush(timeout=10)
        writer.record(_event(10_000).line)
        time.sleep(1.5)  # three short lingers
        assert writer.pending() == 1  # waiting out the busy linger
        assert writer.flush(timeout=10)  # ... which flush cuts short
        writer.record(_event(10_001).line)  # the last batch was one event: not busy
        assert _stored_within(writer, 10)
        assert len(store.event_ids()) == _BUSY_BATCH + 12
    finally:
        writer.close()


def _stored_within(writer: AuditWriter, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while writer.pending() and time.monotonic() < deadline:
        time.sleep(0.01)
    return writer.pending() == 0


def test_a_failed_batch_is_retried_from_the_same_place(tmp_path: Path) -> None:
    from tessera.audit import writer as writer_module

    store = MemoryAuditStore()
    store.fail = 1
    saved = writer_module._RETRY_SECONDS
    writer_module._RETRY_SECONDS = 0.01
    try:
        writer = AuditWriter(store, spool_dir=tmp_path / "spool", linger=0.0)
        events = [_event(n) for n in range(20)]
        for event in events:
            writer.record(event.line)
        assert writer.flush(timeout=30)
        writer.close()
    finally:
        writer_module._RETRY_SECONDS = saved
    assert writer.failures == 1
    assert sorted(store.event_ids()) == sorted(e.event_id for e in events)


def test_without_a_spool_directory_events_wait_in_memory(tmp_path: Path) -> None:
    store = MemoryAuditStore()
    writer = AuditWriter(store, spool_dir=None, linger=0.0)
    events = [_event(n) for n in range(50)]
    for event in events:
        writer.record(event.line)
    assert writer.flush(timeout=30)
    assert sorted(store.event_ids()) == sorted(e.event_id for e in events)
    assert isinstance(writer._spool, _MemorySpool) and writer._spool.end() == 0
    writer.close()


def test_a_live_writers_spool_is_not_replayed_by_another(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    store = MemoryAuditStore()
    store.gate.clear()
    first = AuditWriter(store, spool_dir=spool, linger=0.0)
    first.record(_event(1).line)
    other = MemoryAuditStore()
    second = AuditWriter(other, spool_dir=spool)
    try:
        assert not other.segments  # the first writer holds its spool's lock
    finally:
        second.close()
        store.gate.set()
        first.close()
    assert len(store.event_ids()) == 1


def test_a_full_spool_rotates_on_the_request_path_and_every_event_survives_a_death(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    store = MemoryAuditStore()
    store.gate.clear()  # nothing is stored: every spool must stay
    writer = AuditWriter(store, spool_dir=spool, linger=0.0, spool_bytes=4096)
    events = [_event(n) for n in range(80)]
    for event in events:
        writer.record(event.line)
    spooled_bytes = sum(len(e.line) for e in events)
    assert spooled_bytes > 3 * 4096
    assert len(list(spool.glob("*.spool"))) >= spooled_bytes // 4096  # rotated when full
    assert sorted(_spooled(spool)) == sorted(e.event_id for e in events)
    dead_spools = _die(writer)  # the next writer replays every file
    try:
        ids = _replayed(spool).event_ids()
        assert sorted(ids) == sorted(e.event_id for e in events)
        assert not any(d.path.exists() for d in dead_spools)  # replayed, then deleted
    finally:
        store.gate.set()
        writer.close()


def test_rotated_full_spools_are_deleted_once_their_events_are_stored(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    store = MemoryAuditStore()
    writer = AuditWriter(store, spool_dir=spool, linger=0.0, spool_bytes=4096)
    for n in range(40):
        writer.record(_event(n).line)
    assert writer.flush(timeout=30)
    assert len(store.event_ids()) == 40
    # the full spools are gone, and their marks; the live one (and the spare)
    # remain, holding only stored events (a replay would start past them)
    assert len(list(spool.glob("*.spool"))) <= 2
    assert set(store.marks) <= {p.name for p in spool.glob("*.spool")}
    writer.close()
    assert list(spool.glob("*.spool")) == []


def test_a_torn_last_line_and_the_unwritten_tail_are_skipped() -> None:
    rows = [_event(n) for n in range(3)]
    data = rows[0].line + rows[1].line + rows[2].line[:50] + b"\n" + b"\0" * 500 + b"\n"
    parsed = list(parse_lines(data))
    assert [json.loads(text)["c1"][6] for text, _value in parsed] == [r.values[6] for r in rows[:2]]


def test_no_room_for_a_new_spool_keeps_recording_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from tessera.audit import writer as writer_module

    spool = tmp_path / "spool"
    store = MemoryAuditStore()
    writer = AuditWriter(store, spool_dir=spool, linger=0.0, spool_bytes=4096)
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
                writer.record(event.line)
        assert writer.flush(timeout=30)
        assert sorted(store.event_ids()) == sorted(e.event_id for e in events)  # none lost
        assert "no new one can be made" in caplog.text
    finally:
        monkeypatch.undo()
        writer.close()


def test_concurrent_records_across_rotations_store_every_event_exactly_once(
    tmp_path: Path,
) -> None:
    """``record`` writes without a lock (one ``mmap.write`` each) while other threads
    rotate full spools under it: a line written to a spool being sealed either lands
    before the seal (and is taken with that spool) or fails and goes to the next
    one. Eight threads, tiny spools: every event is spooled and stored exactly once,
    and no line is torn."""
    import threading

    spool = tmp_path / "spool"
    store = MemoryAuditStore()
    writer = AuditWriter(store, spool_dir=spool, linger=0.001, spool_bytes=8192)
    events = [[_event(t * 1000 + n) for n in range(150)] for t in range(8)]
    lines = [[event.line for event in mine] for mine in events]
    start = threading.Barrier(8)

    def run(mine: list[bytes]) -> None:
        start.wait()
        for line in mine:
            writer.record(line)

    threads = [threading.Thread(target=run, args=(mine,)) for mine in lines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert writer.flush(timeout=60)
    expected = sorted(event.event_id for mine in events for event in mine)
    assert sorted(store.event_ids()) == expected  # none lost, none twice
    assert writer.pending() == 0
    writer.close()
    assert list(spool.glob("*.spool")) == []


def test_a_request_holding_a_sealed_spool_writes_to_the_next(tmp_path: Path) -> None:
    """A request that read the current mapping just before another rotated it: its
    write fails on the sealed mapping and the line goes to the new spool, and a line
    written between the seal's two steps is kept with the old one."""
    store = MemoryAuditStore()
    store.gate.clear()
    writer = AuditWriter(store, spool_dir=tmp_path / "spool", linger=0.0)
    one, two, three = (_event(n).line for n in (1, 2, 3))
    try:
        first = writer._spool
        assert isinstance(first, _Spool)
        held = writer._fast
        assert held is first.mm
        writer.record(one)
        with writer._lock:
            writer._rotate(0)
        assert first.sealed == len(one)
        with pytest.raises(ValueError):
            held.write(two)  # what the fast path would have done
        writer.record(two)  # takes the locked path, re-arms the fast one
        assert writer._spool is not first and writer._fast is writer._spool.mm  # type: ignore[union-attr]
        # the seal's scan: a line that lands between reading and moving the position
        racing = writer._spool
        assert isinstance(racing, _Spool)
        end = racing.mm.tell()
        racing.mm.write(three)
        racing.mm.seek(end)  # as if the position had been read before that write
        racing.seal()
        assert racing.sealed == end + len(three)
    finally:
        store.gate.set()
        writer.close()
    assert sorted(store.event_ids()) == sorted(
        json.loads(line)["c1"][6] and event_id_of(json.loads(line)["c1"])
        for line in (one, two, three)
    )


def test_after_close_a_turns_lines_are_stored_and_each_counted(tmp_path: Path) -> None:
    """A record that arrives after ``close`` (a worker shutting down) is stored on
    the caller's thread; the event loop's record holds a whole turn's lines, and
    ``tessera_audit_events_total`` counts each of its events."""
    from tessera.telemetry import AUDIT_EVENTS

    store = MemoryAuditStore()
    writer = AuditWriter(store, spool_dir=tmp_path / "spool", linger=0.0)
    writer.close()
    events = [_event(n) for n in range(3)]
    before = AUDIT_EVENTS._value.get()
    writer.record(b"".join(e.line for e in events))
    assert AUDIT_EVENTS._value.get() - before == 3
    assert sorted(store.event_ids()) == sorted(e.event_id for e in events)
