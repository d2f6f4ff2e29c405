"""Shared fixtures: a PostgreSQL schema per test (required in CI), a private HOME
for the whole session (so no test, and no AWS CLI or SDK it starts, reads or writes
the real ``~/.aws``), and helpers. It also registers the store's Protocol-coverage
check (``tests/integration/store/coverage.py``) in every process: under
pytest-xdist the controller, which makes the check, collects nothing, so it loads
only the conftest files on the way to the command-line paths (``tests`` by
default), and this is the one they all share."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.store.coverage import STORE_COVERAGE

#: the HOME the test session started with; :func:`_private_home` replaces it
REAL_HOME = os.environ.get("HOME", "")

PG_BASE_URL = os.environ.get(
    "TESSERA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(STORE_COVERAGE, "tessera-store-protocol-coverage")


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


_HOME_VARS = ("HOME", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


@pytest.fixture(autouse=True, scope="session")
def _private_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """HOME, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE point into a temporary
    directory for the whole session: every subprocess inherits them, so the AWS CLI's
    caches (``~/.aws/cli/cache`` after a web-identity call) and configuration stay
    out of the real home. ``tests/test_isolation.py`` checks it."""
    home = tmp_path_factory.mktemp("home")
    (home / ".aws").mkdir()
    saved = {name: os.environ.get(name) for name in _HOME_VARS}
    os.environ["HOME"] = str(home)
    os.environ["AWS_CONFIG_FILE"] = str(home / ".aws" / "config")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(home / ".aws" / "credentials")
    try:
        yield home
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
