"""The process-wide runtime a server worker builds once: configuration, store,
clock, credential resolver, authoriser, the operation registries and the
bookkeeping writer."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tessera.auth.credentials import CredentialResolver
from tessera.clock import Clock
from tessera.config import ServerConfig
from tessera.iam.authz import Authorizer
from tessera.store.bookkeeping import Bookkeeping

if TYPE_CHECKING:
    from tessera.federation.oidc import InboundOidc
    from tessera.oidc.issuers import IssuerService
    from tessera.operation import Handler
    from tessera.store.sql import SqlStore
    from tessera.sts.authz_messages import AuthorizationMessages
    from tessera.sts.sessions import SessionCodec


@dataclass(slots=True)
class Runtime:
    config: ServerConfig
    store: SqlStore
    clock: Clock
    resolver: CredentialResolver
    authorizer: Authorizer
    sessions: SessionCodec
    operations: dict[str, dict[str, Handler]] = field(default_factory=dict)
    issuers: IssuerService | None = None  # outbound identity federation (bootstrap sets it)
    # encoded AccessDenied details / DecodeAuthorizationMessage (bootstrap sets it)
    authz_messages: AuthorizationMessages | None = None
    inbound_oidc: InboundOidc | None = None  # AssumeRoleWithWebIdentity's IdP client
    unsigned_operations: frozenset[str] = frozenset(
        {"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"}
    )
    #: usage bookkeeping written behind the request (None: written at once)
    bookkeeping: Bookkeeping | None = None

    def record_use(self, key: Hashable, write: Callable[[], None]) -> None:
        """A "last used" write: behind the request when there is a bookkeeping
        thread (one pending write per ``key``), else now."""
        if self.bookkeeping is None:
            write()
        else:
            self.bookkeeping.submit(key, write)
