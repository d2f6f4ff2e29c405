"""What an operation handler receives: the ``OperationContext`` (caller, request
facts, and the narrow services a handler may use: store, clock, authoriser,
session codec, issuers, inbound OIDC client, authorization messages) and the
handler type. STS and IAM operations are ordinary functions
``(ctx, params) -> result`` declared in ``tessera.registry``.

Handlers use the typed accessors (``ctx.sessions``, ``ctx.issuers`` …), never
``ctx.runtime``: an optional service a handler needs is named by its declaration's
``requires``, and its accessor fails loudly (``InternalFailure``) if the operation
is somehow served without it."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from tessera.auth.principal import Principal
from tessera.auth.sigv4 import HttpRequest
from tessera.clock import Clock
from tessera.config import ServerConfig
from tessera.errors import InternalFailure
from tessera.iam.model import BoundPolicy

if TYPE_CHECKING:
    from tessera.federation.oidc import InboundOidc
    from tessera.iam.authz import Authorizer
    from tessera.oidc.issuers import IssuerService
    from tessera.protocol.query import Params
    from tessera.store.interface import Store
    from tessera.sts.authz_messages import AuthorizationMessages
    from tessera.sts.sessions import SessionCodec

ContextValue = str | tuple[str, ...]


class OperationRuntime(Protocol):
    """What a handler reaches through ``ctx.runtime``: the process-wide services.
    ``tessera.app.runtime.Runtime`` provides it; naming this Protocol instead of
    that class keeps ``operation`` below ``app``."""

    @property
    def store(self) -> Store: ...
    @property
    def config(self) -> ServerConfig: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def authorizer(self) -> Authorizer: ...
    @property
    def sessions(self) -> SessionCodec: ...
    @property
    def issuers(self) -> IssuerService | None: ...
    @property
    def authz_messages(self) -> AuthorizationMessages | None: ...
    @property
    def inbound_oidc(self) -> InboundOidc | None: ...
    def record_use(self, key: Hashable, write: Callable[[], None]) -> None: ...


@dataclass(slots=True)
class OperationContext:
    request_id: str
    service: str  # "sts" | "iam" | "rolesanywhere" | "organizations" | "cloudtrail"
    operation: str
    region: str  # the SigV4 scope region (us-east-1 for unsigned requests)
    now: datetime
    source_ip: str
    secure_transport: bool
    user_agent: str
    runtime: OperationRuntime
    principal: Principal | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: the raw request, for handlers that authenticate it themselves (Roles
    #: Anywhere's CreateSession verifies an X.509 signature)
    http: HttpRequest | None = None
    #: the HTTP status of the answer when the handler chooses it (JSON protocols;
    #: otherwise the model's ``responseCode``, or 200)
    response_status: int | None = None

    @property
    def store(self) -> Store:
        return self.runtime.store

    @property
    def config(self) -> ServerConfig:
        return self.runtime.config

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    @property
    def authorizer(self) -> Authorizer:
        return self.runtime.authorizer

    @property
    def sessions(self) -> SessionCodec:
        return self.runtime.sessions

    @property
    def issuers(self) -> IssuerService:
        """Outbound federation's issuers (operations declared ``requires="issuers"``)."""
        service = self.runtime.issuers
        if service is None:
            raise InternalFailure("outbound identity federation is not configured")
        return service

    @property
    def inbound_oidc(self) -> InboundOidc:
        """The IdP client (operations declared ``requires="inbound_oidc"``)."""
        client = self.runtime.inbound_oidc
        if client is None:
            raise InternalFailure("inbound OIDC federation is not configured")
        return client

    @property
    def authz_messages(self) -> AuthorizationMessages | None:
        """Seals and opens encoded authorization messages (``None``: not configured)."""
        return self.runtime.authz_messages

    def record_use(self, key: Hashable, write: Callable[[], None]) -> None:
        """Bookkeeping written behind the request ("last used"), coalesced by ``key``."""
        self.runtime.record_use(key, write)

    @property
    def caller(self) -> Principal:
        if self.principal is None:
            raise InternalFailure("operation needs an authenticated caller")
        return self.principal

    def authorize(
        self,
        action: str,
        resource: str,
        *,
        request_keys: Mapping[str, ContextValue] | None = None,
        resource_account: str | None = None,
        resource_policy: BoundPolicy | None = None,
        resource_tags: Mapping[str, str] | None = None,
        trust: bool = False,
        message_action: str | None = None,
    ) -> None:
        """Raise ``AccessDenied`` unless the caller may perform ``action`` on ``resource``.

        ``request_keys``: condition keys of this request (``sts:ExternalId``,
        ``aws:RequestTag/k``, ``aws:TagKeys`` …). ``resource_policy``: the
        resource-based policy (for ``trust=True`` the role's trust policy, which
        must explicitly allow). ``resource_tags``: tags of the resource
        (``aws:ResourceTag/*``, ``iam:ResourceTag/*``)."""
        self.authorizer.authorize(
            self,
            action,
            resource,
            request_keys=request_keys,
            resource_account=resource_account,
            resource_policy=resource_policy,
            resource_tags=resource_tags,
            trust=trust,
            message_action=message_action,
        )


Result = Mapping[str, object] | None
Handler = Callable[[OperationContext, "Params[Any]"], Result]
