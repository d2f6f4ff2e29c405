"""Access advisor from what Tessera records: uses recorded where requests are
authorised (by unique id, allowed or denied), reports per user / group / role /
policy at service and action level, their paging and errors, and
ListPoliciesGrantingServiceAccess."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from test_service_support import ACCOUNT_A, START, TRUST, Harness, assert_error

USER = f"arn:aws:iam::{ACCOUNT_A}:user/alice"


def _doc(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


LIST_IAM = _doc({"Effect": "Allow", "Action": "iam:List*", "Resource": "*"})
READ_S3 = _doc({"Effect": "Allow", "Action": ["s3:Get*", "lambda:Invoke*"], "Resource": "*"})
NOT_EC2 = _doc({"Effect": "Allow", "NotAction": "ec2:*", "Resource": "*"})


@pytest.fixture
def h() -> Harness:
    h = Harness.create()
    h.call("CreateUser", UserName="alice")
    h.call("CreateUser", UserName="bob")
    h.call("PutUserPolicy", UserName="alice", PolicyName="lister", PolicyDocument=LIST_IAM)
    arn = h.call("CreatePolicy", PolicyName="reader", PolicyDocument=READ_S3)["Policy"]["Arn"]
    h.call("AttachUserPolicy", UserName="alice", PolicyArn=arn)
    h.call("CreateGroup", GroupName="team")
    h.call("AddUserToGroup", GroupName="team", UserName="alice")
    h.call("AddUserToGroup", GroupName="team", UserName="bob")
    h.call("PutGroupPolicy", GroupName="team", PolicyName="lister", PolicyDocument=LIST_IAM)
    return h


def _sec(when: datetime) -> datetime:
    """As the wire carries it: whole seconds."""
    return when.replace(microsecond=0)


def _generate(h: Harness, arn: str, granularity: str | None = None) -> str:
    extra = {} if granularity is None else {"Granularity": granularity}
    job = h.call("GenerateServiceLastAccessedDetails", Arn=arn, **extra)["JobId"]
    assert len(job) == 36
    return str(job)


def test_user_report_records_what_the_user_called(h: Harness) -> None:
    alice = h.user("alice")
    h.call("ListUsers", alice)
    h.clock.advance(120)
    h.call("ListGroups", alice)
    h.error("GetUser", alice, UserName="bob")  # denied: an attempt all the same
    job = _generate(h, USER)
    out = h.call("GetServiceLastAccessedDetails", JobId=job)
    later = START + timedelta(seconds=120)
    assert out["JobStatus"] == "COMPLETED" and out["JobType"] == "SERVICE_LEVEL"
    assert out["JobCreationDate"] == out["JobCompletionDate"] == _sec(later)
    by_ns = {s["ServiceNamespace"]: s for s in out["ServicesLastAccessed"]}
    assert sorted(by_ns) == ["iam", "lambda", "s3"]  # named by her policies
    assert by_ns["iam"] == {
        "ServiceName": "AWS Identity and Access Management",
        "ServiceNamespace": "iam",
        "LastAuthenticated": _sec(later),
        "LastAuthenticatedEntity": USER,
        "LastAuthenticatedRegion": "us-east-1",
        "TotalAuthenticatedEntities": 1,
    }
    assert by_ns["lambda"] == {
        "ServiceName": "AWS Lambda",
        "ServiceNamespace": "lambda",
        "TotalAuthenticatedEntities": 0,
    }
    assert out["IsTruncated"] is False


def test_action_level_and_paging(h: Harness) -> None:
    alice = h.user("alice")
    h.call("ListUsers", alice)
    h.call("ListGroups", alice)
    job = _generate(h, USER, "ACTION_LEVEL")
    first = h.call("GetServiceLastAccessedDetails", JobId=job, MaxItems=1)
    assert first["JobType"] == "ACTION_LEVEL" and first["IsTruncated"] is True
    (iam,) = first["ServicesLastAccessed"]
    assert [a["ActionName"] for a in iam["TrackedActionsLastAccessed"]] == [
        "ListGroups",
        "ListUsers",
    ]
    assert iam["TrackedActionsLastAccessed"][0]["LastAccessedEntity"] == USER
    rest = h.call("GetServiceLastAccessedDetails", JobId=job, Marker=first["Marker"])
    assert [s["ServiceNamespace"] for s in rest["ServicesLastAccessed"]] == ["lambda", "s3"]


def test_group_report_counts_its_members_with_entities(h: Harness) -> None:
    h.call("ListUsers", h.user("alice"))
    h.clock.advance(5)
    h.call("ListRoles", h.user("bob"))
    group_arn = f"arn:aws:iam::{ACCOUNT_A}:group/team"
    job = _generate(h, group_arn)
    (iam,) = h.call("GetServiceLastAccessedDetails", JobId=job)["ServicesLastAccessed"]
    assert iam["TotalAuthenticatedEntities"] == 2
    assert iam["LastAuthenticatedEntity"] == f"arn:aws:iam::{ACCOUNT_A}:user/bob"
    out = h.call("GetServiceLastAccessedDetailsWithEntities", JobId=job, ServiceNamespace="iam")
    infos = [(e["EntityInfo"]["Name"], e["EntityInfo"]["Type"]) for e in out["EntityDetailsList"]]
    assert infos == [("alice", "USER"), ("bob", "USER")]
    assert out["EntityDetailsList"][0]["EntityInfo"]["Arn"] == USER
    assert out["EntityDetailsList"][0]["EntityInfo"]["Path"] == "/"
    assert out["EntityDetailsList"][0]["EntityInfo"]["Id"].startswith("AIDA")
    assert out["EntityDetailsList"][0]["LastAuthenticated"] == _sec(START)
    none = h.call("GetServiceLastAccessedDetailsWithEntities", JobId=job, ServiceNamespace="ec2")
    assert none["EntityDetailsList"] == [] and none["JobStatus"] == "COMPLETED"


def test_role_and_policy_reports_and_wildcard_grants(h: Harness) -> None:
    h.call("CreateRole", RoleName="app", AssumeRolePolicyDocument=TRUST)
    h.call("PutRolePolicy", RoleName="app", PolicyName="most", PolicyDocument=NOT_EC2)
    role_arn = f"arn:aws:iam::{ACCOUNT_A}:role/app"
    job = _generate(h, role_arn)
    services = h.call("GetServiceLastAccessedDetails", JobId=job)["ServicesLastAccessed"]
    # a NotAction grant: the services Tessera serves that it allows (ec2 is taken out)
    assert [s["ServiceNamespace"] for s in services] == ["iam", "sts"]
    policy_arn = f"arn:aws:iam::{ACCOUNT_A}:policy/reader"
    job = _generate(h, policy_arn)
    services = h.call("GetServiceLastAccessedDetails", JobId=job)["ServicesLastAccessed"]
    assert [s["ServiceNamespace"] for s in services] == ["lambda", "s3"]
    out = h.call("GetServiceLastAccessedDetailsWithEntities", JobId=job, ServiceNamespace="s3")
    assert [e["EntityInfo"]["Name"] for e in out["EntityDetailsList"]] == ["alice"]


def test_report_errors(h: Harness) -> None:
    err = h.error("GenerateServiceLastAccessedDetails", Arn=f"arn:aws:iam::{ACCOUNT_A}:user/nobody")
    assert_error(err, "NoSuchEntity", "The user with name nobody cannot be found.", 404)
    err = h.error("GenerateServiceLastAccessedDetails", Arn="arn:aws:s3:::bucket-name")
    assert err["Code"] == "InvalidInput" and err["Status"] == 400
    err = h.error("GenerateServiceLastAccessedDetails", Arn="arn:aws:iam::999999999999:user/x")
    assert err["Code"] == "InvalidInput"
    missing = "00000000-0000-4000-8000-000000000000"
    err = h.error("GetServiceLastAccessedDetails", JobId=missing)
    assert_error(err, "NoSuchEntity", f"Job with id {missing} does not exist.", 404)
    err = h.error(
        "GetServiceLastAccessedDetailsWithEntities", JobId=missing, ServiceNamespace="iam"
    )
    assert err["Code"] == "NoSuchEntity"


def test_policies_granting_service_access(h: Harness) -> None:
    out = h.call(
        "ListPoliciesGrantingServiceAccess", Arn=USER, ServiceNamespaces=["iam", "s3", "ec2"]
    )
    assert out == {
        "PoliciesGrantingServiceAccess": [
            {
                "ServiceNamespace": "iam",
                "Policies": [
                    {
                        "PolicyName": "lister",
                        "PolicyType": "INLINE",
                        "EntityType": "USER",
                        "EntityName": "alice",
                    },
                    {
                        "PolicyName": "lister",
                        "PolicyType": "INLINE",
                        "EntityType": "GROUP",
                        "EntityName": "team",
                    },
                ],
            },
            {
                "ServiceNamespace": "s3",
                "Policies": [
                    {
                        "PolicyName": "reader",
                        "PolicyType": "MANAGED",
                        "PolicyArn": f"arn:aws:iam::{ACCOUNT_A}:policy/reader",
                    }
                ],
            },
            {"ServiceNamespace": "ec2", "Policies": []},
        ],
        "IsTruncated": False,
    }
    err = h.error(
        "ListPoliciesGrantingServiceAccess",
        Arn=USER,
        ServiceNamespaces=["iam"],
        Marker="bm90LWEtbWFya2Vy",
    )
    assert err["Code"] == "ValidationError"
    err = h.error(
        "ListPoliciesGrantingServiceAccess",
        Arn=f"arn:aws:iam::{ACCOUNT_A}:policy/reader",
        ServiceNamespaces=["iam"],
    )
    assert err["Code"] == "InvalidInput"


def test_use_is_recorded_at_most_once_a_minute_per_action(h: Harness) -> None:
    """Recording stays off the hot path: one bookkeeping write per principal and
    action a minute (the later uses inside the minute are not written)."""
    alice = h.user("alice")
    user_id = alice.user_id

    def last() -> datetime:
        (use,) = [u for u in h.store.service_uses(ACCOUNT_A, [user_id]) if u.service == "iam"]
        return use.last_at

    h.call("ListUsers", alice)
    h.clock.advance(30)
    h.call("ListUsers", alice)
    assert last() == START
    h.clock.advance(31)
    h.call("ListUsers", alice)
    assert last() == START + timedelta(seconds=61)
    assert h.store.service_uses(ACCOUNT_A, ["AIDANOBODY"]) == []
