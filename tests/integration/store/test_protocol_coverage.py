"""The Protocol-coverage check (``coverage.py``) itself: it knows the Protocol
members, and it fails, passes and skips when it should, with and without
pytest-xdist. The check runs at the end of a session, so these tests run pytest
in a subprocess on a tiny generated suite (two modules, two engines, a fake store
with the members ``ping`` and ``pong``) that registers its own ``ProtocolCoverage``
the way ``tests/conftest.py`` registers the real one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.store.coverage import STORE_COVERAGE

_REPO = Path(__file__).resolve().parents[3]

_CONFTEST = """
from pathlib import Path

import pytest

from tests.integration.store.coverage import ProtocolCoverage, RecordingStore

COVERAGE = ProtocolCoverage(Path(__file__).parent, {"ping": "Fake", "pong": "Fake"})


def pytest_configure(config):
    config.pluginmanager.register(COVERAGE, "protocol-coverage")


class Fake:
    def __init__(self, engine):
        self.engine = engine

    def ping(self):
        return "ping"

    def pong(self):
        return "pong"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request):
    return RecordingStore(Fake(request.param), request.param, COVERAGE)
"""

_PING = """
def test_ping(store):
    assert store.ping() == "ping"
"""

_PONG = """
def test_pong(store):
    assert store.pong() == "pong"
"""

# the gap: pong is never called on PostgreSQL
_PONG_SQLITE_ONLY = """
def test_pong(store):
    if store.engine == "sqlite":
        assert store.pong() == "pong"
"""

_XDIST = ["-n", "2", "--dist", "loadfile"]
_SERIAL = ["-n", "0"]


def _suite(root: Path, pong: str) -> Path:
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "conftest.py").write_text(_CONFTEST)
    (root / "test_ping.py").write_text(_PING)
    (root / "test_pong.py").write_text(pong)
    return root


def _pytest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # nothing of this session leaks in; only xdist of the installed plugins (the
    # others, hypothesis above all, would triple the start-up time)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    env.update(PYTHONPATH=str(_REPO), PY_COLORS="0", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "xdist",
            "-p",
            "no:cacheprovider",
            "-v",
            "-ra",
            *args,
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _assert_split(output: str) -> None:
    """Under xdist the two modules ran on two workers (loadfile hands each worker
    one file first), so the check's verdict needed both workers' records."""
    ping, pong = (
        set(re.findall(rf"^\[(gw\d+)\].* {module}::", output, re.MULTILINE))
        for module in ("test_ping.py", "test_pong.py")
    )
    assert len(ping) == len(pong) == 1 and ping != pong, output


def test_protocol_members_are_known() -> None:
    assert {"get_user", "use_mfa_step", "use_saml_assertion", "kek"} <= set(STORE_COVERAGE.members)


@pytest.mark.parametrize("mode", [_SERIAL, _XDIST], ids=["serial", "xdist"])
def test_a_method_never_called_fails_the_run_and_is_named(tmp_path: Path, mode: list[str]) -> None:
    run = _pytest(_suite(tmp_path, _PONG_SQLITE_ONLY), *mode)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "FAILED .::protocol-coverage - Protocol methods never called" in out, out
    assert "\nProtocol methods never called: postgresql: Fake.pong\n" in out, out
    assert "1 failed, 4 passed" in out, out
    if mode is _XDIST:
        _assert_split(out)


@pytest.mark.parametrize("mode", [_SERIAL, _XDIST], ids=["serial", "xdist"])
def test_every_method_called_passes(tmp_path: Path, mode: list[str]) -> None:
    run = _pytest(_suite(tmp_path, _PONG), *mode)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "5 passed" in out, out
    assert "Protocol coverage of .: all 2 Protocol members called on postgresql, sqlite" in out, out
    if mode is _XDIST:
        _assert_split(out)


@pytest.mark.parametrize(
    ("mode", "select", "reason"),
    [
        (_SERIAL, ["test_ping.py"], "modules not collected: ['test_pong.py']"),
        (_XDIST, ["test_ping.py"], "modules not collected: ['test_pong.py']"),
        (_SERIAL, ["-k", "not postgresql"], "2 conformance tests deselected"),
        (_XDIST, ["-k", "not postgresql"], "2 conformance tests deselected"),
        # serial only: under xdist the other worker may finish test_pong.py first
        (_SERIAL, ["-x"], "3 of 4 conformance tests did not run"),
    ],
    ids=["module-serial", "module-xdist", "deselected-serial", "deselected-xdist", "stopped"],
)
def test_a_partial_run_skips_with_the_reason(
    tmp_path: Path, mode: list[str], select: list[str], reason: str
) -> None:
    root = _suite(tmp_path, _PONG)
    if select == ["-x"]:  # the first test fails: the session stops there
        (root / "test_ping.py").write_text("def test_ping(store):\n    assert False\n")
    run = _pytest(root, *mode, *select)
    out = run.stdout + run.stderr
    assert run.returncode == (1 if select == ["-x"] else 0), out
    assert "SKIPPED [1] .: the run saw only part of the conformance suite" in out, out
    assert reason in out, out
    assert "never called" not in out, out
