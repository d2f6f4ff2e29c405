"""SQL store: service-linked roles (the mark on a role, keyed by its unique id) and
their deletion tasks."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.exc import IntegrityError

from tessera.iam.model import Role
from tessera.iam.service_linked import DeletionTask
from tessera.store.base import AlreadyExists
from tessera.store.cache import cached
from tessera.store.sql import schema as s
from tessera.store.sql.engine import SqlEngine, utc_req
from tessera.store.sql.identities import role_row


class SqlServiceLinkedRoles(SqlEngine):
    """Service-linked roles and deletion tasks."""

    def create_service_linked_role(
        self, role: Role, service_name: str, policy_arns: Sequence[str]
    ) -> None:
        key = role.name.lower()
        try:
            with self._tx() as conn:
                # a service-linked role has no permissions boundary
                row = {**role_row(role), "permissions_boundary": None}
                conn.execute(insert(s.roles).values(**row))
                conn.execute(
                    insert(s.service_linked_roles).values(
                        account_id=role.account_id,
                        role_id=role.role_id,
                        role_key=key,
                        service_name=service_name,
                    )
                )
                for arn in dict.fromkeys(policy_arns):
                    conn.execute(
                        insert(s.attachments).values(
                            account_id=role.account_id,
                            owner_type="role",
                            owner_key=key,
                            policy_arn=arn,
                        )
                    )
        except IntegrityError as exc:
            raise AlreadyExists(role.name) from exc

    @cached
    def service_linked_role_service(self, account_id: str, role_id: str) -> str | None:
        c = s.service_linked_roles.c
        with self._tx() as conn:
            return conn.execute(
                select(c.service_name).where(and_(c.account_id == account_id, c.role_id == role_id))
            ).scalar_one_or_none()

    def delete_service_linked_role(self, account_id: str, role: Role, task: DeletionTask) -> None:
        key = role.name.lower()
        with self._tx() as conn:
            for table in (s.attachments, s.inline_policies):
                conn.execute(
                    delete(table).where(
                        and_(
                            table.c.account_id == account_id,
                            table.c.owner_type == "role",
                            table.c.owner_key == key,
                        )
                    )
                )
            conn.execute(
                delete(s.tags).where(
                    and_(
                        s.tags.c.account_id == account_id,
                        s.tags.c.resource_type == "role",
                        s.tags.c.resource_key == key,
                    )
                )
            )
            conn.execute(
                delete(s.roles).where(
                    and_(s.roles.c.account_id == account_id, s.roles.c.role_id == role.role_id)
                )
            )
            conn.execute(
                delete(s.service_linked_roles).where(
                    and_(
                        s.service_linked_roles.c.account_id == account_id,
                        s.service_linked_roles.c.role_id == role.role_id,
                    )
                )
            )
            conn.execute(insert(s.slr_deletion_tasks).values(**_task_values(task)))

    def put_deletion_task(self, task: DeletionTask) -> None:
        with self._tx() as conn:
            conn.execute(insert(s.slr_deletion_tasks).values(**_task_values(task)))

    def get_deletion_task(self, account_id: str, task_id: str) -> DeletionTask | None:
        c = s.slr_deletion_tasks.c
        with self._tx() as conn:
            row = conn.execute(
                select(s.slr_deletion_tasks).where(
                    and_(c.account_id == account_id, c.task_id == task_id)
                )
            ).first()
        if row is None:
            return None
        return DeletionTask(
            account_id=row.account_id,
            task_id=row.task_id,
            role_name=row.role_name,
            status=row.status,
            created_at=utc_req(row.created_at),
            reason=row.reason,
        )


def _task_values(task: DeletionTask) -> dict[str, object]:
    return dict(
        account_id=task.account_id,
        task_id=task.task_id,
        role_name=task.role_name,
        status=task.status,
        reason=task.reason,
        created_at=task.created_at,
    )
