"""Policy tooling end to end (#17), over the real server with boto3 and the AWS
CLI: the simulator's result shape against AWS's documented examples, context keys,
last-accessed reports built from the calls a user really made,
ListPoliciesGrantingServiceAccess, the refused organizations access report, and
the answers that now match AWS's (CreateRole, Attach*Policy, IAM error namespace)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.e2e.server import Creds, TesseraServer

# AWS CLI documentation, simulate-custom-policy example 1
DYNAMO = (
    '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*",'
    '"Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}'
)
IAM_NS = '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'


def _doc(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=2)


@pytest.fixture(scope="module")
def alice(server: TesseraServer) -> Creds:
    """A user with an inline policy (iam:List*, sts:*) and a managed one (s3 reads)."""
    iam = server.client("iam")
    iam.create_user(UserName="alice")
    iam.put_user_policy(
        UserName="alice",
        PolicyName="lister",
        PolicyDocument=_doc({"Effect": "Allow", "Action": ["iam:List*", "sts:*"], "Resource": "*"}),
    )
    arn = iam.create_policy(
        PolicyName="reader",
        PolicyDocument=_doc({"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}),
    )["Policy"]["Arn"]
    iam.attach_user_policy(UserName="alice", PolicyArn=arn)
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    assert server.root is not None
    return Creds(server.root.account_id, key["AccessKeyId"], key["SecretAccessKey"])


def _account(server: TesseraServer) -> str:
    assert server.root is not None
    return server.root.account_id


def test_simulate_custom_policy_cli_matches_awss_documented_example(
    server: TesseraServer,
) -> None:
    out = server.aws_cli(
        "iam",
        "simulate-custom-policy",
        "--policy-input-list",
        DYNAMO,
        "--action-names",
        "dynamodb:CreateBackup",
        "--context-entries",
        "ContextKeyName=aws:CurrentTime,ContextKeyValues=2019-04-25T11:00:00Z,ContextKeyType=date",
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "EvaluationResults": [
            {
                "EvalActionName": "dynamodb:CreateBackup",
                "EvalResourceName": "*",
                "EvalDecision": "allowed",
                "MatchedStatements": [
                    {
                        "SourcePolicyId": "PolicyInputList.1",
                        "SourcePolicyType": "IAM Policy",
                        "StartPosition": {"Line": 1, "Column": 38},
                        "EndPosition": {"Line": 1, "Column": 167},
                    }
                ],
                "MissingContextValues": [],
            }
        ]
    }
    keys = server.aws_cli(
        "iam", "get-context-keys-for-custom-policy", "--policy-input-list", DYNAMO
    )
    assert json.loads(keys.stdout) == {"ContextKeyNames": ["aws:CurrentTime"]}


def test_simulate_principal_policy_sources_and_positions(
    server: TesseraServer, alice: Creds
) -> None:
    iam = server.client("iam")
    user_arn = f"arn:aws:iam::{_account(server)}:user/alice"
    (listed, read) = iam.simulate_principal_policy(
        PolicySourceArn=user_arn,
        ActionNames=["iam:ListUsers", "s3:GetObject"],
        ResourceArns=["arn:aws:s3:::bucket/key"],
    )["EvaluationResults"]
    # the pretty-printed documents: the statement is on lines 4-12 (Action list) / 4-8
    assert listed["MatchedStatements"] == [
        {
            "SourcePolicyId": "user_alice_lister",
            "SourcePolicyType": "user",
            "StartPosition": {"Line": 4, "Column": 5},
            "EndPosition": {"Line": 11, "Column": 6},
        }
    ]
    assert read["MatchedStatements"] == [
        {
            "SourcePolicyId": "reader",
            "SourcePolicyType": "IAM Policy",
            "StartPosition": {"Line": 4, "Column": 5},
            "EndPosition": {"Line": 8, "Column": 6},
        }
    ]
    assert read["EvalDecisionDetails"] == {}
    assert read["ResourceSpecificResults"] == [
        {
            "EvalResourceName": "arn:aws:s3:::bucket/key",
            "EvalResourceDecision": "allowed",
            "MatchedStatements": read["MatchedStatements"],
        }
    ]
    keys = iam.get_context_keys_for_principal_policy(
        PolicySourceArn=user_arn, PolicyInputList=[DYNAMO]
    )
    assert keys["ContextKeyNames"] == ["aws:CurrentTime"]
    with pytest.raises(ClientError) as exc:
        iam.get_context_keys_for_custom_policy(PolicyInputList=["{"])
    assert exc.value.response["Error"]["Code"] == "InvalidInput"


def test_last_accessed_from_real_calls(server: TesseraServer, alice: Creds) -> None:
    as_alice = server.client("iam", alice)
    as_alice.list_users()
    server.client("sts", alice).get_caller_identity()
    with pytest.raises(ClientError):
        as_alice.get_user(UserName="nobody-she-may-see")  # denied: still an attempt
    iam = server.client("iam")
    user_arn = f"arn:aws:iam::{_account(server)}:user/alice"
    job = iam.generate_service_last_accessed_details(Arn=user_arn, Granularity="ACTION_LEVEL")
    out = iam.get_service_last_accessed_details(JobId=job["JobId"])
    assert out["JobStatus"] == "COMPLETED" and out["JobType"] == "ACTION_LEVEL"
    by_ns = {s["ServiceNamespace"]: s for s in out["ServicesLastAccessed"]}
    assert sorted(by_ns) == ["iam", "s3", "sts"]
    assert by_ns["iam"]["ServiceName"] == "AWS Identity and Access Management"
    assert by_ns["iam"]["LastAuthenticatedEntity"] == user_arn
    assert by_ns["iam"]["TotalAuthenticatedEntities"] == 1
    tracked = {a["ActionName"] for a in by_ns["iam"]["TrackedActionsLastAccessed"]}
    assert tracked == {"ListUsers", "GetUser"}
    assert by_ns["iam"]["LastAuthenticatedRegion"] == "us-east-1"
    assert "LastAuthenticated" not in by_ns["s3"]  # allowed, never used
    entities = iam.get_service_last_accessed_details_with_entities(
        JobId=job["JobId"], ServiceNamespace="iam"
    )["EntityDetailsList"]
    assert [(e["EntityInfo"]["Name"], e["EntityInfo"]["Type"]) for e in entities] == [
        ("alice", "USER")
    ]
    assert "LastAuthenticated" in entities[0]
    # paging through the same report with the CLI (MaxItems / Marker)
    seen: list[str] = []
    args = ["iam", "get-service-last-accessed-details", "--job-id", job["JobId"]]
    page: dict[str, Any] = {"Marker": None}
    while "Marker" in page:
        more = [] if page["Marker"] is None else ["--marker", str(page["Marker"])]
        cli = server.aws_cli(*args, "--max-items", "1", *more)
        assert cli.returncode == 0, cli.stderr
        page = json.loads(cli.stdout)
        seen += [s["ServiceNamespace"] for s in page["ServicesLastAccessed"]]
    assert seen == ["iam", "s3", "sts"]
    with pytest.raises(ClientError) as exc:
        iam.get_service_last_accessed_details(JobId="00000000-0000-4000-8000-000000000000")
    assert exc.value.response["Error"]["Code"] == "NoSuchEntity"
    with pytest.raises(ClientError) as exc:
        iam.generate_service_last_accessed_details(Arn=f"arn:aws:iam::{_account(server)}:role/none")
    assert exc.value.response["Error"]["Code"] == "NoSuchEntity"


def test_policies_granting_service_access(server: TesseraServer, alice: Creds) -> None:
    iam = server.client("iam")
    out = iam.list_policies_granting_service_access(
        Arn=f"arn:aws:iam::{_account(server)}:user/alice", ServiceNamespaces=["s3", "ec2"]
    )
    assert out["PoliciesGrantingServiceAccess"] == [
        {
            "ServiceNamespace": "s3",
            "Policies": [
                {
                    "PolicyName": "reader",
                    "PolicyType": "MANAGED",
                    "PolicyArn": f"arn:aws:iam::{_account(server)}:policy/reader",
                }
            ],
        },
        {"ServiceNamespace": "ec2", "Policies": []},
    ]
    assert out["IsTruncated"] is False


def test_organizations_access_report_is_refused(server: TesseraServer) -> None:
    iam = server.client("iam")
    with pytest.raises(ClientError) as exc:
        iam.generate_organizations_access_report(EntityPath="o-a1b2c3d4e5/r-ab12")
    err = exc.value.response["Error"]
    assert err["Code"] == "AccessDenied"
    assert err["Message"].startswith("GenerateOrganizationsAccessReport is not supported")
    with pytest.raises(ClientError) as exc:
        iam.get_organizations_access_report(JobId="00000000-0000-4000-8000-000000000000")
    assert exc.value.response["Error"]["Code"] == "AccessDenied"


def test_answers_that_match_awss(server: TesseraServer) -> None:
    iam = server.client("iam")
    trust = _doc(
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    )
    created = iam.create_role(RoleName="matches", AssumeRolePolicyDocument=trust)["Role"]
    assert "MaxSessionDuration" not in created
    assert iam.get_role(RoleName="matches")["Role"]["MaxSessionDuration"] == 3600
    with pytest.raises(ClientError) as exc:
        iam.attach_role_policy(RoleName="matches", PolicyArn="ReadOnlyAccess-not-an-arn")
    assert exc.value.response["Error"] == {
        "Type": "Sender",
        "Code": "ValidationError",
        "Message": "Invalid ARN:  Could not be parsed!",
    }
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # an IAM request's validation error, in IAM's XML namespace
    assert server.root is not None
    body = "Action=CreateUser&Version=2010-05-08&UserName=" + "u" * 200
    request = AWSRequest(
        method="POST",
        url=server.endpoint + "/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    creds = Credentials(server.root.access_key_id, server.root.secret_access_key)
    SigV4Auth(creds, "iam", "us-east-1").add_auth(request)
    resp = httpx.post(
        server.endpoint + "/", content=body, headers=dict(request.headers.items()), timeout=10
    )
    assert resp.status_code == 400
    assert resp.text.startswith(IAM_NS) and "<Code>ValidationError</Code>" in resp.text
