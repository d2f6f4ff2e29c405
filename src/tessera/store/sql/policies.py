"""SQL store: managed policies and their versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Row,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from tessera.iam import aws_managed
from tessera.iam.model import (
    ManagedPolicy,
    Page,
    PolicyVersion,
)
from tessera.store.base import AlreadyExists, NotFound
from tessera.store.cache import cached
from tessera.store.sql import schema as s
from tessera.store.sql.engine import SqlEngine, utc_req


def policy_from_row(row: Row[Any], attachments: int = 0, boundaries: int = 0) -> ManagedPolicy:
    return ManagedPolicy(
        account_id=row.account_id,
        name=row.name,
        path=row.path,
        policy_id=row.policy_id,
        default_version_id=row.default_version_id,
        created_at=utc_req(row.created_at),
        updated_at=utc_req(row.updated_at),
        description=row.description,
        attachment_count=attachments,
        boundary_usage_count=boundaries,
    )


class SqlPolicies(SqlEngine):
    """Managed policies and policy versions."""

    def _usage(self, conn: Connection, arn: str) -> tuple[int, int]:
        attached = conn.execute(
            select(func.count()).select_from(s.attachments).where(s.attachments.c.policy_arn == arn)
        ).scalar_one()
        bounded = 0
        for table in (s.users, s.roles):
            bounded += conn.execute(
                select(func.count()).select_from(table).where(table.c.permissions_boundary == arn)
            ).scalar_one()
        return int(attached), int(bounded)

    def create_managed_policy(self, policy: ManagedPolicy, document: str) -> None:
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(s.managed_policies).values(
                        arn=policy.arn,
                        account_id=policy.account_id,
                        name_key=policy.name.lower(),
                        name=policy.name,
                        path=policy.path,
                        policy_id=policy.policy_id,
                        default_version_id="v1",
                        next_version=2,
                        description=policy.description,
                        created_at=policy.created_at,
                        updated_at=policy.updated_at,
                    )
                )
                conn.execute(
                    insert(s.policy_versions).values(
                        policy_arn=policy.arn,
                        version_id="v1",
                        document=document,
                        created_at=policy.created_at,
                    )
                )
        except IntegrityError as exc:
            raise AlreadyExists(policy.name) from exc

    @cached
    def get_managed_policy(self, arn: str) -> ManagedPolicy | None:
        with self._tx() as conn:
            row = conn.execute(
                select(s.managed_policies).where(s.managed_policies.c.arn == arn)
            ).first()
            if row is None:
                return None
            attached, bounded = self._usage(conn, arn)
        return policy_from_row(row, attached, bounded)

    def list_managed_policies(
        self,
        account_id: str,
        path_prefix: str,
        only_attached: bool,
        marker: str | None,
        max_items: int,
    ) -> Page[ManagedPolicy]:
        mp = s.managed_policies.c
        extra = None
        if only_attached:
            extra = mp.arn.in_(select(s.attachments.c.policy_arn))
        rows, nxt = self._page_named(
            s.managed_policies, account_id, path_prefix, marker, max_items, extra
        )
        out: list[ManagedPolicy] = []
        with self._tx() as conn:
            for r in rows:
                attached, bounded = self._usage(conn, r.arn)
                out.append(policy_from_row(r, attached, bounded))
        return Page(out, nxt)

    def delete_managed_policy(self, arn: str) -> None:
        with self._tx() as conn:
            conn.execute(delete(s.policy_versions).where(s.policy_versions.c.policy_arn == arn))
            conn.execute(delete(s.managed_policies).where(s.managed_policies.c.arn == arn))
            conn.execute(
                delete(s.tags).where(
                    and_(s.tags.c.resource_type == "policy", s.tags.c.resource_key == arn)
                )
            )

    def _version(self, row: Row[Any], default_id: str) -> PolicyVersion:
        return PolicyVersion(
            policy_arn=row.policy_arn,
            version_id=row.version_id,
            document=row.document,
            is_default=row.version_id == default_id,
            created_at=utc_req(row.created_at),
        )

    def create_policy_version(
        self, arn: str, document: str, set_default: bool, now: datetime
    ) -> PolicyVersion:
        with self._tx() as conn:
            row = conn.execute(
                select(s.managed_policies.c.next_version, s.managed_policies.c.default_version_id)
                .where(s.managed_policies.c.arn == arn)
                .with_for_update()
            ).first()
            if row is None:
                raise NotFound(arn)
            version_id = f"v{row.next_version}"
            conn.execute(
                insert(s.policy_versions).values(
                    policy_arn=arn, version_id=version_id, document=document, created_at=now
                )
            )
            values: dict[str, Any] = {"next_version": row.next_version + 1, "updated_at": now}
            if set_default:
                values["default_version_id"] = version_id
            conn.execute(
                update(s.managed_policies).where(s.managed_policies.c.arn == arn).values(**values)
            )
        return PolicyVersion(arn, version_id, document, set_default, now)

    def get_policy_version(self, arn: str, version_id: str) -> PolicyVersion | None:
        with self._tx() as conn:
            default = conn.execute(
                select(s.managed_policies.c.default_version_id).where(
                    s.managed_policies.c.arn == arn
                )
            ).scalar_one_or_none()
            if default is None:
                return None
            row = conn.execute(
                select(s.policy_versions).where(
                    and_(
                        s.policy_versions.c.policy_arn == arn,
                        s.policy_versions.c.version_id == version_id,
                    )
                )
            ).first()
        return None if row is None else self._version(row, default)

    @cached
    def get_default_policy_document(self, arn: str) -> str | None:
        if aws_managed.is_aws_managed_arn(arn):
            return aws_managed.default_document(arn)
        mp, pv = s.managed_policies.c, s.policy_versions.c
        with self._tx() as conn:
            return conn.execute(
                select(pv.document)
                .join(
                    s.managed_policies,
                    and_(mp.arn == pv.policy_arn, mp.default_version_id == pv.version_id),
                )
                .where(mp.arn == arn)
            ).scalar_one_or_none()

    def list_policy_versions(self, arn: str) -> list[PolicyVersion]:
        with self._tx() as conn:
            default = conn.execute(
                select(s.managed_policies.c.default_version_id).where(
                    s.managed_policies.c.arn == arn
                )
            ).scalar_one_or_none()
            if default is None:
                return []
            rows = conn.execute(
                select(s.policy_versions).where(s.policy_versions.c.policy_arn == arn)
            ).all()
        versions = [self._version(r, default) for r in rows]
        versions.sort(key=lambda v: int(v.version_id[1:]), reverse=True)
        return versions

    def delete_policy_version(self, arn: str, version_id: str) -> None:
        with self._tx() as conn:
            conn.execute(
                delete(s.policy_versions).where(
                    and_(
                        s.policy_versions.c.policy_arn == arn,
                        s.policy_versions.c.version_id == version_id,
                    )
                )
            )

    def set_default_policy_version(self, arn: str, version_id: str, now: datetime) -> None:
        with self._tx() as conn:
            conn.execute(
                update(s.managed_policies)
                .where(s.managed_policies.c.arn == arn)
                .values(default_version_id=version_id, updated_at=now)
            )
