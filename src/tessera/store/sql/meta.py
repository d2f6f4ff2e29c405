"""SQL store: schema migrations, initialisation (the KEK check value) and the
``meta`` key/value rows (session-token key ring, cache generation)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    insert,
    select,
    text,
    update,
)

from tessera.store.cache import GENERATION_KEY, new_generation
from tessera.store.sql import schema as s
from tessera.store.sql.engine import SqlEngine

_KEK_CHECK = b"tessera-kek-check"


class SqlMeta(SqlEngine):
    """Migrations, initialisation and meta blobs."""

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
