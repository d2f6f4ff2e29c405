"""Writing audit events without slowing the request path or losing one a client saw
answered.

Design: **write-ahead spool + batched background writer.**

The guarantee, precisely: ``record(event)`` returns only after the event's line has
been handed to the kernel by one ``write(2)`` on this process's spool file
(``<data-dir>/audit-spool/<pid>-<ns>.jsonl``, ``O_APPEND``, no fsync), and the
pipeline calls it before the answer is written to the socket. So every event of a
call whose answer a client received is in the page cache before that answer left:
it survives the process being killed or crashing (not a power loss of the host,
since the spool is not fsynced; the store's own commits are durable). The line is
the already-redacted record, never a secret.

Off the request path a single background thread commits events to the store in
large batches: it waits for the first event, then lingers (``_LINGER_SECONDS``)
until ``batch`` events have gathered or the time is up, and inserts them in one
transaction (a duplicate event id is skipped, so a replay is idempotent); then it
writes them to the ``--audit-log`` sink. Until that commit an event lives in this
process's memory and its spool file: a killed or crashed worker loses nothing (the
next start replays the spool), a host power loss may lose the uncommitted batch.
The store keeps only an account/time and a time index on ``audit_events``
(migration 17), so a row costs ~35-40 µs of writer CPU (bench/README.md).
A request never wakes the writer except for the first event of a batch and a full
batch, so a busy server commits a few times a second, not per request, and the
writer rarely competes with requests for the GIL or the database.

Spool files rotate with the batches: when the writer takes every pending event it
opens a fresh spool for the events that follow, and deletes the old one once its
batch is committed. A spool left by a dead process (its ``flock`` is free) is
replayed into the store at the next start of any worker on that data directory,
then deleted.

The queue is bounded (``max_pending``): when the store falls that far behind, a
request waits for room (back-pressure) rather than dropping events or growing
without limit. A failed batch is logged (never its content) and retried; the
events stay queued and spooled. ``flush`` waits until everything recorded so far
is committed (cutting the linger short); ``close`` flushes and stops the thread
(worker shutdown). Events older than the retention period are pruned at start and
hourly.
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
_LINGER_SECONDS = 0.2


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


_str = json.encoder.encode_basestring_ascii  # json.dumps of one str, in C


def _opt(value: str | None) -> str:
    return "null" if value is None else _str(value)


def spool_line(row: AuditRow) -> bytes:
    """One spool line: the lookup columns, then the (already redacted) record as
    JSON embedded as is (no second serialisation of the record)."""
    accounts = ",".join(map(_str, row.accounts))
    resources = ",".join(f"[{_str(t)},{_str(n)}]" for t, n in row.resources)
    return (
        f'{{"id":{_str(row.event_id)},"t":"{row.event_time.isoformat()}",'
        f'"n":{_str(row.event_name)},"s":{_str(row.event_source)},'
        f'"ro":{"true" if row.read_only else "false"},"u":{_opt(row.username)},'
        f'"k":{_opt(row.access_key_id)},"a":[{accounts}],"r":[{resources}],'
        f'"rec":{row.record_json}}}\n'
    ).encode()


def parse_spool_line(line: bytes) -> AuditRow | None:
    """The row of one spool line, or None for a torn/malformed line."""
    try:
        d = json.loads(line)
        record = d["rec"]
        if not isinstance(record, dict):
            return None
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
            record_json=json.dumps(record, separators=(",", ":")),
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
        batch: int = 2048,
        linger: float = _LINGER_SECONDS,
    ) -> None:
        self._store = store
        self._retention = timedelta(days=retention_days)
        self._max_pending = max_pending
        self._batch = batch
        self._linger = linger
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the writer thread waits here
        self._done = threading.Condition(self._lock)  # flush and back-pressure wait here
        self._pending: deque[AuditRow] = deque()
        self._in_flight = 0
        self._recorded = 0  # events handed to record()
        self._committed = 0  # events stored (or replayed)
        self._flushing = 0  # flush() callers waiting: no linger
        self._closed = False
        self.written = 0
        self.failures = 0
        self._spool_dir = spool_dir
        self._spool_fd: int | None = None
        self._spool_path: Path | None = None
        self._spool_bytes = 0
        #: spools rotated out whose batch is not committed yet (writer thread only)
        self._retired: list[tuple[int, Path]] = []
        self._sink: IO[str] | None = None
        self._sink_owned = False
        if spool_dir is not None:
            spool_dir.mkdir(mode=0o700, exist_ok=True)
            self._spool_fd, self._spool_path = self._new_spool(spool_dir)
            self._replay_orphans(spool_dir)
        if log_path:
            self._open_sink(log_path)
        self._thread = threading.Thread(target=self._run, name="tessera-audit", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ setup

    @staticmethod
    def _new_spool(spool_dir: Path) -> tuple[int, Path]:
        """A fresh spool file of this process, locked while it lives."""
        path = spool_dir / f"{os.getpid()}-{time.time_ns()}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd, path

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
        """Spool ``event`` and queue it for the store. Returns once the event is in
        the kernel (the write-ahead guarantee): call it before answering."""
        row = _row(event)
        line = spool_line(row) if self._spool_fd is not None else b""
        with self._lock:
            while len(self._pending) >= self._max_pending and not self._closed:
                self._work.notify()
                self._done.wait(0.5)  # back-pressure: the store is far behind
            if self._spool_fd is not None:
                os.write(self._spool_fd, line)
                self._spool_bytes += len(line)
            if self._closed:  # shutting down: store it now, on this thread
                self._store.put_audit_events([row])
                return
            self._pending.append(row)
            self._recorded += 1
            n = len(self._pending)
            if n == 1 or n == self._batch:  # the writer waits for exactly these
                self._work.notify()

    # ------------------------------------------------------------------ writer thread

    def pending(self) -> int:
        return len(self._pending) + self._in_flight

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every event recorded so far is committed; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            target = self._recorded
            self._flushing += 1
            try:
                self._work.notify()
                while self._committed < target:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._thread.is_alive():
                        return False
                    self._done.wait(left)
            finally:
                self._flushing -= 1
        return True

    def close(self) -> None:
        """Flush, stop the thread, remove the (empty) spool and close the sink."""
        self.flush()
        with self._lock:
            self._closed = True
            self._work.notify()
            self._done.notify_all()
        self._thread.join(timeout=10)
        with self._lock:
            if self._spool_fd is not None and not self._pending:
                if self._spool_path is not None:
                    self._spool_path.unlink(missing_ok=True)
                os.close(self._spool_fd)
                self._spool_fd = None
        if self._sink is not None:
            with contextlib.suppress(OSError, ValueError):
                self._sink.flush()
            if self._sink_owned:
                self._sink.close()

    def _take(self, next_prune: float) -> tuple[list[AuditRow], tuple[int, Path] | None] | None:
        """Under the lock: wait for a batch (lingering for a full one); None to stop.
        Returns the batch and, when it empties the queue, the spool it rotated out."""
        while not self._pending and not self._closed:
            left = next_prune - time.monotonic()
            if left <= 0:
                return [], None
            self._work.wait(left)
        if self._closed and not self._pending:
            return None
        deadline = time.monotonic() + self._linger
        while len(self._pending) < self._batch and not self._closed and not self._flushing:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._work.wait(left)
        take = min(len(self._pending), self._batch)
        batch = [self._pending.popleft() for _ in range(take)]
        self._in_flight = take
        retired = None
        if not self._pending and self._spool_fd is not None and self._spool_dir is not None:
            if self._spool_bytes:
                # everything spooled so far is in this batch: later events go to a
                # fresh file, this one is deleted once the batch is committed
                assert self._spool_path is not None
                try:
                    fresh = self._new_spool(self._spool_dir)
                except OSError:  # e.g. the disk is full: keep appending to this one
                    log.warning("could not open a new audit spool; keeping the current one")
                else:
                    retired = (self._spool_fd, self._spool_path)
                    self._spool_fd, self._spool_path = fresh
                    self._spool_bytes = 0
        return batch, retired

    def _run(self) -> None:
        next_prune = 0.0
        retired = self._retired
        while True:
            with self._lock:
                taken = self._take(next_prune)
            if taken is None:
                return
            batch, old = taken
            if old is not None:
                retired.append(old)
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
                with self._lock:
                    self._pending.extendleft(reversed(batch))
                    self._in_flight = 0
                time.sleep(_RETRY_SECONDS)
                continue
            for fd, path in retired:  # every event in them is committed now
                path.unlink(missing_ok=True)
                os.close(fd)
            retired.clear()
            self._write_sink(batch)
            with self._lock:
                self._in_flight = 0
                self._committed += len(batch)
                self.written += len(batch)
                self._done.notify_all()

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
