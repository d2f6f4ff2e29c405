"""Shared fixtures: a PostgreSQL schema per test (required in CI), and helpers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_BASE_URL = os.environ.get(
    "TESSERA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _postgres_required() -> bool:
    return bool(os.environ.get("TESSERA_REQUIRE_POSTGRES")) or os.environ.get("CI") == "true"


def _pg_connect() -> object:
    import psycopg

    return psycopg.connect(PG_BASE_URL, autocommit=True, connect_timeout=5)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh, empty schema (dropped afterwards)."""
    try:
        conn = _pg_connect()
    except Exception as exc:  # pragma: no cover - depends on the machine
        if _postgres_required():
            pytest.fail(f"PostgreSQL is required here but unreachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_BASE_URL}: {exc}")
    schema = "t_" + uuid.uuid4().hex[:12]
    conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[attr-defined]
    sep = "&" if "?" in PG_BASE_URL else "?"
    try:
        yield f"{PG_BASE_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[attr-defined]
        conn.close()  # type: ignore[attr-defined]
