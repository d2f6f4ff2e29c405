"""Store methods for organizations, OUs and their SCP / RCP attachments (one of the
aggregates ``SqlStore`` composes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from tessera.iam.org_model import Organization, OrgPolicy, OrgUnit, PolicyType
from tessera.store.base import AlreadyExists, NotFound
from tessera.store.sql import schema as s
from tessera.store.sql.engine import SqlEngine, utc_req


class SqlOrganizations(SqlEngine):
    """Organizations, OUs and organization policies."""

    # ------------------------------------------------------------------ organizations

    @staticmethod
    def _org(row: Row[Any]) -> Organization:
        return Organization(
            row.org_id, row.root_id, row.management_account_id, utc_req(row.created_at)
        )

    def create_organization(self, org: Organization) -> None:
        """Create the organization and make its management account a member at the root."""
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(s.organizations).values(
                        org_id=org.org_id,
                        root_id=org.root_id,
                        management_account_id=org.management_account_id,
                        created_at=org.created_at,
                    )
                )
                moved = conn.execute(
                    update(s.accounts)
                    .where(
                        and_(
                            s.accounts.c.account_id == org.management_account_id,
                            s.accounts.c.org_id.is_(None),
                        )
                    )
                    .values(org_id=org.org_id, ou_path=f"{org.org_id}/{org.root_id}/")
                )
                if moved.rowcount != 1:
                    raise AlreadyExists(org.management_account_id)
        except IntegrityError as exc:
            raise AlreadyExists(org.org_id) from exc

    def get_organization(self, org_id: str) -> Organization | None:
        with self._tx() as conn:
            row = conn.execute(
                select(s.organizations).where(s.organizations.c.org_id == org_id)
            ).first()
        return None if row is None else self._org(row)

    def list_organizations(self) -> list[Organization]:
        with self._tx() as conn:
            rows = conn.execute(select(s.organizations).order_by(s.organizations.c.org_id)).all()
        return [self._org(r) for r in rows]

    # ------------------------------------------------------------------ OUs

    @staticmethod
    def _ou(row: Row[Any]) -> OrgUnit:
        return OrgUnit(row.ou_id, row.org_id, row.parent_id, row.name, utc_req(row.created_at))

    def create_org_unit(self, ou: OrgUnit) -> None:
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(s.org_units).values(
                        ou_id=ou.ou_id,
                        org_id=ou.org_id,
                        parent_id=ou.parent_id,
                        name=ou.name,
                        created_at=ou.created_at,
                    )
                )
        except IntegrityError as exc:
            raise AlreadyExists(ou.name) from exc

    def get_org_unit(self, ou_id: str) -> OrgUnit | None:
        with self._tx() as conn:
            row = conn.execute(select(s.org_units).where(s.org_units.c.ou_id == ou_id)).first()
        return None if row is None else self._ou(row)

    def list_org_units(self, org_id: str) -> list[OrgUnit]:
        with self._tx() as conn:
            rows = conn.execute(
                select(s.org_units)
                .where(s.org_units.c.org_id == org_id)
                .order_by(s.org_units.c.ou_id)
            ).all()
        return [self._ou(r) for r in rows]

    def set_account_org(self, account_id: str, org_id: str | None, ou_path: str | None) -> None:
        with self._tx() as conn:
            done = conn.execute(
                update(s.accounts)
                .where(s.accounts.c.account_id == account_id)
                .values(org_id=org_id, ou_path=ou_path)
            )
            if done.rowcount != 1:
                raise NotFound(account_id)

    # ------------------------------------------------------------------ policies

    @staticmethod
    def _org_policy(row: Row[Any]) -> OrgPolicy:
        return OrgPolicy(
            policy_id=row.policy_id,
            org_id=row.org_id,
            policy_type=cast(PolicyType, row.policy_type),
            name=row.name,
            description=row.description,
            content=row.content,
            aws_managed=bool(row.aws_managed),
            created_at=utc_req(row.created_at),
        )

    def create_org_policy(self, policy: OrgPolicy) -> None:
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(s.org_policies).values(
                        policy_id=policy.policy_id,
                        org_id=policy.org_id,
                        policy_type=policy.policy_type,
                        name=policy.name,
                        description=policy.description,
                        content=policy.content,
                        aws_managed=policy.aws_managed,
                        created_at=policy.created_at,
                    )
                )
        except IntegrityError as exc:
            raise AlreadyExists(policy.name) from exc

    def get_org_policy(self, policy_id: str) -> OrgPolicy | None:
        with self._tx() as conn:
            row = conn.execute(
                select(s.org_policies).where(s.org_policies.c.policy_id == policy_id)
            ).first()
        return None if row is None else self._org_policy(row)

    def list_org_policies(self, org_id: str) -> list[OrgPolicy]:
        with self._tx() as conn:
            rows = conn.execute(
                select(s.org_policies)
                .where(s.org_policies.c.org_id == org_id)
                .order_by(s.org_policies.c.policy_type, s.org_policies.c.name)
            ).all()
        return [self._org_policy(r) for r in rows]

    def update_org_policy_content(self, policy_id: str, content: str) -> None:
        with self._tx() as conn:
            done = conn.execute(
                update(s.org_policies)
                .where(s.org_policies.c.policy_id == policy_id)
                .values(content=content)
            )
            if done.rowcount != 1:
                raise NotFound(policy_id)

    def delete_org_policy(self, policy_id: str) -> None:
        """Delete a detached policy (``AlreadyExists`` while it is attached anywhere)."""
        with self._tx() as conn:
            attached = conn.execute(
                select(s.org_policy_targets.c.target_id)
                .where(s.org_policy_targets.c.policy_id == policy_id)
                .limit(1)
            ).first()
            if attached is not None:
                raise AlreadyExists(policy_id)
            done = conn.execute(
                delete(s.org_policies).where(s.org_policies.c.policy_id == policy_id)
            )
            if done.rowcount != 1:
                raise NotFound(policy_id)

    def attach_org_policy(self, policy_id: str, target_id: str) -> None:
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(s.org_policy_targets).values(policy_id=policy_id, target_id=target_id)
                )
        except IntegrityError as exc:
            raise AlreadyExists(f"{policy_id}:{target_id}") from exc

    def detach_org_policy(self, policy_id: str, target_id: str) -> None:
        with self._tx() as conn:
            done = conn.execute(
                delete(s.org_policy_targets).where(
                    and_(
                        s.org_policy_targets.c.policy_id == policy_id,
                        s.org_policy_targets.c.target_id == target_id,
                    )
                )
            )
            if done.rowcount != 1:
                raise NotFound(f"{policy_id}:{target_id}")

    def org_policies_for_targets(
        self, target_ids: Sequence[str], policy_type: PolicyType
    ) -> dict[str, list[OrgPolicy]]:
        """The policies of ``policy_type`` attached to each of ``target_ids`` (one query)."""
        out: dict[str, list[OrgPolicy]] = {t: [] for t in target_ids}
        if not target_ids:
            return out
        t, p = s.org_policy_targets, s.org_policies
        with self._tx() as conn:
            rows = conn.execute(
                select(t.c.target_id, p)
                .join(p, p.c.policy_id == t.c.policy_id)
                .where(and_(t.c.target_id.in_(list(target_ids)), p.c.policy_type == policy_type))
                .order_by(t.c.target_id, p.c.policy_id)
            ).all()
        for row in rows:
            out[row.target_id].append(self._org_policy(row))
        return out

    def targets_of_org_policy(self, policy_id: str) -> list[str]:
        with self._tx() as conn:
            rows = conn.execute(
                select(s.org_policy_targets.c.target_id)
                .where(s.org_policy_targets.c.policy_id == policy_id)
                .order_by(s.org_policy_targets.c.target_id)
            ).all()
        return [r[0] for r in rows]
