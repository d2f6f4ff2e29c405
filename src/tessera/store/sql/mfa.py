"""SQL store: virtual MFA devices (seeds sealed by the caller) and the replay
protection of their codes (``last_used_step``, an atomic compare-and-set)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Row,
    and_,
    delete,
    select,
    update,
)

from tessera.iam.mfa_model import MfaDevice
from tessera.store.sql import schema as s
from tessera.store.sql.engine import SqlEngine, utc, utc_req


class SqlMfa(SqlEngine):
    """Virtual MFA devices."""

    @staticmethod
    def _mfa(row: Row[Any]) -> MfaDevice:
        return MfaDevice(
            account_id=row.account_id,
            serial_number=row.serial_number,
            path=row.path,
            name=row.name,
            seed_sealed=bytes(row.seed_sealed),
            created_at=utc_req(row.created_at),
            user_name=row.user_name,
            enable_date=utc(row.enable_date),
            last_used_step=row.last_used_step,
        )

    def create_mfa_device(self, device: MfaDevice) -> None:
        """Insert an unassigned virtual device; ``AlreadyExists`` if the serial is taken."""
        self._insert_unique(
            s.mfa_devices,
            dict(
                serial_number=device.serial_number,
                account_id=device.account_id,
                name_key=device.name.lower(),
                name=device.name,
                path=device.path,
                seed_sealed=device.seed_sealed,
                created_at=device.created_at,
            ),
            device.serial_number,
        )

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
