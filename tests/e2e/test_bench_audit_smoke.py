"""Smoke test of ``bench/audit_http.py`` (what the audit trail costs over HTTP) so
it cannot rot: one short round per operation against two real servers, on SQLite
and on PostgreSQL (``--postgres``: a new database per server, dropped afterwards),
with the asyncio generator. Asserts structure and zero errors, never timings."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench import audit_http

from tests.conftest import PG_BASE_URL

_ARGS = ["--rounds", "1", "--seconds", "0.5", "--workers", "1", "--generator", "async"]


def _check(out: Path, store: str) -> None:
    doc = json.loads(out.read_text())
    assert doc["store"] == store
    assert set(doc["operations"]) == {"GetCallerIdentity", "AssumeRole"}
    for row in doc["operations"].values():
        for mode in ("on", "off"):
            assert row[mode]["requests"] > 0 and row[mode]["errors"] == 0, row
            assert row[mode]["rps"] > 0
        assert {"min", "median", "max"} <= set(row["pair_cost_pct"])


def test_audit_http_on_sqlite(tmp_path: Path) -> None:
    out = tmp_path / "audit.json"
    assert audit_http.main([*_ARGS, "--out", str(out)]) == 0
    _check(out, "sqlite")


def test_audit_http_on_postgres_drops_its_databases(tmp_path: Path, pg_url: str) -> None:
    import psycopg

    out = tmp_path / "audit.json"
    assert audit_http.main([*_ARGS, "--postgres", PG_BASE_URL, "--out", str(out)]) == 0
    _check(out, "postgresql")
    with psycopg.connect(PG_BASE_URL, autocommit=True) as conn:
        left = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            (f"tessera_audit_bench_%_{os.getpid()}",),
        ).fetchall()
    assert left == []


def test_a_database_url_keeps_its_query(tmp_path: Path) -> None:
    assert (
        audit_http._with_database("postgresql://u@h:5432/test?sslmode=disable", "other")
        == "postgresql://u@h:5432/other?sslmode=disable"
    )
    assert audit_http._with_database("postgresql://u@h/test", "x") == "postgresql://u@h/x"
