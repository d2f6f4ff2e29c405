"""Storage interface of login profiles: each IAM user's console password (a KDF
hash sealed by the caller), keyed by the user's unique id, with the sealed hashes
of the passwords it replaced (reuse prevention) and its "last used" time."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tessera.iam.account_model import LoginProfile


class LoginProfileStore(Protocol):
    def create_login_profile(self, profile: LoginProfile) -> None:
        """``AlreadyExists`` when the user has one."""
        ...

    def get_login_profile(self, user_id: str) -> LoginProfile | None: ...

    def set_login_password(
        self,
        user_id: str,
        password_sealed: bytes,
        changed_at: datetime,
        reset_required: bool,
        keep_history: int,
    ) -> bool:
        """Replace the password: the old sealed hash goes to the front of the history,
        which keeps at most ``keep_history`` entries. False when there is no profile."""
        ...

    def update_login_profile(
        self,
        user_id: str,
        *,
        reset_required: bool | None = None,
        max_signin_session_duration: int | None = None,
        clear_max_signin_session_duration: bool = False,
    ) -> bool:
        """Change the profile's flags (None: unchanged). False when there is none."""
        ...

    def password_history(self, user_id: str) -> list[bytes]:
        """The sealed hashes of earlier passwords, newest first."""
        ...

    def record_password_use(self, user_id: str, now: datetime) -> None: ...

    def delete_login_profile(self, user_id: str) -> bool:
        """Delete the profile and its history; False when there was none."""
        ...

    def list_login_profiles(self, account_id: str) -> list[LoginProfile]:
        """Every login profile of an account (the credential report)."""
        ...
