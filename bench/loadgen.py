"""Load generators for replayable (pre-signed) GET requests: ``wrk`` when it is
installed, and an asyncio HTTP/1.1 keep-alive client otherwise.

Both take one signed request, a number of connections (the concurrency) and a duration (and,
for the async client, an optional request budget), and return a ``LoadResult``:
completed requests, non-200 answers, socket errors, wall time, p50/p99 latency.
Neither signs anything while running: the request (a POST with a SigV4
Authorization header, as SDKs send it) is signed once, before the load, and
replayed: STS accepts a signed request again for 15 minutes after its X-Amz-Date.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit


class Replayable(Protocol):
    """A signed request that may be sent again and again (see ``targets.SignedRequest``)."""

    url: str
    method: str
    headers: dict[str, str]
    body: bytes


def _lua_string(value: str) -> str:
    if "]==]" in value:
        raise ValueError("value cannot be quoted for wrk")
    return f"[==[{value}]==]"


_WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format(
    '\\nTESSERA-BENCH {"requests":%d,"duration_us":%d,"status_errors":%d,'
    .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,'
    .. '"p50_us":%.1f,"p99_us":%.1f,"max_us":%.1f,"mean_us":%.1f}\\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, latency.mean))
end
"""


@dataclass(frozen=True, slots=True)
class LoadResult:
    generator: str
    concurrency: int
    requests: int
    errors: int  # non-200 answers plus socket errors and timeouts
    seconds: float
    p50_ms: float
    p99_ms: float
    #: CPU seconds the generator itself used (async client only; wrk: None)
    generator_cpu_seconds: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["rps"] = round(self.rps, 1)
        return out


def wrk_path() -> str | None:
    return shutil.which("wrk")


def choose_generator(requested: str) -> tuple[str, str | None]:
    """(generator name, note). ``auto`` prefers wrk and says why it fell back."""
    if requested == "async":
        return "async", None
    if wrk_path() is not None:
        return "wrk", None
    if requested == "wrk":
        raise SystemExit(
            "wrk is not installed (Debian/Ubuntu: apt-get install wrk; macOS: brew install wrk)"
        )
    return "async", "wrk not found (apt-get install wrk); using the asyncio generator"


def run_wrk(
    request: Replayable, concurrency: int, seconds: float, timeout: float = 5.0
) -> LoadResult:
    exe = wrk_path()
    if exe is None:
        raise RuntimeError("wrk is not installed")
    setup = [f"wrk.method = {_lua_string(request.method)}"]
    if request.body:
        setup.append(f"wrk.body = {_lua_string(request.body.decode('latin-1'))}")
    for name, value in request.headers.items():
        if name.lower() not in ("host", "content-length"):
            setup.append(f"wrk.headers[ {_lua_string(name)} ] = {_lua_string(value)}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(setup) + "\n" + _WRK_SCRIPT)
    try:
        threads = 1 if concurrency < 32 else 2
        proc = subprocess.run(
            [
                exe,
                f"-t{threads}",
                f"-c{concurrency}",
                f"-d{max(1, round(seconds))}s",
                f"--timeout={timeout:g}s",
                "-s",
                script.name,
                request.url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
    finally:
        os.unlink(script.name)
    for line in proc.stdout.splitlines():
        if line.startswith("TESSERA-BENCH "):
            data = json.loads(line.split(" ", 1)[1])
            break
    else:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[:300]}")
    errors = sum(
        data[k]
        for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return LoadResult(
        generator="wrk",
        concurrency=concurrency,
        requests=int(data["requests"]),
        errors=int(errors),
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
    )


# ---------------------------------------------------------------------- async client


def request_bytes(request: Replayable) -> tuple[str, int, bytes]:
    parts = urlsplit(request.url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    lines = [f"{request.method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    for name, value in request.headers.items():
        if name.lower() not in ("host", "content-length"):
            lines.append(f"{name}: {value}")
    if request.body or request.method == "POST":
        lines.append(f"Content-Length: {len(request.body)}")
    head = "\r\n".join(lines) + "\r\n\r\n"
    return host, port, head.encode("latin-1") + request.body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, keep-alive) after consuming one response."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    chunked = False
    keep_alive = not head.startswith(b"HTTP/1.0")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection":
            keep_alive = value.strip().lower() != b"close"
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, keep_alive


async def _load(
    request: Replayable, concurrency: int, seconds: float, max_requests: int | None, timeout: float
) -> tuple[list[float], int, float]:
    host, port, raw = request_bytes(request)
    latencies: list[float] = []
    errors = 0
    budget = [max_requests if max_requests is not None else -1]
    start = time.perf_counter()
    deadline = start + seconds

    def take() -> bool:
        if budget[0] == 0:
            return False
        if budget[0] > 0:
            budget[0] -= 1
        return time.perf_counter() < deadline

    async def one_connection() -> None:
        nonlocal errors
        writer: asyncio.StreamWriter | None = None
        reader: asyncio.StreamReader | None = None
        try:
            while take():
                t0 = time.perf_counter()
                try:
                    if writer is None or reader is None:
                        reader, writer = await asyncio.wait_for(
                            asyncio.open_connection(host, port), timeout
                        )
                    writer.write(raw)
                    status, keep = await asyncio.wait_for(_read_response(reader), timeout)
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    continue
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    errors += 1
                if not keep:
                    writer.close()
                    reader = writer = None
        finally:
            if writer is not None:
                writer.close()

    await asyncio.gather(*(one_connection() for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - start


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def run_async(
    request: Replayable,
    concurrency: int,
    seconds: float,
    max_requests: int | None = None,
    timeout: float = 5.0,
) -> LoadResult:
    cpu0 = time.process_time()
    latencies, errors, wall = asyncio.run(
        _load(request, concurrency, seconds, max_requests, timeout)
    )
    cpu = time.process_time() - cpu0
    ms = sorted(x * 1000 for x in latencies)
    return LoadResult(
        generator="async",
        concurrency=concurrency,
        requests=len(latencies),
        errors=errors,
        seconds=wall,
        p50_ms=percentile(ms, 50),
        p99_ms=percentile(ms, 99),
        generator_cpu_seconds=round(cpu, 3),
    )


def run_load(
    generator: str,
    request: Replayable,
    concurrency: int,
    seconds: float,
    max_requests: int | None = None,
) -> LoadResult:
    if generator == "wrk" and max_requests is None:
        return run_wrk(request, concurrency, seconds)
    return run_async(request, concurrency, seconds, max_requests)


# ---------------------------------------------------------------------- server CPU


def _proc_times(pid: int) -> float | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                out += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    except OSError:
        pass
    return out


def process_tree(pid: int) -> list[int]:
    seen = [pid]
    i = 0
    while i < len(seen):
        seen += [c for c in _children(seen[i]) if c not in seen]
        i += 1
    return seen


def tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of ``pid`` and its descendants (Linux ``/proc``; None elsewhere)."""
    total = 0.0
    found = False
    for p in process_tree(pid):
        value = _proc_times(p)
        if value is not None:
            total += value
            found = True
    return total if found else None


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
