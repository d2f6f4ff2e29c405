"""Adversarial request heads against a real ``tessera serve``: too many header
bytes, one over-long header line, an over-long URL, 32 MiB of headers on one
connection, slowloris (a head dribbled a byte at a time) and a connection that
never sends anything; the same limits with ``--workers 2``; and ordinary boto3
calls and presigned URLs (with a session token) still served."""

from __future__ import annotations

import json
import secrets
import socket
import string
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import Creds, TesseraServer

#: the slowloris tests' server times heads out after this many seconds
HEADER_TIMEOUT = 1.0


def _start(base: Path, *args: str) -> TesseraServer:
    srv = TesseraServer(data_dir=base / "data", extra_args=args)
    srv.init()
    srv.start()
    return srv


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TesseraServer]:
    """Default size limits, a short header timeout."""
    srv = _start(tmp_path_factory.mktemp("limits"), "--header-timeout", str(HEADER_TIMEOUT))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TesseraServer]:
    """Two worker processes, limits from the command line."""
    srv = _start(
        tmp_path_factory.mktemp("workers"),
        "--workers",
        "2",
        "--max-header-bytes",
        "8192",
        "--max-header-line-bytes",
        "2048",
        "--header-timeout",
        str(HEADER_TIMEOUT),
    )
    try:
        yield srv
    finally:
        srv.stop()


def _connect(srv: TesseraServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", srv.port), timeout=15)


def _padded_head(headers: int, size: int, path: str = "/health") -> bytes:
    pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * size) for i in range(headers))
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n".encode() + pad + b"\r\n"


def _answer_then_close(sock: socket.socket) -> tuple[int, bytes]:
    """The status of the one response on ``sock``, and everything the server sent;
    asserts the server then closed the connection."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"HTTP/1.1 "), data[:200]
    assert data.count(b"HTTP/1.1 ") == 1, data  # one answer, then closed
    return int(data.split(b" ", 2)[1]), data


def _random_sid() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(48))


def _health_ok(srv: TesseraServer) -> None:
    assert httpx.get(srv.endpoint + "/health", timeout=10).status_code == 200


def test_70kib_of_headers_is_431_and_closed(limited: TesseraServer) -> None:
    with _connect(limited) as sock:
        sock.sendall(_padded_head(70, 1024))  # 70 lines of ~1 KiB, each under the line limit
        status, data = _answer_then_close(sock)
    assert status == 431
    assert b"<Code>InvalidParameterValue</Code>" in data
    assert b"connection: close" in data
    _health_ok(limited)


def test_one_17kib_header_line_is_431_and_closed(limited: TesseraServer) -> None:
    with _connect(limited) as sock:
        sock.sendall(_padded_head(1, 17 * 1024))
        status, _data = _answer_then_close(sock)
    assert status == 431


def test_a_70kib_url_is_414_and_closed(limited: TesseraServer) -> None:
    with _connect(limited) as sock:
        sock.sendall(_padded_head(0, 0, path="/health?q=" + "a" * (70 * 1024)))
        status, _data = _answer_then_close(sock)
    assert status == 414


def test_32mib_of_headers_are_cut_off_early(limited: TesseraServer) -> None:
    """One unauthenticated connection streams a 32 MiB header: the server stops
    reading and closes after about the 64 KiB limit (plus socket buffers)."""
    total, piece = 32 << 20, b"a" * (64 << 10)
    sent = 0
    with _connect(limited) as sock:
        sock.settimeout(5)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        deadline = time.monotonic() + 30
        try:
            while sent < total and time.monotonic() < deadline:
                sent += sock.send(piece)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server closed (or stopped reading): what we want
    assert sent < 4 << 20, f"the server accepted {sent} bytes of one request head"
    _health_ok(limited)


def test_slowloris_is_closed_after_the_header_timeout(limited: TesseraServer) -> None:
    with _connect(limited) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        closed_after = None
        try:
            while time.monotonic() - started < 10 * HEADER_TIMEOUT:
                sock.sendall(b"X")  # one byte of a header name every 0.1 s
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            closed_after = time.monotonic() - started
        assert closed_after is not None, "a dribbled head kept its connection open"
        assert 0.5 * HEADER_TIMEOUT <= closed_after < 8 * HEADER_TIMEOUT
    _health_ok(limited)


def test_a_silent_connection_is_closed_after_the_header_timeout(
    limited: TesseraServer,
) -> None:
    with _connect(limited) as sock:
        started = time.monotonic()
        try:
            assert sock.recv(100) == b""  # closed without an answer
        except ConnectionResetError:
            pass
        assert time.monotonic() - started < 8 * HEADER_TIMEOUT


def test_limits_reach_worker_processes(workers: TesseraServer) -> None:
    with _connect(workers) as sock:
        sock.sendall(_padded_head(8, 1024))  # 8 KiB + the request line: over 8192
        assert _answer_then_close(sock)[0] == 431
    with _connect(workers) as sock:
        sock.sendall(_padded_head(1, 3000))  # one line over 2048
        assert _answer_then_close(sock)[0] == 431
    with _connect(workers) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow")
        started = time.monotonic()
        try:
            data = sock.recv(1000)
        except ConnectionResetError:
            data = b""
        assert data == b"" or data.startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < 8 * HEADER_TIMEOUT
    _health_ok(workers)
    sts = workers.client("sts")
    assert workers.root is not None
    assert sts.get_caller_identity()["Account"] == workers.root.account_id


def test_boto3_and_presigned_urls_with_session_tokens_still_work(
    limited: TesseraServer,
) -> None:
    assert limited.root is not None
    sts = limited.client("sts")
    assert sts.get_caller_identity()["Account"] == limited.root.account_id
    iam = limited.client("iam")
    iam.create_user(UserName="limits-user", Tags=[{"Key": "k", "Value": "v" * 200}])
    iam.get_user(UserName="limits-user")
    # a session policy (incompressible Sids) makes the token (and the presigned URL) several KB long
    statements = [
        {
            "Effect": "Allow",
            "Action": "sts:GetCallerIdentity",
            "Resource": "*",
            "Sid": _random_sid(),
        }
        for _ in range(16)
    ]
    session = sts.get_federation_token(
        Name="limits",
        DurationSeconds=900,
        Policy=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}, separators=(",", ":")
        ),
    )["Credentials"]
    temp = Creds(
        limited.root.account_id,
        session["AccessKeyId"],
        session["SecretAccessKey"],
        session["SessionToken"],
    )
    url = limited.client("sts", temp).generate_presigned_url("get_caller_identity", ExpiresIn=300)
    assert "X-Amz-Security-Token" in url and len(url) > 1500, len(url)
    # boto3 signs the Query API's own method: the URL is good for a POST (as at AWS)
    response = httpx.post(url, timeout=10)
    assert response.status_code == 200, response.text
    assert limited.root.account_id in response.text
    # a head close to (but under) the limit is still served
    with _connect(limited) as sock:
        sock.sendall(_padded_head(60, 1000))
        assert sock.recv(100).startswith(b"HTTP/1.1 200 ")
