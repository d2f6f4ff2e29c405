"""SQL store: last-accessed bookkeeping per principal and action, and the access
advisor reports generated from it."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tessera.store.access_advisor import MAX_REPORTS_PER_ACCOUNT, AccessReport, ServiceUse
from tessera.store.sql import schema as s
from tessera.store.sql.engine import QUIET, SqlEngine, utc_req


class SqlAccessAdvisor(SqlEngine):
    """Service last-accessed records and reports."""

    def record_service_use(
        self, account_id: str, principal_id: str, action: str, region: str, at: datetime
    ) -> None:
        t = s.service_last_accessed
        key = (t.c.principal_id == principal_id) & (t.c.action_key == action.lower())
        values = {"action": action, "region": region, "last_at": at}
        quiet = {QUIET: True}
        with self._tx() as conn:  # bookkeeping: no cached read depends on it
            done = conn.execute(
                update(t)
                .where(key & (t.c.last_at <= at))
                .values(**values)
                .execution_options(**quiet)
            ).rowcount
            if done:
                return
            exists = conn.execute(select(t.c.last_at).where(key)).first()
            if exists is not None:
                return  # a later use is recorded already
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(t)
                    .values(
                        account_id=account_id,
                        principal_id=principal_id,
                        action_key=action.lower(),
                        **values,
                    )
                    .execution_options(**quiet)
                )
        except IntegrityError:  # another writer inserted it meanwhile: theirs is as recent
            return

    def service_uses(self, account_id: str, principal_ids: Collection[str]) -> list[ServiceUse]:
        if not principal_ids:
            return []
        t = s.service_last_accessed
        with self._tx() as conn:
            rows = conn.execute(
                select(t)
                .where((t.c.account_id == account_id) & t.c.principal_id.in_(list(principal_ids)))
                .order_by(t.c.principal_id, t.c.action_key)
            ).all()
        return [
            ServiceUse(r.account_id, r.principal_id, r.action, r.region, utc_req(r.last_at))
            for r in rows
        ]

    def create_access_report(self, report: AccessReport) -> None:
        t = s.access_reports
        with self._tx() as conn:
            conn.execute(
                insert(t).values(
                    account_id=report.account_id,
                    job_id=report.job_id,
                    job_type=report.job_type,
                    arn=report.arn,
                    created_at=report.created_at,
                    completed_at=report.completed_at,
                    report=report.report,
                )
            )
            count = conn.execute(
                select(func.count()).select_from(t).where(t.c.account_id == report.account_id)
            ).scalar_one()
            if count > MAX_REPORTS_PER_ACCOUNT:
                oldest = (
                    select(t.c.job_id)
                    .where(t.c.account_id == report.account_id)
                    .order_by(t.c.created_at, t.c.job_id)
                    .limit(count - MAX_REPORTS_PER_ACCOUNT)
                )
                doomed = [row.job_id for row in conn.execute(oldest)]
                conn.execute(delete(t).where(t.c.job_id.in_(doomed)))

    def get_access_report(self, account_id: str, job_id: str) -> AccessReport | None:
        t = s.access_reports
        with self._tx() as conn:
            row = conn.execute(
                select(t).where((t.c.account_id == account_id) & (t.c.job_id == job_id))
            ).first()
        if row is None:
            return None
        return AccessReport(
            row.account_id,
            row.job_id,
            row.job_type,
            row.arn,
            utc_req(row.created_at),
            utc_req(row.completed_at),
            row.report,
        )
