"""BusyPoller: polls after a response only while clients send their next request
within the window, stops when a request arrives or the window ends, never with a
window of 0 (fake clock and loop: no timing in the assertions)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from tessera.app.busypoll import BusyPoller


class FakeLoop:
    def __init__(self) -> None:
        self.ready: list[Callable[[], None]] = []

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.ready.append(callback)

    def run_one(self) -> bool:
        if not self.ready:
            return False
        self.ready.pop(0)()
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 1024.0

    def __call__(self) -> float:
        return self.now


# binary fractions, so that the fake clock's sums are exact
WINDOW = 2.0**-13  # ≈ 122 µs
TURN = 2.0**-15  # ≈ 30.5 µs
SHORT = 2.0**-16


def _poller(window: float = WINDOW) -> tuple[BusyPoller, FakeLoop, Clock, list[int]]:
    loop, clock, yields = FakeLoop(), Clock(), [0]

    def yield_cpu() -> None:
        yields[0] += 1
        clock.now += TURN

    poller = BusyPoller(
        cast(asyncio.AbstractEventLoop, loop), window, clock=clock, yield_cpu=yield_cpu
    )
    return poller, loop, clock, yields


def _exchange(poller: BusyPoller, clock: Clock, gap: float) -> None:
    """A request ``gap`` seconds after the last response, answered at once."""
    clock.now += gap
    poller.request_arrived()
    poller.responded()


def test_no_polling_before_a_gap_is_known() -> None:
    poller, loop, _clock, yields = _poller()
    poller.request_arrived()
    poller.responded()
    assert not poller.polling and loop.ready == [] and yields == [0]


def test_short_gap_polls_until_the_window_ends() -> None:
    poller, loop, clock, yields = _poller()
    poller.responded()
    _exchange(poller, clock, SHORT)
    assert poller.worthwhile and poller.polling
    while loop.run_one():
        pass
    # a window of four turns: four turns, then the loop may sleep
    assert yields == [4] and poller.turns == 4
    assert not poller.polling


def test_a_request_during_polling_ends_the_turns_and_the_next_response_rearms() -> None:
    poller, loop, clock, yields = _poller()
    poller.responded()
    _exchange(poller, clock, SHORT)
    loop.run_one()
    loop.run_one()
    assert yields == [2]
    poller.request_arrived()  # two turns later: caught by polling
    assert poller.worthwhile
    loop.run_one()  # the pending turn sees the request and stops
    assert not poller.polling and loop.ready == []
    poller.responded()
    assert poller.polling and len(loop.ready) == 1


def test_long_gap_stops_polling_and_a_short_one_resumes_it() -> None:
    poller, loop, clock, _yields = _poller()
    poller.responded()
    _exchange(poller, clock, 700e-6)  # a client that thinks (boto3: ~0.7 ms)
    assert not poller.worthwhile and not poller.polling and loop.ready == []
    _exchange(poller, clock, 700e-6)
    assert loop.ready == []
    _exchange(poller, clock, SHORT)
    assert poller.polling


def test_window_zero_never_polls() -> None:
    poller, loop, clock, yields = _poller(window=0.0)
    poller.responded()
    for _ in range(5):
        _exchange(poller, clock, 0.0)
    assert not poller.polling and loop.ready == [] and yields == [0]


def test_negative_window_is_off() -> None:
    poller, _loop, _clock, _yields = _poller(window=-1.0)
    assert poller.window == 0.0
