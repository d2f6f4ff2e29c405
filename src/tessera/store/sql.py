"""The SQL store: SQLAlchemy Core over SQLite (embedded default, WAL, in the data
directory) and PostgreSQL (``postgresql://`` URLs, for several replicas). Applies
migrations at open, seals every secret under the key-encryption key, and maps
rows to the frozen records of ``tessera.iam.model``."""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Engine,
    Row,
    Table,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import QueuePool, StaticPool

from tessera.iam.mfa_model import MfaDevice
from tessera.iam.model import (
    AccessKey,
    Account,
    Group,
    InlinePolicy,
    ManagedPolicy,
    Page,
    PolicyVersion,
    Role,
    Tag,
    User,
)
from tessera.kek import KeyEncryptionKey
from tessera.store import schema as s
from tessera.store.base import AlreadyExists, NotFound, StoreError
from tessera.store.cache import GENERATION_KEY, ReadCache, cached, new_generation
from tessera.store.sql_oidc import OidcProviderStore
from tessera.store.sql_org import OrgStoreMixin
from tessera.store.sql_saml import SamlStoreMixin

SQLITE_FILE = "tessera.db"
#: ``conn.info`` flag: this transaction wrote something (see ``tessera.store.cache``)
_WROTE = "tessera_wrote"
#: execution option for bookkeeping writes that no cached read depends on
QUIET = "tessera_quiet"
_DML = ("INSERT", "UPDATE", "DELETE")
_T = TypeVar("_T")
_GENERATION_SQL = "SELECT value FROM meta WHERE key = 'cache_generation'"
_KEK_CHECK = b"tessera-kek-check"


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / SQLITE_FILE).resolve()}"


def _normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _utc_req(value: datetime) -> datetime:
    result = _utc(value)
    assert result is not None
    return result


def encode_marker(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def decode_marker(marker: str | None) -> str | None:
    if marker is None:
        return None
    try:
        return base64.urlsafe_b64decode(marker.encode()).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidMarker(marker) from exc


class InvalidMarker(StoreError):
    pass


@dataclass(frozen=True, slots=True)
class Owner:
    """The principal a policy is attached to or embedded in."""

    account_id: str
    kind: str  # "user" | "group" | "role"
    name: str

    @property
    def key(self) -> str:
        return self.name.lower()


class SqlStore(OrgStoreMixin, OidcProviderStore, SamlStoreMixin):
    """One store, any number of accounts. Thread-safe; every method is one transaction."""

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
            return self.get_meta(GENERATION_KEY)
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

    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version. Safe to race."""
        with self._tx(bump=False) as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(7070707)"))
            s.schema_migrations.create(conn, checkfirst=True)
            done = {row[0] for row in conn.execute(select(s.schema_migrations.c.version))}
            for version, _desc, run in s.MIGRATIONS:
                if version in done:
                    continue
                run(conn)
                conn.execute(
                    insert(s.schema_migrations).values(
                        version=version, applied_at=datetime.now(UTC)
                    )
                )
            has_generation = conn.execute(
                select(s.meta.c.key).where(s.meta.c.key == GENERATION_KEY)
            ).first()
            if has_generation is None:
                conn.execute(insert(s.meta).values(key=GENERATION_KEY, value=new_generation()))
            versions: list[int] = [v for v, _d, _r in s.MIGRATIONS] + [int(v) for v in done]
            return max(versions)

    def is_initialised(self) -> bool:
        with self._tx() as conn:
            if not self.engine.dialect.has_table(conn, "meta"):
                return False
            row = conn.execute(select(s.meta.c.value).where(s.meta.c.key == "kek_check")).first()
            return row is not None

    def initialise(self) -> None:
        """Record a KEK check value; later opens verify the KEK against it."""
        with self._tx() as conn:
            conn.execute(
                insert(s.meta).values(key="kek_check", value=self.kek.seal(_KEK_CHECK, "kek-check"))
            )

    def check_kek(self) -> None:
        with self._tx() as conn:
            row = conn.execute(select(s.meta.c.value).where(s.meta.c.key == "kek_check")).first()
        if row is None:
            return
        self.kek.open(row[0], "kek-check")

    # ------------------------------------------------------------------ meta blobs

    def get_meta(self, key: str) -> bytes | None:
        with self._tx() as conn:
            row = conn.execute(select(s.meta.c.value).where(s.meta.c.key == key)).first()
        return None if row is None else bytes(row[0])

    def put_meta(self, key: str, value: bytes) -> None:
        with self._tx() as conn:
            updated = conn.execute(update(s.meta).where(s.meta.c.key == key).values(value=value))
            if updated.rowcount == 0:
                conn.execute(insert(s.meta).values(key=key, value=value))

    # ------------------------------------------------------------------ accounts

    @staticmethod
    def _account(row: Row[Any]) -> Account:
        return Account(
            account_id=row.account_id,
            created_at=_utc_req(row.created_at),
            issuer_id=row.issuer_id,
            outbound_enabled=bool(row.outbound_enabled),
            org_id=row.org_id,
            ou_path=row.ou_path,
        )

    def create_account(self, account_id: str, now: datetime) -> Account:
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(s.accounts).values(
                        account_id=account_id, created_at=now, outbound_enabled=False
                    )
                )
        except IntegrityError as exc:
            raise AlreadyExists(account_id) from exc
        return Account(account_id=account_id, created_at=now)

    @cached
    def get_account(self, account_id: str) -> Account | None:
        with self._tx() as conn:
            row = conn.execute(
                select(s.accounts).where(s.accounts.c.account_id == account_id)
            ).first()
        return None if row is None else self._account(row)

    def list_accounts(self) -> list[Account]:
        with self._tx() as conn:
            rows = conn.execute(select(s.accounts).order_by(s.accounts.c.account_id)).all()
        return [self._account(r) for r in rows]

    def update_account(self, account_id: str, **values: Any) -> None:
        with self._tx() as conn:
            conn.execute(
                update(s.accounts).where(s.accounts.c.account_id == account_id).values(**values)
            )

    def count(self, table: str) -> int:
        tbl = s.metadata.tables[table]
        with self._tx() as conn:
            total: int = conn.execute(select(func.count()).select_from(tbl)).scalar_one()
            return int(total)

    # ------------------------------------------------------------------ access keys

    @staticmethod
    def _key(row: Row[Any]) -> AccessKey:
        return AccessKey(
            access_key_id=row.access_key_id,
            account_id=row.account_id,
            user_name=row.user_name,
            status=row.status,
            created_at=_utc_req(row.created_at),
            last_used_at=_utc(row.last_used_at),
            last_used_service=row.last_used_service,
            last_used_region=row.last_used_region,
            user_id=row.user_id,
        )

    def create_access_key(
        self, account_id: str, user_name: str | None, access_key_id: str, secret: str, now: datetime
    ) -> AccessKey:
        """A key for the user called ``user_name`` (``None``: the root key), bound
        to that user's unique id as read in the same transaction, so a key made
        while its user is deleted belongs to nobody."""
        sealed = self.kek.seal(secret.encode(), f"access-key:{access_key_id}")
        user_id: str | None = None
        with self._tx() as conn:
            if user_name is not None:
                user_id = conn.execute(
                    select(s.users.c.user_id).where(
                        and_(
                            s.users.c.account_id == account_id,
                            s.users.c.name_key == user_name.lower(),
                        )
                    )
                ).scalar()
            conn.execute(
                insert(s.access_keys).values(
                    access_key_id=access_key_id,
                    account_id=account_id,
                    user_key=None if user_name is None else user_name.lower(),
                    user_name=user_name,
                    user_id=user_id,
                    secret_sealed=sealed,
                    status="Active",
                    created_at=now,
                )
            )
        return AccessKey(access_key_id, account_id, user_name, "Active", now, user_id=user_id)

    def get_access_key(self, access_key_id: str) -> AccessKey | None:
        with self._tx() as conn:
            row = conn.execute(
                select(s.access_keys).where(s.access_keys.c.access_key_id == access_key_id)
            ).first()
        return None if row is None else self._key(row)

    @cached
    def get_access_key_with_secret(self, access_key_id: str) -> tuple[AccessKey, str] | None:
        with self._tx() as conn:
            row = conn.execute(
                select(s.access_keys).where(s.access_keys.c.access_key_id == access_key_id)
            ).first()
        if row is None:
            return None
        secret = self.kek.open(bytes(row.secret_sealed), f"access-key:{access_key_id}").decode()
        return self._key(row), secret

    def list_access_keys(self, account_id: str, user_name: str | None) -> list[AccessKey]:
        c = s.access_keys.c
        cond = c.user_key.is_(None) if user_name is None else c.user_key == user_name.lower()
        with self._tx() as conn:
            rows = conn.execute(
                select(s.access_keys)
                .where(and_(c.account_id == account_id, cond))
                .order_by(c.created_at, c.access_key_id)
            ).all()
        return [self._key(r) for r in rows]

    def update_access_key_status(self, access_key_id: str, status: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(s.access_keys)
                .where(s.access_keys.c.access_key_id == access_key_id)
                .values(status=status)
            )

    def delete_access_key(self, access_key_id: str) -> None:
        with self._tx() as conn:
            conn.execute(
                delete(s.access_keys).where(s.access_keys.c.access_key_id == access_key_id)
            )

    def record_access_key_use(
        self, access_key_id: str, now: datetime, service: str, region: str
    ) -> None:
        with self._tx() as conn:  # bookkeeping: no cached read depends on it
            conn.execute(
                update(s.access_keys)
                .where(s.access_keys.c.access_key_id == access_key_id)
                .values(last_used_at=now, last_used_service=service, last_used_region=region)
                .execution_options(**{QUIET: True})
            )

    # ------------------------------------------------------------------ users / groups / roles

    @staticmethod
    def _user(row: Row[Any]) -> User:
        return User(
            account_id=row.account_id,
            name=row.name,
            path=row.path,
            user_id=row.user_id,
            created_at=_utc_req(row.created_at),
            permissions_boundary=row.permissions_boundary,
        )

    @staticmethod
    def _group(row: Row[Any]) -> Group:
        return Group(row.account_id, row.name, row.path, row.group_id, _utc_req(row.created_at))

    @staticmethod
    def _role(row: Row[Any]) -> Role:
        return Role(
            account_id=row.account_id,
            name=row.name,
            path=row.path,
            role_id=row.role_id,
            created_at=_utc_req(row.created_at),
            trust_policy=row.trust_policy,
            description=row.description,
            max_session_duration=row.max_session_duration,
            permissions_boundary=row.permissions_boundary,
            last_used_at=_utc(row.last_used_at),
            last_used_region=row.last_used_region,
            trust_principal_ids=tuple(
                (str(a), str(i)) for a, i in json.loads(row.trust_principal_ids or "[]")
            ),
        )

    def _insert_named(self, table: Table, values: dict[str, Any]) -> None:
        try:
            with self._tx() as conn:
                conn.execute(insert(table).values(**values))
        except IntegrityError as exc:
            raise AlreadyExists(values["name"]) from exc

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

    def create_user(self, user: User) -> None:
        self._insert_named(
            s.users,
            dict(
                account_id=user.account_id,
                name_key=user.name.lower(),
                name=user.name,
                path=user.path,
                user_id=user.user_id,
                created_at=user.created_at,
                permissions_boundary=user.permissions_boundary,
            ),
        )

    @cached
    def get_user(self, account_id: str, name: str) -> User | None:
        row = self._get_named(s.users, account_id, name)
        return None if row is None else self._user(row)

    @cached
    def get_user_by_id(self, user_id: str) -> User | None:
        with self._tx() as conn:
            row = conn.execute(select(s.users).where(s.users.c.user_id == user_id)).first()
        return None if row is None else self._user(row)

    def list_users(
        self, account_id: str, path_prefix: str, marker: str | None, max_items: int
    ) -> Page[User]:
        rows, nxt = self._page_named(s.users, account_id, path_prefix, marker, max_items)
        return Page([self._user(r) for r in rows], nxt)

    def update_user(
        self, account_id: str, name: str, new_name: str | None, new_path: str | None
    ) -> None:
        """Rename/move a user, carrying keys, memberships, policies and tags along."""

        def carry(conn: Connection, old_key: str, renamed: str) -> None:
            conn.execute(
                update(s.access_keys)
                .where(
                    and_(
                        s.access_keys.c.account_id == account_id,
                        s.access_keys.c.user_key == old_key,
                    )
                )
                .values(user_key=renamed.lower(), user_name=renamed)
            )
            conn.execute(
                update(s.group_members)
                .where(
                    and_(
                        s.group_members.c.account_id == account_id,
                        s.group_members.c.user_key == old_key,
                    )
                )
                .values(user_key=renamed.lower())
            )

        self._rename_named(s.users, "user", account_id, name, new_name, new_path, carry)

    def _rename_named(
        self,
        table: Table,
        kind: str,
        account_id: str,
        name: str,
        new_name: str | None,
        new_path: str | None,
        carry: Callable[[Connection, str, str], None],
    ) -> None:
        """Rename/move a user or group in one transaction; ``carry`` moves the rows
        specific to that kind (keys, memberships) to the new name."""
        old_key = name.lower()
        values: dict[str, Any] = {}
        if new_path is not None:
            values["path"] = new_path
        if new_name is not None:
            values["name"] = new_name
            values["name_key"] = new_name.lower()
        if not values:
            return
        try:
            with self._tx() as conn:
                conn.execute(
                    update(table)
                    .where(and_(table.c.account_id == account_id, table.c.name_key == old_key))
                    .values(**values)
                )
                if new_name is not None:
                    self._rekey_owner(conn, account_id, kind, old_key, new_name)
                    carry(conn, old_key, new_name)
        except IntegrityError as exc:
            raise AlreadyExists(new_name or name) from exc

    def _rekey_owner(
        self, conn: Connection, account_id: str, kind: str, old_key: str, new_name: str
    ) -> None:
        for table in (s.inline_policies, s.attachments):
            conn.execute(
                update(table)
                .where(
                    and_(
                        table.c.account_id == account_id,
                        table.c.owner_type == kind,
                        table.c.owner_key == old_key,
                    )
                )
                .values(owner_key=new_name.lower())
            )
        conn.execute(
            update(s.tags)
            .where(
                and_(
                    s.tags.c.account_id == account_id,
                    s.tags.c.resource_type == kind,
                    s.tags.c.resource_key == old_key,
                )
            )
            .values(resource_key=new_name.lower())
        )

    def delete_user(self, account_id: str, name: str) -> None:
        self._delete_named(s.users, "user", account_id, name)

    def _delete_named(self, table: Table, kind: str, account_id: str, name: str) -> None:
        key = name.lower()
        with self._tx() as conn:
            conn.execute(
                delete(table).where(and_(table.c.account_id == account_id, table.c.name_key == key))
            )
            conn.execute(
                delete(s.tags).where(
                    and_(
                        s.tags.c.account_id == account_id,
                        s.tags.c.resource_type == kind,
                        s.tags.c.resource_key == key,
                    )
                )
            )

    def set_permissions_boundary(self, owner: Owner, boundary_arn: str | None) -> None:
        table = s.users if owner.kind == "user" else s.roles
        with self._tx() as conn:
            conn.execute(
                update(table)
                .where(and_(table.c.account_id == owner.account_id, table.c.name_key == owner.key))
                .values(permissions_boundary=boundary_arn)
            )

    def create_group(self, group: Group) -> None:
        self._insert_named(
            s.groups,
            dict(
                account_id=group.account_id,
                name_key=group.name.lower(),
                name=group.name,
                path=group.path,
                group_id=group.group_id,
                created_at=group.created_at,
            ),
        )

    def get_group(self, account_id: str, name: str) -> Group | None:
        row = self._get_named(s.groups, account_id, name)
        return None if row is None else self._group(row)

    def list_groups(
        self, account_id: str, path_prefix: str, marker: str | None, max_items: int
    ) -> Page[Group]:
        rows, nxt = self._page_named(s.groups, account_id, path_prefix, marker, max_items)
        return Page([self._group(r) for r in rows], nxt)

    def update_group(
        self, account_id: str, name: str, new_name: str | None, new_path: str | None
    ) -> None:
        def carry(conn: Connection, old_key: str, renamed: str) -> None:
            conn.execute(
                update(s.group_members)
                .where(
                    and_(
                        s.group_members.c.account_id == account_id,
                        s.group_members.c.group_key == old_key,
                    )
                )
                .values(group_key=renamed.lower())
            )

        self._rename_named(s.groups, "group", account_id, name, new_name, new_path, carry)

    def delete_group(self, account_id: str, name: str) -> None:
        self._delete_named(s.groups, "group", account_id, name)

    def add_user_to_group(self, account_id: str, group: str, user: str) -> None:
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(s.group_members).values(
                        account_id=account_id, group_key=group.lower(), user_key=user.lower()
                    )
                )
        except IntegrityError:
            return  # already a member: AWS treats this as success

    def remove_user_from_group(self, account_id: str, group: str, user: str) -> bool:
        with self._tx() as conn:
            result = conn.execute(
                delete(s.group_members).where(
                    and_(
                        s.group_members.c.account_id == account_id,
                        s.group_members.c.group_key == group.lower(),
                        s.group_members.c.user_key == user.lower(),
                    )
                )
            )
        return bool(result.rowcount)

    @cached
    def groups_for_user(self, account_id: str, user: str) -> list[Group]:
        gm, g = s.group_members.c, s.groups.c
        with self._tx() as conn:
            rows = conn.execute(
                select(s.groups)
                .join(
                    s.group_members,
                    and_(gm.account_id == g.account_id, gm.group_key == g.name_key),
                )
                .where(and_(gm.account_id == account_id, gm.user_key == user.lower()))
                .order_by(g.name_key)
            ).all()
        return [self._group(r) for r in rows]

    def users_in_group(self, account_id: str, group: str) -> list[User]:
        gm, u = s.group_members.c, s.users.c
        with self._tx() as conn:
            rows = conn.execute(
                select(s.users)
                .join(
                    s.group_members, and_(gm.account_id == u.account_id, gm.user_key == u.name_key)
                )
                .where(and_(gm.account_id == account_id, gm.group_key == group.lower()))
                .order_by(u.name_key)
            ).all()
        return [self._user(r) for r in rows]

    def create_role(self, role: Role) -> None:
        self._insert_named(
            s.roles,
            dict(
                account_id=role.account_id,
                name_key=role.name.lower(),
                name=role.name,
                path=role.path,
                role_id=role.role_id,
                created_at=role.created_at,
                trust_policy=role.trust_policy,
                trust_principal_ids=json.dumps([list(p) for p in role.trust_principal_ids]),
                description=role.description,
                max_session_duration=role.max_session_duration,
                permissions_boundary=role.permissions_boundary,
            ),
        )

    @cached
    def get_role(self, account_id: str, name: str) -> Role | None:
        row = self._get_named(s.roles, account_id, name)
        return None if row is None else self._role(row)

    @cached
    def get_role_by_id(self, role_id: str) -> Role | None:
        with self._tx() as conn:
            row = conn.execute(select(s.roles).where(s.roles.c.role_id == role_id)).first()
        return None if row is None else self._role(row)

    def list_roles(
        self, account_id: str, path_prefix: str, marker: str | None, max_items: int
    ) -> Page[Role]:
        rows, nxt = self._page_named(s.roles, account_id, path_prefix, marker, max_items)
        return Page([self._role(r) for r in rows], nxt)

    def update_role(self, account_id: str, name: str, **values: Any) -> None:
        with self._tx() as conn:
            conn.execute(
                update(s.roles)
                .where(and_(s.roles.c.account_id == account_id, s.roles.c.name_key == name.lower()))
                .values(**values)
            )

    def set_trust_policy(
        self,
        account_id: str,
        name: str,
        document: str,
        principal_ids: Sequence[tuple[str, str]],
    ) -> None:
        """Replace a role's trust policy and the unique ids its principals are bound to."""
        self.update_role(
            account_id,
            name,
            trust_policy=document,
            trust_principal_ids=json.dumps([list(p) for p in principal_ids]),
        )

    def delete_role(self, account_id: str, name: str) -> None:
        self._delete_named(s.roles, "role", account_id, name)

    # ------------------------------------------------------------------ inline policies

    def put_inline_policy(self, owner: Owner, name: str, document: str) -> None:
        ip = s.inline_policies.c
        key = dict(
            account_id=owner.account_id,
            owner_type=owner.kind,
            owner_key=owner.key,
            name_key=name.lower(),
        )
        with self._tx() as conn:
            result = conn.execute(
                update(s.inline_policies)
                .where(and_(*[getattr(ip, k) == v for k, v in key.items()]))
                .values(name=name, document=document)
            )
            if result.rowcount == 0:
                conn.execute(insert(s.inline_policies).values(**key, name=name, document=document))

    def get_inline_policy(self, owner: Owner, name: str) -> InlinePolicy | None:
        ip = s.inline_policies.c
        with self._tx() as conn:
            row = conn.execute(
                select(ip.name, ip.document).where(
                    and_(
                        ip.account_id == owner.account_id,
                        ip.owner_type == owner.kind,
                        ip.owner_key == owner.key,
                        ip.name_key == name.lower(),
                    )
                )
            ).first()
        return None if row is None else InlinePolicy(row.name, row.document)

    @cached
    def list_inline_policies(self, owner: Owner) -> list[InlinePolicy]:
        ip = s.inline_policies.c
        with self._tx() as conn:
            rows = conn.execute(
                select(ip.name, ip.document)
                .where(
                    and_(
                        ip.account_id == owner.account_id,
                        ip.owner_type == owner.kind,
                        ip.owner_key == owner.key,
                    )
                )
                .order_by(ip.name_key)
            ).all()
        return [InlinePolicy(r.name, r.document) for r in rows]

    def delete_inline_policy(self, owner: Owner, name: str) -> bool:
        ip = s.inline_policies.c
        with self._tx() as conn:
            result = conn.execute(
                delete(s.inline_policies).where(
                    and_(
                        ip.account_id == owner.account_id,
                        ip.owner_type == owner.kind,
                        ip.owner_key == owner.key,
                        ip.name_key == name.lower(),
                    )
                )
            )
        return bool(result.rowcount)

    # ------------------------------------------------------------------ managed policies

    def _policy(self, row: Row[Any], attachments: int = 0, boundaries: int = 0) -> ManagedPolicy:
        return ManagedPolicy(
            account_id=row.account_id,
            name=row.name,
            path=row.path,
            policy_id=row.policy_id,
            default_version_id=row.default_version_id,
            created_at=_utc_req(row.created_at),
            updated_at=_utc_req(row.updated_at),
            description=row.description,
            attachment_count=attachments,
            boundary_usage_count=boundaries,
        )

    def _usage(self, conn: Connection, arn: str) -> tuple[int, int]:
        attached = conn.execute(
            select(func.count()).select_from(s.attachments).where(s.attachments.c.policy_arn == arn)
        ).scalar_one()
        bounded = 0
        for table in (s.users, s.roles):
            bounded += conn.execute(
                select(func.count()).select_from(table).where(table.c.permissions_boundary == arn)
            ).scalar_one()
        return int(attached), int(bounded)

    def create_managed_policy(self, policy: ManagedPolicy, document: str) -> None:
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(s.managed_policies).values(
                        arn=policy.arn,
                        account_id=policy.account_id,
                        name_key=policy.name.lower(),
                        name=policy.name,
                        path=policy.path,
                        policy_id=policy.policy_id,
                        default_version_id="v1",
                        next_version=2,
                        description=policy.description,
                        created_at=policy.created_at,
                        updated_at=policy.updated_at,
                    )
                )
                conn.execute(
                    insert(s.policy_versions).values(
                        policy_arn=policy.arn,
                        version_id="v1",
                        document=document,
                        created_at=policy.created_at,
                    )
                )
        except IntegrityError as exc:
            raise AlreadyExists(policy.name) from exc

    @cached
    def get_managed_policy(self, arn: str) -> ManagedPolicy | None:
        with self._tx() as conn:
            row = conn.execute(
                select(s.managed_policies).where(s.managed_policies.c.arn == arn)
            ).first()
            if row is None:
                return None
            attached, bounded = self._usage(conn, arn)
        return self._policy(row, attached, bounded)

    def list_managed_policies(
        self,
        account_id: str,
        path_prefix: str,
        only_attached: bool,
        marker: str | None,
        max_items: int,
    ) -> Page[ManagedPolicy]:
        mp = s.managed_policies.c
        extra = None
        if only_attached:
            extra = mp.arn.in_(select(s.attachments.c.policy_arn))
        rows, nxt = self._page_named(
            s.managed_policies, account_id, path_prefix, marker, max_items, extra
        )
        out: list[ManagedPolicy] = []
        with self._tx() as conn:
            for r in rows:
                attached, bounded = self._usage(conn, r.arn)
                out.append(self._policy(r, attached, bounded))
        return Page(out, nxt)

    def delete_managed_policy(self, arn: str) -> None:
        with self._tx() as conn:
            conn.execute(delete(s.policy_versions).where(s.policy_versions.c.policy_arn == arn))
            conn.execute(delete(s.managed_policies).where(s.managed_policies.c.arn == arn))
            conn.execute(
                delete(s.tags).where(
                    and_(s.tags.c.resource_type == "policy", s.tags.c.resource_key == arn)
                )
            )

    def _version(self, row: Row[Any], default_id: str) -> PolicyVersion:
        return PolicyVersion(
            policy_arn=row.policy_arn,
            version_id=row.version_id,
            document=row.document,
            is_default=row.version_id == default_id,
            created_at=_utc_req(row.created_at),
        )

    def create_policy_version(
        self, arn: str, document: str, set_default: bool, now: datetime
    ) -> PolicyVersion:
        with self._tx() as conn:
            row = conn.execute(
                select(s.managed_policies.c.next_version, s.managed_policies.c.default_version_id)
                .where(s.managed_policies.c.arn == arn)
                .with_for_update()
            ).first()
            if row is None:
                raise NotFound(arn)
            version_id = f"v{row.next_version}"
            conn.execute(
                insert(s.policy_versions).values(
                    policy_arn=arn, version_id=version_id, document=document, created_at=now
                )
            )
            values: dict[str, Any] = {"next_version": row.next_version + 1, "updated_at": now}
            if set_default:
                values["default_version_id"] = version_id
            conn.execute(
                update(s.managed_policies).where(s.managed_policies.c.arn == arn).values(**values)
            )
        return PolicyVersion(arn, version_id, document, set_default, now)

    def get_policy_version(self, arn: str, version_id: str) -> PolicyVersion | None:
        with self._tx() as conn:
            default = conn.execute(
                select(s.managed_policies.c.default_version_id).where(
                    s.managed_policies.c.arn == arn
                )
            ).scalar_one_or_none()
            if default is None:
                return None
            row = conn.execute(
                select(s.policy_versions).where(
                    and_(
                        s.policy_versions.c.policy_arn == arn,
                        s.policy_versions.c.version_id == version_id,
                    )
                )
            ).first()
        return None if row is None else self._version(row, default)

    @cached
    def get_default_policy_document(self, arn: str) -> str | None:
        mp, pv = s.managed_policies.c, s.policy_versions.c
        with self._tx() as conn:
            return conn.execute(
                select(pv.document)
                .join(
                    s.managed_policies,
                    and_(mp.arn == pv.policy_arn, mp.default_version_id == pv.version_id),
                )
                .where(mp.arn == arn)
            ).scalar_one_or_none()

    def list_policy_versions(self, arn: str) -> list[PolicyVersion]:
        with self._tx() as conn:
            default = conn.execute(
                select(s.managed_policies.c.default_version_id).where(
                    s.managed_policies.c.arn == arn
                )
            ).scalar_one_or_none()
            if default is None:
                return []
            rows = conn.execute(
                select(s.policy_versions).where(s.policy_versions.c.policy_arn == arn)
            ).all()
        versions = [self._version(r, default) for r in rows]
        versions.sort(key=lambda v: int(v.version_id[1:]), reverse=True)
        return versions

    def delete_policy_version(self, arn: str, version_id: str) -> None:
        with self._tx() as conn:
            conn.execute(
                delete(s.policy_versions).where(
                    and_(
                        s.policy_versions.c.policy_arn == arn,
                        s.policy_versions.c.version_id == version_id,
                    )
                )
            )

    def set_default_policy_version(self, arn: str, version_id: str, now: datetime) -> None:
        with self._tx() as conn:
            conn.execute(
                update(s.managed_policies)
                .where(s.managed_policies.c.arn == arn)
                .values(default_version_id=version_id, updated_at=now)
            )

    # ------------------------------------------------------------------ attachments

    def attach_policy(self, owner: Owner, arn: str) -> None:
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(s.attachments).values(
                        account_id=owner.account_id,
                        owner_type=owner.kind,
                        owner_key=owner.key,
                        policy_arn=arn,
                    )
                )
        except IntegrityError:
            return  # attaching twice is a no-op, as in AWS

    def detach_policy(self, owner: Owner, arn: str) -> bool:
        a = s.attachments.c
        with self._tx() as conn:
            result = conn.execute(
                delete(s.attachments).where(
                    and_(
                        a.account_id == owner.account_id,
                        a.owner_type == owner.kind,
                        a.owner_key == owner.key,
                        a.policy_arn == arn,
                    )
                )
            )
        return bool(result.rowcount)

    def attached_policies(self, owner: Owner) -> list[ManagedPolicy]:
        a, mp = s.attachments.c, s.managed_policies.c
        with self._tx() as conn:
            rows = conn.execute(
                select(s.managed_policies)
                .join(s.attachments, a.policy_arn == mp.arn)
                .where(
                    and_(
                        a.account_id == owner.account_id,
                        a.owner_type == owner.kind,
                        a.owner_key == owner.key,
                    )
                )
                .order_by(mp.name_key)
            ).all()
        return [self._policy(r) for r in rows]

    @cached
    def attached_policy_documents(self, owners: Sequence[Owner]) -> list[tuple[str, str]]:
        """(policy ARN, default version document) for every policy attached to any owner."""
        if not owners:
            return []
        a, mp, pv = s.attachments.c, s.managed_policies.c, s.policy_versions.c
        conds = [
            and_(a.account_id == o.account_id, a.owner_type == o.kind, a.owner_key == o.key)
            for o in owners
        ]
        from sqlalchemy import or_

        with self._tx() as conn:
            rows = conn.execute(
                select(mp.arn, pv.document)
                .join(s.attachments, a.policy_arn == mp.arn)
                .join(
                    s.policy_versions,
                    and_(pv.policy_arn == mp.arn, pv.version_id == mp.default_version_id),
                )
                .where(or_(*conds))
            ).all()
        return [(r.arn, r.document) for r in rows]

    def entities_for_policy(self, arn: str) -> list[tuple[str, str, str]]:
        """(owner_type, owner name, owner id) for every attachment of ``arn``."""
        out: list[tuple[str, str, str]] = []
        a = s.attachments.c
        with self._tx() as conn:
            for kind, table, id_col in (
                ("user", s.users, s.users.c.user_id),
                ("group", s.groups, s.groups.c.group_id),
                ("role", s.roles, s.roles.c.role_id),
            ):
                rows = conn.execute(
                    select(table.c.name, id_col)
                    .join(
                        s.attachments,
                        and_(
                            a.account_id == table.c.account_id,
                            a.owner_key == table.c.name_key,
                            a.owner_type == kind,
                        ),
                    )
                    .where(a.policy_arn == arn)
                    .order_by(table.c.name_key)
                ).all()
                out.extend((kind, r[0], r[1]) for r in rows)
        return out

    # ------------------------------------------------------------------ tags

    @cached
    def get_tags(self, account_id: str, resource_type: str, resource_key: str) -> list[Tag]:
        t = s.tags.c
        with self._tx() as conn:
            rows = conn.execute(
                select(t.key, t.value)
                .where(
                    and_(
                        t.account_id == account_id,
                        t.resource_type == resource_type,
                        t.resource_key == resource_key,
                    )
                )
                .order_by(t.position)
            ).all()
        return [Tag(r.key, r.value) for r in rows]

    def set_tags(
        self, account_id: str, resource_type: str, resource_key: str, new_tags: Sequence[Tag]
    ) -> None:
        """Add or overwrite tags (keys compared case-insensitively, as AWS does)."""
        t = s.tags.c
        with self._tx() as conn:
            base = conn.execute(
                select(func.coalesce(func.max(t.position), 0)).where(
                    and_(
                        t.account_id == account_id,
                        t.resource_type == resource_type,
                        t.resource_key == resource_key,
                    )
                )
            ).scalar_one()
            for i, tag in enumerate(new_tags, start=1):
                where = and_(
                    t.account_id == account_id,
                    t.resource_type == resource_type,
                    t.resource_key == resource_key,
                    t.key_lower == tag.key.lower(),
                )
                result = conn.execute(
                    update(s.tags).where(where).values(key=tag.key, value=tag.value)
                )
                if result.rowcount == 0:
                    conn.execute(
                        insert(s.tags).values(
                            account_id=account_id,
                            resource_type=resource_type,
                            resource_key=resource_key,
                            key_lower=tag.key.lower(),
                            key=tag.key,
                            value=tag.value,
                            position=int(base) + i,
                        )
                    )

    def remove_tags(
        self, account_id: str, resource_type: str, resource_key: str, keys: Sequence[str]
    ) -> None:
        t = s.tags.c
        with self._tx() as conn:
            conn.execute(
                delete(s.tags).where(
                    and_(
                        t.account_id == account_id,
                        t.resource_type == resource_type,
                        t.resource_key == resource_key,
                        t.key_lower.in_([k.lower() for k in keys]),
                    )
                )
            )

    # ------------------------------------------------------------------ policy usage
    # (added for the IAM service: ListEntitiesForPolicy)

    def entities_using_policy(
        self, account_id: str, arn: str
    ) -> list[tuple[str, str, str, str, str]]:
        """(usage, kind, name, entity id, path) for every user, group and role of
        ``account_id`` that has ``arn`` attached (usage ``"policy"``) or uses it as its
        permissions boundary (usage ``"boundary"``; users and roles only), ordered by
        kind (group, user, role) and then by name."""
        out: list[tuple[str, str, str, str, str]] = []
        a = s.attachments.c
        with self._tx() as conn:
            for kind, table, id_col in (
                ("group", s.groups, s.groups.c.group_id),
                ("user", s.users, s.users.c.user_id),
                ("role", s.roles, s.roles.c.role_id),
            ):
                rows = conn.execute(
                    select(table.c.name, id_col, table.c.path)
                    .join(
                        s.attachments,
                        and_(
                            a.account_id == table.c.account_id,
                            a.owner_key == table.c.name_key,
                            a.owner_type == kind,
                        ),
                    )
                    .where(and_(a.policy_arn == arn, table.c.account_id == account_id))
                    .order_by(table.c.name_key)
                ).all()
                out.extend(("policy", kind, r[0], r[1], r[2]) for r in rows)
                if kind == "group":
                    continue
                rows = conn.execute(
                    select(table.c.name, id_col, table.c.path)
                    .where(
                        and_(
                            table.c.account_id == account_id,
                            table.c.permissions_boundary == arn,
                        )
                    )
                    .order_by(table.c.name_key)
                ).all()
                out.extend(("boundary", kind, r[0], r[1], r[2]) for r in rows)
        return out

    # ------------------------------------------------------------------ MFA devices

    @staticmethod
    def _mfa(row: Row[Any]) -> MfaDevice:
        return MfaDevice(
            account_id=row.account_id,
            serial_number=row.serial_number,
            path=row.path,
            name=row.name,
            seed_sealed=bytes(row.seed_sealed),
            created_at=_utc_req(row.created_at),
            user_name=row.user_name,
            enable_date=_utc(row.enable_date),
            last_used_step=row.last_used_step,
        )

    def create_mfa_device(self, device: MfaDevice) -> None:
        """Insert an unassigned virtual device; ``AlreadyExists`` if the serial is taken."""
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(s.mfa_devices).values(
                        serial_number=device.serial_number,
                        account_id=device.account_id,
                        name_key=device.name.lower(),
                        name=device.name,
                        path=device.path,
                        seed_sealed=device.seed_sealed,
                        created_at=device.created_at,
                    )
                )
        except IntegrityError as exc:
            raise AlreadyExists(device.serial_number) from exc

    def get_mfa_device(self, serial_number: str) -> MfaDevice | None:
        with self._tx() as conn:
            row = conn.execute(
                select(s.mfa_devices).where(s.mfa_devices.c.serial_number == serial_number)
            ).first()
        return None if row is None else self._mfa(row)

    def list_mfa_devices(
        self, account_id: str, *, user_name: str | None = None, assigned: bool | None = None
    ) -> list[MfaDevice]:
        """An account's devices ordered by serial; ``user_name`` keeps one user's,
        ``assigned`` keeps assigned (True) or unassigned (False) ones."""
        c = s.mfa_devices.c
        conds = [c.account_id == account_id]
        if user_name is not None:
            conds.append(c.user_key == user_name.lower())
        if assigned is True:
            conds.append(c.user_key.is_not(None))
        elif assigned is False:
            conds.append(c.user_key.is_(None))
        with self._tx() as conn:
            rows = conn.execute(
                select(s.mfa_devices).where(and_(*conds)).order_by(c.serial_number)
            ).all()
        return [self._mfa(r) for r in rows]

    def assign_mfa_device(
        self, serial_number: str, user_name: str, enable_date: datetime, last_used_step: int
    ) -> bool:
        """Assign an unassigned device to a user; False if it is assigned already."""
        c = s.mfa_devices.c
        with self._tx() as conn:
            result = conn.execute(
                update(s.mfa_devices)
                .where(and_(c.serial_number == serial_number, c.user_key.is_(None)))
                .values(
                    user_key=user_name.lower(),
                    user_name=user_name,
                    enable_date=enable_date,
                    last_used_step=last_used_step,
                )
            )
            return bool(result.rowcount == 1)

    def unassign_mfa_device(self, serial_number: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(s.mfa_devices)
                .where(s.mfa_devices.c.serial_number == serial_number)
                .values(user_key=None, user_name=None, enable_date=None)
            )

    def delete_mfa_device(self, serial_number: str) -> None:
        with self._tx() as conn:
            conn.execute(
                delete(s.mfa_devices).where(s.mfa_devices.c.serial_number == serial_number)
            )

    def use_mfa_step(self, serial_number: str, step: int) -> bool:
        """Record that a code of time step ``step`` was accepted. Atomic compare-and-set:
        False when that step (or a later one) was already used — a replayed code —
        so two replicas can never both accept the same code."""
        c = s.mfa_devices.c
        with self._tx() as conn:
            result = conn.execute(
                update(s.mfa_devices)
                .where(
                    and_(
                        c.serial_number == serial_number,
                        (c.last_used_step.is_(None)) | (c.last_used_step < step),
                    )
                )
                .values(last_used_step=step)
            )
            return bool(result.rowcount == 1)

    # ------------------------------------------------------------------ issuer keys

    @staticmethod
    def _issuer_key_context(account_id: str, kid: str) -> str:
        return f"issuer-key:{account_id}:{kid}"

    def list_issuer_keys(self, account_id: str) -> list[IssuerKeyRecord]:
        """Every stored issuer signing key of ``account_id`` (private PEM unsealed)."""
        c = s.issuer_keys.c
        with self._tx() as conn:
            rows = conn.execute(
                select(s.issuer_keys).where(c.account_id == account_id).order_by(c.kid)
            ).all()
        return [
            IssuerKeyRecord(
                account_id=r.account_id,
                kid=r.kid,
                alg=r.alg,
                private_pem=self.kek.open(
                    bytes(r.private_sealed), self._issuer_key_context(r.account_id, r.kid)
                ),
                created_at=_utc_req(r.created_at),
                not_before=_utc_req(r.not_before),
                retired_at=_utc(r.retired_at),
            )
            for r in rows
        ]

    def _insert_issuer_keys(self, conn: Connection, keys: Sequence[IssuerKeyRecord]) -> None:
        for key in keys:
            conn.execute(
                insert(s.issuer_keys).values(
                    account_id=key.account_id,
                    kid=key.kid,
                    alg=key.alg,
                    private_sealed=self.kek.seal(
                        key.private_pem, self._issuer_key_context(key.account_id, key.kid)
                    ),
                    created_at=key.created_at,
                    not_before=key.not_before,
                    retired_at=key.retired_at,
                )
            )

    def save_issuer_rotation(
        self,
        account_id: str,
        new_keys: Sequence[IssuerKeyRecord],
        retired: Sequence[tuple[str, datetime]],
        pruned: Sequence[str] = (),
    ) -> None:
        """One transaction: insert ``new_keys``, set ``retired_at`` on ``retired``
        (kid, when) and delete the ``pruned`` kids. A kid that already exists (another
        replica rotated concurrently) raises ``AlreadyExists`` and nothing changes."""
        c = s.issuer_keys.c
        try:
            with self._tx() as conn:
                self._insert_issuer_keys(conn, new_keys)
                for kid, when in retired:
                    conn.execute(
                        update(s.issuer_keys)
                        .where(and_(c.account_id == account_id, c.kid == kid))
                        .values(retired_at=when)
                    )
                for kid in pruned:
                    conn.execute(
                        delete(s.issuer_keys).where(and_(c.account_id == account_id, c.kid == kid))
                    )
        except IntegrityError as exc:
            raise AlreadyExists(f"issuer key of {account_id}") from exc

    def enable_outbound(
        self, account_id: str, issuer_id: str, initial_keys: Sequence[IssuerKeyRecord]
    ) -> str | None:
        """Turn outbound federation on in one transaction: keep the account's issuer id
        (or set ``issuer_id`` if it has none) and insert ``initial_keys`` when the account
        has no issuer keys yet. Returns the issuer id, or None when already enabled."""
        a = s.accounts.c
        with self._tx() as conn:
            changed = conn.execute(
                update(s.accounts)
                .where(and_(a.account_id == account_id, a.outbound_enabled.is_(False)))
                .values(outbound_enabled=True)
            )
            if changed.rowcount != 1:
                return None
            current = conn.execute(
                select(a.issuer_id).where(a.account_id == account_id)
            ).scalar_one()
            if current is None:
                conn.execute(
                    update(s.accounts).where(a.account_id == account_id).values(issuer_id=issuer_id)
                )
                current = issuer_id
            have = conn.execute(
                select(func.count())
                .select_from(s.issuer_keys)
                .where(s.issuer_keys.c.account_id == account_id)
            ).scalar_one()
            if not have:
                self._insert_issuer_keys(conn, initial_keys)
            return str(current)

    def disable_outbound(self, account_id: str) -> bool:
        """Turn outbound federation off; False when it was not on. Keys and issuer id stay."""
        a = s.accounts.c
        with self._tx() as conn:
            changed = conn.execute(
                update(s.accounts)
                .where(and_(a.account_id == account_id, a.outbound_enabled.is_(True)))
                .values(outbound_enabled=False)
            )
            return bool(changed.rowcount == 1)

    def get_account_by_issuer(self, issuer_id: str) -> Account | None:
        with self._tx() as conn:
            row = conn.execute(
                select(s.accounts).where(s.accounts.c.issuer_id == issuer_id)
            ).first()
        return None if row is None else self._account(row)


def open_sql_store(
    kek: KeyEncryptionKey, *, data_dir: Path | None = None, database_url: str | None = None
) -> SqlStore:
    if database_url:
        url = database_url
    else:
        if data_dir is None:
            raise StoreError("either a data directory or a database URL is required")
        url = sqlite_url(data_dir)
    store = SqlStore(url, kek)
    store.migrate()
    return store


@dataclass(frozen=True, slots=True)
class IssuerKeyRecord:
    """One stored issuer signing key; ``private_pem`` is the unsealed PKCS#8 PEM."""

    account_id: str
    kid: str
    alg: str
    private_pem: bytes
    created_at: datetime
    not_before: datetime
    retired_at: datetime | None = None

    def __repr__(self) -> str:
        return f"IssuerKeyRecord(account_id={self.account_id!r}, kid={self.kid!r})"


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
