"""Fixtures for the STS tests: one in-process server per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sts_harness import LocalServer, start_local_server
from tests.e2e.server import free_port


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    srv = start_local_server(tmp_path_factory.mktemp("sts") / "data", free_port())
    try:
        yield srv
    finally:
        srv.server.should_exit = True
        srv.runtime.store.close()


@pytest.fixture(autouse=True)
def _reset(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "local" in request.fixturenames:
        srv: LocalServer = request.getfixturevalue("local")
        srv.clock.offset = 0.0
        srv.authz.deny.clear()
