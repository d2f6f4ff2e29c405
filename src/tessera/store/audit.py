"""Storage interface of the audit trail: CloudTrail-format records, one row per
(account that sees it, event), the columns LookupEvents filters on, pagination in
newest-first order, and pruning by age."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

#: LookupEvents' attribute keys → what a row is matched on.
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


class AuditRow(NamedTuple):
    """One audit event as stored. ``record_json`` is what the audit trail keeps of
    it: the event's capture (rendered into the CloudTrail record by
    ``tessera.audit.record.render``) or, in rows older versions wrote, the record
    itself. A named tuple, not a frozen dataclass: one is built per event, and a
    tuple is made in C where a frozen dataclass pays an ``object.__setattr__`` per
    field."""

    event_id: str
    event_time: datetime
    event_name: str
    event_source: str
    read_only: bool
    username: str | None
    access_key_id: str | None
    #: the accounts that see the event (caller and recipient; may be empty)
    accounts: tuple[str, ...]
    resources: tuple[tuple[str, str], ...]  # (type, name)
    record_json: str

    @property
    def record(self) -> dict[str, Any]:
        """``record_json`` parsed (the record itself for ``build_event``'s rows)."""
        value = json.loads(self.record_json)
        assert isinstance(value, dict)
        return value


@dataclass(frozen=True, slots=True)
class AuditPage:
    rows: tuple[AuditRow, ...]
    #: opaque position after the last row, or None at the end
    next_cursor: str | None


class AuditStore(Protocol):
    def put_audit_events(self, rows: Sequence[AuditRow]) -> int:
        """Insert ``rows`` (an event already stored is skipped: replaying a spool is
        safe); the number inserted."""
        ...

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
        """The account's events, newest first, matching one ``(key, value)`` of
        ``LOOKUP_KEYS`` and ``start <= eventTime <= end``; ``cursor`` continues a
        previous page. ``ValueError`` for an unknown key or a malformed cursor."""
        ...

    def prune_audit_events(self, before: datetime) -> int:
        """Delete events older than ``before``; how many rows went."""
        ...
