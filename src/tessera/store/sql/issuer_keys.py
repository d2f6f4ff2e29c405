"""SQL store: outbound federation state of an account (issuer id, on/off) and its
issuer signing keys (private keys sealed under the KEK)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    and_,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from tessera.iam.model import (
    Account,
)
from tessera.store.base import AlreadyExists
from tessera.store.issuer_keys import IssuerKeyRecord
from tessera.store.sql import schema as s
from tessera.store.sql.accounts import account_from_row
from tessera.store.sql.engine import SqlEngine, utc, utc_req


class SqlIssuerKeys(SqlEngine):
    """Issuer signing keys and the outbound switch."""

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
                created_at=utc_req(r.created_at),
                not_before=utc_req(r.not_before),
                retired_at=utc(r.retired_at),
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
        return None if row is None else account_from_row(row)
