"""Which methods of the storage Protocols the conformance suite calls, per engine,
and the session-end check that every one of them was called on every engine.

The ``store`` fixture (``conftest.py`` here) hands out a ``RecordingStore``: a
proxy that forwards everything to the real store and notes each Protocol member
used. ``ProtocolCoverage`` is the pytest plugin that owns the notes and the
check; ``tests/conftest.py`` registers ``STORE_COVERAGE`` (the instance for this
directory and the Protocols in ``tessera.store.interface.AGGREGATES``) in every
process, since under pytest-xdist the controller never loads this directory's
conftest.

How the check sees the whole run:

- every process that runs tests (the single process with ``-n 0``, each xdist
  worker otherwise) records the calls it saw, which conformance tests it
  collected and whether any were deselected;
- an xdist worker hands its record to the controller through
  ``config.workeroutput`` (in ``pytest_sessionfinish``); the controller gathers
  them in ``pytest_testnodedown``;
- the process that reports the run (the controller, or the single process) counts
  the conformance tests that finished (``pytest_runtest_logreport``) and, in
  ``pytest_sessionfinish``, compares the calls with the Protocol members. It
  reports the outcome as one more test, ``tests/integration/store::protocol-coverage``:
  failed (naming each engine's never-called ``Protocol.method``, and the session
  exits non-zero), passed, or skipped when the run saw only part of the suite (a
  subset of the modules, deselected tests, a session stopped early, a worker that
  went down without its record). A run that collected no conformance test reports
  nothing.

``tests/integration/store/test_protocol_coverage.py`` runs this plugin on a tiny
generated suite, with and without xdist, and checks that it fails, passes and
skips when it should."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Generic, Literal, Protocol

import pytest

from tessera.store.interface import AGGREGATES

#: the key of a worker's record in ``config.workeroutput``
WORKEROUTPUT_KEY = "tessera_protocol_coverage"

Outcome = Literal["passed", "failed", "skipped"]


def protocol_members() -> dict[str, str]:
    """Member name -> the Protocol that declares it, over every aggregate."""
    out: dict[str, str] = {}
    for proto in AGGREGATES:
        for klass in proto.__mro__:
            if klass in (object, Protocol, Generic):
                continue
            for name in vars(klass):
                if not name.startswith("_"):
                    out.setdefault(name, klass.__name__)
    return out


class ProtocolCoverage:
    """A pytest plugin: every member of ``members`` must be called, through a
    ``RecordingStore``, on every engine the tests in ``suite_dir`` (the test
    modules directly in it) ran on, and at least on each of ``required_engines``."""

    def __init__(
        self,
        suite_dir: Path,
        members: Mapping[str, str],
        *,
        required_engines: tuple[str, ...] = ("sqlite",),
    ) -> None:
        self.suite_dir = suite_dir.resolve()
        #: member name -> the Protocol that declares it
        self.members = dict(members)
        self.required_engines = required_engines
        # what this process saw (a worker sends it to the controller)
        self.called: dict[str, set[str]] = {}
        self.collected: set[str] = set()  # node ids of the suite's tests
        self.deselected = 0
        # what the reporting process gathers
        self.records: dict[str, dict[str, Any] | None] = {}  # xdist worker id -> record
        self.finished: set[str] = set()  # node ids whose teardown was reported
        self.outcome: tuple[Outcome, str] | None = None  # (outcome, message), for the summary

    def record(self, engine: str, name: str) -> None:
        self.called.setdefault(engine, set()).add(name)

    def _ours(self, item: pytest.Item) -> bool:
        return item.path.parent == self.suite_dir

    # -- every process that collects and runs tests ---------------------------

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = {item.nodeid for item in session.items if self._ours(item)}

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += sum(1 for item in items if self._ours(item))

    def _own_record(self) -> dict[str, Any]:
        # plain lists and dicts: execnet carries workeroutput between processes
        return {
            "called": {engine: sorted(names) for engine, names in self.called.items()},
            "collected": sorted(self.collected),
            "deselected": self.deselected,
        }

    # -- the xdist controller --------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object | None) -> None:
        output = getattr(node, "workeroutput", None) or {}
        self.records[node.gateway.id] = output.get(WORKEROUTPUT_KEY)

    # -- the process that reports the run -------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            self.finished.add(report.nodeid)

    @pytest.hookimpl(tryfirst=True)  # before junitxml and the cache read the reports
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        config = session.config
        if hasattr(config, "workerinput"):  # an xdist worker: hand the record over
            config.workeroutput[WORKEROUTPUT_KEY] = self._own_record()
            return
        if config.option.collectonly:
            return
        if config.pluginmanager.has_plugin("dsession"):  # the xdist controller
            records = dict(self.records)
        else:
            records = {"main": self._own_record()}
        verdict = self.verdict(records)
        if verdict is None:
            return
        self.outcome = verdict
        outcome, message = verdict
        rel = self.suite_dir.relative_to(config.rootpath).as_posix()
        longrepr: str | tuple[str, int | None, str] = message
        if outcome == "skipped":
            longrepr = (str(self.suite_dir), None, f"Skipped: {message}")
        report = pytest.TestReport(
            nodeid=f"{rel}::protocol-coverage",
            location=(rel, None, "protocol-coverage"),
            keywords={},
            outcome=outcome,
            longrepr=longrepr,
            when="call",
        )
        session.testscollected += 1  # for the progress percentage
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None and terminal._tw.width_of_current_line:
            terminal._tw.line()  # not at the end of the last test's progress line
        config.hook.pytest_runtest_logreport(report=report)
        if outcome == "failed" and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def verdict(self, records: Mapping[str, dict[str, Any] | None]) -> tuple[Outcome, str] | None:
        """("passed" | "failed" | "skipped", message), or None when the run
        collected none of the suite's tests."""
        collected: set[str] = set()
        called: dict[str, set[str]] = {}
        incomplete: list[str] = []
        deselected = 0
        for worker, record in sorted(records.items()):
            if record is None:
                incomplete.append(f"{worker} went down without its record")
                continue
            collected.update(record["collected"])
            deselected = max(deselected, record["deselected"])
            for engine, names in record["called"].items():
                called.setdefault(engine, set()).update(names)
        if not collected and not deselected:
            return None

        expected = {p.name for p in self.suite_dir.glob("test_*.py")}
        modules = {nodeid.split("::")[0].rsplit("/", 1)[-1] for nodeid in collected}
        if modules != expected:
            incomplete.append(f"modules not collected: {sorted(expected - modules)}")
        if deselected:
            incomplete.append(f"{deselected} conformance tests deselected")
        unfinished = collected - self.finished
        if unfinished:
            incomplete.append(
                f"{len(unfinished)} of {len(collected)} conformance tests did not run"
            )
        if incomplete:
            return "skipped", "the run saw only part of the conformance suite: " + "; ".join(
                incomplete
            )

        problems = [
            f"no conformance test ran on {engine}"
            for engine in self.required_engines
            if engine not in called
        ]
        for engine, names in sorted(called.items()):
            missing = sorted(f"{self.members[n]}.{n}" for n in self.members.keys() - names)
            if missing:
                problems.append(f"{engine}: {', '.join(missing)}")
        if problems:
            return "failed", "Protocol methods never called: " + "; ".join(problems)
        return "passed", (
            f"all {len(self.members)} Protocol members called on {', '.join(sorted(called))}"
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        # a pass is otherwise silent; a failure or skip is in the usual sections
        if self.outcome is not None and self.outcome[0] == "passed":
            rel = self.suite_dir.relative_to(terminalreporter.config.rootpath).as_posix()
            terminalreporter.write_line(f"Protocol coverage of {rel}: {self.outcome[1]}")


class RecordingStore:
    """Forwards every attribute to ``inner`` and records the Protocol members used
    with ``coverage`` (``STORE_COVERAGE`` unless given)."""

    def __init__(self, inner: Any, engine: str, coverage: ProtocolCoverage | None = None) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_engine", engine)
        object.__setattr__(self, "_coverage", STORE_COVERAGE if coverage is None else coverage)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in self._coverage.members:
            return value
        if not callable(value):
            self._coverage.record(self._engine, name)
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            self._coverage.record(self._engine, name)
            return value(*args, **kwargs)

        return call

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)

    @property
    def inner(self) -> Any:
        return self._inner


def unwrap(store: Any) -> Any:
    """The real store behind a ``RecordingStore`` (for engine internals in tests)."""
    return store.inner if isinstance(store, RecordingStore) else store


#: the plugin for this directory's conformance suite (registered by tests/conftest.py)
STORE_COVERAGE = ProtocolCoverage(Path(__file__).parent, protocol_members())
