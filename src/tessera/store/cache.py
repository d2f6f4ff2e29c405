"""The request-path read cache of the SQL store.

Most requests read the same few rows (the caller's access key, user or role, its
policies and tags, the account) again and again. ``SqlStore.enable_read_cache``
memoises the store methods marked with :func:`cached` and keeps the memo exact:

* **Writes in this process** empty the memo as soon as their transaction commits,
  so a deleted or deactivated access key, an edited trust policy or a detached
  policy takes effect on the very next request.
* **Writes by other processes** (other ``--workers``, other replicas sharing
  PostgreSQL, the ``tessera`` CLI) are noticed through a *generation*: every write
  transaction also stores a fresh random value in the ``meta`` row
  ``cache_generation``; :meth:`ReadCache.validate` reads that one row (a primary-key
  lookup on a dedicated autocommit connection) and empties the memo when it
  changed. The server validates at the start of every request, so by default no
  request ever sees data older than the request itself. With
  ``check_interval > 0`` it validates at most that often instead (a bounded
  staleness, worth it only when the store is a remote PostgreSQL).

Only reads whose results are immutable records (or lists, handed out as copies)
are memoised, plus values derived from them alone (``SqlStore.memo``: a key's
principal, a user's or role's compiled policies, the caller's side of a policy
decision), which therefore go exactly when those reads go. Usage bookkeeping
(access key "last used") is written without changing the generation because
nothing memoised depends on it. The memo is bounded (oldest entries go first), so
memory stays flat however large the store.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Final, Protocol, TypeVar, cast

GENERATION_KEY: Final = "cache_generation"
DEFAULT_MAX_ENTRIES: Final = 20_000

_ABSENT: Final = object()

F = TypeVar("F", bound=Callable[..., Any])


class GenerationSource(Protocol):
    def read_generation(self) -> bytes | None:
        """The shared generation value, or ``None`` when it cannot be read."""
        ...


def new_generation() -> bytes:
    return os.urandom(12)


class ReadCache:
    """A bounded memo emptied on local writes and on a changed shared generation."""

    def __init__(
        self,
        source: GenerationSource,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        check_interval: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.max_entries = max(1, max_entries)
        self.check_interval = max(0.0, check_interval)
        self._monotonic = monotonic
        self._data: dict[tuple[Any, ...], Any] = {}
        self._generation: bytes | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def clear(self) -> None:
        """Forget everything (a write committed). Loads already under way store
        into the dictionary they started with, which is dropped here."""
        self._data = {}

    def validate(self) -> None:
        """Compare the shared generation with the one the memo was filled under
        (at most every ``check_interval`` seconds) and empty the memo if it moved
        or cannot be read."""
        now = self._monotonic()
        if self.check_interval and now - self._checked_at < self.check_interval:
            return
        with self._lock:
            if self.check_interval and now - self._checked_at < self.check_interval:
                return
            current = self.source.read_generation()
            if current is None or current != self._generation:
                self._data = {}
            self._generation = current
            self._checked_at = now

    def get_or_load(self, key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
        data = self._data
        value = data.get(key, _ABSENT)
        if value is not _ABSENT:
            self.hits += 1
            return value
        self.misses += 1
        value = load()
        if len(data) >= self.max_entries:
            try:
                del data[next(iter(data))]
            except (KeyError, RuntimeError, StopIteration):  # raced with another thread
                pass
        data[key] = value
        return value

    def __len__(self) -> int:
        return len(self._data)


class _HasCache(Protocol):
    _read_cache: ReadCache | None


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def cached(method: F) -> F:
    """Memoise a read-only store method while the store's read cache is enabled.
    Arguments form the key (lists become tuples); list results are stored as
    tuples and handed out as fresh lists so callers may modify them."""
    name = method.__name__

    @functools.wraps(method)
    def wrapper(self: _HasCache, *args: Any, **kwargs: Any) -> Any:
        cache = self._read_cache
        if cache is None:
            return method(self, *args, **kwargs)
        key = (name, *map(_freeze, args), *sorted((k, _freeze(v)) for k, v in kwargs.items()))

        def load() -> Any:
            result = method(self, *args, **kwargs)
            return ("list", tuple(result)) if isinstance(result, list) else ("one", result)

        kind, value = cache.get_or_load(key, load)
        return list(value) if kind == "list" else value

    return cast(F, wrapper)
