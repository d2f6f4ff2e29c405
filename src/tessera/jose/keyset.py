"""Per-issuer key-set cache with a refresh cooldown and single-flight refreshes.

``KeySetCache.keys_for(issuer, alg, kid)`` answers from the cache when it can. A
refresh (the injected ``fetch(issuer)``, e.g. ``DocumentFetcher.fetch_keys``) runs
when the keys are older than ``cache_ttl``, or when no cached key matches the
token and the last attempt is at least ``refresh_cooldown`` old (so a stream of
tokens with random ``kid`` values cannot make us hammer the issuer). A failed
refresh is remembered for ``failure_ttl``; while it is, callers get it again (or
the stale keys, if they match) without a new fetch. Stale keys that match are
used when a refresh fails.

**Isolation** (a slow issuer cannot starve other callers). Fetches never run in
the caller's thread: each issuer has at most one refresh in flight (single-flight),
run by a small thread pool owned by the cache (``fetch_workers``; more concurrent
refreshes are refused at once with ``Busy``). A caller that needs a refresh waits
on that one future, at most ``fetch_deadline`` (+1 s); at most ``max_waiters``
callers wait at any time, beyond that they get ``Busy`` at once instead of
queueing. A cache hit never waits.

Time comes from the injected ``monotonic`` (tests advance a fake clock).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Final

from tessera.jose.errors import Busy, JoseError, UnknownKid, Unreachable
from tessera.jose.jwk import PublicJwk, candidates

__all__ = [
    "DEFAULT_CACHE_TTL",
    "DEFAULT_FAILURE_TTL",
    "DEFAULT_REFRESH_COOLDOWN",
    "FETCH_WORKERS",
    "MAX_CACHED_ISSUERS",
    "MAX_WAITERS",
    "KeySetCache",
]

log = logging.getLogger("tessera.jose.keyset")

DEFAULT_CACHE_TTL: Final = 600.0
DEFAULT_REFRESH_COOLDOWN: Final = 30.0
DEFAULT_FAILURE_TTL: Final = 5.0
FETCH_WORKERS: Final = 8
MAX_WAITERS: Final = 16
MAX_CACHED_ISSUERS: Final = 1024

Keys = tuple[PublicJwk, ...]


def _again(exc: JoseError) -> JoseError:
    """A fresh instance of a shared failure (one per waiting thread, so tracebacks
    of different callers never pile onto one object)."""
    try:
        return type(exc)(*exc.args)
    except TypeError:  # pragma: no cover - every fetch error takes its message
        return Unreachable(str(exc))


@dataclass(slots=True)
class _IssuerState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    keys: Keys | None = None
    fetched_at: float = 0.0
    last_attempt: float | None = None
    failure: JoseError | None = None
    failed_at: float = 0.0
    job: Future[Keys] | None = None  # the refresh in flight


class KeySetCache:
    """Thread-safe. ``close()`` stops the fetch pool."""

    def __init__(
        self,
        fetch: Callable[[str], Keys],
        *,
        cache_ttl: float = DEFAULT_CACHE_TTL,
        refresh_cooldown: float = DEFAULT_REFRESH_COOLDOWN,
        failure_ttl: float = DEFAULT_FAILURE_TTL,
        fetch_deadline: float = 10.0,
        fetch_workers: int = FETCH_WORKERS,
        max_waiters: int = MAX_WAITERS,
        max_issuers: int = MAX_CACHED_ISSUERS,
        monotonic: Callable[[], float] = time.monotonic,
        thread_name: str = "tessera-jwks-fetch",
    ) -> None:
        self._fetch = fetch
        self.cache_ttl = cache_ttl
        self.refresh_cooldown = refresh_cooldown
        self.failure_ttl = failure_ttl
        self.fetch_deadline = fetch_deadline
        self.fetch_workers = fetch_workers
        self.max_waiters = max_waiters
        self.max_issuers = max_issuers
        self._monotonic = monotonic
        self._thread_name = thread_name
        self._lock = threading.Lock()
        self._issuers: dict[str, _IssuerState] = {}
        self._waiters = threading.BoundedSemaphore(max_waiters)
        self._jobs = 0  # refreshes submitted and not finished (under _lock)
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    def close(self) -> None:
        with self._lock:
            executor, self._executor, self._closed = self._executor, None, True
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    # --- the fetch pool -------------------------------------------------------------

    def _start_refresh(self, issuer: str, state: _IssuerState) -> Future[Keys]:
        """Submit the one refresh of ``issuer`` (caller holds ``state.lock``)."""
        with self._lock:
            if self._closed:
                raise Unreachable("the key-set cache is closed")
            if self._jobs >= self.fetch_workers:
                raise Busy(f"{self._jobs} key fetches in flight; not fetching {issuer}")
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.fetch_workers, thread_name_prefix=self._thread_name
                )
            self._jobs += 1
            try:
                job = self._executor.submit(self._refresh, issuer, state)
            except RuntimeError as exc:  # pragma: no cover - shut down concurrently
                self._jobs -= 1
                raise Unreachable("the key-set cache is closed") from exc
        state.job = job
        return job

    def _refresh(self, issuer: str, state: _IssuerState) -> Keys:
        """One refresh, in a fetch-pool thread: fetch, then publish the outcome."""
        failure: JoseError | None = None
        keys: Keys = ()
        try:
            keys = self._fetch(issuer)
        except JoseError as exc:
            failure = exc
        except Exception as exc:  # never let a bug leave waiters hanging
            log.exception("fetching keys of %s failed unexpectedly", issuer)
            failure = Unreachable(f"unexpected {type(exc).__name__}")
        with state.lock:
            state.job = None
            if failure is None:
                state.keys, state.fetched_at, state.failure = keys, self._monotonic(), None
            else:
                state.failure, state.failed_at = failure, self._monotonic()
        with self._lock:
            self._jobs -= 1
        if failure is not None:
            log.warning("fetching keys of %s failed: %s", issuer, failure)
            raise failure
        return keys

    # --- the cache ------------------------------------------------------------------

    def _state(self, issuer: str) -> _IssuerState:
        with self._lock:
            state = self._issuers.get(issuer)
            if state is None:
                if len(self._issuers) >= self.max_issuers:
                    self._issuers.pop(next(iter(self._issuers)))
                state = _IssuerState()
                self._issuers[issuer] = state
            return state

    def refresh(self, issuer: str) -> Keys:
        """Fetch ``issuer``'s keys now (joining a refresh in flight)."""
        state = self._state(issuer)
        with state.lock:
            job = state.job
            if job is None:
                state.last_attempt = self._monotonic()
                job = self._start_refresh(issuer, state)
        return self._wait(issuer, job, found=[])

    def _wait(self, issuer: str, job: Future[Keys], found: list[PublicJwk]) -> Keys:
        try:
            return job.result(timeout=self.fetch_deadline + 1.0)
        except FutureTimeout as exc:
            if found:
                return tuple(found)
            raise Unreachable(f"keys of {issuer}: no answer in time") from exc
        except JoseError as exc:
            if found:
                return tuple(found)
            raise _again(exc) from exc
        except CancelledError as exc:
            raise Unreachable("the key-set cache is closed") from exc

    def keys_for(self, issuer: str, alg: str | None, kid: str | None) -> list[PublicJwk]:
        """The cached (or freshly fetched) keys of ``issuer`` that could verify a
        token with ``alg`` and ``kid`` (``alg=None``: the keys named ``kid``, whatever
        they verify). Raises ``Unreachable`` (``Busy`` when too
        many callers already wait) / ``DocumentError`` / ``UnknownKid``."""
        state = self._state(issuer)
        with state.lock:
            now = self._monotonic()
            fresh = state.keys is not None and now - state.fetched_at < self.cache_ttl
            found = candidates(state.keys, alg, kid) if state.keys is not None else []
            if fresh and found:
                return found
            job = state.job
            if job is None:
                if state.failure is not None and now - state.failed_at < self.failure_ttl:
                    if found:
                        return found
                    raise _again(state.failure)
                cooling = state.last_attempt is not None and (
                    now - state.last_attempt < self.refresh_cooldown
                )
                if fresh and cooling:  # unknown kid, refreshed a moment ago
                    raise UnknownKid(f"no key for kid {kid!r} at {issuer}")
            if not self._waiters.acquire(blocking=False):
                if found:
                    return found
                raise Busy(f"{self.max_waiters} callers already wait on key fetches; not {issuer}")
            if job is None:
                try:
                    state.last_attempt = now
                    job = self._start_refresh(issuer, state)
                except JoseError:
                    self._waiters.release()
                    if found:
                        return found
                    raise
        try:
            keys = self._wait(issuer, job, found)
        finally:
            self._waiters.release()
        found = candidates(keys, alg, kid)
        if not found:
            raise UnknownKid(f"no key for kid {kid!r} at {issuer}")
        return found
