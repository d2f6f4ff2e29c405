"""Storage interface of accounts: creating and reading the accounts a store
serves (one store, any number of accounts)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tessera.iam.model import Account


class AccountStore(Protocol):
    def create_account(self, account_id: str, now: datetime) -> Account:
        """``AlreadyExists`` when the id is taken."""
        ...

    def get_account(self, account_id: str) -> Account | None: ...

    def list_accounts(self) -> list[Account]:
        """Every account, ordered by id."""
        ...
