"""Storage interface of long-term access keys: the key records, their secrets
(sealed at rest by the engine) and their "last used" bookkeeping."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tessera.iam.model import AccessKey


class AccessKeyStore(Protocol):
    def create_access_key(
        self, account_id: str, user_name: str | None, access_key_id: str, secret: str, now: datetime
    ) -> AccessKey:
        """A key for the user called ``user_name`` (``None``: the root key), bound to
        that user's unique id as read in the same transaction."""
        ...

    def get_access_key(self, access_key_id: str) -> AccessKey | None: ...

    def get_access_key_with_secret(self, access_key_id: str) -> tuple[AccessKey, str] | None: ...

    def list_access_keys(self, account_id: str, user_name: str | None) -> list[AccessKey]:
        """The keys of one user (``None``: the root keys), oldest first."""
        ...

    def update_access_key_status(self, access_key_id: str, status: str) -> None: ...

    def delete_access_key(self, access_key_id: str) -> None: ...

    def record_access_key_use(
        self, access_key_id: str, now: datetime, service: str, region: str
    ) -> None:
        """Bookkeeping: no cached read depends on it."""
        ...
