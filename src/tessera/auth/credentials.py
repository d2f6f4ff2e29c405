"""Credential resolution: from the access key id (and session token) in a signed
request to the calling ``Principal`` and the secret to verify the signature with.
Long-term keys (AKIA…) come from the store; temporary keys (ASIA…) are opened
from their self-contained session token without touching the store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from tessera import arn as arns
from tessera.auth.principal import Principal, PrincipalKind
from tessera.errors import InvalidClientTokenId

if TYPE_CHECKING:
    from datetime import datetime

    from tessera.store.sql import SqlStore


class SessionOpener(Protocol):
    def open(self, access_key_id: str, token: str, now: datetime) -> tuple[Principal, str]:
        """Return (principal, secret) or raise InvalidClientTokenId / ExpiredToken."""
        ...


class CredentialResolver:
    def __init__(self, store: SqlStore, sessions: SessionOpener | None = None) -> None:
        self.store = store
        self.sessions = sessions

    def resolve(
        self, access_key_id: str, security_token: str | None, now: datetime
    ) -> tuple[Principal, str]:
        if access_key_id.startswith("ASIA"):
            if not security_token or self.sessions is None:
                raise InvalidClientTokenId()
            return self.sessions.open(access_key_id, security_token, now)
        if security_token:
            # a session token sent with a long-term key is rejected by AWS
            raise InvalidClientTokenId()
        # memoised with the reads it comes from (dropped on any write)
        resolved = self.store.memo(
            ("principal", access_key_id), lambda: self._long_term(access_key_id)
        )
        if resolved is None:
            raise InvalidClientTokenId()
        return resolved

    def _long_term(self, access_key_id: str) -> tuple[Principal, str] | None:
        """The principal and secret of an active long-term key; ``None`` if unknown,
        inactive or its user is gone."""
        found = self.store.get_access_key_with_secret(access_key_id)
        if found is None:
            return None
        key, secret = found
        if key.status != "Active":
            return None
        if key.user_name is None:
            return (
                Principal(
                    kind=PrincipalKind.ROOT,
                    account_id=key.account_id,
                    arn=arns.root_arn(key.account_id),
                    user_id=key.account_id,
                    principal_arn=arns.root_arn(key.account_id),
                    name="",
                    access_key_id=access_key_id,
                ),
                secret,
            )
        user = self.store.get_user(key.account_id, key.user_name)
        if user is None:
            return None
        return (
            Principal(
                kind=PrincipalKind.USER,
                account_id=key.account_id,
                arn=user.arn,
                user_id=user.user_id,
                principal_arn=user.arn,
                name=user.name,
                access_key_id=access_key_id,
            ),
            secret,
        )
