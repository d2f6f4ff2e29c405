"""What the audit trail costs over HTTP (#19's target: at most 10 % of throughput at
c = 16): two ``tessera serve`` processes on loopback, identical but for
``--insecure-no-audit`` on one, each seeded like ``run.py`` seeds Tessera, and the
same pre-signed GetCallerIdentity and AssumeRole requests replayed against them in
short alternating rounds (on, off, on, off …) so both see the same machine load.
Metrics stay on in both: this isolates the audit trail. Prints requests per second,
server CPU per request and the ratios, and writes them as JSON with ``--out``.

    .venv/bin/python bench/audit_http.py --rounds 4 --seconds 2
    .venv/bin/python bench/audit_http.py --postgres postgresql://postgres@127.0.0.1:5432/test

Bounded: ``--rounds`` × 2 modes × ``--seconds`` per operation, loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import choose_generator, run_load, tree_cpu_seconds
from bench.targets import Target, seed, start_tessera

OPERATIONS = ("GetCallerIdentity", "AssumeRole")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="alternations per operation")
    parser.add_argument("--seconds", type=float, default=2.0, help="per round (max 10)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--generator", choices=("auto", "wrk", "async"), default="auto")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="an extra `tessera serve` option for both servers (repeatable), e.g. "
        "--server-arg=--busy-poll-us=0",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=None,
        help="store each server in its own new database on this PostgreSQL server "
        "(e.g. postgresql://postgres@127.0.0.1:5432/test; created and dropped here) "
        "instead of SQLite",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    seconds = min(max(args.seconds, 0.5), 10.0)
    rounds = min(max(args.rounds, 1), 20)
    generator, _why = choose_generator(args.generator)
    servers: dict[str, Target] = {}
    databases: list[str] = []
    try:
        extra = tuple(args.server_arg)
        urls: dict[str, str | None] = {"on": None, "off": None}
        if args.postgres:
            for mode in urls:
                name = f"tessera_audit_bench_{mode}_{os.getpid()}"
                _database(args.postgres, f'CREATE DATABASE "{name}"')
                databases.append(name)
                urls[mode] = _with_database(args.postgres, name)
        servers["on"] = start_tessera(args.workers, urls["on"], extra_args=extra)
        servers["off"] = start_tessera(
            args.workers, urls["off"], extra_args=(*extra, "--insecure-no-audit")
        )
        for target in servers.values():
            seed(target)
        results: dict[str, Any] = {
            "store": "postgresql" if args.postgres else "sqlite",
            "generator": generator,
            "concurrency": args.concurrency,
            "workers": args.workers,
            "rounds": rounds,
            "seconds_per_round": seconds,
            "operations": {},
        }
        for operation in OPERATIONS:
            requests = {mode: target.request(operation) for mode, target in servers.items()}
            for mode in servers:  # warm-up (caches, connections, JIT-free but lazy imports)
                run_load(generator, requests[mode], args.concurrency, 0.5)
            totals = {
                mode: {"requests": 0, "errors": 0, "seconds": 0.0, "cpu": 0.0} for mode in servers
            }
            pair_costs: list[float] = []  # each on/off pair of rounds: its own ratio
            for _ in range(rounds):
                pair: dict[str, float] = {}
                for mode, target in servers.items():
                    assert target.pid is not None
                    cpu0 = tree_cpu_seconds(target.pid) or 0.0
                    result = run_load(generator, requests[mode], args.concurrency, seconds)
                    cpu1 = tree_cpu_seconds(target.pid) or 0.0
                    t = totals[mode]
                    t["requests"] += result.requests
                    t["errors"] += result.errors
                    t["seconds"] += result.seconds
                    t["cpu"] += cpu1 - cpu0
                    pair[mode] = result.requests / max(result.seconds, 1e-9)
                if pair.get("off"):
                    pair_costs.append((1 - pair["on"] / pair["off"]) * 100)
            row: dict[str, Any] = {}
            for mode, t in totals.items():
                row[mode] = {
                    "requests": t["requests"],
                    "errors": t["errors"],
                    "rps": round(t["requests"] / t["seconds"], 1),
                    "server_cpu_us_per_request": round(t["cpu"] / max(t["requests"], 1) * 1e6, 1),
                }
            row["throughput_cost_pct"] = round((1 - row["on"]["rps"] / row["off"]["rps"]) * 100, 1)
            row["cpu_per_request_extra_pct"] = round(
                (
                    row["on"]["server_cpu_us_per_request"] / row["off"]["server_cpu_us_per_request"]
                    - 1
                )
                * 100,
                1,
            )
            # the machine's speed drifts: the spread of the per-pair ratios says how
            # far to trust the total
            pair_costs.sort()
            row["pair_cost_pct"] = {
                "min": round(pair_costs[0], 1),
                "median": round(pair_costs[len(pair_costs) // 2], 1),
                "max": round(pair_costs[-1], 1),
            }
            results["operations"][operation] = row
            print(
                f"{operation}: audit on {row['on']['rps']:,.0f}/s "
                f"({row['on']['server_cpu_us_per_request']:.0f} µs CPU/req), "
                f"off {row['off']['rps']:,.0f}/s "
                f"({row['off']['server_cpu_us_per_request']:.0f} µs CPU/req): "
                f"throughput cost {row['throughput_cost_pct']:.1f} %, "
                f"server CPU per request +{row['cpu_per_request_extra_pct']:.1f} %, "
                f"errors {row['on']['errors']}/{row['off']['errors']}; "
                f"per pair of rounds {row['pair_cost_pct']['min']:.1f} / "
                f"{row['pair_cost_pct']['median']:.1f} / {row['pair_cost_pct']['max']:.1f} % "
                "(min / median / max)",
                flush=True,
            )
        if args.out is not None:
            args.out.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        for target in servers.values():
            target.stop()
        for name in databases:
            _database(args.postgres, f'DROP DATABASE IF EXISTS "{name}"')
    return 0


def _with_database(url: str, name: str) -> str:
    """``url`` with its database replaced by ``name``."""
    base, _sep, query = url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")


def _database(url: str, statement: str) -> None:
    """Run ``statement`` (CREATE/DROP DATABASE) on the server ``url`` names."""
    import psycopg

    with psycopg.connect(
        url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    ) as conn:
        conn.execute(statement.encode())


if __name__ == "__main__":
    raise SystemExit(main())
