"""Writing audit events without slowing the request path or losing one a client saw
answered.

Design: **write-ahead spool + batched background writer.**

The guarantee, precisely: ``record(event)`` returns only after the event's line is
in the kernel's page cache, in this process's spool file
(``<data-dir>/audit-spool/<pid>-<ns>.jsonl``, no fsync), and the pipeline calls it
before the answer is written to the socket. So every event of a call whose answer a
client received is in the page cache before that answer left: it survives the
process being killed or crashing (not a power loss of the host, since the spool is
not fsynced; the store's own commits are durable). The line is the call's capture
(``tessera.audit.record.capture``), already redacted, never a secret.

The spool is a file of ``_SPOOL_BYTES`` mapped shared into memory, and a line is
copied into the mapping: the copy lands in the same page-cache
pages a ``write(2)`` would fill, so the guarantee is the same, but the request pays
a memory copy instead of a system call (on ext4 a ``write(2)`` of a line cost
~20 µs of CPU inside the request path, bench/README.md). The unwritten tail of a
spool reads as NUL bytes; a line torn by a crash in mid-copy fails to parse and is
skipped on replay (the answer of its call had not been sent).

Off the request path a single background thread commits events to the store in
large batches: it waits for the first event, then lingers (``_LINGER_SECONDS``)
until ``batch`` events have gathered or the time is up, and inserts them in one
transaction (a duplicate event id is skipped, so a replay is idempotent); then it
writes them to the ``--audit-log`` sink. Until that commit an event lives in this
process's memory and its spool file: a killed or crashed worker loses nothing (the
next start replays the spool), a host power loss may lose the uncommitted batch.
The store keeps only an account/time and a time index on ``audit_events``
(migration 17) besides the (account, event id) unique key, which takes
time-ordered event ids in order (bench/README.md has the costs).
A request never wakes the writer except for the first event of a batch and a full
batch, so a busy server commits a few times a second, not per request, and the
writer rarely competes with requests for the GIL or the database.

A spool file (``_SPOOL_BYTES``, about 16,000 events) is allocated when it is made
(``posix_fallocate``: a full disk shows as an error there, never as a SIGBUS on a
store into the mapping) and its pages are faulted in ahead of use: the writer
thread keeps a populated spare ready, and the request that finds the current spool
full switches to it. A full spool is deleted once the writer has committed its
last event. A spool left by a dead process (its ``flock`` is free) is replayed
into the store at the next start of any worker on that data directory, then
deleted; the events of it that were already committed are skipped (the store
ignores an event id it has), so replay is idempotent.

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
import errno
import fcntl
import json
import logging
import mmap
import os
import sys
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from tessera.audit.record import Capture, build_row, parse_capture, stored_row
from tessera.store.audit import AuditRow, AuditStore

log = logging.getLogger("tessera.audit")

SPOOL_DIR = "audit-spool"
DEFAULT_RETENTION_DAYS = 90
_PRUNE_EVERY_SECONDS = 3600.0
_RETRY_SECONDS = 1.0
#: how long the writer waits for more events before committing a partial batch
_LINGER_SECONDS = 0.2
#: the size of a spool file (allocated when it is made; ~16,000 events)
_SPOOL_BYTES = 8 << 20
_MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)


class _Spool:
    """One spool file, locked and mapped while its process lives."""

    __slots__ = ("fd", "last_seq", "mm", "path", "size", "used")

    def __init__(self, spool_dir: Path, size: int) -> None:
        self.path = spool_dir / f"{os.getpid()}-{time.time_ns()}.jsonl"
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            # reserve the blocks now: a store into a mapped page that the file
            # system cannot back (disk or tmpfs full) would kill the process with
            # SIGBUS, so a full disk must show here, as an OSError
            try:
                os.posix_fallocate(self.fd, 0, size)
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                os.ftruncate(self.fd, size)
            self.mm = mmap.mmap(self.fd, size, mmap.MAP_SHARED, mmap.PROT_WRITE)
        except BaseException:
            os.close(self.fd)
            self.path.unlink(missing_ok=True)
            raise
        self.size = size
        self.used = 0
        #: the sequence number of the last event spooled here
        self.last_seq = 0

    def fits(self, n: int) -> bool:
        return self.used + n <= self.size

    def populate(self) -> None:
        """Fault every page in writable now (``MADV_POPULATE_WRITE``, Linux 5.14+),
        so the requests that fill this spool copy into mapped memory without a page
        fault each (on ext4 a fault cost several µs of the request's CPU). Called
        on the writer thread for the spare spool; a kernel without it just faults
        the pages in as they are written."""
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self.mm.madvise(_MADV_POPULATE_WRITE)

    def append(self, line: bytes) -> None:
        end = self.used + len(line)
        self.mm[self.used : end] = line
        self.used = end

    def close(self, *, delete: bool) -> None:
        """Unmap and close (the lock goes with the descriptor); ``delete`` first."""
        if delete:
            self.path.unlink(missing_ok=True)
        with contextlib.suppress(ValueError, BufferError):
            self.mm.close()
        with contextlib.suppress(OSError):
            os.close(self.fd)


def read_spool(data: bytes) -> list[AuditRow]:
    """The rows of a spool file's content (its NUL tail and torn lines skipped)."""
    rows = []
    for line in data.split(b"\n"):
        line = line.strip(b"\0")
        if line:
            row = parse_spool_line(line)
            if row is not None:
                rows.append(row)
    return rows


def parse_spool_line(line: bytes) -> AuditRow | None:
    """The row of one spool line, or None for a torn/malformed line. Reads this
    version's lines (a capture: the record is built from it) and the finished
    records, with their columns, that earlier versions spooled."""
    try:
        captured = parse_capture(line)
        if captured is not None:
            return stored_row(captured[0], line.decode().rstrip("\n"))
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
            username=None if d["u"] is None else str(d["u"]),
            access_key_id=None if d["k"] is None else str(d["k"]),
            accounts=tuple(str(a) for a in d["a"]),
            resources=tuple((str(t), str(n)) for t, n in d["r"]),
            record_json=json.dumps(record, separators=(",", ":")),
        )
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
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
        spool_bytes: int = _SPOOL_BYTES,
    ) -> None:
        self._store = store
        self._retention = timedelta(days=retention_days)
        self._max_pending = max_pending
        self._batch = batch
        self._linger = linger
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the writer thread waits here
        self._done = threading.Condition(self._lock)  # flush and back-pressure wait here
        self._pending: deque[Capture] = deque()
        self._in_flight = 0
        self._recorded = 0  # events handed to record(): the last one's sequence number
        self._committed = 0  # events stored (or replayed), in order
        self._flushing = 0  # flush() callers waiting: no linger
        self._closed = False
        self.written = 0
        self.failures = 0
        self._spool_dir = spool_dir
        self._spool_bytes = spool_bytes
        self._spool: _Spool | None = None
        #: the next spool, made and populated ahead by the writer thread
        self._spare: _Spool | None = None
        #: spools rotated out whose last event is not committed yet (oldest first)
        self._retired: list[_Spool] = []
        self._sink: IO[str] | None = None
        self._sink_owned = False
        if spool_dir is not None:
            spool_dir.mkdir(mode=0o700, exist_ok=True)
            self._spool = _Spool(spool_dir, spool_bytes)
            self._replay_orphans(spool_dir)
        if log_path:
            self._open_sink(log_path)
        self._thread = threading.Thread(target=self._run, name="tessera-audit", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ setup

    def _replay_orphans(self, spool_dir: Path) -> None:
        """Store what dead processes spooled but had not committed, then delete it."""
        own = self._spool.path if self._spool is not None else None
        for path in sorted(spool_dir.glob("*.jsonl")):
            if path == own:
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
                    rows = read_spool(handle.read())
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

    def record(self, event: Capture) -> None:
        """Spool ``event`` and queue it for the store. Returns once the event is in
        the kernel's page cache (the write-ahead guarantee): call it before
        answering."""
        line = event.line
        with self._lock:
            while len(self._pending) >= self._max_pending and not self._closed:
                self._work.notify()
                self._done.wait(0.5)  # back-pressure: the store is far behind
            spool = self._spool
            if spool is not None:
                if not spool.fits(len(line)):
                    try:
                        spool = self._rotate(len(line))
                    except (OSError, ValueError):
                        # no room for a spool: the event is still stored, but
                        # without its write-ahead copy (logged, never silent)
                        log.error("audit spool full and no new one can be made")
                        spool = None
                if spool is not None:
                    spool.append(line)
            if self._closed:  # shutting down: store it now, on this thread
                self._store.put_audit_events(self._rows([event])[0])
                return
            self._pending.append(event)
            self._recorded += 1
            if spool is not None:
                spool.last_seq = self._recorded
            n = len(self._pending)
            if n == 1 or n == self._batch:  # the writer waits for exactly these
                self._work.notify()

    def _rows(self, batch: list[Capture]) -> tuple[list[AuditRow], list[str]]:
        """The rows of captured events (on the writer thread, a batch at a time):
        their lookup columns and the capture itself; and, when ``--audit-log`` is
        on, their CloudTrail records (rendered in the same pass). An event whose row
        cannot be made (a defect) is logged, counted and left out rather than
        blocking every later one."""
        rows: list[AuditRow] = []
        records: list[str] = []
        render = self._sink is not None
        for event in batch:
            stored = event.line[:-1].decode()
            if render:
                try:
                    row = build_row(event.values, event.ident_json, event.secrets)
                except Exception:
                    log.exception("could not render an audit record for the audit log")
                else:
                    records.append(row.record_json)
                    rows.append(row._replace(record_json=stored))
                    continue
            try:
                rows.append(stored_row(event.values, stored))
            except Exception:
                self.failures += 1
                log.exception("could not make an audit row")
        return rows, records

    def _rotate(self, need: int) -> _Spool:
        """Under the lock: retire the full spool for the spare the writer thread
        prepared (or, if it has none ready, a new one) with room for ``need``
        bytes. ``OSError`` if no spool can be made (the disk is full)."""
        current = self._spool
        assert current is not None and self._spool_dir is not None
        fresh = self._spare
        self._spare = None
        if fresh is None or not fresh.fits(need):
            if fresh is not None:
                fresh.close(delete=True)
            fresh = _Spool(self._spool_dir, max(self._spool_bytes, need))
        if current.used:
            self._retired.append(current)
        else:
            current.close(delete=True)
        self._spool = fresh
        return fresh

    def _prepare_spare(self) -> None:
        """On the writer thread, outside the lock: make and populate the spool the
        next rotation will switch to, so no request pays for creating one."""
        if self._spare is not None or self._spool_dir is None or self._closed:
            return
        try:
            spare = _Spool(self._spool_dir, self._spool_bytes)
        except (OSError, ValueError):
            log.warning("could not prepare an audit spool (is the disk full?)")
            return
        spare.populate()
        with self._lock:
            if self._spare is None and not self._closed:
                self._spare = spare
                return
        spare.close(delete=True)

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
            if self._spare is not None:
                self._spare.close(delete=True)
                self._spare = None
            if self._spool is not None and not self._pending and not self._in_flight:
                for spool in (*self._retired, self._spool):
                    spool.close(delete=True)
                self._retired.clear()
                self._spool = None
        if self._sink is not None:
            with contextlib.suppress(OSError, ValueError):
                self._sink.flush()
            if self._sink_owned:
                self._sink.close()

    def _take(self, next_prune: float) -> list[Capture] | None:
        """Under the lock: wait for a batch (lingering for a full one); None to stop."""
        while not self._pending and not self._closed:
            left = next_prune - time.monotonic()
            if left <= 0:
                return []
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
        return batch

    def _run(self) -> None:
        next_prune = 0.0
        while True:
            self._prepare_spare()
            with self._lock:
                batch = self._take(next_prune)
            if batch is None:
                return
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + _PRUNE_EVERY_SECONDS
                self._prune()
            if not batch:
                continue
            rows, records = self._rows(batch)
            try:
                self._store.put_audit_events(rows)
            except Exception:
                self.failures += 1
                log.exception("could not store %d audit events; retrying", len(batch))
                with self._lock:
                    self._pending.extendleft(reversed(batch))
                    self._in_flight = 0
                time.sleep(_RETRY_SECONDS)
                continue
            self._write_sink(records)
            with self._lock:
                committed = self._committed + len(batch)
                done = [s for s in self._retired if s.last_seq <= committed]
                if done:
                    self._retired = [s for s in self._retired if s.last_seq > committed]
            for spool in done:  # every event in them is committed now
                spool.close(delete=True)
            with self._lock:
                self._in_flight = 0
                self._committed = committed
                self.written += len(batch)
                self._done.notify_all()

    def _write_sink(self, records: list[str]) -> None:
        """``--audit-log``: the CloudTrail record of each committed event, one JSON
        line each."""
        if self._sink is None or not records:
            return
        try:
            self._sink.write("".join(record + "\n" for record in records))
            self._sink.flush()
        except (OSError, ValueError):
            log.warning("could not write %d events to the audit log", len(records))

    def _prune(self) -> None:
        try:
            gone = self._store.prune_audit_events(datetime.now(UTC) - self._retention)
            if gone:
                log.info("pruned %d audit events older than the retention period", gone)
        except Exception:
            log.exception("could not prune audit events")
