"""Writing audit events without slowing the request path or losing one a client saw
answered.

Design: **a write-ahead spool, tailed by a background writer.**

The guarantee, precisely: ``record(line)`` returns only after the event's line is
in the kernel's page cache, in this process's spool file
(``<data-dir>/audit-spool/<pid>-<ns>-<random>.spool``, no fsync), and the pipeline
calls it before the answer is written to the socket. So every event of a call whose
answer a client received is in the page cache before that answer left: it survives
the process being killed or crashing (not a power loss of the host, since the spool
is not fsynced; the store's own commits are durable). The line is the call's
capture (``tessera.audit.record.capture``), already redacted, never a secret.

The spool is a file of ``_SPOOL_BYTES`` mapped shared into memory, and a line is
copied into the mapping: the copy lands in the same page-cache pages a ``write(2)``
would fill, so the guarantee is the same, but the request pays a memory copy
instead of a system call (on ext4 a ``write(2)`` of a line cost ~20 µs of CPU inside
the request path, bench/README.md). The copy is one ``mmap.write``, which copies
and advances the mapping's position in a single C call under the GIL: no lock, and
lines never interleave. The unwritten tail of a spool reads as NUL bytes; a line
torn by a crash in mid-copy fails to parse and is skipped on replay (the answer of
its call had not been sent).

**The spool is the queue.** A request keeps nothing else of its event: no Python
object outlives the call (objects queued for a batch were scanned again and again
by the garbage collector), and it notifies no one. A single background thread
tails the spool: every ``_LINGER_SECONDS`` (``_BUSY_LINGER_SECONDS`` while its batches
are large, so each batch's fixed cost is shared by more events; at once for ``flush``
and ``close``) it reads the spool's position, takes every line written since, parses them one at a
time and stores them as **segments** (``tessera.audit.segments``):
one row per account with the lookup terms of its events, not a row per event (a
row per event cost the writer ~20 µs of CPU each, next to the request threads).
The same transaction records the spool's **mark**, how far into the file the
stored events reach; then the writer writes them to the ``--audit-log`` sink.

A spool file (``_SPOOL_BYTES``, about 16,000 events) is allocated when it is made
(``posix_fallocate``: a full disk shows as an error there, never as a SIGBUS on a
store into the mapping) and its pages are faulted in ahead of use: the writer
thread keeps a populated spare ready, and the request that finds the current spool
full switches to it, under the lock. The full spool is **sealed** first (its
position moved to its end), so a request still holding its mapping fails its write
and takes the locked path too: no line lands in a spool after its last region was
taken. A full spool is deleted once the writer has stored its last
event, and its mark with it. A spool left by a dead process (its ``flock`` is free)
is read from its mark on and stored at the next start of any worker on that data
directory, then deleted: exactly once. (``*.jsonl`` spools of versions before
segments have no mark; their events that the store already holds are recognised
by event id and skipped.) If no spool file can be made (a full disk), events are
kept in memory until stored, and an error is logged.

The backlog is bounded (``max_pending_bytes``, checked on the locked path: at each
rotation, and for every line of a memory spool): when the store falls that far
behind, a request waits for room (back-pressure) rather than dropping events or
growing without limit. A failed batch is logged (never its content) and retried
from the same place in the spool. ``flush`` waits until everything recorded so far
is stored (cutting the linger short); ``close`` flushes and stops the thread
(worker shutdown). Events older than the retention period are pruned at start and
hourly.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import mmap
import os
import secrets
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from tessera.audit.record import event_id_of, index_terms, render
from tessera.audit.segments import build_segments, parse_lines
from tessera.store.audit import AuditSegment, AuditStore
from tessera.telemetry import AUDIT_EVENTS

log = logging.getLogger("tessera.audit")

SPOOL_DIR = "audit-spool"
DEFAULT_RETENTION_DAYS = 90
_PRUNE_EVERY_SECONDS = 3600.0
_RETRY_SECONDS = 1.0
#: how long the writer waits for more events before storing a partial batch
_LINGER_SECONDS = 0.2
#: ... and under load (its last batch held ``_BUSY_BATCH`` events or more): each
#: batch has a fixed cost (a transaction, its statements, caches refilled after the
#: requests' work), which at 0.2 s was a third of the audit trail's cost at c = 16
#: (bench/README.md, "Sixth pass")
_BUSY_LINGER_SECONDS = 1.0
_BUSY_BATCH = 256
#: the writer's shortest wait between polls of the spool position (``linger=0``)
_MIN_POLL_SECONDS = 0.005
#: the backlog (bytes spooled, not stored) at which a request that takes the locked
#: path (a rotation, a memory spool) waits for the store: about 50,000 events
_MAX_PENDING_BYTES = 32 << 20
#: ``record``'s lock-free write relies on the GIL making ``mmap.write`` atomic; a
#: free-threaded interpreter takes the locked path for every line
_GIL = bool(getattr(sys, "_is_gil_enabled", lambda: True)())
#: the size of a spool file (allocated when it is made; ~16,000 events)
_SPOOL_BYTES = 8 << 20
_MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)
#: this version's spool files; ``*.jsonl`` are the previous versions' (no marks)
_SUFFIX = ".spool"
_LEGACY_SUFFIX = ".jsonl"


class _Spool:
    """One spool file, locked and mapped while its process lives."""

    __slots__ = ("fd", "mm", "name", "path", "read", "sealed", "size", "stored")

    def __init__(self, spool_dir: Path, size: int) -> None:
        self.name = f"{os.getpid()}-{time.time_ns()}-{secrets.token_hex(4)}{_SUFFIX}"
        self.path = spool_dir / self.name
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
            self.mm = mmap.mmap(self.fd, size, mmap.MAP_SHARED, mmap.PROT_WRITE | mmap.PROT_READ)
        except BaseException:
            os.close(self.fd)
            self.path.unlink(missing_ok=True)
            raise
        self.size = size
        #: bytes the writer has taken; bytes stored in the store; where it was sealed
        self.read = 0
        self.stored = 0
        self.sealed: int | None = None

    def fits(self, n: int) -> bool:
        return self.end() + n <= self.size

    def end(self) -> int:
        """The bytes written: the mapping's position (``mmap.write`` advances it in
        the same C call that copies the line, under the GIL), fixed once sealed."""
        sealed = self.sealed
        return self.mm.tell() if sealed is None else sealed

    def seal(self) -> None:
        """No more lines: the position moves to the end, so a request still holding
        this mapping fails its write (``ValueError``) and takes the locked path. A
        line written between reading the position and moving it is found by the
        first NUL after it (lines hold none: JSON escapes it)."""
        if self.sealed is not None:
            return
        end = self.mm.tell()
        self.mm.seek(self.size)
        found = self.mm.find(b"\0", end)
        self.sealed = self.size if found < 0 else found

    def append(self, line: bytes) -> bool:
        """Under the writer's lock: write ``line``; False if sealed or full."""
        if self.sealed is not None:
            return False
        try:
            self.mm.write(line)
        except ValueError:
            return False
        return True

    def populate(self) -> None:
        """Fault every page in writable now (``MADV_POPULATE_WRITE``, Linux 5.14+),
        so the requests that fill this spool copy into mapped memory without a page
        fault each (on ext4 a fault cost several µs of the request's CPU). Called
        on the writer thread for the spare spool; a kernel without it just faults
        the pages in as they are written."""
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self.mm.madvise(_MADV_POPULATE_WRITE)

    def region(self, start: int, end: int) -> bytes:
        return self.mm[start:end]

    def stored_up_to(self, offset: int) -> None:
        self.stored = offset

    def close(self, *, delete: bool) -> None:
        """Unmap and close (the lock goes with the descriptor); ``delete`` first."""
        if delete:
            self.path.unlink(missing_ok=True)
        with contextlib.suppress(ValueError, BufferError):
            self.mm.close()
        with contextlib.suppress(OSError):
            os.close(self.fd)


class _MemorySpool:
    """The spool when there is no spool directory (or no room on its disk): lines
    held in memory until stored (no write-ahead copy)."""

    __slots__ = ("mm", "read", "stored")
    name: str | None = None
    #: no limit but the writer's back-pressure (``max_pending_bytes``)
    size = sys.maxsize

    def __init__(self) -> None:
        #: the lines not stored yet (``append`` extends it; ``region`` reads it as a
        #: spool's mapping is read)
        self.mm = bytearray()
        self.read = 0
        self.stored = 0

    def end(self) -> int:
        return len(self.mm)

    def seal(self) -> None:
        """(Nothing holds a memory spool outside the writer's lock.)"""

    def append(self, line: bytes) -> bool:
        """Under the writer's lock: keep ``line``."""
        self.mm += line
        return True

    def region(self, start: int, end: int) -> bytes:
        return bytes(self.mm[start:end])

    def stored_up_to(self, offset: int) -> None:
        """Drop what is stored (under the writer's lock)."""
        del self.mm[:offset]
        self.read -= offset
        self.stored = 0

    def close(self, *, delete: bool) -> None:
        self.mm.clear()


_AnySpool = _Spool | _MemorySpool


class AuditWriter:
    """The per-process audit writer (see the module docstring)."""

    def __init__(
        self,
        store: AuditStore,
        *,
        spool_dir: Path | None,
        log_path: str | None = None,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        max_pending_bytes: int = _MAX_PENDING_BYTES,
        linger: float = _LINGER_SECONDS,
        busy_linger: float | None = None,
        spool_bytes: int = _SPOOL_BYTES,
    ) -> None:
        self._store = store
        self._retention = timedelta(days=retention_days)
        self._max_pending = max_pending_bytes
        self._linger = linger
        if busy_linger is None:
            busy_linger = _BUSY_LINGER_SECONDS if linger > 0 else 0.0
        self._busy_linger = max(linger, busy_linger)
        self._last_batch = 0  # lines the writer took last time
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the writer thread waits here
        self._done = threading.Condition(self._lock)  # flush and back-pressure wait here
        self._in_flight = 0  # events (lines) taken, not stored yet
        self._committed = 0  # events (lines) stored (or given up as unreadable), in order
        self._flushing = 0  # flush() callers waiting: no linger
        self._last_take = 0.0  # when the writer last took lines (monotonic)
        self._closing = False  # close() has begun: the fast path stays off
        self._closed = False
        self.written = 0
        self.failures = 0
        self._spool_dir = spool_dir
        self._spool_bytes = spool_bytes
        self._spool: _AnySpool
        #: the next spool, made and populated ahead by the writer thread
        self._spare: _Spool | None = None
        #: spools rotated out that hold events not stored yet (oldest first)
        self._retired: list[_AnySpool] = []
        #: names of spools deleted whose marks the store still keeps
        self._gone: list[str] = []
        self._sink: IO[str] | None = None
        self._sink_owned = False
        #: the current spool file's mapping, for ``record``'s lock-free write; None
        #: while lines must take the locked path (a memory spool, closing)
        self._fast: mmap.mmap | None = None
        if spool_dir is not None:
            spool_dir.mkdir(mode=0o700, exist_ok=True)
            first = _Spool(spool_dir, spool_bytes)
            self._spool = first
            self._fast = first.mm if _GIL else None
            self._replay_orphans(spool_dir)
        else:
            self._spool = _MemorySpool()
        if log_path:
            self._open_sink(log_path)
        self._thread = threading.Thread(target=self._run, name="tessera-audit", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ setup

    def _replay_orphans(self, spool_dir: Path) -> None:
        """Store what dead processes spooled but had not stored, then delete it."""
        own = self._spool.name
        paths = sorted((*spool_dir.glob("*" + _SUFFIX), *spool_dir.glob("*" + _LEGACY_SUFFIX)))
        for path in paths:
            if path.name == own:
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
                    data = handle.read()
                stored = self._replay(path.name, data)
                if stored:
                    log.info("replayed %d audit events from %s", stored, path.name)
                path.unlink(missing_ok=True)
                if path.suffix == _SUFFIX:
                    self._store.drop_audit_spool_marks([path.name])
            except Exception:
                log.exception("could not replay audit spool %s", path.name)
            finally:
                os.close(fd)

    def _replay(self, name: str, data: bytes) -> int:
        """Store the events of a dead process's spool that the store does not hold:
        those past its mark (or, for a spool of an earlier version, those whose
        event id it has not stored). The number stored."""
        mark = 0
        if name.endswith(_SUFFIX):
            mark = self._store.audit_spool_marks([name]).get(name, 0)
        end = data.rfind(b"\n", mark) + 1  # the NUL tail and a torn last line go
        if end <= mark:
            return 0
        region = data[mark:end]
        if name.endswith(_LEGACY_SUFFIX):
            region = self._not_stored(region)
        segments, _parsed, events = build_segments(region)
        if segments:
            marks = {name: end} if name.endswith(_SUFFIX) else {}
            self._store.put_audit_segments(segments, marks)
        return events

    def _not_stored(self, region: bytes) -> bytes:
        """The lines of an earlier version's spool whose events the store does not
        hold (that version stored them by event id; migration 18 kept the ids as
        ``EventId`` terms). Once per such spool, after an upgrade: a query per event."""
        keep = []
        for text, value in parse_lines(region):
            captured = value.get("c1")
            if captured is not None:
                event_id = event_id_of(captured)
                accounts = index_terms(captured)[1]
            else:
                event_id = str(value.get("id", ""))
                accounts = tuple(str(a) for a in value.get("a") or ())
            stored = any(
                self._store.audit_segments(
                    account, term=("EventId", event_id), start=None, end=None, after=None, limit=1
                )
                for account in accounts or ("",)
            )
            if not stored:
                keep.append(text.encode() + b"\n")
        return b"".join(keep)

    def _open_sink(self, log_path: str) -> None:
        if log_path == "-":
            self._sink = sys.stdout
            return
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._sink = os.fdopen(fd, "a", encoding="utf-8", buffering=1)
        self._sink_owned = True

    # ------------------------------------------------------------------ request path

    def record(self, line: bytes) -> None:
        """Spool one event's line (``Capture.line``: newline-terminated), or several
        events' lines joined (the event loop's group commit: one write). Returns
        once they are in the kernel's page cache (the write-ahead guarantee): call
        it before answering.

        Lock-free in the common case: one ``mmap.write`` into the current spool
        file, which copies the line and advances the position in one C call under
        the GIL, so lines never interleave and the writer thread finds them by the
        position (it polls; nothing is notified). A full or sealed spool, a memory
        spool and shutdown take the locked path."""
        mm = self._fast
        if mm is not None:
            try:
                mm.write(line)
                return
            except ValueError:  # full, or sealed by a rotation (or closed)
                pass
        self._record_locked(line)

    def _record_locked(self, line: bytes) -> None:
        with self._lock:
            while self._backlog() >= self._max_pending and not self._closed:
                self._work.notify()
                self._done.wait(0.5)  # back-pressure: the store is far behind
            if self._closed:  # shutting down: store it now, on this thread
                segments, _parsed, events = build_segments(line)
                self._store.put_audit_segments(segments, {})
                AUDIT_EVENTS.inc(events)  # (a loop turn's record holds several)
                return
            spool = self._spool
            if not spool.append(line):
                spool = self._rotate(len(line))
                if not spool.append(line):  # (a fresh spool has room for it)
                    raise RuntimeError("a new audit spool refused a line")
            if isinstance(spool, _Spool) and not self._closing and _GIL:
                self._fast = spool.mm

    def _backlog(self) -> int:
        """Under the lock: bytes spooled and not stored yet."""
        return sum(spool.end() - spool.stored for spool in (*self._retired, self._spool))

    def _rotate(self, need: int) -> _AnySpool:
        """Under the lock: retire the full spool for the spare the writer thread
        prepared (or, if it has none ready, a new one) with room for ``need``
        bytes; in memory, logged, if no spool file can be made (a full disk)."""
        current = self._spool
        current.seal()  # a request still holding its mapping fails, and comes here
        self._fast = None
        assert self._spool_dir is not None
        spare = self._spare
        self._spare = None
        fresh: _AnySpool
        if spare is not None and spare.fits(need):
            fresh = spare
        else:
            if spare is not None:
                spare.close(delete=True)
            try:
                fresh = _Spool(self._spool_dir, max(self._spool_bytes, need))
            except (OSError, ValueError):
                log.error(
                    "audit spool full and no new one can be made: events are kept in "
                    "memory until stored (no write-ahead copy)"
                )
                fresh = _MemorySpool()
        if current.end() > current.stored:
            self._retired.append(current)
        else:
            self._discard(current)
        self._spool = fresh
        return fresh

    def _discard(self, spool: _AnySpool) -> None:
        """Under the lock: close a spool whose events are all stored."""
        spool.close(delete=True)
        if spool.name is not None and spool.stored:
            self._gone.append(spool.name)

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

    def _recorded(self) -> int:
        """Under the lock: events recorded so far (stored, taken and unread lines)."""
        unread = 0
        for spool in (*self._retired, self._spool):
            end = spool.end()
            if end > spool.read:
                unread += spool.region(spool.read, end).count(b"\n")
        return self._committed + self._in_flight + unread

    def pending(self) -> int:
        """Events recorded and not stored yet."""
        with self._lock:
            return self._recorded() - self._committed

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every event recorded so far is stored; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            target = self._recorded()
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
        """Flush, stop the thread, remove the spools (all stored) and close the sink."""
        with self._lock:
            # lines from here on take the locked path; the spool's end is final
            self._closing = True
            self._fast = None
            self._spool.seal()
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
            if self._committed == self._recorded():
                for spool in (*self._retired, self._spool):
                    self._discard(spool)
                self._retired.clear()
                self._spool = _MemorySpool()
            gone, self._gone = self._gone, []
        self._drop_marks(gone)
        if self._sink is not None:
            with contextlib.suppress(OSError, ValueError):
                self._sink.flush()
            if self._sink_owned:
                self._sink.close()

    def _unread(self) -> bool:
        return any(spool.end() > spool.read for spool in (*self._retired, self._spool))

    def _take(self, next_prune: float) -> list[tuple[_AnySpool, int, int, bytes]] | None:
        """Under the lock: wait for new lines (polling the spool's position, at most
        once per ``linger``, so a batch gathers what came in meanwhile; at once
        for ``flush`` and ``close``); the spool regions that hold them; None to
        stop, [] to prune."""
        linger = self._busy_linger if self._last_batch >= _BUSY_BATCH else self._linger
        while True:
            now = time.monotonic()
            unread = self._unread()
            if unread and (self._flushing or self._closed or now >= self._last_take + linger):
                break
            if self._closed:
                return None
            if now >= next_prune:
                return []
            wait = self._last_take + linger - now if unread else linger
            self._work.wait(min(max(wait, _MIN_POLL_SECONDS), next_prune - now))
        self._last_take = now
        regions = []
        taken = 0
        for spool in (*self._retired, self._spool):
            end = spool.end()
            if spool.read < end:
                data = spool.region(spool.read, end)
                regions.append((spool, spool.read, end, data))
                taken += data.count(b"\n")
                spool.read = end
        self._in_flight = taken
        self._last_batch = taken
        return regions

    def _run(self) -> None:
        next_prune = 0.0
        while True:
            self._prepare_spare()
            with self._lock:
                regions = self._take(next_prune)
                taken = self._in_flight
            if regions is None:
                return
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + _PRUNE_EVERY_SECONDS
                self._prune()
            if not regions:
                continue
            segments: list[AuditSegment] = []
            texts: list[str] = []
            marks: dict[str, int] = {}
            for spool, _start, end, data in regions:
                got, lines, _events = build_segments(data)
                segments += got
                if self._sink is not None:
                    texts += lines
                if spool.name is not None:
                    marks[spool.name] = end
            try:
                self._store.put_audit_segments(segments, marks)
            except Exception:
                self.failures += 1
                log.exception("could not store %d audit events; retrying", taken)
                with self._lock:
                    for spool, start, _end, _data in regions:
                        spool.read = start
                    self._in_flight = 0
                time.sleep(_RETRY_SECONDS)
                continue
            self._write_sink(texts)
            with self._lock:
                for spool, _start, end, _data in regions:
                    spool.stored_up_to(end)
                done = [s for s in self._retired if s.stored >= s.end()]
                if done:
                    self._retired = [s for s in self._retired if s.stored < s.end()]
                for spool in done:  # every event in them is stored now
                    self._discard(spool)
                gone, self._gone = self._gone, []
                self._in_flight = 0
                self._committed += taken
                self.written += taken
                self._done.notify_all()
            AUDIT_EVENTS.inc(taken)
            self._drop_marks(gone)

    def _drop_marks(self, names: list[str]) -> None:
        if not names:
            return
        try:
            self._store.drop_audit_spool_marks(names)
        except Exception:  # pruned with the retention period instead
            log.warning("could not drop the marks of %d deleted audit spools", len(names))

    def _write_sink(self, texts: list[str]) -> None:
        """``--audit-log``: the CloudTrail record of each stored event, one JSON
        line each."""
        if self._sink is None or not texts:
            return
        records = []
        for text in texts:
            try:
                records.append(render(text))
            except Exception:
                log.exception("could not render an audit record for the audit log")
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
