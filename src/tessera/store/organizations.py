"""Storage interface of AWS Organizations: organizations, OUs, account
membership and the SCPs / RCPs attached to roots, OUs and accounts; for the
Organizations API also member account details, organization settings (enabled
policy types, trusted service access, IAM root-access features), CreateAccount
requests, handshakes, delegated administrators and tags."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from tessera.iam.model import Tag
from tessera.iam.org_model import (
    AccountStatus,
    CreateAccountRequest,
    DelegatedAdmin,
    Handshake,
    OrgAccount,
    Organization,
    OrgPolicy,
    OrgUnit,
    PolicyType,
)


class OrganizationStore(Protocol):
    def create_organization(self, org: Organization) -> None: ...

    def get_organization(self, org_id: str) -> Organization | None: ...

    def list_organizations(self) -> list[Organization]: ...

    def create_org_unit(self, ou: OrgUnit) -> None: ...

    def get_org_unit(self, ou_id: str) -> OrgUnit | None: ...

    def list_org_units(self, org_id: str) -> list[OrgUnit]: ...

    def set_account_org(self, account_id: str, org_id: str | None, ou_path: str | None) -> None: ...

    def create_org_policy(self, policy: OrgPolicy) -> None: ...

    def get_org_policy(self, policy_id: str) -> OrgPolicy | None: ...

    def list_org_policies(self, org_id: str) -> list[OrgPolicy]: ...

    def update_org_policy_content(self, policy_id: str, content: str) -> None: ...

    def delete_org_policy(self, policy_id: str) -> None: ...

    def attach_org_policy(self, policy_id: str, target_id: str) -> None: ...

    def detach_org_policy(self, policy_id: str, target_id: str) -> None: ...

    def org_policies_for_targets(
        self, target_ids: Sequence[str], policy_type: PolicyType
    ) -> dict[str, list[OrgPolicy]]: ...

    def targets_of_org_policy(self, policy_id: str) -> list[str]: ...

    # ------------------------------------------------------------------ the API (migration 13)

    def delete_organization(self, org_id: str) -> None:
        """Delete the organization and everything it holds; its accounts (only the
        management account may be left) leave it. ``NotFound`` if absent."""
        ...

    def rename_org_unit(self, ou_id: str, name: str) -> None:
        """``AlreadyExists`` for a sibling with that name, ``NotFound`` if absent."""
        ...

    def delete_org_unit(self, ou_id: str) -> None:
        """Delete the OU and its policy attachments and tags (``NotFound`` if absent)."""
        ...

    def update_org_policy(self, policy: OrgPolicy) -> None:
        """Store name, description and content (``AlreadyExists`` for a taken name)."""
        ...

    def put_org_account(self, details: OrgAccount) -> None: ...

    def get_org_account(self, account_id: str) -> OrgAccount | None: ...

    def list_org_accounts(self, org_id: str) -> list[OrgAccount]:
        """The details of the organization's member accounts, ordered by id."""
        ...

    def set_org_account_status(self, account_id: str, status: AccountStatus) -> None: ...

    def enable_org_setting(self, org_id: str, name: str, now: datetime) -> bool:
        """Turn a setting on; ``False`` if it already was."""
        ...

    def disable_org_setting(self, org_id: str, name: str) -> bool:
        """Turn a setting off; ``False`` if it already was."""
        ...

    def org_settings(self, org_id: str) -> list[str]:
        """The names of the settings that are on, sorted."""
        ...

    def org_setting_dates(self, org_id: str) -> list[tuple[str, datetime]]:
        """Each setting that is on, with when it was turned on, sorted by name."""
        ...

    def put_create_account_request(self, request: CreateAccountRequest) -> None: ...

    def get_create_account_request(self, request_id: str) -> CreateAccountRequest | None: ...

    def list_create_account_requests(self, org_id: str) -> list[CreateAccountRequest]: ...

    def put_handshake(self, handshake: Handshake) -> None: ...

    def get_handshake(self, handshake_id: str) -> Handshake | None: ...

    def list_handshakes(
        self, *, org_id: str | None = None, target_account_id: str | None = None
    ) -> list[Handshake]: ...

    def add_delegated_admin(self, admin: DelegatedAdmin) -> None:
        """``AlreadyExists`` if the account already administers that service."""
        ...

    def remove_delegated_admin(self, account_id: str, service_principal: str) -> None:
        """``NotFound`` if it does not."""
        ...

    def list_delegated_admins(self, org_id: str) -> list[DelegatedAdmin]: ...

    def put_org_tags(self, resource_id: str, tags: Sequence[Tag]) -> None: ...

    def remove_org_tags(self, resource_id: str, keys: Sequence[str]) -> None: ...

    def get_org_tags(self, resource_id: str) -> list[Tag]: ...
