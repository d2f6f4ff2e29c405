"""SQL store: the audit trail (``audit_events``, migration 14). Its transactions go
around ``SqlEngine._tx``: an audit row changes nothing a request decides, so its
writes neither bump the read-cache generation nor empty this process's read cache
(which ``_tx`` does after any write: every request would then miss the cache)."""

from __future__ import annotations

import base64
import functools
import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select

from tessera.store.audit import LOOKUP_KEYS, AuditPage, AuditRow
from tessera.store.sql import schema as s
from tessera.store.sql.engine import SqlEngine, utc_req

_MAX_CURSOR = 512
_str = json.encoder.encode_basestring_ascii  # json.dumps of one str, in C
_COLUMNS = (
    "account_id, event_id, event_time, event_name, event_source, read_only, username, "
    "access_key_id, resource_type, resource_name, resource_names, resource_types, record"
)
_WIDTH = 13
#: rows per INSERT statement: one statement inserts many rows, so SQLite steps (and
#: releases the GIL) once per chunk, not once per row (13 parameters a row; SQLite
#: before 3.32 allows 999 parameters in a statement, later 32766)
_CHUNK = 512 if sqlite3.sqlite_version_info >= (3, 32) else 999 // _WIDTH


@functools.cache
def _insert_sql(dialect: str, rows: int) -> str:
    """``INSERT … VALUES (…), (…) … ON CONFLICT … DO NOTHING`` for ``rows`` rows:
    constant text built from the column list and placeholders only (values are bound)."""
    mark = "%s" if dialect == "postgresql" else "?"
    one = "(" + ", ".join([mark] * _WIDTH) + ")"
    conflict = (
        "ON CONFLICT ON CONSTRAINT uq_audit_events_account_event DO NOTHING"
        if dialect == "postgresql"
        else "ON CONFLICT (account_id, event_id) DO NOTHING"
    )
    return " ".join(
        ("INSERT INTO audit_events (", _COLUMNS, ") VALUES", ", ".join([one] * rows), conflict)
    )


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
        """One transaction of multi-row INSERTs (no per-row SQL expression work, one
        statement step per chunk: the writer thread inserts thousands of rows a
        second next to request threads); a (account, event id) already stored is
        skipped, so a replay is harmless."""
        if not rows:
            return 0
        pg = self.dialect == "postgresql"
        # one flat parameter list, built with as little Python per row as possible
        # (this runs for every event, next to the request threads): the resource
        # lists as JSON text by hand (``_str`` is ``json.dumps`` of one str, in C),
        # memoised per distinct resource tuple (a busy server repeats a few)
        lists: dict[tuple[tuple[str, str], ...], tuple[str | None, str | None]] = {}
        flat: list[Any] = []
        extend = flat.extend
        for row in rows:
            resources = row.resources
            first_type: str | None
            first_name: str | None
            if resources:
                encoded = lists.get(resources)
                if encoded is None:
                    encoded = (
                        "[" + ", ".join([_str(n) for _t, n in resources]) + "]",
                        "[" + ", ".join([_str(t) for t, _n in resources]) + "]",
                    )
                    lists[resources] = encoded
                names, types = encoded
                first_type = resources[0][0][:128] or None
                first_name = resources[0][1][:2048] or None
            else:
                first_type = first_name = names = types = None
            at = row.event_time
            if at.tzinfo is not UTC:
                at = utc_req(at)
            # SQLite: the text SQLAlchemy's DateTime stores there (and compares),
            # ``YYYY-MM-DD HH:MM:SS.ffffff`` (isoformat: no strftime per row)
            when: Any = at if pg else at.isoformat(" ", "microseconds")[:26]
            username = row.username
            accounts = row.accounts or ("",)
            for account in accounts:
                extend(
                    (
                        account,
                        row.event_id,
                        when,
                        row.event_name[:128],
                        row.event_source[:128],
                        row.read_only,
                        username[:256] or None if username else None,
                        row.access_key_id,
                        first_type,
                        first_name,
                        names,
                        types,
                        row.record_json,
                    )
                )
        total = len(flat) // _WIDTH
        inserted = 0
        with self.engine.begin() as conn:
            for start in range(0, total, _CHUNK):
                n = min(_CHUNK, total - start)
                chunk = flat[start * _WIDTH : (start + n) * _WIDTH]
                result = conn.exec_driver_sql(_insert_sql(self.dialect, n), tuple(chunk))
                inserted += max(result.rowcount, 0)
        return inserted

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
