"""The request observer (``tessera.app.observe``): an event kept for the loop turn's
group commit (``observe(…, defer=True)`` then ``record_pending``) is spooled as the
very line an event recorded at once is, for signed and unsigned calls, answers and
errors alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from tessera.app.observe import CallTrace, RequestObserver
from tessera.app.pipeline import Request
from tessera.auth.principal import Principal, PrincipalKind
from tessera.errors import AccessDenied


@dataclass
class _Clock:
    at: datetime = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


@dataclass
class _Audit:
    records: list[bytes] = field(default_factory=list)

    def record(self, line: bytes) -> None:
        self.records.append(line)


@dataclass
class _Response:
    status: int


def _request(agent: str | None) -> Request:
    headers = [("Host", "sts.example:7070"), ("Content-Type", "x")]
    if agent is not None:
        headers.append(("User-Agent", agent))
    return Request("POST", "/", "", tuple(headers), b"", "192.0.2.7", True)


def _user() -> Principal:
    return Principal(
        kind=PrincipalKind.USER,
        account_id="123456789012",
        arn="arn:aws:iam::123456789012:user/alice",
        user_id="AIDAEXAMPLEALICE0001",
        principal_arn="arn:aws:iam::123456789012:user/alice",
        name="alice",
        access_key_id="AKIAEXAMPLEALICE0001",
    )


def _traces() -> list[CallTrace]:
    signed = CallTrace(
        "req-1",
        service="iam",
        operation="CreateUser",
        principal=_user(),
        params={"UserName": "bob"},
        result={"User": {"UserName": "bob"}},
        signed=True,
        now=datetime(2026, 3, 1, 11, 59, 59, tzinfo=UTC),
    )
    denied = CallTrace(
        "req-2",
        operation="AssumeRole",
        principal=_user(),
        params={"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "s"},
        error=AccessDenied("not allowed"),
        signed=True,
    )
    unsigned = CallTrace("req-3", operation=None, region="eu-west-1")
    return [signed, denied, unsigned]


@pytest.mark.parametrize("agent", ["Boto3/1.44 test", None])
def test_a_deferred_event_is_spooled_as_the_same_line_an_immediate_one_is(
    agent: str | None,
) -> None:
    now_audit, later_audit = _Audit(), _Audit()
    now = RequestObserver(_Clock(), audit=now_audit, metrics=False)  # type: ignore[arg-type]
    later = RequestObserver(_Clock(), audit=later_audit, metrics=False)  # type: ignore[arg-type]
    for trace in _traces():
        now.observe(_request(agent), trace, _Response(200))
        later.observe(_request(agent), trace, _Response(200), defer=True)
    assert later_audit.records == [] and len(later.pending) == 3
    later.record_pending()
    assert later.pending == []
    assert len(now_audit.records) == 3
    assert later_audit.records == [b"".join(now_audit.records)]  # one write, in order
    assert b'"req-3"' in now_audit.records[2] and b'"Unknown"' in now_audit.records[2]
