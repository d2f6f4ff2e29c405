"""SQL store: the audit trail (``audit_events``, migration 14). Its transactions go
around ``SqlEngine._tx``: an audit row changes nothing a request decides, so its
writes neither bump the read-cache generation nor empty this process's read cache
(which ``_tx`` does after any write: every request would then miss the cache)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from tessera.store.audit import LOOKUP_KEYS, AuditPage, AuditRow
from tessera.store.sql import schema as s
from tessera.store.sql.engine import SqlEngine, utc_req

_MAX_CURSOR = 512


def _encode_cursor(event_time: datetime, seq: int) -> str:
    raw = json.dumps([utc_req(event_time).isoformat(), seq]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    if len(cursor) > _MAX_CURSOR:
        raise ValueError("malformed cursor")
    try:
        when, seq = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(when), int(seq)
    except (ValueError, TypeError) as exc:
        raise ValueError("malformed cursor") from exc


class SqlAudit(SqlEngine):
    """Audit events and their resources."""

    def put_audit_events(self, rows: Sequence[AuditRow]) -> int:
        if not rows:
            return 0
        values = []
        for row in rows:
            resource = row.resources[0] if row.resources else ("", "")
            names = [name for _type, name in row.resources]
            for account in row.accounts or ("",):
                values.append(
                    {
                        "account_id": account,
                        "event_id": row.event_id,
                        "event_time": utc_req(row.event_time),
                        "event_name": row.event_name[:128],
                        "event_source": row.event_source[:128],
                        "read_only": row.read_only,
                        "username": (row.username or "")[:256] or None,
                        "access_key_id": row.access_key_id,
                        "resource_type": resource[0][:128] or None,
                        "resource_name": resource[1][:2048] or None,
                        "resource_names": json.dumps(names) if names else None,
                        "resource_types": json.dumps([t for t, _n in row.resources])
                        if row.resources
                        else None,
                        "record": row.record_json,
                    }
                )
        table = s.audit_events
        stmt: postgresql.Insert | sqlite.Insert
        if self.dialect == "postgresql":
            stmt = postgresql.insert(table).on_conflict_do_nothing(
                constraint="uq_audit_events_account_event"
            )
        else:
            stmt = sqlite.insert(table).on_conflict_do_nothing(
                index_elements=["account_id", "event_id"]
            )
        with self.engine.begin() as conn:
            inserted = conn.execute(stmt.returning(table.c.seq), values).all()
        return len(inserted)

    def lookup_audit_events(
        self,
        account_id: str,
        *,
        attribute: tuple[str, str] | None,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> AuditPage:
        c = s.audit_events.c
        where = [c.account_id == account_id]
        if attribute is not None:
            key, value = attribute
            if key not in LOOKUP_KEYS:
                raise ValueError(f"unknown lookup attribute {key!r}")
            if key == "EventId":
                where.append(c.event_id == value)
            elif key == "EventName":
                where.append(c.event_name == value)
            elif key == "ReadOnly":
                where.append(c.read_only == (value.lower() == "true"))
            elif key == "Username":
                where.append(c.username == value)
            elif key == "ResourceType":
                where.append(
                    or_(c.resource_type == value, c.resource_types.contains(json.dumps(value)))
                )
            elif key == "ResourceName":
                where.append(
                    or_(
                        c.resource_name == value,
                        c.resource_names.contains(json.dumps(value)),
                    )
                )
            elif key == "EventSource":
                where.append(c.event_source == value)
            else:
                where.append(c.access_key_id == value)
        if start is not None:
            where.append(c.event_time >= utc_req(start))
        if end is not None:
            where.append(c.event_time <= utc_req(end))
        if cursor is not None:
            when, seq = _decode_cursor(cursor)
            when = utc_req(when)
            where.append(or_(c.event_time < when, and_(c.event_time == when, c.seq < seq)))
        query = (
            select(s.audit_events)
            .where(and_(*where))
            .order_by(c.event_time.desc(), c.seq.desc())
            .limit(limit + 1)
        )
        with self.engine.begin() as conn:
            found = conn.execute(query).all()
        rows = tuple(
            AuditRow(
                event_id=r.event_id,
                event_time=utc_req(r.event_time),
                event_name=r.event_name,
                event_source=r.event_source,
                read_only=bool(r.read_only),
                username=r.username,
                access_key_id=r.access_key_id,
                accounts=(r.account_id,),
                resources=tuple(
                    zip(
                        json.loads(r.resource_types) if r.resource_types else [],
                        json.loads(r.resource_names) if r.resource_names else [],
                        strict=False,
                    )
                ),
                record_json=r.record,
            )
            for r in found[:limit]
        )
        next_cursor = None
        if len(found) > limit:
            last = found[limit - 1]
            next_cursor = _encode_cursor(last.event_time, last.seq)
        return AuditPage(rows=rows, next_cursor=next_cursor)

    def prune_audit_events(self, before: datetime) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(s.audit_events).where(s.audit_events.c.event_time < utc_req(before))
            )
        return max(0, int(result.rowcount or 0))
