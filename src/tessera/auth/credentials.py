"""Credential resolution: from the access key id (and session token) in a signed
request to the calling ``Principal`` and the secret to verify the signature with.
Long-term keys (AKIA…) come from the store; temporary keys (ASIA…) are opened
from their self-contained session token.

Credentials belong to an identity, not a name: a long-term key authenticates
only while the user it was made for (by unique id) exists, and a session only
while the user or role it derives from (by unique id) exists. A user or role
deleted and created again under the same name inherits neither. The credentials
of an account closed through AWS Organizations (CloseAccount: SUSPENDED) stop
working, long-term and temporary alike (``InvalidClientTokenId``, as AWS answers
for a suspended account). These checks are read-cache lookups (dropped on any
write), not a database round trip per call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from tessera import arn as arns
from tessera.auth.principal import Principal, PrincipalKind, SessionKind
from tessera.errors import InvalidClientTokenId
from tessera.store.access_keys import AccessKeyStore
from tessera.store.identities import IdentityStore
from tessera.store.memo import NO_MEMO, Memo
from tessera.store.organizations import OrganizationStore

if TYPE_CHECKING:
    from datetime import datetime


class SessionOpener(Protocol):
    def open(self, access_key_id: str, token: str, now: datetime) -> tuple[Principal, str]:
        """Return (principal, secret) or raise InvalidClientTokenId / ExpiredToken."""
        ...


class CredentialStore(AccessKeyStore, IdentityStore, OrganizationStore, Protocol):
    """The storage credential resolution reads: long-term keys and their users,
    the users and roles sessions derive from, and whether an account is suspended."""


class CredentialResolver:
    def __init__(
        self, store: CredentialStore, sessions: SessionOpener | None = None, memo: Memo = NO_MEMO
    ) -> None:
        """``memo`` keeps a long-term key's resolved principal (the server passes the
        store's read cache, which drops it with the reads it comes from)."""
        self.store = store
        self.sessions = sessions
        self.memo = memo

    def resolve(
        self, access_key_id: str, security_token: str | None, now: datetime
    ) -> tuple[Principal, str]:
        if access_key_id.startswith("ASIA"):
            if not security_token or self.sessions is None:
                raise InvalidClientTokenId()
            principal, secret = self.sessions.open(access_key_id, security_token, now)
            if not self._source_exists(principal) or self._suspended(principal.account_id):
                raise InvalidClientTokenId()
            return principal, secret
        if security_token:
            # a session token sent with a long-term key is rejected by AWS
            raise InvalidClientTokenId()
        # memoised with the reads it comes from (dropped on any write)
        resolved = self.memo.memo(
            ("principal", access_key_id), lambda: self._long_term(access_key_id)
        )
        if resolved is None or self._suspended(resolved[0].account_id):
            raise InvalidClientTokenId()
        return resolved

    def _suspended(self, account_id: str) -> bool:
        """Was the account closed (CloseAccount) in its organization?"""
        details = self.store.get_org_account(account_id)
        return details is not None and details.status != "ACTIVE"

    def _source_exists(self, principal: Principal) -> bool:
        """Does the user or role a session derives from still exist (same id)?"""
        session = principal.session
        assert session is not None
        if session.kind is SessionKind.ASSUMED_ROLE:
            role = self.store.get_role_by_id(session.source_id)
            return role is not None and role.account_id == session.account_id
        if session.source_arn == arns.root_arn(session.account_id):
            return True
        user = self.store.get_user_by_id(session.source_id)
        return user is not None and user.account_id == session.account_id

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
        if user is None or key.user_id is None or user.user_id != key.user_id:
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
