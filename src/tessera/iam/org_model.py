"""Organizations data model: an organization with its root, organizational units,
and the SCPs / RCPs attached to the root, OUs and accounts. An account's place is
``Account.org_id`` plus ``Account.ou_path`` (``o-…/r-…/ou-…/…/``, the form of
``aws:PrincipalOrgPaths``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

PolicyType = Literal["SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"]
SCP: Final = "SERVICE_CONTROL_POLICY"
RCP: Final = "RESOURCE_CONTROL_POLICY"


@dataclass(frozen=True, slots=True)
class Organization:
    org_id: str
    root_id: str
    management_account_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OrgUnit:
    ou_id: str
    org_id: str
    parent_id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OrgPolicy:
    policy_id: str
    org_id: str
    policy_type: PolicyType
    name: str
    description: str
    content: str
    aws_managed: bool
    created_at: datetime


AccountStatus = Literal["ACTIVE", "SUSPENDED", "PENDING_CLOSURE"]
HandshakeState = Literal["REQUESTED", "OPEN", "CANCELED", "ACCEPTED", "DECLINED", "EXPIRED"]
JoinedMethod = Literal["CREATED", "INVITED"]


@dataclass(frozen=True, slots=True)
class OrgAccount:
    """What the Organizations API knows of a member account beyond its place
    (``Account.org_id`` / ``ou_path``). A SUSPENDED account's credentials stop
    working (``tessera.auth.credentials``)."""

    account_id: str
    name: str
    email: str
    status: AccountStatus
    joined_method: JoinedMethod
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class CreateAccountRequest:
    """A CreateAccount request (``car-…``): IN_PROGRESS, then SUCCEEDED or FAILED."""

    request_id: str
    org_id: str
    account_name: str
    email: str
    role_name: str
    state: Literal["IN_PROGRESS", "SUCCEEDED", "FAILED"]
    requested_at: datetime
    completed_at: datetime | None = None
    account_id: str | None = None
    failure_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Handshake:
    """An invitation (``h-…``) of an existing account into an organization."""

    handshake_id: str
    org_id: str
    target_account_id: str
    action: str  # INVITE
    state: HandshakeState
    requested_at: datetime
    expires_at: datetime
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class DelegatedAdmin:
    org_id: str
    account_id: str
    service_principal: str
    registered_at: datetime
