"""TesseraHttpProtocol under uvicorn's server, in a thread, spoken to over raw
sockets: keep-alive, pipelining in order (inline and threaded answers mixed),
HEAD, Expect: 100-continue, 400 on garbage, 413 by Content-Length and as the
body arrives, Connection: close and HTTP/1.0, trusted proxies, the keep-alive
timeout, graceful shutdown (the store is closed by the lifespan), and one write
per inline response."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tessera.app.asgi import TesseraApp
from tessera.app.bootstrap import AccountCredentials, create_app, init_store
from tessera.app.http import TesseraHttpProtocol
from tessera.app.pipeline import MAX_BODY_BYTES, Request, Response
from tessera.clock import SystemClock
from tessera.config import ServerConfig

GCI_BODY = "Action=GetCallerIdentity&Version=2011-06-15"


@dataclass
class Served:
    app: TesseraApp
    server: uvicorn.Server
    port: int
    creds: AccountCredentials

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        return sock

    def signed(self, body: str = GCI_BODY, extra: str = "") -> bytes:
        aws = AWSRequest(
            method="POST",
            url=f"http://127.0.0.1:{self.port}/",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        creds = Credentials(self.creds.access_key_id, self.creds.secret_access_key)
        SigV4Auth(creds, "sts", "us-east-1").add_auth(aws)
        lines = [
            "POST / HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            f"Content-Length: {len(body)}",
        ]
        lines += [f"{k}: {v}" for k, v in aws.headers.items()]
        return ("\r\n".join(lines) + "\r\n" + extra + "\r\n" + body).encode()


def _echo_route(request: Request) -> Response | None:
    if request.path != "/echo":
        return None
    body = f"{request.source_ip} {request.secure_transport} {request.query_string}"
    return Response(200, (("content-type", "text/plain"),), body.encode())


def _serve(tmp_path: Path, **config: object) -> Iterator[Served]:
    creds = init_store(tmp_path, None, SystemClock())
    app = create_app(ServerConfig(data_dir=tmp_path, **config))  # type: ignore[arg-type]
    app.get_routes.append(_echo_route)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            http=TesseraHttpProtocol,
            ws="none",
            lifespan="on",
            log_level="warning",
            server_header=False,
            timeout_keep_alive=60,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("server did not start")
        thread.join(0.01)
    try:
        yield Served(app, server, port, creds)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from _serve(tmp_path)


class Reader:
    """Reads HTTP/1.1 responses off a socket, one at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def response(self, head: bool = False) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise EOFError(self.buf)
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *lines = raw.decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if head else int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            if not self._fill():
                raise EOFError(self.buf)
        body, self.buf = self.buf[:length], self.buf[length:]
        return int(status_line.split()[1]), headers, body

    def closed(self) -> bool:
        """True when the server closed the connection (and sent nothing more)."""
        try:
            return not self._fill() and not self.buf
        except ConnectionResetError:
            return True


class CountingTransport:
    """Delegates to a transport and counts ``write`` calls."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.inner.write(data)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_keep_alive_and_one_write_per_response(served: Served) -> None:
    with served.connect() as sock:
        reader = Reader(sock)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reader.response()[0] == 200
        (protocol,) = served.server.server_state.connections
        counting = CountingTransport(protocol.transport)
        done = threading.Event()

        def swap() -> None:
            protocol.transport = counting
            done.set()

        protocol.loop.call_soon_threadsafe(swap)
        assert done.wait(30)
        for _ in range(3):
            sock.sendall(served.signed())
            status, headers, body = reader.response()
            assert status == 200, body
            assert f"<Account>{served.creds.account_id}</Account>".encode() in body
            assert headers["content-type"] == "text/xml"
            assert headers["content-length"] == str(len(body))
            assert "date" in headers and "x-amzn-requestid" in headers
            assert "connection" not in headers
            assert "server" not in headers
        assert counting.writes == 3


def test_health_head_and_get(served: Served) -> None:
    with served.connect() as sock:
        reader = Reader(sock)
        sock.sendall(
            b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        status, headers, body = reader.response(head=True)
        assert status == 200 and body == b"" and headers["content-length"] == "16"
        status, headers, body = reader.response()
        assert status == 200 and body == b'{"status": "ok"}'


def test_pipelined_requests_answered_in_order(served: Served) -> None:
    # unsigned federation calls always run in a worker thread
    form = b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
    threaded = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n" % len(form) + form
    )
    batch = (
        served.signed()
        + b"GET /echo?first HTTP/1.1\r\nHost: x\r\n\r\n"
        + threaded
        + b"GET /echo?second HTTP/1.1\r\nHost: x\r\n\r\n"
        + served.signed()
    )
    with served.connect() as sock:
        sock.sendall(batch)
        reader = Reader(sock)
        answers = [reader.response() for _ in range(5)]
    assert answers[0][0] == 200 and b"GetCallerIdentityResult" in answers[0][2]
    assert answers[1][2].endswith(b" first")
    assert answers[2][0] == 400 and b"ValidationError" in answers[2][2]
    assert answers[3][2].endswith(b" second")
    assert answers[4][0] == 200 and b"GetCallerIdentityResult" in answers[4][2]


def test_threaded_request_then_keep_alive(served: Served) -> None:
    # IAM calls run in a worker thread; the connection stays usable afterwards
    with served.connect() as sock:
        reader = Reader(sock)
        body = "Action=ListUsers&Version=2010-05-08"
        aws = AWSRequest(
            method="POST",
            url=f"http://127.0.0.1:{served.port}/",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        creds = Credentials(served.creds.access_key_id, served.creds.secret_access_key)
        SigV4Auth(creds, "iam", "us-east-1").add_auth(aws)
        head = (
            f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nContent-Length: {len(body)}\r\n"
        )
        head += "".join(f"{k}: {v}\r\n" for k, v in aws.headers.items())
        sock.sendall((head + "\r\n" + body).encode())
        status, _, answer = reader.response()
        assert status == 200 and b"<ListUsersResult>" in answer
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reader.response()[0] == 200


def test_expect_100_continue(served: Served) -> None:
    request = served.signed(extra="Expect: 100-continue\r\n")
    head, body = request.split(b"\r\n\r\n", 1)
    with served.connect() as sock:
        sock.sendall(head + b"\r\n\r\n")
        reader = Reader(sock)
        status, _, _ = reader.response()
        assert status == 100
        sock.sendall(body)
        status, _, answer = reader.response()
        assert status == 200 and b"GetCallerIdentityResult" in answer


def test_connection_close_and_http_1_0(served: Served) -> None:
    for request in (
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /health HTTP/1.0\r\n\r\n",
    ):
        with served.connect() as sock:
            sock.sendall(request)
            reader = Reader(sock)
            status, headers, _ = reader.response()
            assert status == 200 and headers["connection"] == "close"
            assert reader.closed()


def test_malformed_request_is_400_and_closed(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        reader = Reader(sock)
        status, headers, body = reader.response()
        assert status == 400 and headers["connection"] == "close"
        assert body == b"Invalid HTTP request received."
        assert reader.closed()


def test_body_over_the_limit_by_content_length(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(
            f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n"
            "Expect: 100-continue\r\n\r\n".encode()
        )
        reader = Reader(sock)
        status, headers, body = reader.response()
        assert status == 413 and headers["connection"] == "close"
        assert b"<Code>InvalidParameterValue</Code>" in body
        assert reader.closed()  # the client waits for 100 Continue: nothing more to read


def test_body_over_the_limit_is_drained_then_closed(served: Served) -> None:
    body = b"a" * (MAX_BODY_BYTES + 1)
    with served.connect() as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        reader = Reader(sock)
        assert reader.response()[0] == 413
        sock.sendall(body)  # read and dropped: no reset before the client reads the 413
        assert reader.closed()


def test_chunked_body_over_the_limit(served: Served) -> None:
    chunk = b"a" * 65536
    with served.connect() as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        reader = Reader(sock)
        sent = 0
        while sent <= MAX_BODY_BYTES:
            sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            sent += len(chunk)
        sock.sendall(b"0\r\n\r\n")
        status, headers, _ = reader.response()
        assert status == 413 and headers["connection"] == "close"
        assert reader.closed()


def test_body_just_under_the_limit_is_read(served: Served) -> None:
    body = b"Action=GetCallerIdentity&Version=2011-06-15&Pad=" + b"x" * 4000
    with served.connect() as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body
        )
        status, _, answer = Reader(sock).response()
    assert status == 403 and b"MissingAuthenticationToken" in answer  # read, then refused


def test_client_address_direct_and_through_trusted_proxy(tmp_path: Path) -> None:
    request = (
        b"GET /echo HTTP/1.1\r\nHost: x\r\n"
        b"X-Forwarded-For: 198.51.100.7\r\nX-Forwarded-Proto: https\r\n\r\n"
    )
    for proxies, expected in (((), b"127.0.0.1 False "), (("127.0.0.1",), b"198.51.100.7 True ")):
        served_it = _serve(tmp_path / str(len(proxies)), trusted_proxies=proxies)
        served = next(served_it)
        try:
            with served.connect() as sock:
                sock.sendall(request)
                assert Reader(sock).response()[2] == expected
        finally:
            next(served_it, None)


def test_keep_alive_timeout_closes_idle_connections(tmp_path: Path) -> None:
    served_it = _serve(tmp_path)
    served = next(served_it)
    try:
        served.server.config.timeout_keep_alive = 0.05  # read by each new connection
        with served.connect() as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            reader = Reader(sock)
            assert reader.response()[0] == 200
            assert reader.closed()  # blocks until the server closes the idle connection
    finally:
        next(served_it, None)


def test_graceful_shutdown_closes_idle_connections_and_the_store(tmp_path: Path) -> None:
    served_it = _serve(tmp_path)
    served = next(served_it)
    idle = served.connect()
    idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    reader = Reader(idle)
    assert reader.response()[0] == 200
    closed: list[bool] = []
    original = served.app.close

    def close() -> None:
        closed.append(True)
        original()

    served.app.close = close  # type: ignore[method-assign]
    next(served_it, None)  # should_exit, join
    assert reader.closed()
    idle.close()
    assert closed == [True]


def test_protocol_needs_a_tessera_app() -> None:
    async def other(scope: object, receive: object, send: object) -> None:
        return None

    config = uvicorn.Config(other, http=TesseraHttpProtocol)
    config.load()
    with pytest.raises(TypeError):
        TesseraHttpProtocol(config, uvicorn.server.ServerState())


def test_shutdown_of_an_idle_protocol_closes_its_transport(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(sock)
        assert reader.response()[0] == 200
        connections = list(served.server.server_state.connections)
        assert len(connections) == 1
        protocol = connections[0]
        protocol.loop.call_soon_threadsafe(protocol.shutdown)
        assert reader.closed()


def test_requests_pipelined_after_connection_close_are_not_run(served: Served) -> None:
    ran: list[str] = []

    def spy(request: Request) -> Response | None:
        if request.path == "/spy":
            ran.append(request.query_string)
            return Response(200, (), b"")
        return None

    served.app.get_routes.insert(0, spy)
    form = b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
    threaded = (  # answered in a worker thread, so what follows it is queued meanwhile
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n" % len(form) + form
    )
    for prefix in (b"", threaded):
        ran.clear()
        with served.connect() as sock:
            sock.sendall(
                prefix + b"GET /spy?first HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                b"GET /spy?second HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            reader = Reader(sock)
            if prefix:
                assert reader.response()[0] == 400
            status, headers, _ = reader.response()
            assert status == 200 and headers["connection"] == "close"
            assert reader.closed()
        assert ran == ["first"]


def test_back_to_back_requests_turn_on_busy_polling(tmp_path: Path) -> None:
    # a wide window: the client shares this process's GIL with the server
    for served in _serve(tmp_path, busy_poll_us=200_000.0):
        request = served.signed()  # replayable: signed once
        with served.connect() as sock:
            reader = Reader(sock)
            for _ in range(5):
                sock.sendall(request)
                assert reader.response()[0] == 200
        poller = served.app._poller
        assert poller is not None and poller.window == 0.2
        # polling began after a response (whether a turn ran before the client's
        # next request arrived depends on the scheduling: answers are written a
        # loop turn at a time, and the client shares this process's GIL)
        assert poller.worthwhile and poller.started > 0


def test_busy_polling_is_on_by_default(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(served.signed())
        assert Reader(sock).response()[0] == 200
    poller = served.app._poller
    assert poller is not None and poller.window == 100e-6


def test_busy_polling_off(tmp_path: Path) -> None:
    for served in _serve(tmp_path, busy_poll_us=0.0):
        with served.connect() as sock:
            reader = Reader(sock)
            for _ in range(5):
                sock.sendall(served.signed())
                assert reader.response()[0] == 200
        poller = served.app._poller
        assert poller is not None and poller.window == 0.0 and poller.turns == 0


def test_shutdown_mid_request_answers_it_with_connection_close(served: Served) -> None:
    """SIGTERM drains: a request partly received when the shutdown begins is read to
    its end and answered (``Connection: close``), then the connection closes."""
    with served.connect() as sock:
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n")  # the head is not complete yet
        reader = Reader(sock)
        deadline = time.monotonic() + 10
        while not served.server.server_state.connections and time.monotonic() < deadline:
            time.sleep(0.01)
        protocol = next(iter(served.server.server_state.connections))
        while not protocol.in_message and time.monotonic() < deadline:
            time.sleep(0.01)
        done = threading.Event()
        protocol.loop.call_soon_threadsafe(lambda: (protocol.shutdown(), done.set()))
        assert done.wait(10)
        sock.sendall(b"X-Late: 1\r\n\r\n")  # the rest arrives after the shutdown began
        status, headers, _body = reader.response()
        assert status == 200
        assert headers.get("connection") == "close"
        assert reader.closed()


class OrderedTransport(CountingTransport):
    """Logs each answer's request id as it is written."""

    def __init__(self, inner: object, log: list[tuple[str, str]]) -> None:
        super().__init__(inner)
        self.log = log

    def write(self, data: bytes) -> None:
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
        rid = head.split("x-amzn-requestid: ", 1)[1].split("\r\n", 1)[0]
        self.log.append(("written", rid))
        super().write(data)


def test_an_answer_leaves_only_after_its_audit_event_is_spooled(served: Served) -> None:
    """Group commit (``AnswerBatch``): answers computed on the event loop wait for
    the turn's audit events to be spooled. Pipelined signed calls on one connection
    and single calls on two others: every answer is written after its own event
    reached the spool, and each event is spooled once."""
    audit = served.app.runtime.observer.audit  # type: ignore[union-attr]
    assert audit is not None
    log: list[tuple[str, str]] = []
    spool = audit.record

    def record(data: bytes) -> None:
        spool(data)  # in the spool first, then logged
        for line in data.splitlines():  # the loop turn's events, one write
            log.append(("spooled", json.loads(line)["c1"][6].lower()))

    audit.record = record  # type: ignore[method-assign]
    socks = [served.connect() for _ in range(3)]
    try:
        for sock in socks:  # one request each, so each has its protocol
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert Reader(sock).response()[0] == 200
        done = threading.Event()

        def swap() -> None:
            for protocol in served.server.server_state.connections:
                protocol.transport = OrderedTransport(protocol.transport, log)
            done.set()

        next(iter(served.server.server_state.connections)).loop.call_soon_threadsafe(swap)
        assert done.wait(30)
        socks[0].sendall(served.signed() * 4)
        socks[1].sendall(served.signed())
        socks[2].sendall(served.signed())
        answered = []
        for sock, n in zip(socks, (4, 1, 1), strict=True):
            reader = Reader(sock)
            for _ in range(n):
                status, headers, _body = reader.response()
                assert status == 200
                answered.append(headers["x-amzn-requestid"].lower())
    finally:
        audit.record = spool  # type: ignore[method-assign]
        for sock in socks:
            sock.close()
    spooled = [rid for what, rid in log if what == "spooled"]
    assert sorted(spooled) == sorted(answered) and len(set(spooled)) == 6
    for rid in answered:
        assert log.index(("spooled", rid)) < log.index(("written", rid)), log
