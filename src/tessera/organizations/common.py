"""What every Organizations handler shares: authorising first and then finding
the caller's organization and role in it (``begin``), AWS's ARNs of
organizations, roots, OUs, accounts, policies and handshakes, the output
shapes, tags from input, and NextToken/MaxResults paging."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, Final, TypeVar

from tessera.iam.model import Tag
from tessera.iam.org_model import (
    CreateAccountRequest,
    Handshake,
    OrgAccount,
    Organization,
    OrgPolicy,
    OrgUnit,
)
from tessera.operation import OperationContext
from tessera.organizations import errors as e
from tessera.organizations.service import OrganizationsApi
from tessera.protocol.query import Params

T = TypeVar("T")
DEFAULT_PAGE: Final = 20
_TOKEN_PREFIX: Final = "tessera-orgs:"


class Role(Enum):
    """Who in the organization may call an operation."""

    MANAGEMENT = "management"  # changes: the management account only
    READER = "reader"  # reads: the management account or a delegated administrator
    MEMBER = "member"  # any member account (DescribeOrganization, LeaveOrganization)


def begin(
    ctx: OperationContext,
    action: str,
    role: Role,
    resource: Resource | None = None,
) -> tuple[OrganizationsApi, Organization]:
    """Authorise ``action`` (on ``resource`` of the caller's organization, else
    ``*``) before anything is revealed, then return the organization the caller
    may act on in ``role`` (``AWSOrganizationsNotInUseException`` outside one,
    ``AccessDeniedException`` for a member where only the management account may)."""
    api = OrganizationsApi(ctx.store)
    account = ctx.caller.account_id
    try:
        org: Organization | None = api.org_of(account)
    except e.NotInUse:
        org = None
    target = "*"
    if org is not None and resource is not None:
        try:
            target = resource(api, org)
        except e.OrganizationsError:
            target = "*"  # an id that names nothing: answered after authorisation
    ctx.authorize(action, target)
    if org is None:
        raise e.NotInUse()
    if role is Role.MANAGEMENT:
        return api, api.managed_by(account)
    if role is Role.READER:
        return api, api.readable_by(account)
    return api, org


# ------------------------------------------------------------------ ARNs


def _base(org: Organization) -> str:
    return f"arn:aws:organizations::{org.management_account_id}"


def org_arn(org: Organization) -> str:
    return f"{_base(org)}:organization/{org.org_id}"


def root_arn(org: Organization) -> str:
    return f"{_base(org)}:root/{org.org_id}/{org.root_id}"


def ou_arn(org: Organization, ou_id: str) -> str:
    return f"{_base(org)}:ou/{org.org_id}/{ou_id}"


def account_arn(org: Organization, account_id: str) -> str:
    return f"{_base(org)}:account/{org.org_id}/{account_id}"


# --- what ``begin`` authorises on: the ARN of a resource of the caller's organization

#: (api, the caller's organization) -> the ARN an action is authorised on
Resource = Callable[[OrganizationsApi, Organization], str]


def on_org(_api: OrganizationsApi, org: Organization) -> str:
    return org_arn(org)


def on_root(_api: OrganizationsApi, org: Organization) -> str:
    return root_arn(org)


def on_ou(ou_id: str) -> Resource:
    return lambda _api, org: ou_arn(org, ou_id)


def on_account(account_id: str) -> Resource:
    return lambda _api, org: account_arn(org, account_id)


def policy_arn(org: Organization, policy: OrgPolicy) -> str:
    kind = policy.policy_type.lower()
    if policy.aws_managed:
        return f"arn:aws:organizations::aws:policy/{kind}/{OrganizationsApi.public_id(policy)}"
    return f"{_base(org)}:policy/{org.org_id}/{kind}/{policy.policy_id}"


def handshake_arn(org: Organization, handshake: Handshake) -> str:
    return (
        f"{_base(org)}:handshake/{org.org_id}/{handshake.action.lower()}/{handshake.handshake_id}"
    )


def target_arn(api: OrganizationsApi, org: Organization, target_id: str) -> str:
    kind = api.target_kind(org, target_id)
    if kind == "ROOT":
        return root_arn(org)
    if kind == "ORGANIZATIONAL_UNIT":
        return ou_arn(org, target_id)
    return account_arn(org, target_id)


# ------------------------------------------------------------------ shapes


def organization_shape(api: OrganizationsApi, org: Organization) -> dict[str, object]:
    details = api.store.get_org_account(org.management_account_id)
    return {
        "Id": org.org_id,
        "Arn": org_arn(org),
        "FeatureSet": "ALL",
        "MasterAccountArn": account_arn(org, org.management_account_id),
        "MasterAccountId": org.management_account_id,
        "MasterAccountEmail": details.email if details is not None else "",
        # deprecated member: AWS answers an empty list (the root lists the types)
        "AvailablePolicyTypes": [],
    }


def root_shape(api: OrganizationsApi, org: Organization) -> dict[str, object]:
    return {
        "Id": org.root_id,
        "Arn": root_arn(org),
        "Name": "Root",
        "PolicyTypes": [{"Type": t, "Status": "ENABLED"} for t in api.orgs.enabled_types(org)],
    }


def ou_shape(api: OrganizationsApi, org: Organization, ou: OrgUnit) -> dict[str, object]:
    return {
        "Id": ou.ou_id,
        "Arn": ou_arn(org, ou.ou_id),
        "Name": ou.name,
        "Path": api.ou_path(org, ou),
    }


def account_shape(
    api: OrganizationsApi, org: Organization, details: OrgAccount
) -> dict[str, object]:
    account = api.store.get_account(details.account_id)
    shape: dict[str, object] = {
        "Id": details.account_id,
        "Arn": account_arn(org, details.account_id),
        "Email": details.email,
        "Name": details.name,
        "Status": details.status,
        "State": details.status,
        "JoinedMethod": details.joined_method,
        "JoinedTimestamp": details.joined_at,
    }
    if account is not None and account.ou_path:
        shape["Paths"] = [account.ou_path]
    return shape


def policy_summary(org: Organization, policy: OrgPolicy) -> dict[str, object]:
    return {
        "Id": OrganizationsApi.public_id(policy),
        "Arn": policy_arn(org, policy),
        "Name": policy.name,
        "Description": policy.description,
        "Type": policy.policy_type,
        "AwsManaged": policy.aws_managed,
    }


def policy_shape(org: Organization, policy: OrgPolicy) -> dict[str, object]:
    return {"PolicySummary": policy_summary(org, policy), "Content": policy.content}


def create_status_shape(request: CreateAccountRequest) -> dict[str, object]:
    shape: dict[str, object] = {
        "Id": request.request_id,
        "AccountName": request.account_name,
        "State": request.state,
        "RequestedTimestamp": request.requested_at,
    }
    if request.completed_at is not None:
        shape["CompletedTimestamp"] = request.completed_at
    if request.account_id is not None:
        shape["AccountId"] = request.account_id
    if request.failure_reason is not None:
        shape["FailureReason"] = request.failure_reason
    return shape


def handshake_shape(api: OrganizationsApi, handshake: Handshake) -> dict[str, object]:
    org = api.store.get_organization(handshake.org_id)
    resources: list[dict[str, object]] = [
        {"Type": "ORGANIZATION", "Value": handshake.org_id},
        {"Type": "ACCOUNT", "Value": handshake.target_account_id},
    ]
    if handshake.notes:
        resources.append({"Type": "NOTES", "Value": handshake.notes})
    shape: dict[str, object] = {
        "Id": handshake.handshake_id,
        "Parties": [
            {"Id": handshake.org_id, "Type": "ORGANIZATION"},
            {"Id": handshake.target_account_id, "Type": "ACCOUNT"},
        ],
        "State": handshake.state,
        "RequestedTimestamp": handshake.requested_at,
        "ExpirationTimestamp": handshake.expires_at,
        "Action": handshake.action,
        "Resources": resources,
    }
    if org is not None:
        shape["Arn"] = handshake_arn(org, handshake)
    return shape


def tags_shape(tags: Sequence[Tag]) -> list[dict[str, str]]:
    return [{"Key": t.key, "Value": t.value} for t in tags]


def tags_from(params: Params[Any]) -> list[Tag]:
    out: list[Tag] = []
    for item in params.get_struct_list("Tags") or []:
        out.append(Tag(item.req_str("Key"), item.req_str("Value")))
    keys = [t.key for t in out]
    if len(set(keys)) != len(keys):
        raise e.InvalidInput("DUPLICATE_TAG_KEY", "Duplicate tag keys in the request.")
    return out


# ------------------------------------------------------------------ paging


class Pager:
    """NextToken/MaxResults of a List… request, read when the handler starts (so
    they are honoured even when the request then fails) and checked when paging
    (after authorisation)."""

    def __init__(self, params: Params[Any], *, max_results: bool = True) -> None:
        self.token = params.get_str("NextToken")
        self.limit = (params.get_int("MaxResults") if max_results else None) or DEFAULT_PAGE

    def _start(self) -> int:
        if self.token is None:
            return 0
        try:
            text = base64.urlsafe_b64decode(self.token.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            text = ""
        if not text.startswith(_TOKEN_PREFIX) or not text[len(_TOKEN_PREFIX) :].isdigit():
            raise e.InvalidInput("INVALID_NEXT_TOKEN", "The NextToken value is not valid.")
        return int(text[len(_TOKEN_PREFIX) :])

    def page(self, items: Sequence[T]) -> tuple[list[T], str | None]:
        """One page of ``items`` and the NextToken of the rest (``None`` at the end)."""
        start = self._start()
        end = start + self.limit
        nxt = None
        if end < len(items):
            nxt = base64.urlsafe_b64encode(f"{_TOKEN_PREFIX}{end}".encode()).decode()
        return list(items[start:end]), nxt


def paged(key: str, shapes: Sequence[object], nxt: str | None) -> dict[str, object]:
    out: dict[str, object] = {key: list(shapes)}
    if nxt is not None:
        out["NextToken"] = nxt
    return out
