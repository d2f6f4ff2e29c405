"""The policy simulator's result shape, field by field against AWS's documented
examples and recorded answers, and the context-key operations."""

from __future__ import annotations

import json

import pytest
from test_service_support import ACCOUNT_A, ACCOUNT_B, TRUST, Harness, assert_error

# AWS CLI documentation, simulate-custom-policy, example 1 (the answer below is that
# example's, SourcePolicyType as AWS records it today)
DYNAMO = (
    '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*",'
    '"Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}'
)
NOW = {
    "ContextKeyName": "aws:CurrentTime",
    "ContextKeyValues": ["2019-04-25T11:00:00Z"],
    "ContextKeyType": "date",
}


@pytest.fixture
def h() -> Harness:
    return Harness.create()


def test_custom_policy_matches_awss_documented_example(h: Harness) -> None:
    out = h.call(
        "SimulateCustomPolicy",
        PolicyInputList=[DYNAMO],
        ActionNames=["dynamodb:CreateBackup"],
        ContextEntries=[NOW],
    )
    assert out == {
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
        ],
        "IsTruncated": False,
    }
    # example 2: a time before the condition's → implicitDeny, nothing matched
    early = dict(NOW, ContextKeyValues=["2014-04-25T11:00:00Z"])
    out = h.call(
        "SimulateCustomPolicy",
        PolicyInputList=[DYNAMO],
        ActionNames=["dynamodb:CreateBackup"],
        ContextEntries=[early],
    )
    assert out["EvaluationResults"] == [
        {
            "EvalActionName": "dynamodb:CreateBackup",
            "EvalResourceName": "*",
            "EvalDecision": "implicitDeny",
            "MatchedStatements": [],
            "MissingContextValues": [],
        }
    ]


def test_missing_context_values_are_spelled_as_the_policy_writes_them(h: Harness) -> None:
    (result,) = h.call(
        "SimulateCustomPolicy", PolicyInputList=[DYNAMO], ActionNames=["dynamodb:GetItem"]
    )["EvaluationResults"]
    assert result["EvalDecision"] == "implicitDeny"
    assert result["MissingContextValues"] == ["aws:CurrentTime"]


def test_resource_arns_give_resource_specific_results(h: Harness) -> None:
    """Recorded AWS answer shape: with ResourceArns, an empty EvalDecisionDetails and
    one ResourceSpecificResults entry (no MissingContextValues when none)."""
    policy = json.dumps(
        {
            "Statement": [
                {"Action": ["s3:GetObject"], "Effect": "Allow", "Resource": "arn:aws:s3:::b/*"}
            ],
            "Version": "2012-10-17",
        },
        separators=(",", ":"),
    )
    out = h.call(
        "SimulateCustomPolicy",
        PolicyInputList=[policy],
        ActionNames=["s3:GetObject"],
        ResourceArns=["arn:aws:s3:::b/k", "arn:aws:s3:::other/k"],
    )["EvaluationResults"]
    matched = {
        "SourcePolicyId": "PolicyInputList.1",
        "SourcePolicyType": "IAM Policy",
        "StartPosition": {"Line": 1, "Column": 15},
        "EndPosition": {"Line": 1, "Column": policy.index("}],") + 2},
    }
    assert out == [
        {
            "EvalActionName": "s3:GetObject",
            "EvalResourceName": "arn:aws:s3:::b/k",
            "EvalDecision": "allowed",
            "MatchedStatements": [matched],
            "MissingContextValues": [],
            "EvalDecisionDetails": {},
            "ResourceSpecificResults": [
                {
                    "EvalResourceName": "arn:aws:s3:::b/k",
                    "EvalResourceDecision": "allowed",
                    "MatchedStatements": [matched],
                }
            ],
        },
        {
            "EvalActionName": "s3:GetObject",
            "EvalResourceName": "arn:aws:s3:::other/k",
            "EvalDecision": "implicitDeny",
            "MatchedStatements": [],
            "MissingContextValues": [],
            "EvalDecisionDetails": {},
            "ResourceSpecificResults": [
                {
                    "EvalResourceName": "arn:aws:s3:::other/k",
                    "EvalResourceDecision": "implicitDeny",
                    "MatchedStatements": [],
                }
            ],
        },
    ]


def test_boundary_detail_reports_what_the_boundary_alone_decides(h: Harness) -> None:
    allow_s3 = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'
    )
    boundary = allow_s3.replace('"s3:*"', '"s3:Get*"')
    out = h.call(
        "SimulateCustomPolicy",
        PolicyInputList=[allow_s3],
        PermissionsBoundaryPolicyInputList=[boundary],
        ActionNames=["s3:GetObject", "s3:PutObject", "ec2:RunInstances"],
    )["EvaluationResults"]
    got = {
        r["EvalActionName"]: (r["EvalDecision"], r["PermissionsBoundaryDecisionDetail"])
        for r in out
    }
    assert got == {
        "s3:GetObject": ("allowed", {"AllowedByPermissionsBoundary": True}),
        "s3:PutObject": ("implicitDeny", {"AllowedByPermissionsBoundary": False}),
        # the identity policy denies first, but the boundary would not allow either
        "ec2:RunInstances": ("implicitDeny", {"AllowedByPermissionsBoundary": False}),
    }
    sources = {m["SourcePolicyId"] for m in out[0]["MatchedStatements"]}
    assert sources == {"PolicyInputList.1", "PermissionsBoundaryPolicyInputList.1"}


def test_principal_policy_sources_managed_and_inline(h: Harness) -> None:
    """#17: a managed policy is named by its name with type "IAM Policy"; an inline
    one <entity>_<name>_<policy> with the entity's type (user / group / role)."""
    doc = (
        '{\n  "Version": "2012-10-17",\n  "Statement": [\n'
        '    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}\n  ]\n}'
    )
    arn = h.call("CreatePolicy", PolicyName="reader", PolicyDocument=doc)["Policy"]["Arn"]
    h.call("CreateUser", UserName="alice")
    h.call("CreateGroup", GroupName="devs")
    h.call("AddUserToGroup", GroupName="devs", UserName="alice")
    h.call("AttachUserPolicy", UserName="alice", PolicyArn=arn)
    h.call("PutUserPolicy", UserName="alice", PolicyName="own", PolicyDocument=doc)
    h.call("PutGroupPolicy", GroupName="devs", PolicyName="team", PolicyDocument=doc)
    h.call("CreateRole", RoleName="app", AssumeRolePolicyDocument=TRUST)
    h.call("PutRolePolicy", RoleName="app", PolicyName="inline", PolicyDocument=doc)
    position = {"StartPosition": {"Line": 4, "Column": 5}, "EndPosition": {"Line": 4, "Column": 67}}
    (user,) = h.call(
        "SimulatePrincipalPolicy",
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT_A}:user/alice",
        ActionNames=["s3:GetObject"],
    )["EvaluationResults"]
    assert user["EvalDecision"] == "allowed"
    assert sorted(user["MatchedStatements"], key=lambda m: m["SourcePolicyId"]) == [
        {"SourcePolicyId": "group_devs_team", "SourcePolicyType": "group", **position},
        {"SourcePolicyId": "reader", "SourcePolicyType": "IAM Policy", **position},
        {"SourcePolicyId": "user_alice_own", "SourcePolicyType": "user", **position},
    ]
    (role,) = h.call(
        "SimulatePrincipalPolicy",
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT_A}:role/app",
        ActionNames=["s3:GetObject"],
    )["EvaluationResults"]
    assert role["MatchedStatements"] == [
        {"SourcePolicyId": "role_app_inline", "SourcePolicyType": "role", **position}
    ]


def test_cross_account_details(h: Harness) -> None:
    allow = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'
    )
    resource_policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_A}:user/SimulatedUser"},
                    "Action": "s3:GetObject",
                    "Resource": "*",
                }
            ],
        }
    )
    common = {
        "PolicyInputList": [allow],
        "ResourceArns": ["arn:aws:s3:::theirs/k"],
        "ResourceOwner": f"arn:aws:iam::{ACCOUNT_B}:root",
    }
    (denied,) = h.call("SimulateCustomPolicy", ActionNames=["s3:GetObject"], **common)[
        "EvaluationResults"
    ]
    assert denied["EvalDecision"] == "implicitDeny"
    assert denied["EvalDecisionDetails"] == {
        "IAM Policy": "allowed",
        "Resource Policy": "implicitDeny",
    }
    (allowed,) = h.call(
        "SimulateCustomPolicy",
        ActionNames=["s3:GetObject"],
        ResourcePolicy=resource_policy,
        **common,
    )["EvaluationResults"]
    assert allowed["EvalDecision"] == "allowed"
    assert allowed["EvalDecisionDetails"] == {"IAM Policy": "allowed", "Resource Policy": "allowed"}
    assert allowed["ResourceSpecificResults"][0]["EvalDecisionDetails"] == {
        "IAM Policy": "allowed",
        "Resource Policy": "allowed",
    }
    types = {m["SourcePolicyType"] for m in allowed["MatchedStatements"]}
    assert types == {"IAM Policy", "resource"}


def test_context_keys_for_custom_policy(h: Harness) -> None:
    doc = (
        '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*",'
        '"Resource":"arn:aws:dynamodb:us-west-2:123456789012:table/${aws:username}",'
        '"Condition":{"DateGreaterThan":{"aws:CurrentTime":"2015-08-16T12:00:00Z"}}}}'
    )
    out = h.call("GetContextKeysForCustomPolicy", PolicyInputList=[doc, DYNAMO])
    assert out == {"ContextKeyNames": ["aws:username", "aws:CurrentTime"]}
    err = h.error("GetContextKeysForCustomPolicy", PolicyInputList=["{not json"])
    assert_error(err, "InvalidInput", "PolicyInputList.1: Syntax errors in policy.", 400)


def test_context_keys_for_principal_policy(h: Harness) -> None:
    h.call("CreateUser", UserName="bob")
    h.call("CreateGroup", GroupName="g")
    h.call("AddUserToGroup", GroupName="g", UserName="bob")
    own = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:*",
                    "Resource": "*",
                    "Condition": {"Bool": {"aws:SecureTransport": "true"}},
                }
            ],
        }
    )
    team = own.replace('"*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}', '"x"')
    team = team.replace('"x"', '"arn:aws:s3:::t/${aws:PrincipalTag/team}"')
    h.call("PutUserPolicy", UserName="bob", PolicyName="own", PolicyDocument=own)
    h.call("PutGroupPolicy", GroupName="g", PolicyName="team", PolicyDocument=team)
    out = h.call(
        "GetContextKeysForPrincipalPolicy",
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT_A}:user/bob",
        PolicyInputList=[DYNAMO],
    )
    assert out["ContextKeyNames"] == [
        "aws:SecureTransport",
        "aws:PrincipalTag/team",
        "aws:CurrentTime",
    ]
    err = h.error(
        "GetContextKeysForPrincipalPolicy",
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT_A}:user/nobody",
    )
    assert err["Code"] == "NoSuchEntity" and err["Status"] == 404
    err = h.error(
        "GetContextKeysForPrincipalPolicy",
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT_B}:user/bob",
    )
    assert err["Code"] == "InvalidInput"
