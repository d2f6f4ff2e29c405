"""Shared by the audit tests: the facts of one answered call, with defaults."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from tessera.audit.record import CallFacts


def call_facts(**overrides: Any) -> CallFacts:
    """A GetCallerIdentity answered now from 127.0.0.1 (a fresh request id),
    with any field replaced."""
    fields: dict[str, Any] = {
        "request_id": str(uuid.uuid4()),
        "event_time": datetime.now(UTC),
        "service": "sts",
        "operation": "GetCallerIdentity",
        "region": "us-east-1",
        "source_ip": "127.0.0.1",
        "user_agent": "test",
        "status": 200,
    }
    fields.update(overrides)
    return CallFacts(**fields)
