"""Organizations operations of the pinned model that Tessera does not build,
answered with a clean, documented ``AccessDeniedException`` (never a wrong
success):

- GovCloud (``CreateGovCloudAccount``): there is no GovCloud partition here.
- Effective policies (``DescribeEffectivePolicy``,
  ``ListAccountsWithInvalidEffectivePolicy``, ``ListEffectivePolicyValidationErrors``):
  they exist only for management policy types (tag, backup, AI opt-out …), which
  Tessera does not apply (only SCPs and RCPs).
- The organization's resource-based policy (``PutResourcePolicy``,
  ``DescribeResourcePolicy``, ``DeleteResourcePolicy``): it delegates
  Organizations read access to other accounts, which Tessera grants only through
  delegated administrators.
- Billing responsibility transfers (``InviteOrganizationToTransferResponsibility``,
  ``DescribeResponsibilityTransfer``, ``List…ResponsibilityTransfers``,
  ``UpdateResponsibilityTransfer``, ``TerminateResponsibilityTransfer``): there is
  no billing.

Each handler authorises its action first (an explicit deny answers as for every
operation), then refuses; the request's members are not acted on at all."""

from __future__ import annotations

from typing import Any

from tessera.errors import AccessDenied
from tessera.operation import Handler, OperationContext, Result
from tessera.protocol.query import Params
from tessera.registry import Operation, declare

_GOVCLOUD = "is not supported by Tessera: there is no AWS GovCloud (US) partition here."
_EFFECTIVE = (
    "is not supported by Tessera: effective policies exist only for management policy "
    "types, and Tessera applies only SCPs and RCPs."
)
_RESOURCE_POLICY = (
    "is not supported by Tessera: read access to the organization is delegated through "
    "delegated administrators only."
)
_TRANSFER = "is not supported by Tessera: there is no billing to transfer responsibility for."

#: operation → why it is refused (the rest of the AccessDenied message)
UNSUPPORTED: dict[str, str] = {
    "CreateGovCloudAccount": _GOVCLOUD,
    "DescribeEffectivePolicy": _EFFECTIVE,
    "ListAccountsWithInvalidEffectivePolicy": _EFFECTIVE,
    "ListEffectivePolicyValidationErrors": _EFFECTIVE,
    "PutResourcePolicy": _RESOURCE_POLICY,
    "DescribeResourcePolicy": _RESOURCE_POLICY,
    "DeleteResourcePolicy": _RESOURCE_POLICY,
    "InviteOrganizationToTransferResponsibility": _TRANSFER,
    "DescribeResponsibilityTransfer": _TRANSFER,
    "ListInboundResponsibilityTransfers": _TRANSFER,
    "ListOutboundResponsibilityTransfers": _TRANSFER,
    "UpdateResponsibilityTransfer": _TRANSFER,
    "TerminateResponsibilityTransfer": _TRANSFER,
}


def _refusal(name: str, reason: str) -> Handler:
    def handler(ctx: OperationContext, params: Params[Any]) -> Result:
        ctx.authorize(f"organizations:{name}", "*")
        params.refuse_operation()
        raise AccessDenied(f"{name} {reason}")

    handler.__name__ = handler.__qualname__ = f"refuse_{name}"
    return handler


for _name, _reason in UNSUPPORTED.items():
    declare(
        Operation("organizations", _name, _refusal(_name, _reason), action=f"organizations:{_name}")
    )
