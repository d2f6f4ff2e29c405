"""Storage interface of outbound federation: whether an account issues tokens, its
issuer id, and its issuer signing keys (``IssuerKeyRecord``, sealed at rest by
the engine)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tessera.iam.model import Account


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


class IssuerKeyStore(Protocol):
    def list_issuer_keys(self, account_id: str) -> list[IssuerKeyRecord]: ...

    def save_issuer_rotation(
        self,
        account_id: str,
        new_keys: Sequence[IssuerKeyRecord],
        retired: Sequence[tuple[str, datetime]],
        pruned: Sequence[str] = (),
    ) -> None:
        """One transaction: insert, retire (kid, when), delete. ``AlreadyExists`` when a
        new kid exists already (a concurrent rotation); then nothing changes."""
        ...

    def enable_outbound(
        self, account_id: str, issuer_id: str, initial_keys: Sequence[IssuerKeyRecord]
    ) -> str | None:
        """Turn outbound federation on; the issuer id, or None when already on."""
        ...

    def disable_outbound(self, account_id: str) -> bool: ...

    def get_account_by_issuer(self, issuer_id: str) -> Account | None: ...
