"""Writing audit events without slowing the request path or losing one a client saw
answered.

Design: **write-ahead spool + batched background writer.** Before the response is
sent, the request appends the event as one JSON line to this process's spool file
(``<data-dir>/audit-spool/<pid>.jsonl``, one ``write(2)`` on an ``O_APPEND``
descriptor, a few microseconds, no fsync) and puts it on an in-memory queue. A
single background thread takes up to ``batch`` events at a time (lingering up to
50 ms for a partial batch, so a busy server commits rarely), inserts them in
one transaction (a duplicate event id is skipped), writes them to the
``--audit-log`` sink, and empties the spool once everything in it is committed.

Why not in the request's transaction: most calls (GetCallerIdentity, AssumeRole)
write nothing, so an audit insert would add a commit (an fsync on SQLite, a round
trip on PostgreSQL) to every call, and the signed STS calls run on the event loop
on SQLite. Why not a plain in-memory queue: a worker that crashes or is killed
would lose the events of calls it had already answered. With the spool, an
answered call's event is in the kernel before the answer leaves, so it survives
the process (not a power loss: the spool is not fsynced; the store's own commits
are). A spool left by a dead process (its ``flock`` is free) is replayed into the
store at the next start of any worker on that data directory, then deleted.

The queue is bounded (``max_pending``): when the store falls that far behind, a
request waits for room (back-pressure) rather than dropping events or growing
without limit. A failed batch is logged (never its content) and retried; the events
stay queued and spooled. ``flush`` waits until everything recorded so far is
committed; ``close`` flushes and stops the thread (worker shutdown). Events older
than the retention period are pruned at start and hourly.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sys
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from tessera.audit.record import AuditEvent
from tessera.store.audit import AuditRow, AuditStore

log = logging.getLogger("tessera.audit")

SPOOL_DIR = "audit-spool"
DEFAULT_RETENTION_DAYS = 90
_PRUNE_EVERY_SECONDS = 3600.0
_RETRY_SECONDS = 1.0
#: how long the writer waits for more events before committing a partial batch
_LINGER_SECONDS = 0.05


def _row(event: AuditEvent) -> AuditRow:
    return AuditRow(
        event_id=event.event_id,
        event_time=event.event_time,
        event_name=event.event_name,
        event_source=event.event_source,
        read_only=event.read_only,
        username=event.username,
        access_key_id=event.access_key_id,
        accounts=event.accounts,
        resources=event.resources,
        record_json=event.record_json,
    )


def spool_line(row: AuditRow) -> bytes:
    """One spool line: the lookup columns and the (already redacted) record."""
    return (
        json.dumps(
            {
                "id": row.event_id,
                "t": row.event_time.isoformat(),
                "n": row.event_name,
                "s": row.event_source,
                "ro": row.read_only,
                "u": row.username,
                "k": row.access_key_id,
                "a": list(row.accounts),
                "r": [list(r) for r in row.resources],
                "rec": row.record_json,
            },
            separators=(",", ":"),
        ).encode()
        + b"\n"
    )


def parse_spool_line(line: bytes) -> AuditRow | None:
    """The row of one spool line, or None for a torn/malformed line."""
    try:
        d = json.loads(line)
        return AuditRow(
            event_id=str(d["id"]),
            event_time=datetime.fromisoformat(d["t"]),
            event_name=str(d["n"]),
            event_source=str(d["s"]),
            read_only=bool(d["ro"]),
            username=d["u"],
            access_key_id=d["k"],
            accounts=tuple(str(a) for a in d["a"]),
            resources=tuple((str(t), str(n)) for t, n in d["r"]),
            record_json=str(d["rec"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


class AuditWriter:
    """The per-process audit writer (see the module docstring)."""

    def __init__(
        self,
        store: AuditStore,
        *,
        spool_dir: Path | None,
        log_path: str | None = None,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        max_pending: int = 10_000,
        batch: int = 512,
    ) -> None:
        self._store = store
        self._retention = timedelta(days=retention_days)
        self._max_pending = max_pending
        self._batch = batch
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pending: deque[AuditRow] = deque()
        self._in_flight = 0
        self._recorded = 0  # events handed to record()
        self._committed = 0  # events stored (or replayed)
        self._closed = False
        self.written = 0
        self.failures = 0
        self._spool_fd: int | None = None
        self._spool_path: Path | None = None
        self._spool_bytes = 0
        self._sink: IO[str] | None = None
        self._sink_owned = False
        if spool_dir is not None:
            self._open_spool(spool_dir)
        if log_path:
            self._open_sink(log_path)
        self._thread = threading.Thread(target=self._run, name="tessera-audit", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ setup

    def _open_spool(self, spool_dir: Path) -> None:
        spool_dir.mkdir(mode=0o700, exist_ok=True)
        path = spool_dir / f"{os.getpid()}-{time.time_ns()}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._spool_fd, self._spool_path = fd, path
        self._replay_orphans(spool_dir)

    def _replay_orphans(self, spool_dir: Path) -> None:
        """Store what dead processes spooled but had not committed, then delete it."""
        for path in sorted(spool_dir.glob("*.jsonl")):
            if path == self._spool_path:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:  # a live process owns it
                    continue
                with os.fdopen(os.dup(fd), "rb") as handle:
                    rows = [r for r in map(parse_spool_line, handle) if r is not None]
                for start in range(0, len(rows), self._batch):
                    self._store.put_audit_events(rows[start : start + self._batch])
                if rows:
                    log.info("replayed %d audit events from %s", len(rows), path.name)
                path.unlink(missing_ok=True)
            except Exception:
                log.exception("could not replay audit spool %s", path.name)
            finally:
                os.close(fd)

    def _open_sink(self, log_path: str) -> None:
        if log_path == "-":
            self._sink = sys.stdout
            return
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._sink = os.fdopen(fd, "a", encoding="utf-8", buffering=1)
        self._sink_owned = True

    # ------------------------------------------------------------------ request path

    def record(self, event: AuditEvent) -> None:
        """Spool ``event`` and queue it for the store (call before answering)."""
        row = _row(event)
        line = spool_line(row) if self._spool_fd is not None else b""
        with self._changed:
            while len(self._pending) >= self._max_pending and not self._closed:
                self._changed.wait(0.5)  # back-pressure: the store is far behind
            if self._spool_fd is not None:
                os.write(self._spool_fd, line)
                self._spool_bytes += len(line)
            if self._closed:  # shutting down: store it now, on this thread
                self._store.put_audit_events([row])
                return
            self._pending.append(row)
            self._recorded += 1
            self._changed.notify_all()

    # ------------------------------------------------------------------ writer thread

    def pending(self) -> int:
        return len(self._pending) + self._in_flight

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every event recorded so far is committed; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            target = self._recorded
            while self._committed < target:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._changed.wait(left)
        return True

    def close(self) -> None:
        """Flush, stop the thread, remove the (empty) spool and close the sink."""
        self.flush()
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout=10)
        with self._lock:
            if self._spool_fd is not None and not self._pending:
                os.close(self._spool_fd)
                self._spool_fd = None
                if self._spool_path is not None:
                    self._spool_path.unlink(missing_ok=True)
        if self._sink is not None:
            with contextlib.suppress(OSError, ValueError):
                self._sink.flush()
            if self._sink_owned:
                self._sink.close()

    def _run(self) -> None:
        next_prune = 0.0
        while True:
            with self._changed:
                while not self._pending and not self._closed:
                    if time.monotonic() >= next_prune:
                        break
                    self._changed.wait(max(0.01, next_prune - time.monotonic()))
                if self._closed and not self._pending:
                    return
                if 0 < len(self._pending) < self._batch and not self._closed:
                    # linger: one commit for the events of the next few milliseconds
                    self._changed.wait(_LINGER_SECONDS)
                take = min(len(self._pending), self._batch)
                batch = [self._pending.popleft() for _ in range(take)]
                self._in_flight = take
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + _PRUNE_EVERY_SECONDS
                self._prune()
            if not batch:
                continue
            try:
                self._store.put_audit_events(batch)
            except Exception:
                self.failures += 1
                log.exception("could not store %d audit events; retrying", len(batch))
                with self._changed:
                    self._pending.extendleft(reversed(batch))
                    self._in_flight = 0
                time.sleep(_RETRY_SECONDS)
                continue
            self._write_sink(batch)
            with self._changed:
                self._in_flight = 0
                self._committed += len(batch)
                self.written += len(batch)
                if not self._pending and self._spool_fd is not None and self._spool_bytes:
                    os.ftruncate(self._spool_fd, 0)  # everything in it is committed
                    self._spool_bytes = 0
                self._changed.notify_all()

    def _write_sink(self, batch: list[AuditRow]) -> None:
        if self._sink is None:
            return
        try:
            self._sink.write("".join(row.record_json + "\n" for row in batch))
            self._sink.flush()
        except (OSError, ValueError):
            log.warning("could not write %d events to the audit log", len(batch))

    def _prune(self) -> None:
        try:
            gone = self._store.prune_audit_events(datetime.now(UTC) - self._retention)
            if gone:
                log.info("pruned %d audit events older than the retention period", gone)
        except Exception:
            log.exception("could not prune audit events")
