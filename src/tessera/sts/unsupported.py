"""STS operations of the pinned model that Tessera does not build (#14 §6), answered
with a clean, documented refusal instead of ``InvalidAction``.

- ``GetDelegatedAccessToken`` trades in a token from IAM temporary delegation, an
  AWS partner programme (the partner is onboarded by AWS; ``CreateDelegationRequest``
  is "not available for general use"). Tessera answers ``AccessDenied`` as AWS does
  for an account outside the programme (§6).

Each handler authorises its IAM action first (an explicit deny answers as for every
operation), then refuses; the request's members are not acted on at all."""

from __future__ import annotations

from typing import Any

from tessera.errors import AccessDenied
from tessera.operation import Handler, OperationContext, Result
from tessera.protocol.query import Params
from tessera.registry import Operation, declare

#: operation → why it is refused (the AccessDenied message)
UNSUPPORTED: dict[str, str] = {
    "GetDelegatedAccessToken": (
        "GetDelegatedAccessToken is not supported by Tessera: IAM temporary delegation "
        "is an AWS partner programme this server does not take part in."
    ),
}


def _refusal(name: str, message: str) -> Handler:
    def handler(ctx: OperationContext, params: Params[Any]) -> Result:
        ctx.authorize(f"sts:{name}", "*")
        params.refuse_operation()
        raise AccessDenied(message)

    handler.__name__ = handler.__qualname__ = f"refuse_{name}"
    return handler


for _name, _message in UNSUPPORTED.items():
    declare(Operation("sts", _name, _refusal(_name, _message), action=f"sts:{_name}"))
