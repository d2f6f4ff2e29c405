"""Background refresh timing, driven by an injected clock (no sleeping)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from tessera.agent.cache import CredentialCache, refresh_margin
from tessera.agent.client import RoleCredentials
from tessera.agent.errors import AgentError
from tessera.clock import FixedClock
from tessera.sensitive import Secret

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Upstream:
    def __init__(self, clock: FixedClock, lifetime: timedelta) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls = 0
        self.failing = False

    def __call__(self) -> RoleCredentials:
        self.calls += 1
        if self.failing:
            raise AgentError("CreateSession failed: HTTP 503")
        return RoleCredentials(
            f"ASIA{self.calls:04d}",
            Secret("s"),
            Secret("t"),
            self.clock.now() + self.lifetime,
            "arn:aws:iam::123456789012:role/r",
        )


def _cache(lifetime: timedelta) -> tuple[FixedClock, Upstream, CredentialCache]:
    clock = FixedClock(START)
    upstream = Upstream(clock, lifetime)
    return clock, upstream, CredentialCache(upstream, clock=clock, jitter=lambda: 0.5)


def test_margin_rule() -> None:
    assert refresh_margin(timedelta(hours=1)) == timedelta(minutes=40)
    assert refresh_margin(timedelta(hours=12)) == timedelta(hours=6)
    assert refresh_margin(timedelta(minutes=15)) == timedelta(minutes=7, seconds=30)


@pytest.mark.parametrize("hours", [1, 6, 12])
def test_served_credentials_always_have_30_minutes_left(hours: int) -> None:
    clock, upstream, cache = _cache(timedelta(hours=hours))
    assert cache.current() is None
    for _ in range(int(hours * 3600 * 3 / 60)):  # three lifetimes, minute by minute
        cache.run_once()
        served = cache.current()
        assert served is not None
        assert served[0].expiration - clock.now() >= timedelta(minutes=30)
        clock.advance(60)
    assert upstream.calls >= 3


def test_an_hour_session_is_refreshed_after_20_minutes() -> None:
    clock, upstream, cache = _cache(timedelta(hours=1))
    assert cache.run_once()
    assert cache.next_refresh == START + timedelta(minutes=20)
    clock.advance(19 * 60)
    assert not cache.run_once()
    clock.advance(60)
    assert cache.run_once()
    assert upstream.calls == 2
    served = cache.current()
    assert served is not None and served[0].access_key_id == "ASIA0002"
    assert served[1] == START + timedelta(minutes=20)


def test_failure_keeps_old_credentials_and_backs_off() -> None:
    clock, upstream, cache = _cache(timedelta(hours=1))
    cache.run_once()
    upstream.failing = True
    clock.advance(20 * 60)
    assert cache.run_once()
    assert cache.last_error == "CreateSession failed: HTTP 503"
    served = cache.current()
    assert served is not None and served[0].access_key_id == "ASIA0001"
    delays = []
    for _ in range(8):
        before = clock.now()
        clock.set(cache.next_refresh)
        delays.append((cache.next_refresh - before).total_seconds())
        assert cache.run_once()
    first = cache.next_refresh
    assert delays[:4] == [5.0, 10.0, 20.0, 40.0]  # jitter 0.5 -> factor 1.0
    assert max(delays) <= 300
    # the old credentials are served until one minute before they expire
    clock.set(START + timedelta(minutes=58, seconds=59))
    assert cache.current() is not None
    clock.set(START + timedelta(minutes=59, seconds=1))
    assert cache.current() is None
    upstream.failing = False
    clock.set(max(first, clock.now()))
    cache.run_once()
    assert cache.last_error is None
    served = cache.current()
    assert served is not None and served[0].expiration - clock.now() == timedelta(hours=1)


def test_unexpected_exception_does_not_stop_refreshing() -> None:
    clock = FixedClock(START)

    def broken() -> RoleCredentials:
        raise RuntimeError("secret-ish detail")

    cache = CredentialCache(broken, clock=clock, jitter=lambda: 0.5)
    assert cache.run_once()
    assert cache.last_error == "unexpected RuntimeError"


def test_background_thread_fetches_and_stops() -> None:
    clock = FixedClock(START)
    upstream = Upstream(clock, timedelta(hours=1))
    fetched = threading.Event()

    def fetch() -> RoleCredentials:
        creds = upstream()
        fetched.set()
        return creds

    cache = CredentialCache(fetch, clock=clock)
    cache.start()
    assert fetched.wait(10)
    cache.stop()
    assert cache._thread is not None and not cache._thread.is_alive()
    assert cache.current() is not None
