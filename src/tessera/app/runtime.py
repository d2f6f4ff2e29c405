"""The process-wide runtime a server worker builds once: configuration, store,
clock, credential resolver, authoriser, the optional federation services, the
table of the operations it serves (``tessera.registry``) and the bookkeeping
writer."""

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
    from tessera.app.observe import RequestObserver
    from tessera.federation.oidc import InboundOidc
    from tessera.oidc.issuers import IssuerService
    from tessera.registry import OperationTable, Requirement
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
    operations: OperationTable = field(default_factory=dict)
    issuers: IssuerService | None = None  # outbound identity federation (bootstrap sets it)
    # encoded AccessDenied details / DecodeAuthorizationMessage (bootstrap sets it)
    authz_messages: AuthorizationMessages | None = None
    inbound_oidc: InboundOidc | None = None  # AssumeRoleWithWebIdentity's IdP client
    #: usage bookkeeping written behind the request (None: written at once)
    bookkeeping: Bookkeeping | None = None
    #: metrics, audit events and rate limits of each request (bootstrap sets it)
    observer: RequestObserver | None = None

    def optional_services(self) -> frozenset[Requirement]:
        """The optional services configured (operations that require one are served
        only then)."""
        available: set[Requirement] = set()
        if self.issuers is not None:
            available.add("issuers")
        if self.inbound_oidc is not None:
            available.add("inbound_oidc")
        return frozenset(available)

    def record_use(self, key: Hashable, write: Callable[[], None]) -> None:
        """A "last used" write: behind the request when there is a bookkeeping
        thread (one pending write per ``key``), else now."""
        if self.bookkeeping is None:
            write()
        else:
            self.bookkeeping.submit(key, write)
