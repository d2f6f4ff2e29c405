"""IAM domain records (frozen values read from and written to the store):
accounts, access keys, users, groups, roles, managed policies and versions,
inline policies and tags."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from tessera import arn as arns


@dataclass(frozen=True, slots=True)
class Tag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    created_at: datetime
    issuer_id: str | None = None
    outbound_enabled: bool = False
    org_id: str | None = None
    ou_path: str | None = None


@dataclass(frozen=True, slots=True)
class AccessKey:
    access_key_id: str
    account_id: str
    user_name: str | None  # None: the account's root key
    status: str  # "Active" | "Inactive"
    created_at: datetime
    last_used_at: datetime | None = None
    last_used_service: str | None = None
    last_used_region: str | None = None
    user_id: str | None = None  # the AIDA… id of the user it was made for


@dataclass(frozen=True, slots=True)
class BoundPolicy:
    """A stored resource-based policy (a role's trust policy): its text and the
    unique id each IAM user and role ARN in its principals was bound to when it
    was stored. Only this form reaches a decision, so a stored policy can never
    match a principal by name."""

    document: str
    principal_ids: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class User:
    account_id: str
    name: str
    path: str
    user_id: str
    created_at: datetime
    permissions_boundary: str | None = None

    @property
    def arn(self) -> str:
        return arns.user_arn(self.account_id, self.path, self.name)


@dataclass(frozen=True, slots=True)
class Group:
    account_id: str
    name: str
    path: str
    group_id: str
    created_at: datetime

    @property
    def arn(self) -> str:
        return arns.group_arn(self.account_id, self.path, self.name)


@dataclass(frozen=True, slots=True)
class Role:
    account_id: str
    name: str
    path: str
    role_id: str
    created_at: datetime
    trust_policy: str
    description: str | None = None
    max_session_duration: int = 3600
    permissions_boundary: str | None = None
    last_used_at: datetime | None = None
    last_used_region: str | None = None
    #: (ARN, unique id) of each IAM user and role the trust policy names, bound
    #: when the policy was stored; an ARN missing here matches nobody
    trust_principal_ids: tuple[tuple[str, str], ...] = ()

    @property
    def arn(self) -> str:
        return arns.role_arn(self.account_id, self.path, self.name)

    @property
    def trust(self) -> BoundPolicy:
        return BoundPolicy(self.trust_policy, self.trust_principal_ids)


@dataclass(frozen=True, slots=True)
class ManagedPolicy:
    account_id: str
    name: str
    path: str
    policy_id: str
    default_version_id: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    attachment_count: int = 0
    boundary_usage_count: int = 0

    @property
    def arn(self) -> str:
        return arns.policy_arn(self.account_id, self.path, self.name)


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    policy_arn: str
    version_id: str
    document: str
    is_default: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class InlinePolicy:
    name: str
    document: str


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    marker: str | None  # next marker when truncated

    @property
    def is_truncated(self) -> bool:
        return self.marker is not None
