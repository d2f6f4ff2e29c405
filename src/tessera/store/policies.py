"""Storage interface of IAM policies: managed policies and their versions, inline
policies embedded in users, groups and roles, attachments, and where a policy is
used (attached or as a permissions boundary)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from tessera.iam.model import InlinePolicy, ManagedPolicy, Page, PolicyVersion
from tessera.store.records import Owner


class ManagedPolicyStore(Protocol):
    def create_managed_policy(self, policy: ManagedPolicy, document: str) -> None:
        """Create the policy with ``document`` as its default version ``v1``."""
        ...

    def get_managed_policy(self, arn: str) -> ManagedPolicy | None: ...

    def list_managed_policies(
        self,
        account_id: str,
        path_prefix: str,
        only_attached: bool,
        marker: str | None,
        max_items: int,
    ) -> Page[ManagedPolicy]: ...

    def delete_managed_policy(self, arn: str) -> None: ...

    def create_policy_version(
        self, arn: str, document: str, set_default: bool, now: datetime
    ) -> PolicyVersion:
        """``NotFound`` when the policy does not exist."""
        ...

    def get_policy_version(self, arn: str, version_id: str) -> PolicyVersion | None: ...

    def get_default_policy_document(self, arn: str) -> str | None:
        """The default version's document; for an AWS managed policy ARN, the
        packaged one (``tessera.iam.aws_managed``)."""
        ...

    def list_policy_versions(self, arn: str) -> list[PolicyVersion]:
        """Newest first."""
        ...

    def delete_policy_version(self, arn: str, version_id: str) -> None: ...

    def set_default_policy_version(self, arn: str, version_id: str, now: datetime) -> None: ...


class InlinePolicyStore(Protocol):
    def put_inline_policy(self, owner: Owner, name: str, document: str) -> None: ...

    def get_inline_policy(self, owner: Owner, name: str) -> InlinePolicy | None: ...

    def list_inline_policies(self, owner: Owner) -> list[InlinePolicy]: ...

    def delete_inline_policy(self, owner: Owner, name: str) -> bool: ...


class AttachmentStore(Protocol):
    def attach_policy(self, owner: Owner, arn: str) -> None:
        """Attaching twice is a no-op."""
        ...

    def detach_policy(self, owner: Owner, arn: str) -> bool: ...

    def attached_policies(self, owner: Owner) -> list[ManagedPolicy]:
        """Customer and AWS managed policies attached to ``owner``, by name (usage
        counts not filled in)."""
        ...

    def attached_policy_documents(self, owners: Sequence[Owner]) -> list[tuple[str, str]]:
        """(policy ARN, default version document) for every policy attached to any
        owner, AWS managed ones included."""
        ...

    def policy_usage(self, account_id: str) -> dict[str, tuple[int, int]]:
        """(attachments, permissions-boundary uses) within ``account_id`` of every
        managed policy ARN the account uses."""
        ...

    def entities_using_policy(
        self, account_id: str, arn: str
    ) -> list[tuple[str, str, str, str, str]]:
        """(usage, kind, name, entity id, path): attachments (``"policy"``) and
        permissions boundaries (``"boundary"``)."""
        ...


class PolicyStore(ManagedPolicyStore, InlinePolicyStore, AttachmentStore, Protocol):
    """Managed, inline and attached policies."""
