"""Adaptive busy polling between requests, the idea of KVM's halt polling.

When a worker has answered everything it holds, its event loop sleeps in
``epoll_wait`` until the next request. On a virtual machine that sleep is costly:
the vCPU halts, and waking it for the next request takes an inter-processor
interrupt and a trip through the hypervisor — on the development VM about as long
as answering a GetCallerIdentity. A client that sends its next request at once
(a tight loop, a load generator, a pipeline of SDK calls from a fast language)
pays that wake-up on every request.

So after a response the loop keeps polling for up to ``window`` seconds (each
turn is a non-blocking ``epoll_wait`` and a ``sched_yield``, so another runnable
process on this core — the client itself, another worker — gets the CPU first)
before it goes to sleep. Whether to poll adapts to what the clients do: the
poller remembers the gap between the last response and the request that
followed it, and polls only while that gap was short enough to be caught. A
client that thinks for longer between requests (a boto3 call costs ~0.7 ms of
client CPU) makes every gap long, and the worker then sleeps at once as it
always did, so polling costs nothing there. The most a wrong guess costs is one
window of CPU. A fully loaded worker polls only in the brief moments it runs dry;
on two cores shared with the load generator that cost 1–3 % of throughput
(bench/README.md).

``tessera serve --busy-poll-us 0`` turns it off.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable


class BusyPoller:
    """One per event loop (worker process). The HTTP protocol calls
    ``request_arrived`` when a request's bytes come in and ``responded`` after it
    writes a response."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        window_seconds: float,
        *,
        clock: Callable[[], float] = time.perf_counter,
        yield_cpu: Callable[[], None] = os.sched_yield,
    ) -> None:
        self.loop = loop
        self.window = max(0.0, window_seconds)
        self._clock = clock
        self._yield = yield_cpu
        self._last_response: float | None = None
        self._until = 0.0
        self._polling = False
        #: whether the last gap (response → next request) fitted in the window
        self.worthwhile = False
        #: polling turns taken, and times polling began (for tests and diagnostics)
        self.turns = 0
        self.started = 0

    @property
    def polling(self) -> bool:
        return self._polling

    def request_arrived(self) -> None:
        last = self._last_response
        if last is not None:
            self.worthwhile = self._clock() - last <= self.window
            self._last_response = None

    def responded(self) -> None:
        if self.window <= 0.0:
            return
        now = self._clock()
        self._last_response = now
        if not self.worthwhile:
            return
        self._until = now + self.window
        if not self._polling:
            self._polling = True
            self.started += 1
            self.loop.call_soon(self._turn)

    def _turn(self) -> None:
        # Scheduled with call_soon, so the loop polls its sockets without
        # blocking before running this again.
        if self._last_response is None or self._clock() >= self._until:
            # a request came in (its response re-arms polling) or the window is over
            self._polling = False
            return
        self.turns += 1
        self._yield()
        self.loop.call_soon(self._turn)
