"""The exceptions every storage engine raises. The interface itself is the set of
per-aggregate Protocols in ``tessera.store`` composed into
``tessera.store.interface.Store``; the engine (``tessera.store.sql``: SQLite and
PostgreSQL) implements it and one conformance suite (tests/integration/store)
runs against both."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of storage-level failures (not user-facing; services translate)."""


class AlreadyExists(StoreError):
    pass


class NotFound(StoreError):
    pass


class StoreNotInitialised(StoreError):
    pass


class StoreAlreadyInitialised(StoreError):
    pass


class InvalidMarker(StoreError):
    """A pagination marker that no list method of this store handed out."""
