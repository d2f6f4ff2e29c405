"""Usage bookkeeping written behind the request: "last used" of access keys and
roles. A request hands the write to one background thread and answers without
waiting for it; nothing a request decides depends on these columns.

* At most one write per key is pending (``submit`` with the key of a write already
  queued does nothing), so a burst of requests queues one write.
* ``flush`` waits until everything submitted so far is written: the server calls it
  before IAM calls (worker threads), so ``GetAccessKeyLastUsed`` / ``GetRole`` in
  the same process see the uses before them; ``close`` flushes and stops the
  thread (worker shutdown).
* A failed write is logged (names only, never secrets) and dropped: bookkeeping
  never fails a request.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Hashable

log = logging.getLogger("tessera.bookkeeping")

_Item = tuple[Hashable, Callable[[], None]]


class Bookkeeping:
    """A single-thread write-behind queue with de-duplication by key."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._pending: set[Hashable] = set()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, key: Hashable, write: Callable[[], None]) -> None:
        """Run ``write`` soon on the bookkeeping thread, unless a write with ``key``
        is still pending (or the writer is closed)."""
        with self._lock:
            if self._closed or key in self._pending:
                return
            self._pending.add(key)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tessera-bookkeeping", daemon=True
                )
                self._thread.start()
        self._queue.put((key, write))

    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> None:
        """Wait until every write submitted so far is done."""
        if not self._pending:  # unlocked read: only writes submitted before matter
            return
        with self._idle:
            while self._pending:
                self._idle.wait()

    def close(self) -> None:
        """Flush, then stop the thread; later submissions are dropped."""
        self.flush()
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            key, write = item
            try:
                write()
            except Exception:
                log.exception("bookkeeping write %r failed", key)
            finally:
                with self._idle:
                    self._pending.discard(key)
                    if not self._pending:
                        self._idle.notify_all()
