"""SQL store: accounts (table ``accounts``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Row,
    select,
    update,
)

from tessera.iam.model import (
    Account,
)
from tessera.store.cache import cached
from tessera.store.sql import schema as s
from tessera.store.sql.engine import SqlEngine, utc_req


def account_from_row(row: Row[Any]) -> Account:
    return Account(
        account_id=row.account_id,
        created_at=utc_req(row.created_at),
        issuer_id=row.issuer_id,
        outbound_enabled=bool(row.outbound_enabled),
        org_id=row.org_id,
        ou_path=row.ou_path,
    )


class SqlAccounts(SqlEngine):
    """Accounts."""

    def create_account(self, account_id: str, now: datetime) -> Account:
        self._insert_unique(
            s.accounts,
            dict(account_id=account_id, created_at=now, outbound_enabled=False),
            account_id,
        )
        return Account(account_id=account_id, created_at=now)

    @cached
    def get_account(self, account_id: str) -> Account | None:
        with self._tx() as conn:
            row = conn.execute(
                select(s.accounts).where(s.accounts.c.account_id == account_id)
            ).first()
        return None if row is None else account_from_row(row)

    def list_accounts(self) -> list[Account]:
        with self._tx() as conn:
            rows = conn.execute(select(s.accounts).order_by(s.accounts.c.account_id)).all()
        return [account_from_row(r) for r in rows]

    def update_account(self, account_id: str, **values: Any) -> None:
        """Set columns of an account (engine-only: tests and tools; services use the
        narrower ``set_account_org`` / ``enable_outbound``)."""
        with self._tx() as conn:
            conn.execute(
                update(s.accounts).where(s.accounts.c.account_id == account_id).values(**values)
            )
