"""The agent's in-memory role credentials and the background refresh that keeps
them fresh. Requests read from here and never wait for CreateSession (botocore
gives IMDS one second); only the refresh thread calls it (single flight).

Refresh rule, so that SDKs never see credentials inside their refresh windows
(botocore: advisory 15 min, mandatory 10 min, IMDS static-stability extension
below 17-25 min): credentials of lifetime ``L`` are replaced once fewer than
``max(L/2, 40 min)`` remain (``L/2`` when ``L`` is 40 min or less), so with a
session of an hour or more they are never served with less than 30 minutes left
unless refreshing has failed for ten minutes. On failure the old credentials keep
being served while at least ``MIN_SERVE_REMAINING`` (1 min) is left, and the
refresh is retried with exponential backoff (5 s doubling to 5 min, ±20 % jitter).
Nothing is written to disk.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from tessera.agent.client import RoleCredentials
from tessera.agent.errors import AgentError
from tessera.clock import Clock

__all__ = ["CredentialCache", "refresh_margin"]

log = logging.getLogger("tessera.agent")

REFRESH_MARGIN = timedelta(minutes=40)
MIN_SERVE_REMAINING = timedelta(minutes=1)
MIN_REFRESH_INTERVAL = timedelta(seconds=30)
BACKOFF_START = 5.0
BACKOFF_MAX = 300.0
#: the longest the refresh thread sleeps before it looks at the clock again
MAX_SLEEP = 60.0


def refresh_margin(lifetime: timedelta) -> timedelta:
    """How long before expiry credentials of this lifetime are replaced."""
    if lifetime <= REFRESH_MARGIN:
        return lifetime / 2
    return max(lifetime / 2, REFRESH_MARGIN)


class CredentialCache:
    """Holds the current credentials; ``run_once`` refreshes them when due."""

    def __init__(
        self,
        fetch: Callable[[], RoleCredentials],
        *,
        clock: Clock,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._jitter = jitter
        self._lock = threading.Lock()
        self._creds: RoleCredentials | None = None
        self._obtained: datetime | None = None
        self._due: datetime = clock.now()
        self._failures = 0
        self._last_error: str | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- reading ------------------------------------------------------------------

    def current(self) -> tuple[RoleCredentials, datetime] | None:
        """The credentials to serve and when they were obtained, or ``None`` when
        there are none with at least ``MIN_SERVE_REMAINING`` left."""
        with self._lock:
            creds, obtained = self._creds, self._obtained
        if creds is None or obtained is None:
            return None
        if creds.expiration - self._clock.now() < MIN_SERVE_REMAINING:
            return None
        return creds, obtained

    @property
    def next_refresh(self) -> datetime:
        with self._lock:
            return self._due

    @property
    def last_error(self) -> str | None:
        with self._lock:
            return self._last_error

    # --- refreshing ---------------------------------------------------------------

    def run_once(self) -> bool:
        """Refresh if due; returns whether a refresh was attempted."""
        now = self._clock.now()
        with self._lock:
            if now < self._due:
                return False
        try:
            creds = self._fetch()
        except AgentError as exc:
            self._failed(exc.reason)
            return True
        except Exception as exc:  # a bug must not stop the refresh loop
            self._failed(f"unexpected {type(exc).__name__}")
            return True
        now = self._clock.now()
        lifetime = creds.expiration - now
        due = now + max(lifetime - refresh_margin(lifetime), MIN_REFRESH_INTERVAL)
        with self._lock:
            self._creds, self._obtained, self._due = creds, now, due
            self._failures, self._last_error = 0, None
        log.info(
            "credentials for %s obtained (access key %s, expire %s, next refresh %s)",
            creds.role_arn,
            creds.access_key_id,
            f"{creds.expiration:%Y-%m-%dT%H:%M:%SZ}",
            f"{due:%Y-%m-%dT%H:%M:%SZ}",
        )
        return True

    def _failed(self, reason: str) -> None:
        with self._lock:
            self._failures += 1
            delay = min(BACKOFF_START * 2 ** (self._failures - 1), BACKOFF_MAX)
            delay *= 0.8 + 0.4 * self._jitter()
            self._due = self._clock.now() + timedelta(seconds=delay)
            self._last_error = reason
        log.warning("refreshing credentials failed (retry in %.0f s): %s", delay, reason)

    # --- the background thread ----------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._loop, name="tessera-agent-refresh", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            wait = (self.next_refresh - self._clock.now()).total_seconds()
            self._wake.wait(min(max(wait, 0.05), MAX_SLEEP))
            self._wake.clear()
