"""Per-principal (and optionally per-source-address) token buckets for
``--rate-limit RPS[:BURST]``.

Sharing across workers: **a per-worker share of the budget.** A server with N
worker processes gives each worker a bucket of ``RPS/N`` tokens per second and
``max(1, BURST/N)`` capacity per key, so the whole server never admits more than
the configured rate for one key, with no cross-process lock on the request path.
The cost: a client whose requests all land on one worker (one keep-alive
connection) is held to ``RPS/N``; SDK clients keep a pool of connections that the
supervisor spreads evenly (least connections), so in practice a busy principal
gets close to the full rate. Over the limit the pipeline answers ``Throttling``
(400, "Rate exceeded"), which every AWS SDK retries with back-off.

Memory is bounded: at most ``max_keys`` buckets, the least recently used evicted
(an evicted key starts again with a full bucket)."""

from __future__ import annotations

import argparse
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class RateLimit:
    rate: float  # tokens per second
    burst: float  # bucket capacity

    @classmethod
    def parse(cls, raw: str) -> RateLimit:
        """``RPS`` or ``RPS:BURST`` (BURST defaults to RPS, at least 1)."""
        rate_text, _, burst_text = raw.partition(":")
        try:
            rate = float(rate_text)
            burst = float(burst_text) if burst_text else max(1.0, rate)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not RPS[:BURST]: {raw!r}") from None
        if not (0 < rate < float("inf")) or not (1 <= burst < float("inf")):
            raise argparse.ArgumentTypeError(f"RPS must be > 0 and BURST at least 1: {raw!r}")
        return cls(rate, burst)

    def share(self, workers: int) -> RateLimit:
        """This worker's share when ``workers`` processes serve together."""
        n = max(1, workers)
        return RateLimit(self.rate / n, max(1.0, self.burst / n))

    def __str__(self) -> str:
        return f"{self.rate:g}:{self.burst:g}"


class TokenBuckets:
    """Thread-safe token buckets by key."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        """Take one token for ``key``; False when its bucket is empty."""
        now = self._clock()
        rate, burst = self.limit.rate, self.limit.burst
        with self._lock:
            state = self._buckets.get(key)
            if state is None:
                tokens = burst
                if len(self._buckets) >= self._max_keys:
                    self._buckets.popitem(last=False)
            else:
                tokens, last = state
                tokens = min(burst, tokens + (now - last) * rate)
                self._buckets.move_to_end(key)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1.0, now)
            return True

    def __len__(self) -> int:
        return len(self._buckets)
