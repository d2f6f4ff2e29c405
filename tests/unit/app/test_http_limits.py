"""TesseraHttpProtocol's request-head limits under uvicorn's server, spoken to over
raw sockets (small limits so the cases stay small): a head over the total (in one
chunk and across chunks), a line over the line limit (complete, and still in
progress across chunks), an over-long URL (414), heads at the limit served,
pipelined requests whose sum exceeds the limit served, a refusal behind an answer
still running in a thread, and the header timeout (a late head gets 408, a silent
connection is closed, keep-alive requests each get a fresh timeout)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.app.test_http import Reader, Served, _serve

MAX_HEAD = 4096
MAX_LINE = 1024
TIMEOUT = 0.5


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Served]:
    yield from _serve(
        tmp_path,
        max_header_bytes=MAX_HEAD,
        max_header_line_bytes=MAX_LINE,
        header_timeout_seconds=TIMEOUT,
    )


def _head(lines: int, size: int, path: str = "/echo?x") -> bytes:
    """A GET whose header lines (``name: value\\r\\n``) are ``size`` bytes each."""
    pad = b"".join(b"X-%04d: %s\r\n" % (i, b"a" * (size - 10)) for i in range(lines))
    return f"GET {path} HTTP/1.1\r\n".encode() + pad + b"\r\n"


def _refused(sock: socket.socket) -> int:
    """The status of the one answer on ``sock``; asserts the connection then closed."""
    reader = Reader(sock)
    status, headers, body = reader.response()
    assert headers["connection"] == "close"
    assert b"<Code>InvalidParameterValue</Code>" in body
    assert reader.closed()
    return status


def _send_slowly(sock: socket.socket, data: bytes, piece: int) -> bool:
    """Send ``data`` in separate small segments; False once the server closed."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        for start in range(0, len(data), piece):
            sock.sendall(data[start : start + piece])
            time.sleep(0.005)
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def test_heads_at_the_limits_are_served(limited: Served) -> None:
    head = _head(3, MAX_LINE) + b""
    assert len(head) < MAX_HEAD
    with limited.connect() as sock:
        reader = Reader(sock)
        sock.sendall(head)
        assert reader.response()[0] == 200
        # the same, dribbled: later chunks count, but nothing is over
        assert _send_slowly(sock, head, 200)
        assert reader.response()[0] == 200


def test_head_over_the_total_is_431(limited: Served) -> None:
    with limited.connect() as sock:
        sock.sendall(_head(5, 1000))  # lines under the line limit, 5000 bytes in all
        assert _refused(sock) == 431


def test_head_over_the_total_across_chunks_is_431(limited: Served) -> None:
    with limited.connect() as sock:
        _send_slowly(sock, _head(5, 1000), 300)
        assert _refused(sock) == 431


def test_one_line_over_the_line_limit_is_431(limited: Served) -> None:
    with limited.connect() as sock:
        sock.sendall(_head(1, MAX_LINE + 1))
        assert _refused(sock) == 431


def test_a_line_still_in_progress_is_refused_before_it_ends(limited: Served) -> None:
    """A line that never ends (no CRLF): httptools reports it only once complete,
    so the chunks that arrive while it is in progress count."""
    with limited.connect() as sock:
        sock.sendall(b"GET /echo HTTP/1.1\r\nX-Long: ")
        time.sleep(0.05)
        _send_slowly(sock, b"a" * (3 * MAX_LINE), 256)
        assert _refused(sock) == 431


def test_a_url_over_the_total_is_414(limited: Served) -> None:
    with limited.connect() as sock:
        sock.sendall(_head(0, 0, path="/echo?" + "q" * MAX_HEAD))
        assert _refused(sock) == 414
    with limited.connect() as sock:  # in pieces
        _send_slowly(sock, _head(0, 0, path="/echo?" + "q" * MAX_HEAD), 500)
        assert _refused(sock) == 414


def test_a_long_url_under_the_total_is_served(limited: Served) -> None:
    """The URL counts against the total, not the line limit (presigned URLs)."""
    with limited.connect() as sock:
        reader = Reader(sock)
        _send_slowly(sock, _head(1, 100, path="/echo?" + "q" * (3 * MAX_LINE)), 300)
        status, _, body = reader.response()
        assert status == 200 and body.endswith(b"q" * 100)


def test_pipelined_requests_over_the_total_together_are_served(limited: Served) -> None:
    one = _head(2, 200)
    batch = one * (3 * MAX_HEAD // len(one) + 1)
    assert len(batch) > 3 * MAX_HEAD
    with limited.connect() as sock:
        reader = Reader(sock)
        sock.sendall(batch)
        statuses = [reader.response()[0] for _ in range(batch.count(b"GET "))]
    assert set(statuses) == {200}


def test_refusal_waits_for_an_answer_running_in_a_thread(limited: Served) -> None:
    form = b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
    threaded = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n" % len(form) + form
    )
    with limited.connect() as sock:
        sock.sendall(threaded + _head(1, 2 * MAX_LINE))
        reader = Reader(sock)
        status, _, body = reader.response()
        assert status == 400 and b"ValidationError" in body
        status, headers, _ = reader.response()
        assert status == 431 and headers["connection"] == "close"
        assert reader.closed()


def test_a_late_head_gets_408_and_is_closed(limited: Served) -> None:
    with limited.connect() as sock:
        started = time.monotonic()
        sock.sendall(b"GET /echo HTTP/1.1\r\nX-Slow: ")
        assert _refused(sock) == 408
        assert TIMEOUT * 0.5 < time.monotonic() - started < TIMEOUT * 20


def test_a_silent_connection_is_closed(limited: Served) -> None:
    with limited.connect() as sock:
        started = time.monotonic()
        assert Reader(sock).closed()
        assert TIMEOUT * 0.5 < time.monotonic() - started < TIMEOUT * 20


def test_each_keep_alive_request_gets_a_fresh_header_timeout(limited: Served) -> None:
    with limited.connect() as sock:
        reader = Reader(sock)
        for i in range(4):  # 4 * 0.3 s on one connection: past the timeout in all
            sock.sendall(b"GET /echo?n%d HTTP/1.1\r\n" % i)
            time.sleep(TIMEOUT * 0.3)
            sock.sendall(b"Host: x\r\n\r\n")
            status, _, body = reader.response()
            assert status == 200 and body.endswith(b"n%d" % i)
            time.sleep(TIMEOUT * 0.3)
