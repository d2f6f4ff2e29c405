"""The cost of one request as the store grows: a store with 1 account and 10 roles
against one with 1,000 accounts and 100,000 roles, on SQLite and on PostgreSQL.

    python bench/store_growth.py                          # both engines, both sizes
    python bench/store_growth.py --engines sqlite --roles 10,100000 --seconds 5

The large store is filled straight through the store's tables (100,000 rows in one
transaction; going through the API would take minutes), then the server is started
and seeded exactly as ``bench/run.py`` does, and GetCallerIdentity and AssumeRole
are replayed at one concurrency. Reports requests/s, p99, CPU per request and the
resident memory of each worker, and the ratio large/small (issue #7: ≥ 90 %,
< 150 MB per worker). PostgreSQL runs in a fresh schema of ``--database-url``
(default the test database), dropped afterwards. Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for extra in (str(ROOT), str(ROOT / "src")):
    if extra not in sys.path:
        sys.path.insert(0, extra)

from bench import loadgen  # noqa: E402
from bench.targets import init_tessera, seed, start_tessera  # noqa: E402

PG_DEFAULT = os.environ.get(
    "TESSERA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
ROLES_PER_ACCOUNT = 100


def fill(data_dir: Path, database_url: str | None, roles: int) -> int:
    """Add ``roles`` roles (100 per extra account) beside the bench's own state;
    returns the number of accounts added."""
    from sqlalchemy import insert

    from tessera import ids
    from tessera.app.bootstrap import open_store
    from tessera.store.sql import schema as s

    if roles <= 0:
        return 0
    store = open_store(data_dir, database_url)
    now = datetime.now(UTC)
    accounts = max(1, -(-roles // ROLES_PER_ACCOUNT))
    account_ids = [f"{900000000000 + i:012d}" for i in range(accounts)]
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::900000000000:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    rows = []
    for i in range(roles):
        acct = account_ids[i // ROLES_PER_ACCOUNT]
        name = f"role-{i:06d}"
        rows.append(
            dict(
                account_id=acct,
                name_key=name,
                name=name,
                path="/fleet/",
                role_id=ids.new_unique_id(ids.ROLE_PREFIX),
                created_at=now,
                trust_policy=trust,
                description=None,
                max_session_duration=3600,
                permissions_boundary=None,
            )
        )
    try:
        with store._tx() as conn:
            conn.execute(
                insert(s.accounts),
                [dict(account_id=a, created_at=now, outbound_enabled=False) for a in account_ids],
            )
            for start in range(0, len(rows), 10_000):
                conn.execute(insert(s.roles), rows[start : start + 10_000])
    finally:
        store.close()
    return accounts


def pg_schema_url(base: str) -> tuple[str, str]:
    schema = "bench_" + uuid.uuid4().hex[:10]
    import psycopg

    with psycopg.connect(base, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def pg_drop(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def one(engine: str, roles: int, args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="tessera-growth-"))
    data = tmp / "data"
    url: str | None = None
    schema = None
    result: dict[str, Any] = {"engine": engine, "roles": roles}
    try:
        if engine == "postgresql":
            try:
                url, schema = pg_schema_url(args.database_url)
            except Exception as exc:
                result["unavailable"] = f"PostgreSQL unreachable: {exc}"[:300]
                return result
        root = init_tessera(data, url)
        t0 = time.perf_counter()
        result["accounts"] = 1 + fill(data, url, roles - 10 if roles > 10 else 0)
        result["fill_seconds"] = round(time.perf_counter() - t0, 1)
        target = start_tessera(args.workers, url, data_dir=data, root=root)
        try:
            seed(target)
            for operation in ("GetCallerIdentity", "AssumeRole"):
                request = target.request(operation)
                loadgen.run_load(args.generator, request, 4, 1.0, args.warmup)
                assert target.pid is not None
                cpu0 = loadgen.tree_cpu_seconds(target.pid)
                load = loadgen.run_load(args.generator, request, args.concurrency, args.seconds)
                cpu1 = loadgen.tree_cpu_seconds(target.pid)
                result[operation] = {
                    "rps": round(load.rps, 1),
                    "p99_ms": round(load.p99_ms, 3),
                    "errors": load.errors,
                    "cpu_ms_per_request": (
                        round((cpu1 - cpu0) * 1000 / load.requests, 3)
                        if cpu0 is not None and cpu1 is not None and load.requests
                        else None
                    ),
                }
            tree = loadgen.process_tree(target.pid) if target.pid else []
            result["rss_mb"] = [
                round(r, 1) for r in (loadgen.rss_mb(p) for p in tree) if r is not None
            ]
        finally:
            target.stop()
    finally:
        if schema is not None:
            pg_drop(args.database_url, schema)
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--roles", default="10,100000", help="store sizes (roles), smallest first")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--generator", choices=("auto", "wrk", "async"), default="auto")
    parser.add_argument("--database-url", default=PG_DEFAULT, help="PostgreSQL server (base URL)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    args = parser.parse_args(argv)
    args.generator, note = loadgen.choose_generator(args.generator)
    if note:
        print(note)
    sizes = [int(r) for r in args.roles.split(",")]
    results = []
    for engine in args.engines.split(","):
        for roles in sizes:
            print(f"{engine}, {roles:,} roles …", flush=True)
            row = one(engine, roles, args)
            results.append(row)
            print("  " + json.dumps(row), flush=True)
    lines = [
        "| Engine | Roles | Accounts | GetCallerIdentity req/s | AssumeRole req/s"
        " | AssumeRole p99 ms | AssumeRole CPU ms/req | RSS MB (per process) | vs smallest |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    base: dict[str, float] = {}
    for row in results:
        if "unavailable" in row:
            lines.append(
                f"| {row['engine']} | {row['roles']:,} | | {row['unavailable']} | | | | | |"
            )
            continue
        gci, ar = row["GetCallerIdentity"], row["AssumeRole"]
        base.setdefault(row["engine"], ar["rps"])
        ratio = ar["rps"] / base[row["engine"]] if base[row["engine"]] else 0
        lines.append(
            f"| {row['engine']} | {row['roles']:,} | {row['accounts']:,} | {gci['rps']:,.0f}"
            f" | {ar['rps']:,.0f} | {ar['p99_ms']:.2f} | {ar['cpu_ms_per_request']}"
            f" | {', '.join(f'{v:g}' for v in row['rss_mb'])} | {ratio:.0%} |"
        )
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "store-growth.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "store-growth.md").write_text(text)
    print()
    print(text)
    return results


if __name__ == "__main__":
    main()
