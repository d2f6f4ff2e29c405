"""The supervisor's choice of worker for a new connection, and what each worker
reports it holds."""

from __future__ import annotations

from tessera.app.workers import pick_worker


def test_fewest_open_connections_wins() -> None:
    assert pick_worker([3, 1, 2], 0) == 1
    assert pick_worker([0, 5], 7) == 0


def test_ties_rotate_so_a_burst_alternates() -> None:
    loads = [0, 0]
    chosen = []
    for start in range(1, 5):
        i = pick_worker(loads, start)
        chosen.append(i)
        loads[i] += 1
    assert sorted(chosen) == [0, 0, 1, 1] and loads == [2, 2]
    assert [pick_worker([1, 1, 1], s) for s in range(3)] == [0, 1, 2]


def test_a_received_connection_counts_until_it_opens_or_drops() -> None:
    from tessera.app.workers import _CountingSet

    counts = [0, 0]  # held, adopted — as in the supervisor's shared array
    held = _CountingSet(counts, 0)
    held.received()  # the fd arrived; the connection is not open yet
    assert counts[0] == 1
    conn = object()
    held.add(conn)  # it opened: still one, not two and never zero in between
    assert counts[0] == 1 and held.pending == 0
    held.received()
    held.dropped()  # e.g. a failed TLS handshake
    assert counts[0] == 1
    held.discard(conn)
    assert counts[0] == 0
