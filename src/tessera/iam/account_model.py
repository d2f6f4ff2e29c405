"""Account-wide IAM records read from and written to the store: a user's login
profile (console password, sealed hash), the account password policy, the account
settings (alias, STS global endpoint token version) and the credential report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class LoginProfile:
    """A user's console password, bound to the user's unique id (a user created
    again under the same name has no password). ``password_sealed`` is the KDF hash
    sealed under the KEK (purpose ``password:<user id>``); never logged."""

    account_id: str
    user_id: str
    password_sealed: bytes
    created_at: datetime
    password_changed_at: datetime
    reset_required: bool = False
    max_signin_session_duration: int | None = None
    password_last_used: datetime | None = None

    def __repr__(self) -> str:  # the hash never appears in a repr (logs, tracebacks)
        return f"LoginProfile(user_id={self.user_id!r}, reset_required={self.reset_required})"


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """The account password policy, with UpdateAccountPasswordPolicy's defaults for
    members a request leaves out."""

    minimum_password_length: int = 6
    require_symbols: bool = False
    require_numbers: bool = False
    require_uppercase_characters: bool = False
    require_lowercase_characters: bool = False
    allow_users_to_change_password: bool = False
    max_password_age: int | None = None  # days
    password_reuse_prevention: int | None = None
    hard_expiry: bool | None = None  # None: not set (GetAccountPasswordPolicy omits it)

    @property
    def expire_passwords(self) -> bool:
        return self.max_password_age is not None


@dataclass(frozen=True, slots=True)
class CredentialReport:
    """An account's credential report: ``content`` is ``None`` while it is being
    generated (``started_at`` set, ``generated_at`` not)."""

    account_id: str
    started_at: datetime
    generated_at: datetime | None
    content: bytes | None


@dataclass(frozen=True, slots=True)
class AccountCounts:
    """What GetAccountSummary counts in one account."""

    users: int = 0
    groups: int = 0
    roles: int = 0
    policies: int = 0
    policy_versions: int = 0
    mfa_devices: int = 0
    mfa_devices_in_use: int = 0
    providers: int = 0
    root_access_keys: int = 0
