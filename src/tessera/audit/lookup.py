"""CloudTrail's ``LookupEvents`` (JSON 1.1, ``CloudTrail_20131101``) over the audit
trail: one lookup attribute, a time range, newest first, ``MaxResults`` (1–50,
default 50) and ``NextToken`` pagination; the caller sees only its own account's
events; authorised by ``cloudtrail:LookupEvents``. Insights events are never
recorded, so ``EventCategory=insight`` is refused (``UnsupportedOperationException``).
Every other CloudTrail operation is not declared, so the pipeline answers it with
``UnknownOperationException`` (trails, event data stores and the rest are not
Tessera's business: ship ``--audit-log`` to a log system instead)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tessera.audit.history import lookup
from tessera.audit.record import render
from tessera.errors import SenderError
from tessera.operation import OperationContext
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.store.audit import LOOKUP_KEYS

if TYPE_CHECKING:
    from tessera.protocol.inputs import LookupEventsMembers

DEFAULT_MAX_RESULTS = 50
_MAX_VALUE = 2000


class InvalidLookupAttributesException(SenderError):
    code = "InvalidLookupAttributesException"


class InvalidTimeRangeException(SenderError):
    code = "InvalidTimeRangeException"


class InvalidMaxResultsException(SenderError):
    code = "InvalidMaxResultsException"


class InvalidNextTokenException(SenderError):
    code = "InvalidNextTokenException"


class InvalidEventCategoryException(SenderError):
    code = "InvalidEventCategoryException"


class UnsupportedOperationException(SenderError):
    code = "UnsupportedOperationException"


def _attribute(params: Params[LookupEventsMembers]) -> tuple[str, str] | None:
    attributes = params.get_list("LookupAttributes") or []
    if not attributes:
        return None
    if len(attributes) > 1:
        raise InvalidLookupAttributesException(
            "You can only specify one lookup attribute in a LookupEvents request."
        )
    item: Any = attributes[0]
    key, value = item.get("AttributeKey"), item.get("AttributeValue")
    if key not in LOOKUP_KEYS or not isinstance(value, str):
        raise InvalidLookupAttributesException(f"The lookup attribute key {key} is not valid.")
    if not value or len(value) > _MAX_VALUE:
        raise InvalidLookupAttributesException("The lookup attribute value is not valid.")
    return str(key), value


def _utc(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidTimeRangeException("The time range is not valid.")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@operation("cloudtrail", "LookupEvents", action="cloudtrail:LookupEvents")
def lookup_events(ctx: OperationContext, params: Params[LookupEventsMembers]) -> dict[str, Any]:
    principal = ctx.principal
    assert principal is not None  # declared signed
    account = principal.account_id
    ctx.authorize("cloudtrail:LookupEvents", "*")
    # every member read before any is judged (none is silently ignored)
    raw_start, raw_end = params.get_datetime("StartTime"), params.get_datetime("EndTime")
    limit = params.get_int("MaxResults")
    token = params.get_str("NextToken")
    category = params.get_str("EventCategory")
    if category is not None and category != "insight":
        raise InvalidEventCategoryException(f"The event category {category} is not valid.")
    if category == "insight":
        raise UnsupportedOperationException(
            "Tessera records management events only; it has no Insights events."
        )
    attribute = _attribute(params)
    start, end = _utc(raw_start), _utc(raw_end)
    if start is not None and end is not None and start > end:
        raise InvalidTimeRangeException("Start time must be before the end time.")
    if limit is None:
        limit = DEFAULT_MAX_RESULTS
    if not 1 <= limit <= DEFAULT_MAX_RESULTS:
        raise InvalidMaxResultsException("MaxResults must be between 1 and 50.")
    try:
        rows, next_token = lookup(
            ctx.store, account, attribute=attribute, start=start, end=end, limit=limit, token=token
        )
    except ValueError as exc:
        raise InvalidNextTokenException("The NextToken is not valid.") from exc
    events = []
    for row in rows:
        event: dict[str, Any] = {
            "EventId": row.event_id,
            "EventName": row.event_name,
            "ReadOnly": "true" if row.read_only else "false",
            "EventTime": row.event_time,
            "EventSource": row.event_source,
            "Resources": [{"ResourceType": t, "ResourceName": n} for t, n in row.resources],
            "CloudTrailEvent": render(row.record_json),
        }
        if row.access_key_id:
            event["AccessKeyId"] = row.access_key_id
        if row.username:
            event["Username"] = row.username
        events.append(event)
    result: dict[str, Any] = {"Events": events}
    if next_token is not None:
        result["NextToken"] = next_token
    return result
