"""IAM operations of the pinned model that Tessera does not build (#14 §6), answered
with a clean, documented ``AccessDenied`` instead of ``InvalidAction``.

- IAM temporary delegation (``CreateDelegationRequest`` … ``SendDelegationToken``,
  ``GetHumanReadableSummary``): an AWS partner programme; partners are onboarded by
  AWS, the summary is written by an AWS-operated model. Answered as AWS answers an
  account outside the programme (aws-2026-additions.md §6).
- Role manager (``AcquireRole``, ``GetRoleTemplateVersion``, ``GetAccountProperties``,
  ``PutAccountProperties``): role templates are AWS-authored content Tessera cannot
  reproduce (§7), and the account properties only switch role manager on and off.
- Organizations access reports (``GenerateOrganizationsAccessReport``,
  ``GetOrganizationsAccessReport``, #17): the report counts, per organization
  entity, the services its SCPs allow and which of them were never accessed
  (``NumberOfServicesNotAccessed``, ``AccessDetails`` for every allowed service:
  ``FullAWSAccess`` allows each of AWS's ~400 services). Tessera has no catalogue
  of AWS's services, so those counts would be wrong; the per-principal report
  (``GenerateServiceLastAccessedDetails``) is built instead.

Each handler authorises its IAM action first (so an explicit deny answers as for
every operation), then refuses; the request's members are not acted on at all."""

from __future__ import annotations

from typing import Any

from tessera.errors import AccessDenied
from tessera.operation import Handler, OperationContext, Result
from tessera.protocol.query import Params
from tessera.registry import Operation, declare

_DELEGATION = (
    "is not supported by Tessera: IAM temporary delegation is an AWS partner "
    "programme this server does not take part in."
)
_ROLE_MANAGER = (
    "is not supported by Tessera: role templates are AWS-authored and this server "
    "has no role manager."
)

_ORG_ACCESS_REPORT = (
    "is not supported by Tessera: an organizations access report counts every AWS "
    "service an SCP allows, and this server has no catalogue of AWS's services; "
    "use GenerateServiceLastAccessedDetails for a user, group, role or policy."
)

#: operation → why it is refused (the rest of the AccessDenied message)
UNSUPPORTED: dict[str, str] = {
    **{
        name: _DELEGATION
        for name in (
            "AcceptDelegationRequest",
            "AssociateDelegationRequest",
            "CreateDelegationRequest",
            "GetDelegationRequest",
            "GetHumanReadableSummary",
            "ListDelegationRequests",
            "RejectDelegationRequest",
            "SendDelegationToken",
            "UpdateDelegationRequest",
        )
    },
    **{
        name: _ROLE_MANAGER
        for name in (
            "AcquireRole",
            "GetAccountProperties",
            "GetRoleTemplateVersion",
            "PutAccountProperties",
        )
    },
    **{
        name: _ORG_ACCESS_REPORT
        for name in ("GenerateOrganizationsAccessReport", "GetOrganizationsAccessReport")
    },
}


def _refusal(name: str, reason: str) -> Handler:
    def handler(ctx: OperationContext, params: Params[Any]) -> Result:
        ctx.authorize(f"iam:{name}", "*")
        params.refuse_operation()
        raise AccessDenied(f"{name} {reason}")

    handler.__name__ = handler.__qualname__ = f"refuse_{name}"
    return handler


for _name, _reason in UNSUPPORTED.items():
    declare(Operation("iam", _name, _refusal(_name, _reason), action=f"iam:{_name}"))
