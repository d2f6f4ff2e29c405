"""Storage interface of account-wide IAM settings: the password policy, the account
alias (unique across the accounts of a store), the STS global endpoint token
version, the credential report, and the entity counts GetAccountSummary reports."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tessera.iam.account_model import AccountCounts, CredentialReport, PasswordPolicy


class AccountSettingsStore(Protocol):
    def get_password_policy(self, account_id: str) -> PasswordPolicy | None: ...

    def put_password_policy(self, account_id: str, policy: PasswordPolicy) -> None: ...

    def delete_password_policy(self, account_id: str) -> bool:
        """False when the account had none."""
        ...

    def get_account_alias(self, account_id: str) -> str | None: ...

    def set_account_alias(self, account_id: str, alias: str) -> None:
        """Set (or replace) the account's one alias; ``AlreadyExists`` when another
        account of this store has it."""
        ...

    def delete_account_alias(self, account_id: str, alias: str) -> bool:
        """False when ``alias`` is not the account's alias."""
        ...

    def get_sts_token_version(self, account_id: str) -> str | None:
        """``v1Token`` | ``v2Token`` (None: never set)."""
        ...

    def set_sts_token_version(self, account_id: str, version: str) -> None: ...

    def start_credential_report(self, account_id: str, now: datetime) -> None:
        """Mark a new report as being generated (the previous one is discarded)."""
        ...

    def finish_credential_report(self, account_id: str, content: bytes, now: datetime) -> None: ...

    def get_credential_report(self, account_id: str) -> CredentialReport | None: ...

    def account_counts(self, account_id: str) -> AccountCounts: ...
