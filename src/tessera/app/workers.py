"""Several server worker processes behind one listening socket owned by the
supervisor, which accepts each connection and hands it (``SCM_RIGHTS``) to the
worker with the fewest open connections.

Why not let the kernel spread connections: uvicorn's ``--workers`` shares one
listening socket, and a worker that is awake when a burst of connections arrives
accepts all of them; per-worker ``SO_REUSEPORT`` sockets spread connections by a
hash of their addresses, so a client with a handful of keep-alive connections (an
SDK's pool, a load balancer, ``wrk -c4``) often lands 3:1 or 4:0 on two workers
and one core idles. Handing off at accept time costs one ``sendmsg``/``recvmsg``
per *connection* (never per request) and keeps the split even.

The supervisor restarts a worker that dies, gives up (exit status 1) when workers
keep dying within seconds of starting, and stops the workers on SIGINT/SIGTERM.
Each worker builds its app from the ``TESSERA_*`` environment the CLI exported and
runs uvicorn's server (lifespan, TLS handshakes, graceful shutdown) on the
connections it is handed. Where passing descriptors is unsupported the CLI falls
back to uvicorn's own supervisor."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import selectors
import signal
import socket
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("tessera.workers")

_QUICK_DEATH_SECONDS = 5.0
_MAX_QUICK_DEATHS = 5
_BACKLOG = 2048


def handoff_supported() -> bool:
    """Whether connections can be handed to workers (``SCM_RIGHTS``)."""
    return hasattr(socket, "send_fds") and hasattr(socket, "AF_UNIX")


def listening_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        sock.listen(_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def pick_worker(open_connections: Sequence[int], start: int) -> int:
    """The worker with the fewest open connections; ties go to the first one at or
    after ``start`` (the supervisor rotates it, so a burst alternates)."""
    count = len(open_connections)
    best = start % count
    for step in range(1, count):
        i = (start + step) % count
        if open_connections[i] < open_connections[best]:
            best = i
    return best


# ---------------------------------------------------------------------- worker side


class _CountingSet(set[Any]):
    """uvicorn's ``server_state.connections``, publishing to the supervisor how many
    connections this worker holds: the open ones plus those received but not yet
    open (a TLS handshake, or the loop not yet having run the adoption). Counting
    both in one number means a connection is never missing from the supervisor's
    view between the moment the worker receives it and the moment it opens."""

    def __init__(self, counts: Any, index: int) -> None:
        super().__init__()
        self._counts = counts
        self._index = index
        self.pending = 0

    def _publish(self) -> None:
        self._counts[2 * self._index] = len(self) + self.pending

    def received(self) -> None:
        """A connection arrived from the supervisor (published before ``adopted``)."""
        self.pending += 1
        self._publish()

    def dropped(self) -> None:
        """A received connection failed before it opened."""
        self.pending = max(0, self.pending - 1)
        self._publish()

    def add(self, item: Any) -> None:
        super().add(item)
        self.pending = max(0, self.pending - 1)
        self._publish()

    def discard(self, item: Any) -> None:
        super().discard(item)
        self._publish()


def _worker(
    channel: socket.socket, counts: Any, index: int, uvicorn_kwargs: dict[str, Any]
) -> None:
    import uvicorn

    class HandoffServer(uvicorn.Server):
        """uvicorn's server on the connections the supervisor hands over."""

        def __init__(self, config: uvicorn.Config) -> None:
            super().__init__(config)
            self.held = _CountingSet(counts, index)
            self.server_state.connections = self.held

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=[])
            channel.setblocking(False)
            asyncio.get_running_loop().add_reader(channel.fileno(), self._receive)

        def _receive(self) -> None:
            loop = asyncio.get_running_loop()
            try:
                message, fds, _flags, _address = socket.recv_fds(channel, 64, 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                message, fds = b"", []
            if not message and not fds:  # the supervisor is gone
                loop.remove_reader(channel.fileno())
                self.should_exit = True
                return
            for fd in fds:
                self.held.received()  # counted as held first, then as adopted
                counts[2 * index + 1] += 1  # adopted
                task = loop.create_task(self._adopt(socket.socket(fileno=fd)))
                self.server_state.tasks.add(task)
                task.add_done_callback(self.server_state.tasks.discard)

        async def _adopt(self, sock: socket.socket) -> None:
            config = self.config

            def protocol() -> asyncio.Protocol:
                return config.http_protocol_class(  # type: ignore[call-arg]
                    config=config,
                    server_state=self.server_state,
                    app_state=self.lifespan.state,
                )

            sock.setblocking(False)
            try:
                await asyncio.get_running_loop().connect_accepted_socket(
                    protocol, sock, ssl=config.ssl
                )
            except (TimeoutError, OSError, ValueError) as exc:  # e.g. a TLS handshake
                log.debug("connection dropped before it was served: %s", exc)
                self.held.dropped()
                sock.close()

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            try:
                asyncio.get_running_loop().remove_reader(channel.fileno())
            except (ValueError, OSError):
                pass
            channel.close()
            await super().shutdown(sockets=[])

    config = uvicorn.Config("tessera.app.bootstrap:app_from_env", factory=True, **uvicorn_kwargs)
    HandoffServer(config).run()


# ---------------------------------------------------------------------- supervisor


def serve_workers(
    host: str,
    port: int,
    workers: int,
    uvicorn_kwargs: dict[str, Any],
    *,
    listener: socket.socket | None = None,
) -> int:
    """Accept on ``host:port`` (or on ``listener``, already bound by the caller) and
    serve with ``workers`` processes until SIGINT/SIGTERM; the exit status.
    ``OSError`` if the address cannot be bound."""
    if listener is None:
        listener = listening_socket(host, port)
    listener.setblocking(False)
    ctx = multiprocessing.get_context("spawn")
    counts: Any = ctx.RawArray("q", 2 * workers)  # per worker: held (open + not yet open), adopted
    handed = [0] * workers
    channels: list[socket.socket] = []
    stopping = False
    rotate = 0  # where ties start, so a burst alternates between workers

    def start(i: int) -> BaseProcess:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours.setblocking(False)
        counts[2 * i] = counts[2 * i + 1] = 0
        handed[i] = 0
        proc = ctx.Process(target=_worker, args=(theirs, counts, i, uvicorn_kwargs), daemon=False)
        proc.start()
        theirs.close()
        if i < len(channels):
            channels[i].close()
            channels[i] = ours
        else:
            channels.append(ours)
        return proc

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    def dispatch() -> None:
        nonlocal rotate
        while True:
            try:
                conn, _address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. EMFILE: leave it in the backlog for now
                log.warning("accept failed: %s", exc)
                return
            try:
                if conn.family in (socket.AF_INET, socket.AF_INET6):
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                load = [
                    counts[2 * i] + max(0, handed[i] - counts[2 * i + 1]) for i in range(workers)
                ]
                rotate += 1
                first = pick_worker(load, rotate)
                for step in range(workers):
                    i = (first + step) % workers
                    try:
                        socket.send_fds(channels[i], [b"c"], [conn.fileno()])
                    except OSError:  # that worker is gone or not reading: try the next
                        continue
                    handed[i] += 1
                    break
                else:
                    log.warning("no worker could take a connection; closing it")
            finally:
                conn.close()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    procs = [start(i) for i in range(workers)]
    started = [time.monotonic()] * workers
    quick_deaths = 0
    status = 0
    try:
        next_check = time.monotonic() + 0.2
        while not stopping:
            if selector.select(timeout=max(0.0, next_check - time.monotonic())):
                dispatch()
            if time.monotonic() < next_check:
                continue
            next_check = time.monotonic() + 0.2
            for i, proc in enumerate(procs):
                if proc.is_alive() or stopping:
                    continue
                if time.monotonic() - started[i] < _QUICK_DEATH_SECONDS:
                    quick_deaths += 1
                if quick_deaths >= _MAX_QUICK_DEATHS:
                    log.error("workers keep exiting right after they start; giving up")
                    stopping = True
                    status = 1
                    break
                log.warning("worker %s exited with %s; starting another", proc.pid, proc.exitcode)
                procs[i] = start(i)
                started[i] = time.monotonic()
    finally:
        selector.close()
        listener.close()  # no new connections; the workers finish theirs
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        deadline = time.monotonic() + 15
        for proc in procs:
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
        for channel in channels:
            channel.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status
