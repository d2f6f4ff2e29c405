"""Storage interface of the audit trail: **segments** of one account's events.

The audit writer commits events a batch at a time; each batch becomes one segment
per account that sees its events: the events' lines (opaque here: the audit
package's format, already redacted), their time span, and the distinct
``(lookup key, value)`` terms they carry. A segment is one row, not one per event:
the writer stores thousands of events a second next to request threads, and a row
per event cost ~20 µs of the server's CPU each (bench/README.md). LookupEvents reads
the segments that can hold a match (the account, the time range, the term) newest
first and filters their events itself.

Spool marks make a replay exactly-once: in the transaction that stores a batch, the
writer records how far into its spool file the batch reached; a spool replayed
after a crash is read from its mark on."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

#: LookupEvents' attribute keys: what a term's key may be.
LOOKUP_KEYS: tuple[str, ...] = (
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
)

#: a term value longer than this is not indexed (LookupEvents takes at most 2000)
MAX_TERM_VALUE = 2000


def legacy_line(columns: Sequence[Any], record_json: str) -> str:
    """The line of an event stored by a version before segments: its lookup
    columns ``[event id, event time (ISO 8601), event name, event source,
    read-only, user name or null, access key id or null, [[resource type, name],
    …]]`` and its record (or capture) as stored, ``record_json``. Written by
    migration 18 and by a replay of such a version's spool; read by
    ``tessera.audit.segments``."""
    return (
        '{"r1":' + json.dumps(list(columns), separators=(",", ":")) + ',"rec":' + record_json + "}"
    )


def legacy_terms(columns: Sequence[Any]) -> list[tuple[str, str]]:
    """The lookup terms of such an event (its id among them: it names no time)."""
    event_id, _when, name, source, read_only, user, key, resources = columns
    terms = [
        ("EventId", str(event_id)),
        ("EventName", str(name)),
        ("EventSource", str(source)),
        ("ReadOnly", "true" if read_only else "false"),
    ]
    if user is not None:
        terms.append(("Username", str(user)))
    if key is not None:
        terms.append(("AccessKeyId", str(key)))
    for kind, resource in resources:
        terms += (("ResourceType", str(kind)), ("ResourceName", str(resource)))
    return terms


@dataclass(frozen=True, slots=True)
class AuditSegment:
    """A run of one account's events, stored and read as one row."""

    account_id: str
    #: the earliest and the latest event time in ``data`` (UTC)
    first_time: datetime
    last_time: datetime
    #: how many events ``data`` holds
    count: int
    #: the events, one line each (``\\n``-separated)
    data: str
    #: every distinct (key of ``LOOKUP_KEYS``, value) an event in ``data`` matches;
    #: written, not read back (``audit_segments`` returns it empty)
    terms: frozenset[tuple[str, str]] = field(default=frozenset())
    #: the store's sequence number (0 until stored): a later segment has a higher one
    seq: int = 0


class AuditStore(Protocol):
    def put_audit_segments(
        self, segments: Sequence[AuditSegment], marks: Mapping[str, int]
    ) -> None:
        """Store ``segments`` and set each spool's mark (``spool name → offset``) in
        one transaction: either every segment and mark is stored, or none."""
        ...

    def audit_spool_marks(self, spools: Sequence[str]) -> dict[str, int]:
        """The mark of each named spool that has one."""
        ...

    def drop_audit_spool_marks(self, spools: Sequence[str]) -> None:
        """Forget the marks of spools that are gone."""
        ...

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
        """At most ``limit`` of the account's segments that may hold an event in
        ``[start, end]`` (``last_time >= start`` and ``first_time <= end``) and, with
        ``term``, list that term; ordered newest first by ``(last_time, seq)``;
        ``after`` is the ``(last_time, seq)`` of the last segment a previous call
        returned: only segments after it in that order. ``ValueError`` for a term
        key not in ``LOOKUP_KEYS``."""
        ...

    def prune_audit_events(self, before: datetime) -> int:
        """Delete the segments whose ``last_time`` is before ``before`` (and spool
        marks not updated since then); the number of events they held."""
        ...
