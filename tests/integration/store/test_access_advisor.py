"""Access advisor storage on every engine: last-use records (the latest use wins,
an older write never overwrites a newer one, per principal and action,
case-insensitive actions) and the generated reports (kept per account, the oldest
dropped beyond the limit)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tessera.store.access_advisor import MAX_REPORTS_PER_ACCOUNT, AccessReport
from tessera.store.sql import SqlStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACCT = "111111111111"
OTHER = "222222222222"


def test_service_uses_keep_the_latest(store: SqlStore) -> None:
    store.record_service_use(ACCT, "AIDAALICE", "s3:GetObject", "us-east-1", NOW)
    store.record_service_use(ACCT, "AIDAALICE", "s3:getobject", "eu-west-1", NOW + timedelta(1))
    store.record_service_use(ACCT, "AIDAALICE", "S3:GETOBJECT", "ap-south-1", NOW)  # older
    store.record_service_use(ACCT, "AIDAALICE", "iam:ListUsers", "us-east-1", NOW)
    store.record_service_use(ACCT, "AROAROLE", "s3:PutObject", "us-east-1", NOW)
    store.record_service_use(OTHER, "AIDAOTHER", "s3:PutObject", "us-east-1", NOW)
    uses = store.service_uses(ACCT, ["AIDAALICE"])
    got = {(u.action, u.region, u.last_at, u.service) for u in uses}
    assert got == {
        ("s3:getobject", "eu-west-1", NOW + timedelta(1), "s3"),
        ("iam:ListUsers", "us-east-1", NOW, "iam"),
    }
    both = store.service_uses(ACCT, ["AIDAALICE", "AROAROLE", "AIDAOTHER"])
    assert {u.principal_id for u in both} == {"AIDAALICE", "AROAROLE"}
    assert store.service_uses(ACCT, []) == []


def test_reports_round_trip_and_are_bounded(store: SqlStore) -> None:
    def report(i: int, account: str = ACCT) -> AccessReport:
        at = NOW + timedelta(seconds=i)
        return AccessReport(account, f"job-{account}-{i:04d}", "SERVICE_LEVEL", "arn", at, at, "{}")

    store.create_access_report(report(0, OTHER))
    for i in range(MAX_REPORTS_PER_ACCOUNT + 2):
        store.create_access_report(report(i))
    assert store.get_access_report(ACCT, "job-111111111111-0000") is None  # dropped
    assert store.get_access_report(ACCT, "job-111111111111-0001") is None
    kept = store.get_access_report(ACCT, "job-111111111111-0002")
    assert kept == report(2)
    assert store.get_access_report(OTHER, "job-222222222222-0000") == report(0, OTHER)
    assert store.get_access_report(ACCT, "job-222222222222-0000") is None  # other account's
