"""Reading the audit trail: one account's events newest first, matching one lookup
attribute and a time range, a page at a time (what LookupEvents answers).

The store keeps events in segments (``tessera.audit.segments``) and returns the
segments that may hold a match, newest ``last_time`` first; segments written by
different workers overlap in time, so events are merged: an event is answered only
once every segment that could hold a newer one has been read (the next segment's
``last_time`` is older than it). Events are ordered by (time, event id), both
descending; the page token is the last answered pair."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tessera.audit.record import AuditRow
from tessera.audit.segments import read_segment
from tessera.store.audit import LOOKUP_KEYS, AuditSegment, AuditStore

_MAX_TOKEN = 512
#: lookup keys whose value is written in every line that matches (a capture holds
#: the operation, the user, the caller's key and the parameters and result that
#: name resources; an older line holds its columns)
_IN_LINE = frozenset({"EventName", "Username", "AccessKeyId", "ResourceName"})
#: segments fetched from the store per query
_FETCH = 16


def encode_token(event_time: datetime, event_id: str) -> str:
    raw = json.dumps([event_time.astimezone(UTC).isoformat(), event_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_token(token: str) -> tuple[datetime, str]:
    """``ValueError`` for anything ``encode_token`` did not make."""
    if len(token) > _MAX_TOKEN:
        raise ValueError("malformed token")
    try:
        when, event_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        parsed = datetime.fromisoformat(when)
    except (ValueError, TypeError) as exc:
        raise ValueError("malformed token") from exc
    if not isinstance(event_id, str) or parsed.tzinfo is None:
        raise ValueError("malformed token")
    return parsed, event_id


def v7_millisecond(event_id: str) -> int | None:
    """The millisecond a version-7 event id names (None for another id)."""
    if len(event_id) != 36 or event_id[14] != "7" or event_id.count("-") != 4:
        return None
    try:
        return int(event_id[:8] + event_id[9:13], 16)
    except ValueError:
        return None


def _spelled_alike(value: str) -> bool:
    """Whether every JSON encoder that wrote a trail line spells ``value`` as is
    (printable ASCII without quotes or backslashes: nothing to escape)."""
    return value.isascii() and value.isprintable() and '"' not in value and "\\" not in value


def _matcher(key: str, value: str) -> Callable[[AuditRow], bool]:
    if key == "EventId":
        return lambda row: row.event_id == value
    if key == "EventName":
        return lambda row: row.event_name == value
    if key == "ReadOnly":
        wanted = value.lower() == "true"
        return lambda row: row.read_only is wanted
    if key == "Username":
        return lambda row: row.username == value
    if key == "ResourceType":
        return lambda row: any(t == value for t, _n in row.resources)
    if key == "ResourceName":
        return lambda row: any(n == value for _t, n in row.resources)
    if key == "EventSource":
        return lambda row: row.event_source == value
    if key == "AccessKeyId":
        return lambda row: row.access_key_id == value
    raise ValueError(f"unknown lookup attribute {key!r}")


def lookup(
    store: AuditStore,
    account_id: str,
    *,
    attribute: tuple[str, str] | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    token: str | None,
) -> tuple[list[AuditRow], str | None]:
    """At most ``limit`` events and the token of the next page (None at the end).
    ``ValueError`` for an unknown attribute key or a malformed token."""
    before = decode_token(token) if token is not None else None
    match: Callable[[AuditRow], bool] | None = None
    term = None
    needle = None
    if attribute is not None:
        key, value = attribute
        if key not in LOOKUP_KEYS:
            raise ValueError(f"unknown lookup attribute {key!r}")
        match = _matcher(key, value)
        if key in _IN_LINE and _spelled_alike(value):
            needle = value
        ms = v7_millisecond(value) if key == "EventId" else None
        if ms is not None:
            # a v7 id names its millisecond: read the segments around it (one
            # millisecond either side: the event time and the id round apart)
            lo = datetime.fromtimestamp((ms - 1) / 1000, UTC)
            hi = datetime.fromtimestamp((ms + 2) / 1000, UTC)
            start = lo if start is None else max(start, lo)
            end = hi if end is None else min(end, hi)
        elif key == "ReadOnly":
            term = (key, "true" if value.lower() == "true" else "false")
        else:
            term = attribute
    upper = end
    if before is not None:
        upper = before[0] if upper is None else min(upper, before[0])
    if start is not None and upper is not None and start > upper:
        return [], None

    def wanted(row: AuditRow) -> bool:
        t = row.event_time
        if (start is not None and t < start) or (end is not None and t > end):
            return False
        if before is not None and (t, row.event_id) >= before:
            return False
        return match is None or match(row)

    queue: list[AuditSegment] = []
    after: tuple[datetime, int] | None = None
    exhausted = False

    def next_segment() -> AuditSegment | None:
        nonlocal after, exhausted
        if not queue and not exhausted:
            got = store.audit_segments(
                account_id, term=term, start=start, end=upper, after=after, limit=_FETCH
            )
            if len(got) < _FETCH:
                exhausted = True
            if got:
                after = (got[-1].last_time, got[-1].seq)
                queue.extend(got)
        return queue.pop(0) if queue else None

    pool: list[AuditRow] = []  # read and wanted, oldest first (popped from the end)
    out: list[AuditRow] = []
    pending = next_segment()
    while len(out) <= limit:
        # read every segment that may hold an event newer than the newest read
        grew = False
        while pending is not None and (
            not pool or pending.last_time >= pool[-1].event_time - timedelta(microseconds=1)
        ):
            pool += [row for row in read_segment(pending, needle) if wanted(row)]
            grew = True
            pending = next_segment()
        if grew:
            pool.sort(key=lambda row: (row.event_time, row.event_id))
        if not pool:
            break
        out.append(pool.pop())
    if len(out) > limit:
        last = out[limit - 1]
        return out[:limit], encode_token(last.event_time, last.event_id)
    return out, None


__all__ = ["decode_token", "encode_token", "lookup", "v7_millisecond"]
