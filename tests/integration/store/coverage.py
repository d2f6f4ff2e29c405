"""Which methods of the storage Protocols the conformance suite calls, per engine.

The ``store`` fixture hands out a ``RecordingStore`` (a proxy that forwards
everything to the real store and notes each Protocol method used); the last test
of the suite (``test_zz_protocol_coverage``) compares the notes with the members
of every Protocol in ``tessera.store.interface.AGGREGATES``."""

from __future__ import annotations

from typing import Any, Generic, Protocol

from tessera.store.interface import AGGREGATES

#: engine ("sqlite" / "postgresql") -> Protocol members called through the fixture
CALLED: dict[str, set[str]] = {}

#: set by the conftest when the run cannot see the whole suite (a subset of the
#: modules, deselected tests, xdist workers): the final check is then skipped
INCOMPLETE: list[str] = []


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


MEMBERS = protocol_members()


class RecordingStore:
    """Forwards every attribute to ``inner`` and records the Protocol members used."""

    def __init__(self, inner: Any, engine: str) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_called", CALLED.setdefault(engine, set()))

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in MEMBERS:
            return value
        if not callable(value):
            self._called.add(name)
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            self._called.add(name)
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
