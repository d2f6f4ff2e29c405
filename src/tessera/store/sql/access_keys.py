"""SQL store: long-term access keys (secrets sealed under the KEK) and their
"last used" bookkeeping."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Row,
    and_,
    delete,
    insert,
    select,
    update,
)

from tessera.iam.model import (
    AccessKey,
)
from tessera.store.cache import cached
from tessera.store.sql import schema as s
from tessera.store.sql.engine import QUIET, SqlEngine, utc, utc_req


class SqlAccessKeys(SqlEngine):
    """Long-term access keys."""

    @staticmethod
    def _key(row: Row[Any]) -> AccessKey:
        return AccessKey(
            access_key_id=row.access_key_id,
            account_id=row.account_id,
            user_name=row.user_name,
            status=row.status,
            created_at=utc_req(row.created_at),
            last_used_at=utc(row.last_used_at),
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
