"""The conformance suite calls every method of every storage Protocol on every
engine it ran on (SQLite always, PostgreSQL when reachable). Runs last (see the
conftest); skipped when the run saw only part of the suite."""

from __future__ import annotations

import pytest

from tests.integration.store.coverage import CALLED, INCOMPLETE, MEMBERS


def test_protocol_members_are_known() -> None:
    assert {"get_user", "use_mfa_step", "use_saml_assertion", "kek"} <= set(MEMBERS)


def test_every_protocol_method_is_called_on_every_engine() -> None:
    if INCOMPLETE:
        pytest.skip("; ".join(INCOMPLETE))
    assert "sqlite" in CALLED, "no conformance test ran on SQLite"
    missing = {
        engine: sorted(f"{MEMBERS[name]}.{name}" for name in set(MEMBERS) - called)
        for engine, called in CALLED.items()
    }
    assert not any(missing.values()), f"never called by the conformance suite: {missing}"
