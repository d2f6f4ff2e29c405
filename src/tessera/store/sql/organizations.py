"""Store methods for organizations, OUs and their SCP / RCP attachments, and for the
Organizations API's member details, settings, CreateAccount requests, handshakes,
delegated administrators and tags (one of the aggregates ``SqlStore`` composes)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from tessera.iam.model import Tag
from tessera.iam.org_model import (
    AccountStatus,
    CreateAccountRequest,
    DelegatedAdmin,
    Handshake,
    JoinedMethod,
    OrgAccount,
    Organization,
    OrgPolicy,
    OrgUnit,
    PolicyType,
)
from tessera.store.base import AlreadyExists, NotFound
from tessera.store.cache import cached
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
        self._insert_unique(
            s.org_units,
            dict(
                ou_id=ou.ou_id,
                org_id=ou.org_id,
                parent_id=ou.parent_id,
                name=ou.name,
                created_at=ou.created_at,
            ),
            ou.name,
        )

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
        self._insert_unique(
            s.org_policies,
            dict(
                policy_id=policy.policy_id,
                org_id=policy.org_id,
                policy_type=policy.policy_type,
                name=policy.name,
                description=policy.description,
                content=policy.content,
                aws_managed=policy.aws_managed,
                created_at=policy.created_at,
            ),
            policy.name,
        )

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
        self._insert_unique(
            s.org_policy_targets,
            dict(policy_id=policy_id, target_id=target_id),
            f"{policy_id}:{target_id}",
        )

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

    # ------------------------------------------------------------------ the API (migration 13)

    def delete_organization(self, org_id: str) -> None:
        with self._tx() as conn:
            org = conn.execute(
                select(s.organizations).where(s.organizations.c.org_id == org_id)
            ).first()
            if org is None:
                raise NotFound(org_id)
            policy_ids = select(s.org_policies.c.policy_id).where(s.org_policies.c.org_id == org_id)
            ou_ids = select(s.org_units.c.ou_id).where(s.org_units.c.org_id == org_id)
            members = select(s.accounts.c.account_id).where(s.accounts.c.org_id == org_id)
            conn.execute(
                delete(s.org_tags).where(
                    or_(
                        s.org_tags.c.resource_id.in_(policy_ids),
                        s.org_tags.c.resource_id.in_(ou_ids),
                        s.org_tags.c.resource_id.in_(members),
                        s.org_tags.c.resource_id.in_(
                            select(s.org_handshakes.c.handshake_id).where(
                                s.org_handshakes.c.org_id == org_id
                            )
                        ),
                        s.org_tags.c.resource_id == org.root_id,
                    )
                )
            )
            conn.execute(
                delete(s.org_policy_targets).where(s.org_policy_targets.c.policy_id.in_(policy_ids))
            )
            conn.execute(delete(s.org_policies).where(s.org_policies.c.org_id == org_id))
            conn.execute(delete(s.org_accounts).where(s.org_accounts.c.account_id.in_(members)))
            conn.execute(
                update(s.accounts)
                .where(s.accounts.c.org_id == org_id)
                .values(org_id=None, ou_path=None)
            )
            conn.execute(delete(s.org_units).where(s.org_units.c.org_id == org_id))
            for table in (
                s.org_settings,
                s.org_create_account_requests,
                s.org_handshakes,
                s.org_delegated_admins,
            ):
                conn.execute(delete(table).where(table.c.org_id == org_id))
            conn.execute(delete(s.organizations).where(s.organizations.c.org_id == org_id))

    def rename_org_unit(self, ou_id: str, name: str) -> None:
        try:
            with self._tx() as conn:
                done = conn.execute(
                    update(s.org_units).where(s.org_units.c.ou_id == ou_id).values(name=name)
                )
                if done.rowcount != 1:
                    raise NotFound(ou_id)
        except IntegrityError as exc:
            raise AlreadyExists(name) from exc

    def delete_org_unit(self, ou_id: str) -> None:
        with self._tx() as conn:
            conn.execute(
                delete(s.org_policy_targets).where(s.org_policy_targets.c.target_id == ou_id)
            )
            conn.execute(delete(s.org_tags).where(s.org_tags.c.resource_id == ou_id))
            done = conn.execute(delete(s.org_units).where(s.org_units.c.ou_id == ou_id))
            if done.rowcount != 1:
                raise NotFound(ou_id)

    def update_org_policy(self, policy: OrgPolicy) -> None:
        try:
            with self._tx() as conn:
                done = conn.execute(
                    update(s.org_policies)
                    .where(s.org_policies.c.policy_id == policy.policy_id)
                    .values(
                        name=policy.name,
                        description=policy.description,
                        content=policy.content,
                    )
                )
                if done.rowcount != 1:
                    raise NotFound(policy.policy_id)
        except IntegrityError as exc:
            raise AlreadyExists(policy.name) from exc

    # ------------------------------------------------------------------ member details

    @staticmethod
    def _org_account(row: Row[Any]) -> OrgAccount:
        return OrgAccount(
            account_id=row.account_id,
            name=row.name,
            email=row.email,
            status=cast(AccountStatus, row.status),
            joined_method=cast(JoinedMethod, row.joined_method),
            joined_at=utc_req(row.joined_at),
        )

    def put_org_account(self, details: OrgAccount) -> None:
        values = {
            "name": details.name,
            "email": details.email,
            "status": details.status,
            "joined_method": details.joined_method,
            "joined_at": details.joined_at,
        }
        with self._tx() as conn:
            done = conn.execute(
                update(s.org_accounts)
                .where(s.org_accounts.c.account_id == details.account_id)
                .values(**values)
            )
            if done.rowcount == 0:
                conn.execute(insert(s.org_accounts).values(account_id=details.account_id, **values))

    @cached
    def get_org_account(self, account_id: str) -> OrgAccount | None:
        with self._tx() as conn:
            row = conn.execute(
                select(s.org_accounts).where(s.org_accounts.c.account_id == account_id)
            ).first()
        return None if row is None else self._org_account(row)

    def list_org_accounts(self, org_id: str) -> list[OrgAccount]:
        a, d = s.accounts, s.org_accounts
        with self._tx() as conn:
            rows = conn.execute(
                select(d)
                .join(a, a.c.account_id == d.c.account_id)
                .where(a.c.org_id == org_id)
                .order_by(d.c.account_id)
            ).all()
        return [self._org_account(r) for r in rows]

    def set_org_account_status(self, account_id: str, status: AccountStatus) -> None:
        with self._tx() as conn:
            done = conn.execute(
                update(s.org_accounts)
                .where(s.org_accounts.c.account_id == account_id)
                .values(status=status)
            )
            if done.rowcount != 1:
                raise NotFound(account_id)

    # ------------------------------------------------------------------ settings

    def enable_org_setting(self, org_id: str, name: str, now: datetime) -> bool:
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(s.org_settings).values(org_id=org_id, name=name, enabled_at=now)
                )
        except IntegrityError:
            return False
        return True

    def disable_org_setting(self, org_id: str, name: str) -> bool:
        with self._tx() as conn:
            done = conn.execute(
                delete(s.org_settings).where(
                    and_(s.org_settings.c.org_id == org_id, s.org_settings.c.name == name)
                )
            )
        return bool(done.rowcount)

    @cached
    def org_settings(self, org_id: str) -> list[str]:
        with self._tx() as conn:
            rows = conn.execute(
                select(s.org_settings.c.name)
                .where(s.org_settings.c.org_id == org_id)
                .order_by(s.org_settings.c.name)
            ).all()
        return [r[0] for r in rows]

    def org_setting_dates(self, org_id: str) -> list[tuple[str, datetime]]:
        with self._tx() as conn:
            rows = conn.execute(
                select(s.org_settings.c.name, s.org_settings.c.enabled_at)
                .where(s.org_settings.c.org_id == org_id)
                .order_by(s.org_settings.c.name)
            ).all()
        return [(r.name, utc_req(r.enabled_at)) for r in rows]

    # ------------------------------------------------------------------ CreateAccount requests

    @staticmethod
    def _car(row: Row[Any]) -> CreateAccountRequest:
        return CreateAccountRequest(
            request_id=row.request_id,
            org_id=row.org_id,
            account_name=row.account_name,
            email=row.email,
            role_name=row.role_name,
            state=row.state,
            requested_at=utc_req(row.requested_at),
            completed_at=None if row.completed_at is None else utc_req(row.completed_at),
            account_id=row.account_id,
            failure_reason=row.failure_reason,
        )

    def put_create_account_request(self, request: CreateAccountRequest) -> None:
        t = s.org_create_account_requests
        values = {
            "org_id": request.org_id,
            "account_name": request.account_name,
            "email": request.email,
            "role_name": request.role_name,
            "state": request.state,
            "requested_at": request.requested_at,
            "completed_at": request.completed_at,
            "account_id": request.account_id,
            "failure_reason": request.failure_reason,
        }
        with self._tx() as conn:
            done = conn.execute(
                update(t).where(t.c.request_id == request.request_id).values(**values)
            )
            if done.rowcount == 0:
                conn.execute(insert(t).values(request_id=request.request_id, **values))

    def get_create_account_request(self, request_id: str) -> CreateAccountRequest | None:
        t = s.org_create_account_requests
        with self._tx() as conn:
            row = conn.execute(select(t).where(t.c.request_id == request_id)).first()
        return None if row is None else self._car(row)

    def list_create_account_requests(self, org_id: str) -> list[CreateAccountRequest]:
        t = s.org_create_account_requests
        with self._tx() as conn:
            rows = conn.execute(
                select(t).where(t.c.org_id == org_id).order_by(t.c.requested_at, t.c.request_id)
            ).all()
        return [self._car(r) for r in rows]

    # ------------------------------------------------------------------ handshakes

    @staticmethod
    def _handshake(row: Row[Any]) -> Handshake:
        return Handshake(
            handshake_id=row.handshake_id,
            org_id=row.org_id,
            target_account_id=row.target_account_id,
            action=row.action,
            state=row.state,
            requested_at=utc_req(row.requested_at),
            expires_at=utc_req(row.expires_at),
            notes=row.notes,
        )

    def put_handshake(self, handshake: Handshake) -> None:
        t = s.org_handshakes
        values = {
            "org_id": handshake.org_id,
            "target_account_id": handshake.target_account_id,
            "action": handshake.action,
            "state": handshake.state,
            "requested_at": handshake.requested_at,
            "expires_at": handshake.expires_at,
            "notes": handshake.notes,
        }
        with self._tx() as conn:
            done = conn.execute(
                update(t).where(t.c.handshake_id == handshake.handshake_id).values(**values)
            )
            if done.rowcount == 0:
                conn.execute(insert(t).values(handshake_id=handshake.handshake_id, **values))

    def get_handshake(self, handshake_id: str) -> Handshake | None:
        t = s.org_handshakes
        with self._tx() as conn:
            row = conn.execute(select(t).where(t.c.handshake_id == handshake_id)).first()
        return None if row is None else self._handshake(row)

    def list_handshakes(
        self, *, org_id: str | None = None, target_account_id: str | None = None
    ) -> list[Handshake]:
        t = s.org_handshakes
        query = select(t)
        if org_id is not None:
            query = query.where(t.c.org_id == org_id)
        if target_account_id is not None:
            query = query.where(t.c.target_account_id == target_account_id)
        with self._tx() as conn:
            rows = conn.execute(query.order_by(t.c.requested_at, t.c.handshake_id)).all()
        return [self._handshake(r) for r in rows]

    # ------------------------------------------------------------------ delegated administrators

    def add_delegated_admin(self, admin: DelegatedAdmin) -> None:
        self._insert_unique(
            s.org_delegated_admins,
            dict(
                account_id=admin.account_id,
                service_principal=admin.service_principal,
                org_id=admin.org_id,
                registered_at=admin.registered_at,
            ),
            f"{admin.account_id}:{admin.service_principal}",
        )

    def remove_delegated_admin(self, account_id: str, service_principal: str) -> None:
        t = s.org_delegated_admins
        with self._tx() as conn:
            done = conn.execute(
                delete(t).where(
                    and_(t.c.account_id == account_id, t.c.service_principal == service_principal)
                )
            )
            if done.rowcount != 1:
                raise NotFound(f"{account_id}:{service_principal}")

    def list_delegated_admins(self, org_id: str) -> list[DelegatedAdmin]:
        t = s.org_delegated_admins
        with self._tx() as conn:
            rows = conn.execute(
                select(t)
                .where(t.c.org_id == org_id)
                .order_by(t.c.account_id, t.c.service_principal)
            ).all()
        return [
            DelegatedAdmin(r.org_id, r.account_id, r.service_principal, utc_req(r.registered_at))
            for r in rows
        ]

    # ------------------------------------------------------------------ tags

    def put_org_tags(self, resource_id: str, tags: Sequence[Tag]) -> None:
        t = s.org_tags
        with self._tx() as conn:
            for tag in tags:
                done = conn.execute(
                    update(t)
                    .where(and_(t.c.resource_id == resource_id, t.c.key == tag.key))
                    .values(value=tag.value)
                )
                if done.rowcount == 0:
                    conn.execute(
                        insert(t).values(resource_id=resource_id, key=tag.key, value=tag.value)
                    )

    def remove_org_tags(self, resource_id: str, keys: Sequence[str]) -> None:
        t = s.org_tags
        if not keys:
            return
        with self._tx() as conn:
            conn.execute(
                delete(t).where(and_(t.c.resource_id == resource_id, t.c.key.in_(list(keys))))
            )

    def get_org_tags(self, resource_id: str) -> list[Tag]:
        t = s.org_tags
        with self._tx() as conn:
            rows = conn.execute(
                select(t.c.key, t.c.value).where(t.c.resource_id == resource_id).order_by(t.c.key)
            ).all()
        return [Tag(r.key, r.value) for r in rows]
