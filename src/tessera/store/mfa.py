"""Storage interface of virtual MFA devices: the devices (seeds sealed by the
caller), their assignment to users, and the replay protection of their codes
(``use_mfa_step``: an atomic compare-and-set on the last accepted time step)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tessera.iam.mfa_model import MfaDevice


class MfaStore(Protocol):
    def create_mfa_device(self, device: MfaDevice) -> None:
        """Insert an unassigned device; ``AlreadyExists`` if the serial is taken."""
        ...

    def get_mfa_device(self, serial_number: str) -> MfaDevice | None: ...

    def list_mfa_devices(
        self, account_id: str, *, user_name: str | None = None, assigned: bool | None = None
    ) -> list[MfaDevice]: ...

    def assign_mfa_device(
        self, serial_number: str, user_name: str, enable_date: datetime, last_used_step: int
    ) -> bool:
        """Assign an unassigned device; False if it is assigned already."""
        ...

    def unassign_mfa_device(self, serial_number: str) -> None: ...

    def delete_mfa_device(self, serial_number: str) -> None: ...

    def use_mfa_step(self, serial_number: str, step: int) -> bool:
        """Accept time step ``step`` once: False when it (or a later one) was used."""
        ...
