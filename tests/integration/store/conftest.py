"""The store every conformance test runs against: a fresh, migrated store on each
engine (SQLite in a temporary directory, PostgreSQL in a fresh schema), wrapped
in a ``RecordingStore`` so the suite can prove it calls every Protocol method on
both engines (``coverage.py``, ``test_zz_protocol_coverage.py``). Test modules
that need seed data override ``store`` and request this one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from tessera.kek import KeyEncryptionKey
from tessera.store.sql import SqlStore, open_sql_store
from tests.integration.store.coverage import INCOMPLETE, RecordingStore

_HERE = Path(__file__).parent
_CHECK = "test_zz_protocol_coverage.py"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    kek = KeyEncryptionKey(os.urandom(32))
    if request.param == "sqlite":
        st = open_sql_store(kek, data_dir=tmp_path)
    else:
        st = open_sql_store(kek, database_url=request.getfixturevalue("pg_url"))
    st.initialise()
    try:
        yield cast(SqlStore, RecordingStore(st, request.param))
    finally:
        st.close()


def _ours(item: pytest.Item) -> bool:
    return item.path.parent == _HERE


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the coverage check last (after any shuffling), and note when this run
    cannot see the whole conformance suite (then the check skips)."""
    ours = [i for i in items if _ours(i)]
    checks = [i for i in ours if i.path.name == _CHECK]
    if not checks:
        return
    expected = {p.name for p in _HERE.glob("test_*.py")}
    collected = {i.path.name for i in ours}
    if collected != expected:
        INCOMPLETE.append(f"modules not collected: {sorted(expected - collected)}")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        INCOMPLETE.append("an xdist worker sees only part of the suite")
    for check in checks:
        items.remove(check)
        items.append(check)


def pytest_deselected(items: list[pytest.Item]) -> None:
    if any(_ours(i) for i in items):
        INCOMPLETE.append("conformance tests were deselected")
