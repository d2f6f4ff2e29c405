"""The in-process runtime the pipeline tests run requests through: an in-memory
SQLite store, migrated and initialised, with the real resolver, authorizer and
session codec; each test module installs the operations it needs."""

from __future__ import annotations

import os
from pathlib import Path

from tessera.app.runtime import Runtime
from tessera.auth.credentials import CredentialResolver
from tessera.clock import SystemClock
from tessera.config import ServerConfig
from tessera.iam.authz import Authorizer
from tessera.kek import KeyEncryptionKey
from tessera.store.sql import SqlStore
from tessera.sts.sessions import SessionCodec, SessionKeyRing


def in_memory_runtime(data_dir: Path) -> Runtime:
    store = SqlStore("sqlite://", KeyEncryptionKey(os.urandom(32)))
    store.migrate()
    store.initialise()
    sessions = SessionCodec(SessionKeyRing(store))
    return Runtime(
        config=ServerConfig(data_dir=data_dir),
        store=store,
        clock=SystemClock(),
        resolver=CredentialResolver(store, sessions, memo=store),
        authorizer=Authorizer(store, memo=store),
        sessions=sessions,
    )
