"""SQL store: the audit trail as segments (``audit_segments``, ``audit_terms``,
``audit_spool_marks``, migration 18; see ``tessera.store.audit``). Its transactions
go around ``SqlEngine._tx``: an audit row changes nothing a request decides, so its
writes neither bump the read-cache generation nor empty this process's read cache
(which ``_tx`` does after any write: every request would then miss the cache).

A key with more than ``schema.TERM_LIST_OVER`` distinct values in a segment keeps
them as one ``audit_term_lists`` row that a lookup searches (``LIKE``), not a row
each: values unique to an event (the access key each AssumeRole issues) would
otherwise cost an index entry per event.

A term's value is stored as is, unless its UTF-8 form is longer than
``schema._MAX_TERM_BYTES``: then as ``schema._DIGEST_PREFIX`` and its SHA-256
(``schema.term_value``) (a B-tree entry of
PostgreSQL holds at most ~2700 bytes, and 2000 characters may take 8000). A lookup
digests its value the same way; a digest that matches another value only adds a
candidate segment, which the reader filters anyway."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tessera.store.audit import LOOKUP_KEYS, AuditSegment
from tessera.store.sql import schema as s
from tessera.store.sql.engine import SqlEngine, utc_req

#: spools named in one ``IN (…)`` (a writer has a handful)
_IN_CHUNK = 500


class SqlAudit(SqlEngine):
    """Audit segments, their lookup terms and the spool marks."""

    def put_audit_segments(
        self, segments: Sequence[AuditSegment], marks: Mapping[str, int]
    ) -> None:
        if not segments and not marks:
            return
        with self.engine.begin() as conn:
            s.insert_audit_segments(
                conn,
                [
                    replace(g, first_time=utc_req(g.first_time), last_time=utc_req(g.last_time))
                    for g in segments
                ],
            )
            if marks:
                now = datetime.now(UTC)
                rows = [
                    {"spool": spool, "mark": mark, "updated_at": now}
                    for spool, mark in marks.items()
                ]
                upsert = (pg_insert if self.dialect == "postgresql" else sqlite_insert)(
                    s.audit_spool_marks
                )
                conn.execute(
                    upsert.on_conflict_do_update(
                        index_elements=[s.audit_spool_marks.c.spool],
                        set_={
                            "mark": upsert.excluded.mark,
                            "updated_at": upsert.excluded.updated_at,
                        },
                    ),
                    rows,
                )

    def audit_spool_marks(self, spools: Sequence[str]) -> dict[str, int]:
        c = s.audit_spool_marks.c
        out: dict[str, int] = {}
        with self.engine.begin() as conn:
            for i in range(0, len(spools), _IN_CHUNK):
                chunk = list(spools[i : i + _IN_CHUNK])
                for spool, mark in conn.execute(
                    select(c.spool, c.mark).where(c.spool.in_(chunk))
                ).all():
                    out[spool] = int(mark)
        return out

    def drop_audit_spool_marks(self, spools: Sequence[str]) -> None:
        if not spools:
            return
        c = s.audit_spool_marks.c
        with self.engine.begin() as conn:
            for i in range(0, len(spools), _IN_CHUNK):
                chunk = list(spools[i : i + _IN_CHUNK])
                conn.execute(delete(s.audit_spool_marks).where(c.spool.in_(chunk)))

    def audit_segments(
        self,
        account_id: str,
        *,
        term: tuple[str, str] | None,
        start: datetime | None,
        end: datetime | None,
        after: tuple[datetime, int] | None,
        limit: int,
    ) -> list[AuditSegment]:
        c = s.audit_segments.c
        where = [c.account_id == account_id]
        if term is not None:
            key, value = term
            if key not in LOOKUP_KEYS:
                raise ValueError(f"unknown lookup attribute {key!r}")
            t = s.audit_terms.c
            lists = s.audit_term_lists.c
            where.append(
                or_(
                    c.seq.in_(
                        select(t.segment_seq).where(
                            and_(
                                t.account_id == account_id,
                                t.key == key,
                                t.value == s.term_value(value),
                            )
                        )
                    ),
                    c.seq.in_(
                        select(lists.segment_seq).where(
                            and_(
                                lists.account_id == account_id,
                                lists.key == key,
                                lists.term_values.contains(f"\n{value}\n", autoescape=True),
                            )
                        )
                    ),
                )
            )
        if start is not None:
            where.append(c.last_time >= utc_req(start))
        if end is not None:
            where.append(c.first_time <= utc_req(end))
        if after is not None:
            when, seq = utc_req(after[0]), after[1]
            where.append(or_(c.last_time < when, and_(c.last_time == when, c.seq < seq)))
        query = (
            select(c.seq, c.account_id, c.first_time, c.last_time, c.count, c.data, c.packed)
            .where(and_(*where))
            .order_by(c.last_time.desc(), c.seq.desc())
            .limit(limit)
        )
        with self.engine.begin() as conn:
            found = conn.execute(query).all()
        return [
            AuditSegment(
                account_id=account,
                first_time=utc_req(first),
                last_time=utc_req(last),
                count=int(count),
                data=s.unpack_lines(data, packed),
                seq=int(seq),
            )
            for seq, account, first, last, count, data, packed in found
        ]

    def prune_audit_events(self, before: datetime) -> int:
        c = s.audit_segments.c
        cutoff = utc_req(before)
        old = c.last_time < cutoff
        with self.engine.begin() as conn:
            events = conn.execute(select(func.coalesce(func.sum(c.count), 0)).where(old)).scalar()
            for terms in (s.audit_terms, s.audit_term_lists):
                conn.execute(delete(terms).where(terms.c.segment_seq.in_(select(c.seq).where(old))))
            conn.execute(delete(s.audit_segments).where(old))
            conn.execute(
                delete(s.audit_spool_marks).where(s.audit_spool_marks.c.updated_at < cutoff)
            )
        return int(events or 0)
