"""Injected time. Everything that reads the time takes a ``Clock`` so tests can use
a fixed or manually advanced clock instead of sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start if start is not None else datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now = self._now + timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        self._now = when


class OffsetClock:
    """System time shifted by a fixed offset (used by the server's test hook)."""

    def __init__(self, offset_seconds: float) -> None:
        self.offset = offset_seconds

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self.offset, UTC)


def iso8601(when: datetime) -> str:
    """AWS wire form: ``2026-04-21T07:37:10Z`` (UTC, seconds)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
