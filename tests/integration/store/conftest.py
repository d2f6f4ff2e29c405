"""The store every conformance test runs against: a fresh, migrated store on each
engine (SQLite in a temporary directory, PostgreSQL in a fresh schema), wrapped
in a ``RecordingStore`` so the suite can prove it calls every Protocol method on
both engines (``coverage.py`` owns the recording and the session-end check).
Test modules that need seed data override ``store`` and request this one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from tessera.kek import KeyEncryptionKey
from tessera.store.sql import SqlStore, open_sql_store
from tests.integration.store.coverage import RecordingStore


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
