"""What an operation handler receives: the ``OperationContext`` (caller, request
facts, store, clock, authoriser) and the handler type. STS and IAM operations are
ordinary functions ``(ctx, params) -> result`` registered by name."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from tessera.auth.principal import Principal
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
    service: str  # "sts" | "iam"
    operation: str
    region: str  # the SigV4 scope region (us-east-1 for unsigned requests)
    now: datetime
    source_ip: str
    secure_transport: bool
    user_agent: str
    runtime: OperationRuntime
    principal: Principal | None = None
    extra: dict[str, Any] = field(default_factory=dict)

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
        self.runtime.authorizer.authorize(
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
Handler = Callable[[OperationContext, "Params"], Result]
