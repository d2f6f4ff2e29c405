"""End-to-end fixtures: one real server per module (fresh data dir)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import TesseraServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TesseraServer]:
    base: Path = tmp_path_factory.mktemp("tessera")
    srv = TesseraServer(data_dir=base / "data")
    srv.init()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
