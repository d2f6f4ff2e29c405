"""Fixtures for tessera.verify tests: a real local issuer on 127.0.0.1 (shared per
module, counters and overrides reset per test) and a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tessera.clock import FixedClock
from tessera.verify.testing import LocalIssuer

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def module_issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(now=NOW) as iss:
        yield iss


@pytest.fixture
def issuer(module_issuer: LocalIssuer) -> Iterator[LocalIssuer]:
    module_issuer.requests.clear()
    module_issuer.overrides.clear()
    ring = module_issuer.ring
    yield module_issuer
    module_issuer.ring = ring
    module_issuer.overrides.clear()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)
