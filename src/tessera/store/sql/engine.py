"""The SQL engine under every aggregate module of the SQL store: SQLAlchemy Core
over SQLite (embedded default, WAL, in the data directory) or PostgreSQL
(``postgresql://`` URLs, for several replicas). Owns connections and pragmas, the
one-transaction-per-method ``_tx`` with write tracking (a write stores a new cache
generation and empties this process's read cache, see ``tessera.store.cache``),
the read cache and its ``memo``, and the row helpers shared by named resources
(case-insensitive names, path-prefix paging)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Engine,
    Row,
    Table,
    and_,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import QueuePool, StaticPool

from tessera.kek import KeyEncryptionKey
from tessera.store.base import AlreadyExists
from tessera.store.cache import GENERATION_KEY, ReadCache, new_generation
from tessera.store.records import decode_marker, encode_marker
from tessera.store.sql import schema as s

SQLITE_FILE = "tessera.db"
#: ``conn.info`` flag: this transaction wrote something (see ``tessera.store.cache``)
_WROTE = "tessera_wrote"
#: execution option for bookkeeping writes that no cached read depends on
QUIET = "tessera_quiet"
_DML = ("INSERT", "UPDATE", "DELETE")
_T = TypeVar("_T")
_GENERATION_SQL = "SELECT value FROM meta WHERE key = 'cache_generation'"


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / SQLITE_FILE).resolve()}"


def _normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utc_req(value: datetime) -> datetime:
    result = utc(value)
    assert result is not None
    return result


class SqlEngine:
    """Connections, transactions, write tracking and the read cache; every
    aggregate module of the SQL store subclasses it (``SqlStore`` composes them)."""

    def __init__(self, url: str, kek: KeyEncryptionKey) -> None:
        self.url = _normalise_url(url)
        self.kek = kek
        self.dialect = "sqlite" if self.url.startswith("sqlite") else "postgresql"
        self.engine = self._make_engine()
        self._lock = threading.Lock()
        self._read_cache: ReadCache | None = None
        self._gen_conn: Any = None
        self._gen_lock = threading.Lock()
        event.listen(self.engine, "after_cursor_execute", _note_write)

    # ------------------------------------------------------------------ engine

    def _make_engine(self) -> Engine:
        if self.dialect == "sqlite":
            memory = self.url in ("sqlite://", "sqlite:///:memory:")
            # File databases keep a small pool of open connections: opening one
            # (and running the pragmas below) costs more than most requests.
            pool: dict[str, Any] = (
                {"poolclass": StaticPool}
                if memory
                else {"poolclass": QueuePool, "pool_size": 8, "max_overflow": 24}
            )
            engine = create_engine(
                self.url,
                connect_args={"check_same_thread": False, "timeout": 30},
                **pool,
            )

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                if not memory:
                    cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()

            return engine
        return create_engine(self.url, pool_size=5, max_overflow=10, pool_pre_ping=True)

    def close(self) -> None:
        with self._gen_lock:
            if self._gen_conn is not None:
                self._close_generation_connection()
        self.engine.dispose()

    @contextmanager
    def _tx(self, *, bump: bool = True) -> Iterator[Connection]:
        """One transaction. One that wrote also stores a new cache generation (in
        the same transaction) and empties this process's read cache once committed."""
        with self.engine.begin() as conn:
            conn.info.pop(_WROTE, None)
            yield conn
            wrote = bool(conn.info.pop(_WROTE, False))
            if wrote and bump:
                conn.execute(
                    update(s.meta)
                    .where(s.meta.c.key == GENERATION_KEY)
                    .values(value=new_generation())
                    .execution_options(**{QUIET: True})
                )
        if wrote and self._read_cache is not None:
            self._read_cache.clear()

    # ------------------------------------------------------------------ read cache

    def enable_read_cache(
        self, *, check_interval: float = 0.0, max_entries: int | None = None
    ) -> ReadCache:
        """Memoise the request-path reads (see ``tessera.store.cache``); the caller
        calls :meth:`validate_read_cache` at the start of each request."""
        kwargs: dict[str, Any] = {"check_interval": check_interval}
        if max_entries is not None:
            kwargs["max_entries"] = max_entries
        self._read_cache = ReadCache(self, **kwargs)
        return self._read_cache

    @property
    def read_cache(self) -> ReadCache | None:
        return self._read_cache

    def memo(self, key: tuple[Any, ...], load: Callable[[], _T]) -> _T:
        """A value derived from memoised reads only (plus pure functions of them:
        compiled policies, policy indexes), kept in the read cache under ``key`` so it
        is dropped exactly when those reads would be. Without a read cache: ``load()``.
        The value is shared between requests and threads: treat it as immutable."""
        cache = self._read_cache
        if cache is None:
            return load()
        return cast(_T, cache.get_or_load(("memo", *key), load))

    def validate_read_cache(self) -> None:
        if self._read_cache is not None:
            self._read_cache.validate()

    def read_generation(self) -> bytes | None:
        """The shared cache generation, read on a dedicated autocommit connection
        (a primary-key lookup); ``None`` if it cannot be read."""
        if self.url in ("sqlite://", "sqlite:///:memory:"):
            with self._tx() as conn:
                value = conn.execute(
                    select(s.meta.c.value).where(s.meta.c.key == GENERATION_KEY)
                ).scalar()
            return None if value is None else bytes(value)
        with self._gen_lock:
            try:
                if self._gen_conn is None:
                    raw = self.engine.raw_connection()
                    raw.detach()
                    dbapi: Any = raw.dbapi_connection
                    dbapi.rollback()
                    if self.dialect == "sqlite":
                        dbapi.isolation_level = None
                    else:
                        dbapi.autocommit = True
                    self._gen_conn = dbapi
                cur = self._gen_conn.cursor()
                try:
                    cur.execute(_GENERATION_SQL)
                    row = cur.fetchone()
                finally:
                    cur.close()
            except Exception:
                self._close_generation_connection()
                return None
        return None if row is None else bytes(row[0])

    def _close_generation_connection(self) -> None:
        conn, self._gen_conn = self._gen_conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: S110 - already broken
                pass

    def _insert_unique(self, table: Table, values: dict[str, Any], what: str) -> None:
        """Insert one row; ``AlreadyExists(what)`` when it breaks a unique key."""
        try:
            with self._tx() as conn:
                conn.execute(insert(table).values(**values))
        except IntegrityError as exc:
            raise AlreadyExists(what) from exc

    def _insert_named(self, table: Table, values: dict[str, Any]) -> None:
        self._insert_unique(table, values, values["name"])

    def _get_named(self, table: Table, account_id: str, name: str) -> Row[Any] | None:
        with self._tx() as conn:
            return conn.execute(
                select(table).where(
                    and_(table.c.account_id == account_id, table.c.name_key == name.lower())
                )
            ).first()

    def _page_named(
        self,
        table: Table,
        account_id: str,
        path_prefix: str,
        marker: str | None,
        max_items: int,
        extra: Any = None,
    ) -> tuple[list[Row[Any]], str | None]:
        c = table.c
        conds = [c.account_id == account_id]
        if path_prefix and path_prefix != "/":
            conds.append(c.path.startswith(path_prefix, autoescape=True))
        after = decode_marker(marker)
        if after is not None:
            conds.append(c.name_key > after)
        if extra is not None:
            conds.append(extra)
        with self._tx() as conn:
            rows = conn.execute(
                select(table).where(and_(*conds)).order_by(c.name_key).limit(max_items + 1)
            ).all()
        if len(rows) > max_items:
            page = list(rows[:max_items])
            return page, encode_marker(page[-1].name_key)
        return list(rows), None


def _note_write(
    conn: Connection,
    _cursor: Any,
    statement: str,
    _parameters: Any,
    context: Any,
    _executemany: bool,
) -> None:
    """Flag transactions that write (INSERT/UPDATE/DELETE, compiled or textual)."""
    if statement.lstrip()[:6].upper() in _DML and not (
        context is not None and context.execution_options.get(QUIET)
    ):
        conn.info[_WROTE] = True
