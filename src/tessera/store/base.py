"""The storage interface shared by every engine: the exceptions a store raises
and the ``open_store`` entry point that picks the engine from a URL. Engines
(``tessera.store.sql``: SQLite and PostgreSQL) implement ``Store``; one
conformance suite (tests/integration/store) runs against each."""

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
