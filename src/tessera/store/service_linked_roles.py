"""Storage interface of service-linked roles: which roles are service-linked (by
unique id), creating one with its policy attached in one step, deleting one with
everything it holds, and the deletion tasks GetServiceLinkedRoleDeletionStatus
reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tessera.iam.model import Role
from tessera.iam.service_linked import DeletionTask


class ServiceLinkedRoleStore(Protocol):
    def create_service_linked_role(
        self, role: Role, service_name: str, policy_arns: Sequence[str]
    ) -> None:
        """Create ``role``, mark it service-linked for ``service_name`` and attach
        ``policy_arns``, in one transaction. ``AlreadyExists`` when the account has a
        role of that name."""
        ...

    def service_linked_role_service(self, account_id: str, role_id: str) -> str | None:
        """The service a role (by unique id) is linked to; ``None`` for an ordinary role."""
        ...

    def delete_service_linked_role(self, account_id: str, role: Role, task: DeletionTask) -> None:
        """Delete the role with its attachments, inline policies, tags and mark, and
        record ``task``, in one transaction."""
        ...

    def put_deletion_task(self, task: DeletionTask) -> None:
        """Record a deletion task that deleted nothing (one that failed)."""
        ...

    def get_deletion_task(self, account_id: str, task_id: str) -> DeletionTask | None: ...
