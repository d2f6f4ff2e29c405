"""The agent's loopback HTTP server: the transport both local endpoints (IMDS and
container credentials) share, and the checks that belong to the transport.

Why the standard library's ``http.server`` in a thread and not uvicorn/httptools
(the server's stack): the agent answers a handful of tiny requests per minute from
local SDKs, needs no ASGI app, and runs beside a refresh thread anyway; a
``ThreadingHTTPServer`` gives direct access to the raw headers (``Host``,
``X-Forwarded-For``) and keeps the agent free of the server's import chain (the
``no-uvicorn-below-app`` contract). Its weaknesses are bounded here: at most
``MAX_CONNECTIONS`` connections are served at once (more are closed), each
connection times out after ``IDLE_TIMEOUT`` seconds of silence, a request head
may not exceed ``MAX_HEAD_BYTES`` (431) and no request may carry a body (400).

Checks owned here, before an endpoint sees a request:

* the listener binds 127.0.0.1 only (there is no option to change it);
* ``Host`` must be exactly ``127.0.0.1:<port>`` or ``localhost:<port>`` (the
  port may be left out only when it is 80), else 403: a web page that rebinds
  its DNS name to 127.0.0.1 cannot read the answers;
* no CORS headers are ever sent, and ``OPTIONS`` is answered 405 by the endpoints;
* the IP TTL of accepted sockets is set to the hop limit (EC2's
  ``HttpPutResponseHopLimit``; meaningful only if packets ever leave loopback).
"""

from __future__ import annotations

import http.server
import io
import logging
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Endpoint", "LoopbackServer", "Response", "header_map"]

log = logging.getLogger("tessera.agent")

BIND_ADDRESS = "127.0.0.1"
MAX_CONNECTIONS = 32
IDLE_TIMEOUT = 5.0
MAX_HEAD_BYTES = 8 * 1024


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain"
    headers: tuple[tuple[str, str], ...] = ()


class Endpoint(Protocol):
    def handle(self, method: str, path: str, headers: Mapping[str, list[str]]) -> Response:
        """Answer one request; ``headers`` maps lower-cased names to their values."""
        ...


def header_map(items: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in items:
        out.setdefault(name.lower(), []).append(value)
    return out


def text(status: int, body: str) -> Response:
    return Response(status, body.encode())


class _HeadLimitedReader:
    """``rfile`` wrapper: at most ``limit`` bytes per request head."""

    def __init__(self, raw: io.BufferedIOBase, limit: int) -> None:
        self._raw = raw
        self._limit = limit
        self.remaining = limit
        self.exceeded = False

    def reset(self) -> None:
        self.remaining = self._limit
        self.exceeded = False

    def readline(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            self.exceeded = True
            return b"\r\n"  # ends the head; the handler answers 431
        want = self.remaining if size < 0 else min(size, self.remaining)
        line = self._raw.readline(want)
        self.remaining -= len(line)
        if self.remaining <= 0 and not line.endswith(b"\n"):
            self.exceeded = True
            return b"\r\n"
        return line

    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size)

    def close(self) -> None:
        self._raw.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: LoopbackServer
    protocol_version = "HTTP/1.1"
    server_version = "tessera-agent"
    sys_version = ""
    timeout = IDLE_TIMEOUT

    def setup(self) -> None:
        super().setup()
        self._limited = _HeadLimitedReader(self.rfile, MAX_HEAD_BYTES)
        self.rfile = self._limited  # type: ignore[assignment]

    def handle_one_request(self) -> None:
        self._limited.reset()
        super().handle_one_request()

    def log_message(self, format: str, *args: Any) -> None:
        # request lines hold no secrets (tokens travel in headers); debug level only
        log.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self) -> None:
        if self._limited.exceeded:
            self._reply(text(431, "Request header fields too large"), close=True)
            return
        items = list(self.headers.items())
        headers = header_map(items)
        hosts = headers.get("host", [])
        if len(hosts) != 1 or hosts[0].lower() not in self.server.allowed_hosts:
            self._reply(text(403, "Forbidden"), close=True)
            return
        if headers.get("transfer-encoding") or any(
            v.strip() not in ("", "0") for v in headers.get("content-length", [])
        ):
            self._reply(text(400, "Bad Request"), close=True)
            return
        path = self.path
        if not path.startswith("/"):  # absolute-form targets are for proxies
            self._reply(text(400, "Bad Request"), close=True)
            return
        try:
            response = self.server.endpoint.handle(self.command, path, headers)
        except Exception:  # never let a bug leak a traceback to the client
            log.exception("agent endpoint failed")
            response = text(500, "Internal Server Error")
        self._reply(response)

    def _reply(self, response: Response, *, close: bool = False) -> None:
        if close:
            self.close_connection = True
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in response.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _dispatch


class LoopbackServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server on 127.0.0.1 that hands requests to ``endpoint``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, endpoint: Endpoint, port: int, *, hop_limit: int = 1) -> None:
        self.endpoint = endpoint
        self.hop_limit = hop_limit
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__((BIND_ADDRESS, port), _Handler)
        bound = self.server_address[1]
        self.port = int(bound)
        names = [f"127.0.0.1:{self.port}", f"localhost:{self.port}"]
        if self.port == 80:
            names += ["127.0.0.1", "localhost"]
        self.allowed_hosts = frozenset(names)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            request.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, self.hop_limit)
        except OSError:  # pragma: no cover - platform without IP_TTL
            pass
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def start(self) -> threading.Thread:
        thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        thread.start()
        return thread

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
