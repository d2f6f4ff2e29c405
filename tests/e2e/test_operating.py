"""Operating Tessera (#19), end to end over loopback: the audit trail's records
checked field by field against CloudTrail's documented AssumeRole and CreateUser
examples, the --audit-log JSON lines, LookupEvents through boto3 and the AWS CLI
(attributes, pagination, account scoping, refusals), the Prometheus scrape parsed
by prometheus_client's parser, /health and /ready, and --rate-limit seen by boto3
as a retryable Throttling error that its retries get past."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.server import Creds, TesseraServer, free_port

pytestmark = pytest.mark.e2e

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
)


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TesseraServer]:
    base: Path = tmp_path_factory.mktemp("ops")
    metrics_port = free_port()
    srv = TesseraServer(
        data_dir=base / "data",
        extra_args=(
            "--audit-log",
            str(base / "audit.jsonl"),
            "--metrics-listen",
            f"127.0.0.1:{metrics_port}",
        ),
    )
    srv.env["METRICS_PORT"] = str(metrics_port)
    srv.init()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _lookup(srv: TesseraServer, creds: Creds | None = None, **kw: Any) -> list[dict[str, Any]]:
    """LookupEvents until the expected events are stored (the writer is behind the
    answer by a few milliseconds)."""
    client = srv.client("cloudtrail", creds)
    want = kw.pop("want", 1)
    events: list[dict[str, Any]] = []
    for _ in range(100):
        events = client.lookup_events(**kw)["Events"]
        if len(events) >= want:
            return events
        time.sleep(0.05)
    return events


def test_assume_role_record_matches_cloudtrail(ops: TesseraServer) -> None:
    iam = ops.client("iam")
    iam.create_user(UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    iam.put_user_policy(
        UserName="alice",
        PolicyName="all",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    role = iam.create_role(RoleName="Deployer", AssumeRolePolicyDocument=TRUST)["Role"]
    alice = Creds(ops.root.account_id, key["AccessKeyId"], key["SecretAccessKey"])  # type: ignore[union-attr]
    answer = ops.client("sts", alice).assume_role(
        RoleArn=role["Arn"], RoleSessionName="deploy-1", DurationSeconds=900
    )
    creds = answer["Credentials"]
    [event] = _lookup(
        ops,
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "AssumeRole"}],
    )
    assert event["EventName"] == "AssumeRole"
    assert event["EventSource"] == "sts.amazonaws.com"
    assert event["ReadOnly"] == "true"
    assert event["Username"] == "alice"
    assert event["AccessKeyId"] == key["AccessKeyId"]
    assert {"ResourceType": "AWS::IAM::Role", "ResourceName": role["Arn"]} in event["Resources"]
    record = json.loads(event["CloudTrailEvent"])
    assert record["eventVersion"] == "1.11"
    assert record["userIdentity"] == {
        "type": "IAMUser",
        "principalId": iam.get_user(UserName="alice")["User"]["UserId"],
        "arn": f"arn:aws:iam::{ops.root.account_id}:user/alice",  # type: ignore[union-attr]
        "accountId": ops.root.account_id,  # type: ignore[union-attr]
        "accessKeyId": key["AccessKeyId"],
        "userName": "alice",
    }
    assert record["eventSource"] == "sts.amazonaws.com"
    assert record["eventName"] == "AssumeRole"
    assert record["awsRegion"] == "us-east-1"
    assert record["sourceIPAddress"] == "127.0.0.1"
    assert "Boto3" in record["userAgent"] or "botocore" in record["userAgent"]
    assert record["requestParameters"] == {
        "roleArn": role["Arn"],
        "roleSessionName": "deploy-1",
        "durationSeconds": 900,
    }
    response = record["responseElements"]
    assert set(response["credentials"]) == {"accessKeyId", "expiration"}
    assert response["credentials"]["accessKeyId"] == creds["AccessKeyId"]
    assert response["assumedRoleUser"] == {
        "assumedRoleId": answer["AssumedRoleUser"]["AssumedRoleId"],
        "arn": answer["AssumedRoleUser"]["Arn"],
    }
    assert record["requestID"] == answer["ResponseMetadata"]["RequestId"]
    assert record["eventID"] == event["EventId"]
    assert record["readOnly"] is True
    assert record["eventType"] == "AwsApiCall"
    assert record["managementEvent"] is True
    assert record["recipientAccountId"] == ops.root.account_id  # type: ignore[union-attr]
    assert record["eventCategory"] == "Management"
    text = event["CloudTrailEvent"]
    assert creds["SecretAccessKey"] not in text and creds["SessionToken"] not in text

    # the role session's own call: AssumedRole identity with its sessionContext
    session = Creds("", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    ops.client("sts", session).get_caller_identity()
    [call] = _lookup(
        ops,
        LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": creds["AccessKeyId"]}],
    )
    ident = json.loads(call["CloudTrailEvent"])["userIdentity"]
    assert ident["type"] == "AssumedRole"
    assert ident["arn"] == answer["AssumedRoleUser"]["Arn"]
    assert ident["principalId"] == answer["AssumedRoleUser"]["AssumedRoleId"]
    assert ident["sessionContext"]["sessionIssuer"] == {
        "type": "Role",
        "principalId": role["RoleId"],
        "arn": role["Arn"],
        "accountId": ops.root.account_id,  # type: ignore[union-attr]
        "userName": "Deployer",
    }
    assert ident["sessionContext"]["attributes"]["mfaAuthenticated"] == "false"
    assert call["Username"] == "deploy-1"


def test_create_user_record_and_denied_call(ops: TesseraServer) -> None:
    iam = ops.client("iam")
    user = iam.create_user(UserName="Richard", Path="/ops/")["User"]
    [event] = _lookup(
        ops,
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}],
        want=2,
    )[:1]
    record = json.loads(event["CloudTrailEvent"])
    assert record["eventSource"] == "iam.amazonaws.com"
    assert record["userIdentity"]["type"] == "Root"
    assert record["userIdentity"]["principalId"] == ops.root.account_id  # type: ignore[union-attr]
    assert record["requestParameters"] == {"userName": "Richard", "path": "/ops/"}
    created = record["responseElements"]["user"]
    assert created["userName"] == "Richard"
    assert created["userId"] == user["UserId"]
    assert created["arn"] == user["Arn"]
    assert created["path"] == "/ops/"
    # "Jul 19, 2014 9:25:09 PM", as CloudTrail's example shows createDate
    assert created["createDate"].endswith(("AM", "PM"))
    assert record["readOnly"] is False
    # a failed call is recorded with errorCode and errorMessage
    with pytest.raises(ClientError):
        iam.create_user(UserName="Richard")
    [failed] = _lookup(
        ops,
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}],
        want=3,
    )[:1]
    rec = json.loads(failed["CloudTrailEvent"])
    assert rec["errorCode"] == "EntityAlreadyExists"
    assert "Richard" in rec["errorMessage"]
    assert rec["responseElements"] is None


def test_lookup_pagination_scoping_and_refusals(ops: TesseraServer) -> None:
    sts = ops.client("sts")
    for _ in range(5):
        sts.get_caller_identity()
    events = _lookup(
        ops,
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GetCallerIdentity"}],
        want=5,
    )
    assert len(events) >= 5
    # a read: CloudTrail omits its result ("present in events for actions that make
    # changes"); the CreateUser record of the test above keeps its own
    assert all(json.loads(e["CloudTrailEvent"])["responseElements"] is None for e in events)
    paginator = ops.client("cloudtrail").get_paginator("lookup_events")
    pages = list(
        paginator.paginate(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GetCallerIdentity"}],
            PaginationConfig={"PageSize": 2},
        )
    )
    assert len(pages) >= 3
    ids = [e["EventId"] for p in pages for e in p["Events"]]
    assert len(ids) == len(set(ids)) >= 5
    times = [e["EventTime"] for p in pages for e in p["Events"]]
    assert times == sorted(times, reverse=True)
    # another account sees none of these events
    other = ops.create_account()
    assert not ops.client("cloudtrail", other).lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}]
    )["Events"]
    cloudtrail = ops.client("cloudtrail")
    with pytest.raises(ClientError) as err:
        cloudtrail.lookup_events(EventCategory="insight")
    assert err.value.response["Error"]["Code"] == "UnsupportedOperationException"
    with pytest.raises(ClientError) as err:
        cloudtrail.lookup_events(NextToken="not-a-token")
    assert err.value.response["Error"]["Code"] == "InvalidNextTokenException"
    with pytest.raises(ClientError) as err:
        cloudtrail.describe_trails()
    assert err.value.response["Error"]["Code"] == "UnknownOperationException"


def test_lookup_events_with_the_aws_cli(ops: TesseraServer) -> None:
    ops.client("sts").get_caller_identity()
    _lookup(ops, LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "true"}])
    out = ops.aws_cli(
        "cloudtrail",
        "lookup-events",
        "--lookup-attributes",
        "AttributeKey=EventSource,AttributeValue=sts.amazonaws.com",
        "--max-items",
        "3",
    )
    assert out.returncode == 0, out.stderr
    events = json.loads(out.stdout)["Events"]
    assert events and all(e["EventSource"] == "sts.amazonaws.com" for e in events)
    assert all(json.loads(e["CloudTrailEvent"])["eventVersion"] == "1.11" for e in events)


def test_audit_log_file_has_json_lines(ops: TesseraServer) -> None:
    ops.client("sts").get_caller_identity()
    path = ops.data_dir.parent / "audit.jsonl"
    for _ in range(100):
        lines = path.read_text().splitlines() if path.exists() else []
        if lines:
            break
        time.sleep(0.05)
    records = [json.loads(line) for line in lines]
    assert records and all(r["eventType"] == "AwsApiCall" for r in records)
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_metrics_scrape_and_health(ops: TesseraServer) -> None:
    ops.client("sts").get_caller_identity()
    port = ops.env["METRICS_PORT"]
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = families["tessera_requests"]
    assert any(
        s.labels == {"service": "sts", "action": "GetCallerIdentity", "code": "200"}
        and s.value >= 1
        for s in requests.samples
    )
    assert "tessera_request_duration_seconds" in families
    assert "tessera_signatures_verified" in families
    assert families["tessera_build_info"].samples[0].labels["version"]
    assert families["tessera_store_up"].samples[0].value == 1
    assert httpx.get(ops.endpoint + "/health", timeout=5).status_code == 200
    ready = httpx.get(ops.endpoint + "/ready", timeout=5)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {
        "accepting": True,
        "store": True,
        "migrations": True,
        "keys": True,
    }


def test_throttling_is_retried_by_boto3(tmp_path: Path) -> None:
    srv = TesseraServer(data_dir=tmp_path / "data", extra_args=("--rate-limit", "1:1"))
    srv.init()
    srv.start()
    try:
        once = srv.client("sts")
        codes = []
        for _ in range(6):
            try:
                once.get_caller_identity()
                codes.append("ok")
            except ClientError as exc:
                codes.append(exc.response["Error"]["Code"])
                assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 400
                assert exc.response["Error"]["Message"] == "Rate exceeded"
        assert "Throttling" in codes
        assert srv.root is not None
        retrying = boto3.client(
            "sts",
            endpoint_url=srv.endpoint,
            region_name="us-east-1",
            aws_access_key_id=srv.root.access_key_id,
            aws_secret_access_key=srv.root.secret_access_key,
            config=Config(retries={"mode": "standard", "max_attempts": 10}),
        )
        for _ in range(4):  # each call may be throttled; its retries get through
            answer = retrying.get_caller_identity()
            assert answer["Account"] == srv.root.account_id
        attempts = answer["ResponseMetadata"].get("RetryAttempts", 0)
        assert attempts >= 0
    finally:
        srv.stop()


def test_a_killed_server_loses_no_answered_event_and_stores_none_twice(tmp_path: Path) -> None:
    """SIGKILL after answering: the events already stored stay once, the ones only
    in the spool are stored by the next start (from the spool's mark on), and
    LookupEvents shows each call exactly once."""
    srv = TesseraServer(data_dir=tmp_path / "data")
    srv.init()
    srv.start()
    try:
        iam = srv.client("iam")
        names = [f"crash-{i}" for i in range(30)]
        for name in names[:15]:
            iam.create_user(UserName=name)
        created = {
            "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}]
        }
        assert len(_lookup(srv, **created, want=15)) == 15  # these are stored
        for name in names[15:]:
            iam.create_user(UserName=name)  # answered: in the spool, maybe not stored
        assert srv.proc is not None
        srv.proc.kill()
        srv.proc.wait()
        srv.proc = None
        assert list((tmp_path / "data" / "audit-spool").glob("*.spool"))
        srv.start()  # replays the dead process's spool
        events = _lookup(srv, **created, want=30)
        time.sleep(0.5)  # anything stored twice would show by now
        events = srv.client("cloudtrail").lookup_events(**created)["Events"]
        ids = [e["EventId"] for e in events]
        assert len(ids) == len(set(ids)) == 30
        users = [json.loads(e["CloudTrailEvent"])["requestParameters"]["userName"] for e in events]
        assert sorted(users) == sorted(names)
    finally:
        srv.stop()
