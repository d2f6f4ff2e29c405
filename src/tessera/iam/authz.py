"""The one authorisation decision every operation goes through:
``Authorizer.authorize(ctx, action, resource)``. Until the policy engine is
wired in, it fails closed: an account's root may do everything in its own
account and every other principal is denied with AWS's AccessDenied message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from tessera.errors import AccessDenied

if TYPE_CHECKING:
    from tessera.operation import ContextValue, OperationContext


def denial_message(caller_arn: str, action: str, resource: str, reason: str) -> str:
    return f"User: {caller_arn} is not authorized to perform: {action} on resource: {resource} {reason}"


class Authorizer:
    def authorize(
        self,
        ctx: OperationContext,
        action: str,
        resource: str,
        *,
        request_keys: Mapping[str, ContextValue] | None = None,
        resource_account: str | None = None,
        resource_policy: str | None = None,
        resource_tags: Mapping[str, str] | None = None,
        trust: bool = False,
        message_action: str | None = None,
    ) -> None:
        caller = ctx.caller
        target_account = resource_account or caller.account_id
        if caller.is_root and target_account == caller.account_id and not trust:
            return
        raise AccessDenied(
            denial_message(
                caller.arn,
                action,
                resource,
                f"because no identity-based policy allows the {action} action",
            )
        )
