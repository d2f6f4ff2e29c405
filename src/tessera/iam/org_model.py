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
