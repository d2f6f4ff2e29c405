"""SQL store: account-wide IAM settings (table ``account_settings``: password
policy as JSON, the alias — unique across accounts — and the STS token version),
credential reports (``credential_reports``) and GetAccountSummary's counts."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from tessera.iam.account_model import AccountCounts, CredentialReport, PasswordPolicy
from tessera.store.base import AlreadyExists
from tessera.store.sql import schema as s
from tessera.store.sql.engine import SqlEngine, utc, utc_req


class SqlAccountSettings(SqlEngine):
    """Password policy, alias, STS preferences, credential reports, summary counts."""

    def _setting(self, account_id: str, column: str) -> Any:
        a = s.account_settings.c
        with self._tx() as conn:
            return conn.execute(select(a[column]).where(a.account_id == account_id)).scalar()

    @staticmethod
    def _put(conn: Connection, account_id: str, **values: Any) -> None:
        a = s.account_settings.c
        found = conn.execute(select(a.account_id).where(a.account_id == account_id)).first()
        if found is None:
            conn.execute(insert(s.account_settings).values(account_id=account_id, **values))
        else:
            conn.execute(
                update(s.account_settings).where(a.account_id == account_id).values(**values)
            )

    # --- password policy

    def get_password_policy(self, account_id: str) -> PasswordPolicy | None:
        raw = self._setting(account_id, "password_policy")
        return None if raw is None else PasswordPolicy(**json.loads(raw))

    def put_password_policy(self, account_id: str, policy: PasswordPolicy) -> None:
        with self._tx() as conn:
            self._put(conn, account_id, password_policy=json.dumps(asdict(policy)))

    def delete_password_policy(self, account_id: str) -> bool:
        a = s.account_settings.c
        with self._tx() as conn:
            result = conn.execute(
                update(s.account_settings)
                .where(and_(a.account_id == account_id, a.password_policy.is_not(None)))
                .values(password_policy=None)
            )
            return bool(result.rowcount == 1)

    # --- alias

    def get_account_alias(self, account_id: str) -> str | None:
        value = self._setting(account_id, "alias")
        return None if value is None else str(value)

    def set_account_alias(self, account_id: str, alias: str) -> None:
        try:
            with self._tx() as conn:
                self._put(conn, account_id, alias=alias)
        except IntegrityError as exc:
            raise AlreadyExists(alias) from exc

    def delete_account_alias(self, account_id: str, alias: str) -> bool:
        a = s.account_settings.c
        with self._tx() as conn:
            result = conn.execute(
                update(s.account_settings)
                .where(and_(a.account_id == account_id, a.alias == alias))
                .values(alias=None)
            )
            return bool(result.rowcount == 1)

    # --- STS preferences

    def get_sts_token_version(self, account_id: str) -> str | None:
        value = self._setting(account_id, "sts_token_version")
        return None if value is None else str(value)

    def set_sts_token_version(self, account_id: str, version: str) -> None:
        with self._tx() as conn:
            self._put(conn, account_id, sts_token_version=version)

    # --- credential reports

    def start_credential_report(self, account_id: str, now: datetime) -> None:
        r = s.credential_reports.c
        with self._tx() as conn:
            values = {"started_at": now, "generated_at": None, "content": None}
            result = conn.execute(
                update(s.credential_reports).where(r.account_id == account_id).values(**values)
            )
            if result.rowcount == 0:
                conn.execute(insert(s.credential_reports).values(account_id=account_id, **values))

    def finish_credential_report(self, account_id: str, content: bytes, now: datetime) -> None:
        r = s.credential_reports.c
        with self._tx() as conn:
            conn.execute(
                update(s.credential_reports)
                .where(r.account_id == account_id)
                .values(content=content, generated_at=now)
            )

    def get_credential_report(self, account_id: str) -> CredentialReport | None:
        r = s.credential_reports.c
        with self._tx() as conn:
            row = conn.execute(
                select(s.credential_reports).where(r.account_id == account_id)
            ).first()
        if row is None:
            return None
        return CredentialReport(
            account_id=row.account_id,
            started_at=utc_req(row.started_at),
            generated_at=utc(row.generated_at),
            content=None if row.content is None else bytes(row.content),
        )

    # --- summary

    def account_counts(self, account_id: str) -> AccountCounts:
        def count(table: Any, *conds: Any) -> Any:
            return (
                select(func.count())
                .select_from(table)
                .where(table.c.account_id == account_id, *conds)
                .scalar_subquery()
            )

        mp, pv, mfa = s.managed_policies, s.policy_versions, s.mfa_devices
        versions = (
            select(func.count())
            .select_from(pv.join(mp, pv.c.policy_arn == mp.c.arn))
            .where(mp.c.account_id == account_id)
            .scalar_subquery()
        )
        query = select(
            count(s.users).label("users"),
            count(s.groups).label("groups"),
            count(s.roles).label("roles"),
            count(mp).label("policies"),
            versions.label("policy_versions"),
            count(mfa).label("mfa_devices"),
            count(mfa, mfa.c.user_key.is_not(None)).label("mfa_devices_in_use"),
            count(s.oidc_providers).label("oidc"),
            count(s.saml_providers).label("saml"),
            count(s.access_keys, s.access_keys.c.user_key.is_(None)).label("root_keys"),
        )
        with self._tx() as conn:
            row = conn.execute(query).one()
        return AccountCounts(
            users=row.users,
            groups=row.groups,
            roles=row.roles,
            policies=row.policies,
            policy_versions=row.policy_versions,
            mfa_devices=row.mfa_devices,
            mfa_devices_in_use=row.mfa_devices_in_use,
            providers=row.oidc + row.saml,
            root_access_keys=row.root_keys,
        )
