"""Tessera's HTTP/1.1 server protocol: uvicorn runs the server (sockets, TLS,
signals, graceful shutdown, lifespan, ``--workers``); this protocol class parses
requests with httptools and answers them straight from ``TesseraApp``.

Why not uvicorn's own protocol: an ASGI request costs a task, a scope dict,
``receive``/``send`` coroutines and two socket writes (status line and headers,
then the body); a signed STS call answered on the event loop costs less than
that. Here a request that ``TesseraApp.answer_now`` answers is parsed, answered
and written with one ``transport.write`` inside ``data_received``; the rest go to a
worker thread in a per-connection task.

Behaviour kept from uvicorn's httptools protocol: keep-alive (HTTP/1.1 default,
``Connection: close``, HTTP/1.0 closes), pipelined requests answered in order,
``Expect: 100-continue``, HEAD (headers with the body's length, no body), the
``Date`` header, ``400`` and close on a malformed request, the keep-alive timeout
(``--timeout-keep-alive``, 5 s), graceful shutdown (idle connections close at
once, busy ones after their response with ``Connection: close``; a request
partly received when the shutdown begins is still read and answered, then the
connection closes; uvicorn waits for the tasks), read paused
while the client is not reading responses. Added: a body over
``MAX_BODY_BYTES`` (by ``Content-Length`` or as it arrives) is answered ``413``
without reading it all, then the connection closes after the rest of the message
(up to ``_DRAIN_LIMIT`` more bytes) so the client sees the answer rather than a
reset. WebSocket and other upgrades are not supported: the request is answered as
plain HTTP and the connection closed.

**Answers written a loop turn at a time (group commit).** A request answered on
the event loop leaves its audit event pending
(``TesseraApp.answer_now(…, defer_audit=True)``) and its answer waits in the
loop's ``AnswerBatch``: at the next turn the batch spools every pending event
(``record_pending``, back to back: see ``tessera.app.observe``), then writes each
waiting answer. No answer leaves before its event is spooled. Answering every
request that arrived in one turn before writing any answer is cheaper with or
without an audit trail (measured with it off: 30 % more GetCallerIdentity answers
per second at c = 16, 105 instead of 129 µs of server CPU each, each epoll wakeup
finding more requests ready; bench/README.md, "Fifth pass"), so it is how every
answer computed on the loop is written. While its answer waits, a connection is busy:
requests pipelined behind it queue and are answered in order after it.

Request heads are bounded (``ServerConfig``: ``--max-header-bytes``,
``--max-header-line-bytes``, ``--header-timeout``). httptools holds a header line
until it is complete and reports it only then, so the bytes of a head are counted
two ways, both lower bounds of its true size and both O(1) per callback or chunk:
the URL pieces and completed header lines exactly as the callbacks report them,
and every whole chunk that arrives while a head begun in an earlier chunk is still
incomplete. A head whose URL is over the total is answered ``414``, one over the
total or with a line over the line limit ``431``; then the connection closes
without reading the rest, so a head never holds more than the limit plus two
reads. A head must be complete within the header timeout from its first byte (the
first request's from the connection's opening): otherwise the connection closes
(with a ``408`` if part of a request arrived). Idle keep-alive connections keep
the keep-alive timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import weakref
from collections import deque
from typing import Any, Final, cast

import anyio.to_thread
import httptools

from tessera.app.asgi import TesseraApp
from tessera.app.pipeline import MAX_BODY_BYTES, Request, Response
from tessera.netaddr import ClientView

log = logging.getLogger("tessera.http")

#: After a 413, bytes of the rest of the message read and dropped before closing.
_DRAIN_LIMIT: Final = 16 * MAX_BODY_BYTES
#: Queued pipelined requests at which the connection stops reading.
_MAX_QUEUED: Final = 16


def _status_line(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")


_STATUS_LINES: Final = {code: _status_line(code) for code in range(100, 600)}
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_BAD_REQUEST: Final = b"Invalid HTTP request received."
#: Bytes a header line has beyond its name and value (``": "`` and CRLF).
_LINE_OVERHEAD: Final = 4


class AnswerBatch:
    """One per app and event loop: the connections whose answers wait for their
    audit events (module docstring). ``add`` schedules one ``run`` per loop turn."""

    def __init__(self, app: TesseraApp, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop
        self.waiting: list[TesseraHttpProtocol] = []

    def add(self, protocol: TesseraHttpProtocol) -> None:
        if not self.waiting:
            self.loop.call_soon(self.run)
        self.waiting.append(protocol)

    def run(self) -> None:
        waiting, self.waiting = self.waiting, []
        self.app.record_pending()  # (a failure is logged per event, never raised)
        for protocol in waiting:
            try:
                protocol.finish_deferred()
            except Exception:
                log.exception("internal failure writing an answer")


_BATCHES: weakref.WeakKeyDictionary[TesseraApp, AnswerBatch] = weakref.WeakKeyDictionary()


def answer_batch(app: TesseraApp, loop: asyncio.AbstractEventLoop) -> AnswerBatch:
    """The loop's ``AnswerBatch`` for ``app``."""
    batch = _BATCHES.get(app)
    if batch is None or batch.loop is not loop:
        batch = _BATCHES[app] = AnswerBatch(app, loop)
    return batch


class _HeadRefused(Exception):
    """Raised from a parser callback to stop parsing a refused request head."""


def find_app(app: object) -> TesseraApp:
    """The ``TesseraApp`` under uvicorn's middleware (``.app`` chain)."""
    seen = 0
    while not isinstance(app, TesseraApp):
        inner = getattr(app, "app", None)
        if inner is None or seen > 10:
            raise TypeError("TesseraHttpProtocol serves a TesseraApp only")
        app, seen = inner, seen + 1
    return app


class TesseraHttpProtocol(asyncio.Protocol):
    """One client connection. Constructed by uvicorn's server like its own
    protocols: ``(config, server_state, app_state, _loop)``."""

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any] | None = None,
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.app = find_app(config.loaded_app)
        self.loop = _loop or asyncio.get_event_loop()
        self.poller = self.app.busy_poller(self.loop)
        self.batch = answer_batch(self.app, self.loop)
        self.server_state = server_state
        self.connections: set[Any] = server_state.connections
        self.tasks: set[asyncio.Task[None]] = server_state.tasks
        self.timeout_keep_alive: float = float(config.timeout_keep_alive)
        limits = self.app.runtime.config
        self.max_head = limits.max_header_bytes
        self.max_line = min(limits.max_header_line_bytes, self.max_head)
        self.header_timeout = limits.header_timeout_seconds
        self.parser = httptools.HttpRequestParser(self)
        with contextlib.suppress(AttributeError):  # httptools < 0.6.3
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)

        self.transport: asyncio.Transport | None = None
        self.peer_ip: str | None = None
        self.scheme = "http"
        self.direct: ClientView = ClientView("", False)
        self.peer_trusted = False

        # the request being parsed
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self.body_size = 0
        self.expect_continue = False
        self.too_large = False
        self.drained = 0

        # the request head being received (module docstring: how it is bounded)
        self.in_head = False  # between on_message_begin and on_headers_complete
        self.head_exact = 0  # URL pieces and complete header lines, as reported
        self.head_chunks = 0  # its share of its first chunk, then each later chunk
        self.line_chunks = 0  # ... and while no callback came: one line in progress
        self.head_events = 0  # callbacks that report head bytes (ever)
        self.head_fresh = False  # the head began in the chunk being parsed
        self.head_refused = False
        self.head_deadline: float | None = None
        self.head_timer: asyncio.TimerHandle | None = None

        # answering
        # (request, keep-alive, the answer when already known: a 413)
        self.queue: deque[tuple[Request, bool, Response | None]] = deque()
        self.runner: asyncio.Task[None] | None = None
        #: an answer waiting in ``batch`` for its audit event: (request, answer, keep-alive)
        self.deferred: tuple[Request, Response, bool] | None = None
        self.in_message = False  # a request is partly received
        self.closing = False  # close once the queue is answered
        self.draining = False  # shut down mid-request: answer that one, then close
        self.read_paused = False
        self.write_paused = False
        # one timer per connection, re-armed when it fires rather than per request
        self.keep_alive_timer: asyncio.TimerHandle | None = None
        self.idle_since: float | None = None
        self._date_source: object = None
        self._date_bytes = b""

    # ------------------------------------------------------------------ asyncio

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.connections.add(self)
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)
        peer = self.transport.get_extra_info("peername")
        if isinstance(peer, tuple | list) and peer:
            self.peer_ip = str(peer[0])
        if self.transport.get_extra_info("sslcontext"):
            self.scheme = "https"
        self.direct, self.peer_trusted = self.app.peer(self.peer_ip, self.scheme)
        # the first request's head is timed from the connection's opening
        self.head_deadline = self.loop.time() + self.header_timeout
        self.head_timer = self.loop.call_later(self.header_timeout, self._head_expired)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self._cancel_keep_alive()
        self._cancel_head_timer()
        self.closing = True
        self.queue.clear()
        if self.transport is not None:
            self.transport.close()

    def eof_received(self) -> bool | None:
        return None

    def data_received(self, data: bytes) -> None:
        if self.head_refused:  # answered 431/414: nothing more is read
            return
        self.idle_since = None
        self.poller.request_arrived()
        events = self.head_events
        self.head_fresh = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.closing = True  # answered as plain HTTP, then closed
            if not self._busy():
                self._close()
        except httptools.HttpParserError:
            if self.head_refused:  # a callback refused the head: answered already
                return
            if self.too_large:  # the rest of an over-long message: answered already
                self._close()
                return
            log.warning("Invalid HTTP request received.")
            self._bad_request()
            return
        if not self.in_head:
            return
        if self.head_fresh:  # of this chunk, at least what the callbacks reported
            self.head_chunks = self.head_exact
        else:  # the whole chunk belongs to a head that began in an earlier one
            self.head_chunks += len(data)
            if self.head_events == events:  # and to the one line still in progress
                self.line_chunks += len(data)
            else:
                self.line_chunks = 0
            if self.head_chunks > self.max_head or self.line_chunks > self.max_line:
                self._refuse_head(431)

    def pause_writing(self) -> None:
        self.write_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if len(self.queue) < _MAX_QUEUED:
            self._resume_reading()

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close now if idle, else after the answers. A
        request partly received is drained: read to its end (its head still within
        the header timeout), answered with ``Connection: close``, then the
        connection closes."""
        self.closing = True
        if self.in_message and not self.too_large:
            self.draining = True
            return
        self._cancel_head_timer()
        if not self._busy():
            self._close()

    # ------------------------------------------------------------------ httptools

    def on_message_begin(self) -> None:
        self.in_message = True
        self.in_head = True
        self.head_fresh = True
        self.head_exact = self.head_chunks = self.line_chunks = 0
        self.head_events += 1
        if self.head_deadline is None:
            self.head_deadline = self.loop.time() + self.header_timeout
            if self.head_timer is None:
                self.head_timer = self.loop.call_later(self.header_timeout, self._head_expired)
        self.url = b""
        self.headers = []
        self.body = []
        self.body_size = 0
        self.expect_continue = False
        self.too_large = False
        self.drained = 0

    def on_url(self, url: bytes) -> None:
        self.head_exact += len(url)
        self.head_events += 1
        if self.head_exact > self.max_head:
            self._refuse_head(414)
            raise _HeadRefused
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value) + _LINE_OVERHEAD
        self.head_exact += size
        self.head_events += 1
        if size > self.max_line or self.head_exact > self.max_head:
            self._refuse_head(431)
            raise _HeadRefused
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        if key == "expect" and text.lower() == "100-continue":
            self.expect_continue = True
        self.headers.append((key, text))

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.head_deadline = None
        length = self._content_length()
        if length is not None and length > MAX_BODY_BYTES:
            self._refuse_too_large()
            if self.expect_continue and not self._busy():
                self._close()  # the client waits for 100 Continue: it sends no body
        elif self.expect_continue and self.transport is not None and not self._busy():
            self.transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        if self.too_large:
            self.drained += len(body)
            if self.drained > _DRAIN_LIMIT:
                self._close()
            return
        self.body_size += len(body)
        if self.body_size > MAX_BODY_BYTES:
            self.body = []
            self._refuse_too_large()
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.in_message = False
        if self.too_large:  # answered (or queued) already: close after the answers
            if not self._busy():
                self._close()
            return
        draining, self.draining = self.draining, False
        if (self.closing and not draining) or self.transport is None or self.transport.is_closing():
            # after "Connection: close", a shutdown between requests, or the client
            # left: not run (a request partly received at the shutdown is answered)
            return
        request, keep_alive = self._request()
        self.server_state.total_requests += 1
        if not keep_alive:
            self.closing = True
        if self._busy():
            self.queue.append((request, keep_alive, None))
            if len(self.queue) >= _MAX_QUEUED:
                self._pause_reading()
            return
        try:
            response = self.app.answer_now(request, defer_audit=True)
        except Exception:  # the pipeline renders its own errors; this is a bug
            log.exception("internal failure answering a request")
            response = _internal_error()
        if response is None:
            self.queue.append((request, keep_alive, None))
            self._start_runner()
            return
        self.deferred = (request, response, keep_alive)
        self.batch.add(self)

    def finish_deferred(self) -> None:
        """The batch has spooled the audit events: write the answer that waited for
        them, then answer what queued behind it."""
        deferred, self.deferred = self.deferred, None
        if deferred is None:
            return
        request, response, keep_alive = deferred
        self._write(request, response, keep_alive and not (self.closing and not self.queue))
        if self.queue and self.runner is None:
            self._start_runner()
        else:
            self._after_response()

    # ------------------------------------------------------------------ helpers

    def _request(self) -> tuple[Request, bool]:
        parser = self.parser
        try:
            url = httptools.parse_url(self.url)
            path = (url.path or b"").decode("latin-1")
            query = (url.query or b"").decode("latin-1")
        except httptools.HttpParserInvalidURLError:
            path, query = self.url.decode("latin-1").split("?", 1)[0], ""
        headers = tuple(self.headers)
        if self.peer_trusted:
            view = self.app.view(self.peer_ip, self.scheme, headers)
        else:
            view = self.direct
        request = Request(
            method=parser.get_method().decode("latin-1"),
            path=path,
            query_string=query,
            headers=headers,
            body=b"".join(self.body),
            source_ip=view.source_ip or "127.0.0.1",
            secure_transport=view.secure_transport,
        )
        keep_alive = parser.get_http_version() != "1.0" and parser.should_keep_alive()
        return request, keep_alive

    def _content_length(self) -> int | None:
        for key, value in self.headers:
            if key == "content-length":
                try:
                    return int(value)
                except ValueError:
                    return None
        return None

    def _refuse_too_large(self) -> None:
        """Answer 413 now (after anything queued), drop the rest of the body, close."""
        self.too_large = True
        self.closing = True
        response = TesseraApp.too_large()
        request = Request(self.parser.get_method().decode("latin-1"), "", "", (), b"", "", False)
        if self._busy():
            self.queue.append((request, False, response))
        else:
            self._write(request, response, False)

    def _refuse_head(self, status: int) -> None:
        """Answer an over-long head (after anything queued) and close without
        reading more of it."""
        self.head_refused = True
        self.in_head = False
        self.head_deadline = None
        self.closing = True
        if status == 414:
            message = "Request URL is too long."
        else:
            message = "Request header fields are too large."
        response = _head_error(status, message)
        request = Request("GET", "", "", (), b"", "", False)
        if self._busy():
            self.queue.append((request, False, response))
            self._pause_reading()
        else:
            self._write(request, response, False)
            self._close()

    def _head_expired(self) -> None:
        """The header timeout: close a connection whose request head is late."""
        self.head_timer = None
        deadline = self.head_deadline
        if deadline is None or self.transport is None:  # no head in progress
            return
        now = self.loop.time()
        if self.read_paused:  # not the client's delay: time it again from now
            self.head_deadline = deadline = now + self.header_timeout
        if deadline > now:
            self.head_timer = self.loop.call_later(deadline - now, self._head_expired)
            return
        self.head_deadline = None
        self.head_refused = True  # nothing more of the head is read
        self.closing = True
        if self._busy():  # close after those answers
            self._pause_reading()
            return
        if self.in_message:
            request = Request("GET", "", "", (), b"", "", False)
            self._write(request, _head_error(408, "Request header timeout."), False)
        self._close()

    def _cancel_head_timer(self) -> None:
        self.head_deadline = None
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _start_runner(self) -> None:
        task = self.loop.create_task(self._run_queue())
        self.runner = task
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run_queue(self) -> None:
        """Answer queued requests in order (one needed a thread, or they were
        pipelined behind one that did)."""
        try:
            while self.queue:
                request, keep_alive, response = self.queue[0]
                if self.transport is None or self.transport.is_closing():
                    return
                try:
                    if response is None:
                        response = self.app.answer_now(request)
                    if response is None:
                        response = await anyio.to_thread.run_sync(
                            self.app.answer_in_thread, request
                        )
                except Exception:
                    log.exception("internal failure answering a request")
                    response = _internal_error()
                if self.transport is None or self.transport.is_closing():
                    return
                self.queue.popleft()
                self._write(request, response, keep_alive and not (self.closing and not self.queue))
                if len(self.queue) < _MAX_QUEUED and not self.write_paused:
                    self._resume_reading()
        finally:
            self.runner = None
            self._after_response()

    def _busy(self) -> bool:
        """An answer is being computed, waits, or is queued."""
        return self.runner is not None or self.deferred is not None or bool(self.queue)

    def _after_response(self) -> None:
        if self.transport is None or self._busy():
            return
        if self.closing:
            self._close()
        elif not self.in_message and self.timeout_keep_alive > 0:
            self.idle_since = self.loop.time()
            if self.keep_alive_timer is None:
                self.keep_alive_timer = self.loop.call_later(
                    self.timeout_keep_alive, self._keep_alive_expired
                )

    def _keep_alive_expired(self) -> None:
        """Close the connection if it has been idle for the keep-alive timeout."""
        self.keep_alive_timer = None
        if self.idle_since is None:  # busy again: the next response re-arms the timer
            return
        left = self.idle_since + self.timeout_keep_alive - self.loop.time()
        if left <= 0:
            self._close()
        else:
            self.keep_alive_timer = self.loop.call_later(left, self._keep_alive_expired)

    def _write(self, request: Request, response: Response, keep_alive: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        default = self.server_state.default_headers
        if default is not self._date_source:
            self._date_source = default
            self._date_bytes = b"".join(k + b": " + v + b"\r\n" for k, v in default)
        body = response.body
        head = [_STATUS_LINES.get(response.status) or _status_line(response.status)]
        head.append(self._date_bytes)
        for name, value in response.headers:
            head.append(f"{name}: {value}\r\n".encode("latin-1"))
        head.append(b"content-length: %d\r\n" % len(body))
        if not keep_alive:
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        if request.method != "HEAD":
            head.append(body)
        transport.write(b"".join(head))
        self.poller.responded()

    def _bad_request(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(
                _STATUS_LINES[400]
                + b"content-type: text/plain; charset=utf-8\r\n"
                + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(_BAD_REQUEST)
                + _BAD_REQUEST
            )
        self._close()

    def _close(self) -> None:
        self.closing = True
        self.queue.clear()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _cancel_keep_alive(self) -> None:
        if self.keep_alive_timer is not None:
            self.keep_alive_timer.cancel()
            self.keep_alive_timer = None

    def _pause_reading(self) -> None:
        if not self.read_paused and self.transport is not None:
            self.read_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.read_paused and self.transport is not None and not self.head_refused:
            self.read_paused = False
            if self.head_deadline is not None:  # a head waited while reading paused
                self.head_deadline = self.loop.time() + self.header_timeout
            self.transport.resume_reading()


def _head_error(status: int, message: str) -> Response:
    """A 408, 414 or 431 ``ErrorResponse`` for a request head refused before parsing."""
    from tessera.errors import InvalidParameterValue
    from tessera.ids import new_request_id
    from tessera.protocol.render import render_error

    rid = new_request_id()
    return Response(
        status,
        (("content-type", "text/xml"), ("x-amzn-requestid", rid)),
        render_error(None, InvalidParameterValue(message), rid),
    )


def _internal_error() -> Response:
    from tessera.errors import InternalFailure
    from tessera.ids import new_request_id
    from tessera.protocol.render import render_error

    rid = new_request_id()
    return Response(
        500,
        (("content-type", "text/xml"), ("x-amzn-requestid", rid)),
        render_error(None, InternalFailure("An internal error occurred."), rid),
    )
