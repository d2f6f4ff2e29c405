"""Several server worker processes, each with its own listening socket bound with
``SO_REUSEPORT`` (Linux, the BSDs, macOS), so the kernel spreads new connections
across the workers.

uvicorn's own ``--workers`` shares one listening socket; a worker that is awake
when a burst of connections arrives accepts all of them, and a keep-alive client
with a handful of connections (an SDK's pool, a load balancer, ``wrk``) then keeps
one worker busy while the others idle. Where ``SO_REUSEPORT`` is missing the CLI
falls back to uvicorn's supervisor.

The supervisor restarts a worker that dies, gives up (exit status 1) when workers
keep dying within seconds of starting, and stops the workers on SIGINT/SIGTERM.
Each worker builds its app from the ``TESSERA_*`` environment the CLI exported."""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("tessera.workers")

_QUICK_DEATH_SECONDS = 5.0
_MAX_QUICK_DEATHS = 5


def reuse_port_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def _listening_socket(host: str, port: int, *, listen: bool) -> socket.socket:
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        if listen:
            sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def _worker(host: str, port: int, uvicorn_kwargs: dict[str, Any]) -> None:
    import uvicorn

    sock = _listening_socket(host, port, listen=True)
    config = uvicorn.Config("tessera.app.bootstrap:app_from_env", factory=True, **uvicorn_kwargs)
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(host: str, port: int, workers: int, uvicorn_kwargs: dict[str, Any]) -> int:
    """Run ``workers`` processes until SIGINT/SIGTERM; the exit status."""
    # Fail early (and once) if the port is taken; a bound socket that never
    # listens receives no connections, so it is closed before the workers start.
    _listening_socket(host, port, listen=False).close()
    ctx = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> BaseProcess:
        proc = ctx.Process(target=_worker, args=(host, port, uvicorn_kwargs), daemon=False)
        proc.start()
        return proc

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    procs = [start() for _ in range(workers)]
    started = [time.monotonic()] * workers
    quick_deaths = 0
    status = 0
    try:
        while not stopping:
            time.sleep(0.2)
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
                procs[i] = start()
                started[i] = time.monotonic()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        deadline = time.monotonic() + 15
        for proc in procs:
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status
