"""Side-by-side benchmark: Tessera against moto's server and MiniStack, in one run,
on this machine, over loopback.

    python bench/run.py                      # everything, ~3 minutes
    python bench/run.py --peers none         # Tessera only
    python bench/run.py --seconds 3 --concurrency 1,16 --operations AssumeRole

For each server: start it on a free 127.0.0.1 port, seed the same IAM state (user,
access key, inline policy, role with a trust policy and a managed policy), probe
each operation once, then replay one pre-signed request per operation with ``wrk``
(or the built-in asyncio generator) at each concurrency. Reports requests/s, p50
and p99 latency, server CPU per request (the server's whole process tree, from
/proc) and errors; the ratios Tessera/peer from this run; and, for
GetWebIdentityToken, the raw signing rate of the same key type measured in this
run. Writes ``<out>/bench-<time>.json`` and ``.md`` (and ``latest.json``/``.md``).
See bench/README.md for how to read them. Not part of the test run's pass/fail.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for extra in (str(ROOT), str(ROOT / "src")):
    if extra not in sys.path:
        sys.path.insert(0, extra)

from bench import loadgen  # noqa: E402
from bench.targets import (  # noqa: E402
    OPERATIONS,
    PEER_PACKAGES,
    Target,
    find_peer,
    install_peers,
    seed,
    start_peer,
    start_tessera,
)

PEERS = ("moto", "ministack")
LABELS = {"tessera": "Tessera", "moto": "moto_server", "ministack": "MiniStack"}
# the targets
TARGET_VS = {"moto": 15.0, "ministack": 5.0}
TARGET_P99_MS = 10.0
TARGET_SIGNING = 0.70


@dataclass
class Cell:
    target: str
    operation: str
    concurrency: int
    supported: bool
    note: str | None = None
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    cpu_ms_per_request: float | None = None
    errors: int | None = None
    requests: int | None = None
    generator: str | None = None
    generator_cpu_ms_per_request: float | None = None


@dataclass
class Run:
    settings: dict[str, Any]
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    cells: list[Cell] = field(default_factory=list)
    raw_signing: dict[str, dict[str, float]] = field(default_factory=dict)
    memory_mb: dict[str, list[float]] = field(default_factory=dict)


# ---------------------------------------------------------------------- probing


def _jwt_header(token: str) -> dict[str, Any]:
    head = token.split(".", 1)[0]
    return dict(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))))


def probe(target: Target, operation: str) -> tuple[bool, str | None, int]:
    """Send the pre-signed request once: (usable for the load, note, payload bytes)."""
    signed = target.request(operation)
    request = urllib.request.Request(
        signed.url, data=signed.body, headers=signed.headers, method=signed.method
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # loopback only
            status, body = answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read().decode(errors="replace")
    except OSError as exc:
        return False, f"no answer: {exc}", 0
    if status != 200:
        code = (
            _between(body, "<Code>", "</Code>")
            or _between(body, "<title>", "</title>")
            or body[:80]
        )
        code = " ".join(code.split()).removeprefix(str(status)).strip()
        return False, f"not supported: HTTP {status} {code}", 0
    if operation.startswith("GetWebIdentityToken-"):
        token = _between(body, "<WebIdentityToken>", "</WebIdentityToken>")
        if not token:
            return (
                False,
                f"not supported: HTTP 200 without a token ({' '.join(body[:60].split())}…)",
                0,
            )
        alg = operation.split("-", 1)[1]
        try:
            header = _jwt_header(token)
        except ValueError:
            return False, "answers with a token that is not a JWT", 0
        payload_len = len(token.split(".")[1]) * 3 // 4
        if header.get("alg") != alg:
            return (
                True,
                f"answers, but signs {header.get('alg')} instead of {alg}"
                " (no verifiable signature): not comparable",
                payload_len,
            )
        return True, None, payload_len
    return True, None, 0


def _between(text: str, start: str, end: str) -> str | None:
    i = text.find(start)
    if i < 0:
        return None
    j = text.find(end, i + len(start))
    return text[i + len(start) : j] if j > 0 else None


# ---------------------------------------------------------------------- raw signing


def raw_signing_rate(alg: str, payload_len: int, threads: int, seconds: float) -> float:
    """Signatures per second of ``tessera.oidc.jwt.sign_payload`` with a fresh key of
    type ``alg`` on a payload of the same size, from ``threads`` threads (the
    signature releases the GIL, so threads use several cores)."""
    from tessera.oidc.jwt import sign_payload
    from tessera.oidc.keys import SigningKey, generate_for

    now = datetime.now(UTC)
    kid = "RSA_0" if alg == "RS256" else "EC384_0"
    key = SigningKey(
        kid=kid,
        alg=alg,
        private_key=generate_for(alg),
        created_at=now,
        not_before=now,  # type: ignore[arg-type]
    )
    payload = b"x" * max(payload_len, 64)
    counts = [0] * threads
    start = time.perf_counter()
    stop = start + seconds

    def work(i: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            for _ in range(10):
                sign_payload(payload, key)
            n += 10
        counts[i] = n

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


# ---------------------------------------------------------------------- measuring


def measure(
    target: Target,
    operation: str,
    concurrency: int,
    args: argparse.Namespace,
    generator: str,
) -> Cell:
    signed = target.request(operation)  # fresh signature: each stays valid for 15 minutes
    assert target.pid is not None
    cpu0 = loadgen.tree_cpu_seconds(target.pid)
    result = loadgen.run_load(generator, signed, concurrency, args.seconds, args.max_requests)
    cpu1 = loadgen.tree_cpu_seconds(target.pid)
    cell = Cell(
        target=target.name,
        operation=operation,
        concurrency=concurrency,
        supported=True,
        rps=round(result.rps, 1),
        p50_ms=round(result.p50_ms, 3),
        p99_ms=round(result.p99_ms, 3),
        errors=result.errors,
        requests=result.requests,
        generator=result.generator,
    )
    if cpu0 is not None and cpu1 is not None and result.requests:
        cell.cpu_ms_per_request = round((cpu1 - cpu0) * 1000 / result.requests, 3)
    if result.generator_cpu_seconds is not None and result.requests:
        cell.generator_cpu_ms_per_request = round(
            result.generator_cpu_seconds * 1000 / result.requests, 3
        )
    return cell


def bench_target(
    target: Target, run: Run, args: argparse.Namespace, generator: str
) -> dict[str, int]:
    """All cells of one started target; returns the JWT payload sizes seen."""
    payloads: dict[str, int] = {}
    seed(target)
    for operation in args.operations:
        ok, note, payload_len = probe(target, operation)
        if payload_len:
            payloads[operation] = payload_len
        if not ok:
            for c in args.concurrency:
                run.cells.append(Cell(target.name, operation, c, supported=False, note=note))
            print(f"  {operation:<28} {note}", flush=True)
            continue
        # warm-up: connections, caches, lazily built state
        loadgen.run_load(
            generator, target.request(operation), 4, min(1.0, args.seconds), args.warmup
        )
        for c in args.concurrency:
            cell = measure(target, operation, c, args, generator)
            cell.note = note
            run.cells.append(cell)
            cpu = f"{cell.cpu_ms_per_request:.3f}" if cell.cpu_ms_per_request is not None else "?"
            print(
                f"  {operation:<28} c={c:<3} {cell.rps:>9.1f} req/s  p50 {cell.p50_ms:7.2f} ms"
                f"  p99 {cell.p99_ms:7.2f} ms  cpu {cpu} ms/req  errors {cell.errors}",
                flush=True,
            )
    if target.pid is not None:
        workers = [p for p in loadgen.process_tree(target.pid)]
        rss = [loadgen.rss_mb(p) for p in workers]
        run.memory_mb[target.name] = [round(r, 1) for r in rss if r is not None]
    return payloads


# ---------------------------------------------------------------------- report


def _cell(run: Run, target: str, operation: str, c: int) -> Cell | None:
    for cell in run.cells:
        if (cell.target, cell.operation, cell.concurrency) == (target, operation, c):
            return cell
    return None


def ratios(run: Run) -> list[dict[str, Any]]:
    out = []
    for operation in run.settings["operations"]:
        for c in run.settings["concurrency"]:
            mine = _cell(run, "tessera", operation, c)
            for peer in PEERS:
                theirs = _cell(run, peer, operation, c)
                if mine is None or theirs is None or not mine.rps or not theirs.rps:
                    continue
                comparable = theirs.note is None or "not comparable" not in theirs.note
                out.append(
                    {
                        "operation": operation,
                        "concurrency": c,
                        "peer": peer,
                        "ratio": round(mine.rps / theirs.rps, 2) if comparable else None,
                    }
                )
    return out


def signing(run: Run) -> list[dict[str, Any]]:
    out = []
    workers = run.settings["tessera_workers"]
    for operation in run.settings["operations"]:
        if not operation.startswith("GetWebIdentityToken-"):
            continue
        alg = operation.split("-", 1)[1]
        rates = run.raw_signing.get(alg, {})
        for c in run.settings["concurrency"]:
            mine = _cell(run, "tessera", operation, c)
            threads = min(c, workers, os.cpu_count() or 1)
            raw = rates.get(str(threads))
            if mine is None or not mine.rps or not raw:
                continue
            out.append(
                {
                    "operation": operation,
                    "concurrency": c,
                    "rps": mine.rps,
                    "raw_threads": threads,
                    "raw_signs_per_second": round(raw, 1),
                    "ratio": round(mine.rps / raw, 3),
                    "ratio_to_one_thread": round(mine.rps / rates["1"], 3)
                    if "1" in rates
                    else None,
                }
            )
    return out


def checks(
    run: Run, ratio_rows: list[dict[str, Any]], sign_rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    top = max(run.settings["concurrency"])
    for row in ratio_rows:
        if row["operation"] in ("GetCallerIdentity", "AssumeRole") and row["ratio"] is not None:
            want = TARGET_VS[row["peer"]]
            label = f"{row['operation']} c={row['concurrency']}"
            out.append(
                {
                    "check": f"{label}: ≥ {want:g}× {LABELS[row['peer']]}",
                    "value": f"{row['ratio']:g}×",
                    "met": row["ratio"] >= want,
                }
            )
    for operation in ("GetCallerIdentity", "AssumeRole"):
        cell = _cell(run, "tessera", operation, top)
        if cell is not None and cell.p99_ms is not None and top >= 16:
            out.append(
                {
                    "check": f"{operation} c={top}: p99 < {TARGET_P99_MS:g} ms",
                    "value": f"{cell.p99_ms:.2f} ms",
                    "met": cell.p99_ms < TARGET_P99_MS,
                }
            )
    for row in sign_rows:
        out.append(
            {
                "check": f"{row['operation']} c={row['concurrency']}: ≥ {TARGET_SIGNING:.0%} of raw"
                f" signing ({row['raw_threads']} thread{'s' if row['raw_threads'] > 1 else ''})",
                "value": f"{row['ratio']:.0%}",
                "met": row["ratio"] >= TARGET_SIGNING,
            }
        )
    return out


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def markdown(doc: dict[str, Any]) -> str:
    run_targets = doc["targets"]
    lines = [
        f"# Tessera benchmark — {doc['started']}",
        "",
        f"Host: {doc['host']['cpus']} CPUs, {doc['host']['platform']}, Python"
        f" {doc['host']['python']}. Generator: {doc['settings']['generator']}"
        f" ({doc['settings']['seconds']:g} s per cell, same machine). Tessera workers:"
        f" {doc['settings']['tessera_workers']}.",
        "",
        "| Server | Version | Status |",
        "|---|---|---|",
    ]
    for name, info in run_targets.items():
        status = (
            "; ".join(info.get("notes", []))
            if info["available"]
            else f"unavailable: {info['reason']}"
        )
        status = " ".join(status.replace("|", "/").split())
        lines.append(f"| {LABELS[name]} | {info.get('version') or '–'} | {status} |")
    ratio_by = {(r["operation"], r["concurrency"], r["peer"]): r["ratio"] for r in doc["ratios"]}
    lines += [
        "",
        "| Operation | Conc. | Server | req/s | p50 ms | p99 ms | CPU ms/req | Errors"
        " | Tessera ÷ server |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for cell in doc["results"]:
        if cell["supported"]:
            ratio = ratio_by.get((cell["operation"], cell["concurrency"], cell["target"]))
            lines.append(
                f"| {cell['operation']} | {cell['concurrency']} | {LABELS[cell['target']]}"
                f" | {_fmt(cell['rps'], 0)} | {_fmt(cell['p50_ms'])} | {_fmt(cell['p99_ms'])}"
                f" | {_fmt(cell['cpu_ms_per_request'], 3)} | {cell['errors']}"
                f" | {'' if cell['target'] == 'tessera' else (f'{ratio:g}×' if ratio else 'n/a')} |"
            )
            if cell.get("note"):
                lines[-1] = lines[-1][:-1] + f"{cell['note']} |"
        else:
            lines.append(
                f"| {cell['operation']} | {cell['concurrency']} | {LABELS[cell['target']]}"
                f" | {cell['note']} | | | | | |"
            )
    if doc["signing"]:
        lines += [
            "",
            "| Operation | Conc. | Tessera req/s | Raw signs/s (threads) | Tessera ÷ raw"
            " | ÷ raw, 1 thread |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for row in doc["signing"]:
            one = row["ratio_to_one_thread"]
            lines.append(
                f"| {row['operation']} | {row['concurrency']} | {_fmt(row['rps'], 0)}"
                f" | {_fmt(row['raw_signs_per_second'], 0)} ({row['raw_threads']})"
                f" | {row['ratio']:.0%} | {'–' if one is None else f'{one:.0%}'} |"
            )
    if doc["memory_mb"]:
        lines += ["", "Resident memory after the run (MB, per process of the server):", ""]
        for name, values in doc["memory_mb"].items():
            lines.append(f"- {LABELS[name]}: {', '.join(f'{v:g}' for v in values)}")
    if doc["checks"]:
        lines += ["", "| Target (issue #7) | Measured | Met |", "|---|---:|:---:|"]
        for row in doc["checks"]:
            lines.append(f"| {row['check']} | {row['value']} | {'yes' if row['met'] else 'NO'} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Tessera vs moto_server vs MiniStack, side by side, on loopback."
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="per cell (default 5, max 60)")
    parser.add_argument(
        "--concurrency", default="1,4,16", help="comma-separated connection counts (default 1,4,16)"
    )
    parser.add_argument(
        "--operations",
        default=",".join(OPERATIONS),
        help=f"comma-separated subset of {','.join(OPERATIONS)}",
    )
    parser.add_argument(
        "--peers", default="moto,ministack", help="comma-separated peers, or 'none' (default both)"
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="do not pip-install missing peers into bench/.peers (report them unavailable)",
    )
    parser.add_argument(
        "--generator",
        choices=("auto", "wrk", "async"),
        default="auto",
        help="load generator: wrk if installed (auto), or the built-in asyncio client",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="Tessera worker processes (default: CPUs)",
    )
    parser.add_argument(
        "--database-url", help="run Tessera on this PostgreSQL database (must be empty)"
    )
    parser.add_argument(
        "--raw-seconds", type=float, default=2.0, help="per raw-signing measurement"
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=None,
        help="request budget per cell (async generator; smoke tests)",
    )
    parser.add_argument("--warmup", type=int, default=200, help="warm-up requests per operation")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results", help="result directory")
    args = parser.parse_args(argv)
    args.seconds = min(max(args.seconds, 0.2), 60.0)
    args.concurrency = [max(1, min(256, int(c))) for c in str(args.concurrency).split(",") if c]
    args.operations = [o for o in args.operations.split(",") if o]
    unknown = [o for o in args.operations if o not in OPERATIONS]
    if unknown:
        parser.error(f"unknown operations {unknown}; choose from {list(OPERATIONS)}")
    args.peers = [] if args.peers in ("", "none") else [p for p in args.peers.split(",") if p]
    bad = [p for p in args.peers if p not in PEERS]
    if bad:
        parser.error(f"unknown peers {bad}; choose from {list(PEERS)}")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    generator, gen_note = loadgen.choose_generator(args.generator)
    if args.max_requests is not None:
        generator = "async"
    if gen_note:
        print(gen_note, flush=True)
    started = datetime.now(UTC)
    run = Run(
        settings={
            "seconds": args.seconds,
            "concurrency": args.concurrency,
            "operations": args.operations,
            "generator": generator,
            "tessera_workers": args.workers,
            "database": "postgresql" if args.database_url else "sqlite",
            "max_requests": args.max_requests,
        }
    )
    payloads: dict[str, int] = {}

    # --- Tessera
    print(f"Tessera ({args.workers} workers)", flush=True)
    try:
        tessera = start_tessera(args.workers, args.database_url)
    except Exception as exc:
        run.targets["tessera"] = {"available": False, "reason": str(exc)[:400]}
        print(f"  could not start Tessera: {exc}", flush=True)
    else:
        try:
            payloads = bench_target(tessera, run, args, generator)
            run.targets["tessera"] = {
                "available": True,
                "version": tessera.version,
                "notes": tessera.notes,
            }
        except Exception as exc:
            run.targets["tessera"] = {"available": False, "reason": f"{exc}"[:400]}
            print(f"  failed: {exc}\n{tessera.log_tail()}", flush=True)
        finally:
            tessera.stop()

    # --- raw signing, same run, same machine, servers stopped
    threads = sorted({1, min(max(args.concurrency), args.workers, os.cpu_count() or 1)})
    for operation in args.operations:
        if not operation.startswith("GetWebIdentityToken-"):
            continue
        alg = operation.split("-", 1)[1]
        run.raw_signing[alg] = {
            str(t): round(
                raw_signing_rate(alg, payloads.get(operation, 600), t, args.raw_seconds), 1
            )
            for t in threads
        }
        print(f"raw {alg} signing: {run.raw_signing[alg]} signs/s by thread count", flush=True)

    # --- peers
    missing = [p for p in args.peers if find_peer(p) is None]
    problems: dict[str, str] = {}
    if missing and not args.no_install:
        print(
            f"installing missing peers {missing} from PyPI (once; --no-install to skip)", flush=True
        )
        problems = install_peers(missing)
    for peer in args.peers:
        exe = find_peer(peer)
        if exe is None:
            reason = problems.get(peer) or (
                f"{PEER_PACKAGES[peer]} not installed (pip install '{PEER_PACKAGES[peer]}',"
                " or run without --no-install)"
            )
            run.targets[peer] = {"available": False, "reason": reason}
            print(f"{LABELS[peer]}: unavailable ({reason})", flush=True)
            continue
        print(f"{LABELS[peer]} ({exe})", flush=True)
        try:
            target = start_peer(peer, exe)
        except Exception as exc:
            run.targets[peer] = {"available": False, "reason": f"could not start: {exc}"[:400]}
            print(f"  could not start: {exc}", flush=True)
            continue
        try:
            bench_target(target, run, args, generator)
            run.targets[peer] = {
                "available": True,
                "version": target.version,
                "notes": target.notes,
            }
        except Exception as exc:
            run.targets[peer] = {"available": False, "reason": f"failed: {exc}"[:400]}
            print(f"  failed: {exc}", flush=True)
        finally:
            target.stop()

    ratio_rows = ratios(run)
    sign_rows = signing(run)
    doc: dict[str, Any] = {
        "tessera_bench": 1,
        "started": started.isoformat(timespec="seconds"),
        "host": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "settings": run.settings,
        "targets": run.targets,
        "results": [cell.__dict__ for cell in run.cells],
        "ratios": ratio_rows,
        "raw_signing": run.raw_signing,
        "signing": sign_rows,
        "memory_mb": run.memory_mb,
        "checks": checks(run, ratio_rows, sign_rows),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    text = markdown(doc)
    for name in (f"bench-{stamp}", "latest"):
        (args.out / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
        (args.out / f"{name}.md").write_text(text)
    print()
    print(text)
    print(f"results: {args.out / f'bench-{stamp}.json'} and .md")
    return doc


if __name__ == "__main__":
    main()
