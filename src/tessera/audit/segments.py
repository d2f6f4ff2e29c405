"""Segments of the audit trail (``tessera.store.audit.AuditSegment``): how the
writer turns spooled event lines into one segment per account, with the
LookupEvents terms of its events, and how a segment's lines are read back as
events.

A line is one of:

* a capture, ``{"c1":[…],"i":{…}}`` (``tessera.audit.record.capture``): every event
  this version records, already redacted;
* ``{"r1":[id, time, name, source, readOnly, user, key, [[type, name], …]],
  "rec":…}``: an event stored by an earlier version (a row of ``audit_events``
  converted by migration 18, or a line of an older spool), with its lookup columns
  and its record (or its capture) under ``rec``.

The writer's share is small on purpose (it runs next to the request threads, for
every event): a typed parse of the capture (msgspec: only the fields the index
reads become Python objects, the rest are skipped), ``index_fields`` and a list
append per event, and a ``"\\n".join`` per segment. A line the typed parse
refuses (an earlier version's, a torn one, one whose fields have other types)
takes the general path: an orjson parse and ``index_terms``, which give the same
terms (tests/unit/audit/test_segments.py checks that they agree). A segment spans
at most ``SEGMENT_SPAN_SECONDS``, so a spool replayed long after it was written
still yields segments a time range can skip."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson

from tessera.audit.record import AuditRow, index_fields, index_terms, stored_row
from tessera.store.audit import MAX_TERM_VALUE, AuditSegment, legacy_line, legacy_terms

log = logging.getLogger("tessera.audit")

#: the longest time one segment spans (seconds)
SEGMENT_SPAN_SECONDS = 60.0
#: the most events one segment holds
SEGMENT_MAX_EVENTS = 4096
#: parameters up to this long (JSON bytes) key ``build_segments``' per-batch memo
_MEMO_PARAMS = 256
#: the most entries that memo holds
_MEMO_ENTRIES = 4096


@dataclass(slots=True)
class _Open:
    first: float
    last: float
    lines: list[str] = field(default_factory=list)
    terms: set[tuple[str, str]] = field(default_factory=set)
    #: the shared term tuples of its events' operations, by identity (cheap to add)
    shared: dict[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)


class SegmentBuilder:
    """Groups event lines into segments, per account, in the order they come."""

    __slots__ = ("_done", "_open")

    def __init__(self) -> None:
        self._open: dict[str, _Open] = {}
        self._done: list[AuditSegment] = []

    def add(
        self,
        seconds: float,
        accounts: Sequence[str],
        shared: tuple[tuple[str, str], ...],
        terms: Sequence[tuple[str, str]],
        text: str,
    ) -> None:
        """One event: its time, the accounts that see it, the terms it shares with
        other events (one tuple, the same object for each of them: added once per
        segment) and its own, and its line."""
        for account in accounts or ("",):
            group = self._open.get(account)
            if group is None:
                group = self._open[account] = _Open(seconds, seconds)
            elif (
                len(group.lines) >= SEGMENT_MAX_EVENTS
                # (its span stays within the limit, so this is: the span with this
                # event would exceed it)
                or seconds > group.first + SEGMENT_SPAN_SECONDS
                or seconds < group.last - SEGMENT_SPAN_SECONDS
            ):
                self._close(account, group)
                group = self._open[account] = _Open(seconds, seconds)
            elif seconds > group.last:
                group.last = seconds
            elif seconds < group.first:
                group.first = seconds
            group.lines.append(text)
            group.shared[id(shared)] = shared
            if terms:
                group.terms.update(terms)

    def _close(self, account: str, group: _Open) -> None:
        del self._open[account]
        for shared in group.shared.values():
            group.terms.update(shared)
        self._done.append(
            AuditSegment(
                account_id=account,
                first_time=datetime.fromtimestamp(group.first, UTC),
                last_time=datetime.fromtimestamp(group.last, UTC),
                count=len(group.lines),
                data="\n".join(group.lines),
                terms=frozenset(t for t in group.terms if 0 < len(t[1]) <= MAX_TERM_VALUE),
            )
        )

    def segments(self) -> list[AuditSegment]:
        """Every segment, the open ones closed."""
        for account, group in list(self._open.items()):
            self._close(account, group)
        done, self._done = self._done, []
        return done


class _Credentials(msgspec.Struct, gc=False):
    accessKeyId: str | None = None


class _Response(msgspec.Struct, gc=False):
    credentials: _Credentials | None = None


class _Captured(msgspec.Struct, array_like=True, gc=False):
    """A capture's values (``tessera.audit.record._FIELDS``, in order) as the index
    reads them: what it needs typed, the parameters kept as unparsed JSON (``Raw``,
    parsed only when there are any) and the rest untyped (small values: decoding
    them costs less than keeping each as a ``Raw``). Never part of a reference
    cycle (made, read and dropped within one line's indexing), so the garbage
    collector need not track it (``gc=False``)."""

    time: float
    service: str
    operation: str
    region: Any
    source_ip: Any
    user_agent: Any
    request_id: Any
    error_code: Any
    error_message: Any
    host: Any
    secure_transport: Any
    tls_version: Any
    cipher_suite: Any
    username: str | None
    access_key_id: str | None
    caller_account: str | None
    params: msgspec.Raw
    response: _Response | None


class _CaptureLine(msgspec.Struct, gc=False):
    c1: _Captured | None = None


_DECODE_CAPTURE = msgspec.json.Decoder(_CaptureLine).decode


def _captured(text: str) -> _Captured | None:
    """A capture line's fields, by the typed parse; None for any other line (or one
    whose fields do not have the types a capture writes)."""
    try:
        return _DECODE_CAPTURE(text).c1
    except msgspec.MsgspecError:
        return None


def parse_lines(region: bytes) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each line of ``region`` (complete lines, each ending in a newline) with its
    object, parsed one at a time; a torn line (a crash mid-copy: its call was never
    answered), the NUL tail of a spool and anything but an object are skipped.

    One line at a time, and its objects dropped before the next, on purpose:
    parsing a whole batch at once kept tens of thousands of objects alive together,
    and the garbage collector's passes over them (run by whichever thread
    allocated next, often a request's) cost more than the parse."""
    for text in _lines(region):
        value = _parsed(text)
        if value is not None:
            yield text, value


def _parsed(text: str) -> dict[str, Any] | None:
    """One line's object (orjson); None for a torn line or anything but an object."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def build_segments(region: bytes) -> tuple[list[AuditSegment], list[str], int]:
    """The segments of a run of spool lines, the event lines, and how many events
    they hold (a line that is not one, a defect or a torn line, is logged or
    skipped and left out rather than blocking every later one)."""
    builder = SegmentBuilder()
    add = builder.add
    texts: list[str] = []
    memo: dict[tuple[Any, ...], _Indexed] = {}
    for text in _lines(region):
        try:
            c = _captured(text)
            if c is not None and _add_captured(c, text, memo, builder):
                texts.append(text)
                continue
            value = _parsed(text)  # the general path (see the module docstring)
            if value is None:
                continue
            captured = value.get("c1")
            if captured is not None:
                seconds, accounts, shared, terms = index_terms(captured)
                add(seconds, accounts, shared, terms, text)
                texts.append(text)
            else:
                legacy = _legacy(value)
                if legacy is not None:
                    add(*legacy)
                    texts.append(legacy[-1])
        except Exception:
            log.exception("could not index an audit event")
    return builder.segments(), texts, len(texts)


#: how much of a region is decoded and split at a time: a chunk's lines are parsed
#: while they are still in the CPU's caches (a second's batch is megabytes)
_CHUNK_BYTES = 128 << 10


def _lines(region: bytes) -> Iterator[str]:
    """The non-empty lines of ``region`` (NUL padding stripped), decoded a chunk at
    a time. A chunk ends at a newline, so no line is split; a region's lines are
    complete (the writer takes up to its last newline), and a torn last line is
    decoded whole with the final chunk."""
    start = 0
    size = len(region)
    while start < size:
        end = region.find(b"\n", min(start + _CHUNK_BYTES, size - 1))
        end = size if end < 0 else end + 1
        for text in region[start:end].decode().split("\n"):
            text = text.strip("\0")
            if text:
                yield text
        start = end


#: what events of one caller and call with the same parameters share: the accounts
#: that see them, and their terms without and with an issued key's type
_Indexed = tuple[tuple[str, ...], tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]
_ISSUED_TYPE = ("ResourceType", "AWS::IAM::AccessKey")


def _add_captured(
    c: _Captured,
    text: str,
    memo: dict[tuple[Any, ...], _Indexed],
    builder: SegmentBuilder,
) -> bool:
    """Add a typed capture to the batch's segments (False: it takes the general
    path). Events of one caller and call with the same (short) parameters share
    their index but for the key the call issued, so it is computed once per batch
    (``memo``) and the events share its terms' tuple (added once per segment)."""
    raw = c.params
    response = c.response
    creds = response.credentials if response is not None else None
    issued = creds.accessKeyId if creds is not None else None
    key: tuple[Any, ...] | None = None
    hit = None
    if len(raw) <= _MEMO_PARAMS:
        key = (c.service, c.operation, c.username, c.access_key_id, c.caller_account, bytes(raw))
        hit = memo.get(key)
    if hit is None:
        params = None if len(raw) <= 2 else msgspec.json.decode(raw)  # "{}": none
        if params is not None and type(params) is not dict:
            return False
        _seconds, accounts, shared, terms = index_fields(
            c.time,
            c.service,
            c.operation,
            c.username,
            c.access_key_id,
            c.caller_account,
            params,
            None,
        )
        common = (*shared, *terms)
        hit = (accounts, common, (*common, _ISSUED_TYPE))
        if key is not None and len(memo) < _MEMO_ENTRIES:
            memo[key] = hit
    if issued:
        builder.add(c.time, hit[0], hit[2], (("ResourceName", issued),), text)
    else:
        builder.add(c.time, hit[0], hit[1], (), text)
    return True


def _legacy(
    value: dict[str, Any],
) -> tuple[float, tuple[str, ...], tuple[tuple[str, str], ...], list[tuple[str, str]], str] | None:
    """A spool line of a version before captures (its columns and finished record)
    as an ``r1`` line, with its time, accounts and terms."""
    record = value.get("rec")
    if not isinstance(record, dict) or "id" not in value:
        return None
    when = datetime.fromisoformat(str(value["t"]))
    resources = [[str(t), str(n)] for t, n in value["r"]]
    columns = [
        str(value["id"]),
        when.isoformat(),
        str(value["n"]),
        str(value["s"]),
        bool(value["ro"]),
        None if value["u"] is None else str(value["u"]),
        None if value["k"] is None else str(value["k"]),
        resources,
    ]
    text = legacy_line(columns, orjson.dumps(record).decode())
    return when.timestamp(), tuple(str(a) for a in value["a"]), (), legacy_terms(columns), text


def read_segment(segment: AuditSegment, needle: str | None = None) -> Iterator[AuditRow]:
    """The events of a stored segment (a line that cannot be read is skipped and
    logged: one damaged line must not hide the rest); with ``needle``, only those
    whose line holds that text (a cheap filter before parsing: LookupEvents passes
    the value it looks for, as JSON spells it, when a matching line must hold it)."""
    data = segment.data
    if needle is not None:
        if needle not in data:
            return
        data = "\n".join(line for line in data.split("\n") if needle in line)
    for text, value in parse_lines(data.encode() + b"\n"):
        try:
            captured = value.get("c1")
            if captured is not None:
                yield stored_row(captured, text)
                continue
            columns = value["r1"]
            event_id, when, name, source, read_only, user, key, resources = columns
            record = value["rec"]
            yield AuditRow(
                event_id=str(event_id),
                event_time=datetime.fromisoformat(str(when)).astimezone(UTC),
                event_name=str(name),
                event_source=str(source),
                read_only=bool(read_only),
                username=None if user is None else str(user),
                access_key_id=None if key is None else str(key),
                accounts=(segment.account_id,) if segment.account_id else (),
                resources=tuple((str(t), str(n)) for t, n in resources),
                record_json=json.dumps(record, separators=(",", ":")),
            )
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            log.warning("skipped an unreadable audit event in segment %d", segment.seq)


__all__ = [
    "SEGMENT_MAX_EVENTS",
    "SEGMENT_SPAN_SECONDS",
    "SegmentBuilder",
    "build_segments",
    "parse_lines",
    "read_segment",
]
