"""The virtual MFA device record read from and written to the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tessera import arn as arns


@dataclass(frozen=True, slots=True)
class MfaDevice:
    account_id: str
    serial_number: str  # arn:aws:iam::ACCT:mfa/<path><name>
    path: str
    name: str
    seed_sealed: bytes  # base32 seed sealed under the KEK (purpose "mfa-seed:<serial>")
    created_at: datetime
    user_name: str | None = None  # assigned user; None = unassigned
    enable_date: datetime | None = None
    last_used_step: int | None = None  # highest TOTP step accepted (replay protection)

    @property
    def assigned(self) -> bool:
        return self.user_name is not None

    def __repr__(self) -> str:
        return f"MfaDevice({self.serial_number!r}, user={self.user_name!r})"


def mfa_serial(account_id: str, path: str, name: str) -> str:
    return arns.mfa_arn(account_id, path, name)
