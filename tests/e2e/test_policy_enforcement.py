"""Issue 3 end to end: IAM users limited by real policies through boto3 —
identity policies (inline, managed, group), explicit denies, conditions,
permissions boundaries, cross-account isolation, and the Simulate APIs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.server import Creds, TesseraServer

pytestmark = pytest.mark.e2e


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _user(server: TesseraServer, name: str, *policies: str) -> Creds:
    assert server.root is not None
    iam = server.client("iam")
    iam.create_user(UserName=name)
    for i, doc in enumerate(policies):
        iam.put_user_policy(UserName=name, PolicyName=f"p{i}", PolicyDocument=doc)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Creds(server.root.account_id, key["AccessKeyId"], key["SecretAccessKey"])


def _denied(exc: pytest.ExceptionInfo[ClientError]) -> str:
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    return str(exc.value.response["Error"]["Message"])


def test_inline_allow_and_explicit_deny(server: TesseraServer) -> None:
    acct = server.root.account_id if server.root else ""
    creds = _user(
        server,
        "reader",
        _doc({"Effect": "Allow", "Action": ["iam:List*", "iam:Get*"], "Resource": "*"}),
        _doc({"Effect": "Deny", "Action": "iam:GetRole", "Resource": "*"}),
    )
    iam = server.client("iam", creds)
    assert any(u["UserName"] == "reader" for u in iam.list_users()["Users"])
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName="anything")
    assert _denied(exc) == (
        f"User: arn:aws:iam::{acct}:user/reader is not authorized to perform: iam:GetRole on "
        f"resource: arn:aws:iam::{acct}:role/anything"
        " with an explicit deny in an identity-based policy"
    )
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName="x")
    assert _denied(exc).endswith(
        "because no identity-based policy allows the iam:CreateUser action"
    )


def test_managed_policy_via_group_and_resource_scoping(server: TesseraServer) -> None:
    acct = server.root.account_id if server.root else ""
    root_iam = server.client("iam")
    arn = root_iam.create_policy(
        PolicyName="create-team-users",
        PolicyDocument=_doc(
            {
                "Effect": "Allow",
                "Action": "iam:CreateUser",
                "Resource": f"arn:aws:iam::{acct}:user/team/*",
            }
        ),
    )["Policy"]["Arn"]
    root_iam.create_group(GroupName="admins")
    root_iam.attach_group_policy(GroupName="admins", PolicyArn=arn)
    creds = _user(server, "lead")
    root_iam.add_user_to_group(GroupName="admins", UserName="lead")
    iam = server.client("iam", creds)
    iam.create_user(UserName="newbie", Path="/team/")
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName="outsider", Path="/other/")
    _denied(exc)
    root_iam.remove_user_from_group(GroupName="admins", UserName="lead")
    with pytest.raises(ClientError):
        iam.create_user(UserName="newbie2", Path="/team/")


def test_conditions_and_policy_variables(server: TesseraServer) -> None:
    acct = server.root.account_id if server.root else ""
    creds = _user(
        server,
        "selfserve",
        _doc(
            {
                "Effect": "Allow",
                "Action": "iam:ListAccessKeys",
                "Resource": f"arn:aws:iam::{acct}:user/${{aws:username}}",
            },
            {
                "Effect": "Allow",
                "Action": "iam:ListRoles",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
            },
        ),
    )
    server.client("iam", creds).list_access_keys(UserName="selfserve")
    with pytest.raises(ClientError):
        server.client("iam", creds).list_access_keys(UserName="reader")
    server.client("iam", creds, region="eu-west-1").list_roles()
    with pytest.raises(ClientError):
        server.client("iam", creds, region="us-east-1").list_roles()


def test_permissions_boundary_intersects(server: TesseraServer) -> None:
    root_iam = server.client("iam")
    boundary = root_iam.create_policy(
        PolicyName="boundary-list-only",
        PolicyDocument=_doc({"Effect": "Allow", "Action": "iam:List*", "Resource": "*"}),
    )["Policy"]["Arn"]
    creds = _user(server, "bounded", _doc({"Effect": "Allow", "Action": "iam:*", "Resource": "*"}))
    iam = server.client("iam", creds)
    iam.get_user(UserName="bounded")
    root_iam.put_user_permissions_boundary(UserName="bounded", PermissionsBoundary=boundary)
    iam.list_users()
    with pytest.raises(ClientError) as exc:
        iam.get_user(UserName="bounded")
    assert _denied(exc).endswith("because no permissions boundary allows the iam:GetUser action")
    root_iam.delete_user_permissions_boundary(UserName="bounded")
    iam.get_user(UserName="bounded")


def test_cross_account_is_denied(server: TesseraServer) -> None:
    other = server.create_account()
    other_iam = server.client("iam", other)
    # the other account's root sees only its own users
    assert all(u["UserName"] != "reader" for u in other_iam.list_users()["Users"])
    with pytest.raises(ClientError) as exc:
        other_iam.get_user(UserName="reader")
    assert exc.value.response["Error"]["Code"] == "NoSuchEntity"


def test_simulate_custom_policy_any_action(server: TesseraServer) -> None:
    iam = server.client("iam")
    policy = _doc(
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::bucket/alice/*"},
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}},
        },
    )
    out = iam.simulate_custom_policy(
        PolicyInputList=[policy],
        ActionNames=["s3:PutObject", "s3:GetObject"],
        ResourceArns=["arn:aws:s3:::bucket/alice/a.txt", "arn:aws:s3:::bucket/bob/b.txt"],
    )["EvaluationResults"]
    decisions = {(r["EvalActionName"], r["EvalResourceName"]): r["EvalDecision"] for r in out}
    assert decisions[("s3:PutObject", "arn:aws:s3:::bucket/alice/a.txt")] == "allowed"
    assert decisions[("s3:PutObject", "arn:aws:s3:::bucket/bob/b.txt")] == "implicitDeny"
    get = next(r for r in out if r["EvalActionName"] == "s3:GetObject")
    assert get["EvalDecision"] == "implicitDeny"
    assert "aws:principaltag/team" in [v.lower() for v in get["MissingContextValues"]]
    out2 = iam.simulate_custom_policy(
        PolicyInputList=[policy],
        ActionNames=["s3:GetObject"],
        ContextEntries=[
            {
                "ContextKeyName": "aws:PrincipalTag/team",
                "ContextKeyValues": ["blue"],
                "ContextKeyType": "string",
            }
        ],
    )["EvaluationResults"]
    assert out2[0]["EvalDecision"] == "allowed"
    assert out2[0]["MatchedStatements"][0]["SourcePolicyId"] == "PolicyInputList.1"


def test_simulate_principal_policy(server: TesseraServer) -> None:
    acct = server.root.account_id if server.root else ""
    iam = server.client("iam")
    out = iam.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{acct}:user/reader",
        ActionNames=["iam:ListUsers", "iam:GetRole", "iam:CreateUser"],
    )["EvaluationResults"]
    decisions = {r["EvalActionName"]: r["EvalDecision"] for r in out}
    assert decisions == {
        "iam:ListUsers": "allowed",
        "iam:GetRole": "explicitDeny",
        "iam:CreateUser": "implicitDeny",
    }
    with pytest.raises(ClientError) as exc:
        iam.simulate_principal_policy(
            PolicySourceArn=f"arn:aws:iam::{acct}:user/nobody", ActionNames=["iam:ListUsers"]
        )
    assert exc.value.response["Error"]["Code"] == "NoSuchEntity"


def test_denials_carry_an_encoded_message_only_permitted_callers_decode(
    server: TesseraServer,
) -> None:
    acct = server.root.account_id if server.root else ""
    creds = _user(
        server,
        "denied-dev",
        _doc({"Sid": "ReadOnly", "Effect": "Allow", "Action": "iam:Get*", "Resource": "*"}),
        _doc({"Sid": "NoRoles", "Effect": "Deny", "Action": "iam:GetRole", "Resource": "*"}),
    )
    with pytest.raises(ClientError) as exc:
        server.client("iam", creds).get_role(RoleName="secret-role")
    _denied(exc)
    encoded = exc.value.response["Error"]["EncodedAuthorizationMessage"]

    # the denied user may not decode it: it has no sts:DecodeAuthorizationMessage
    sts = server.client("sts", creds)
    with pytest.raises(ClientError) as exc2:
        sts.decode_authorization_message(EncodedMessage=encoded)
    assert _denied(exc2).endswith(
        "because no identity-based policy allows the sts:DecodeAuthorizationMessage action"
    )

    # an operator with the permission reads the decision
    ops = _user(
        server,
        "auditor",
        _doc({"Effect": "Allow", "Action": "sts:DecodeAuthorizationMessage", "Resource": "*"}),
    )
    decoded = server.client("sts", ops).decode_authorization_message(EncodedMessage=encoded)
    doc = json.loads(decoded["DecodedMessage"])
    assert doc["allowed"] is False and doc["explicitDeny"] is True
    assert doc["context"]["action"] == "iam:GetRole"
    assert doc["context"]["resource"] == f"arn:aws:iam::{acct}:role/secret-role"
    assert doc["context"]["principal"]["arn"] == f"arn:aws:iam::{acct}:user/denied-dev"
    assert [s["statementId"] for s in doc["matchedStatements"]["items"]] == ["NoRoles"]

    # garbage and messages of another account are InvalidAuthorizationMessageException
    root_sts = server.client("sts")
    with pytest.raises(ClientError) as exc3:
        root_sts.decode_authorization_message(EncodedMessage="bm90LWEtbWVzc2FnZQ")
    assert exc3.value.response["Error"]["Code"] == "InvalidAuthorizationMessageException"
    assert exc3.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    other = server.create_account()
    with pytest.raises(ClientError) as exc4:
        server.client("sts", other).decode_authorization_message(EncodedMessage=encoded)
    assert exc4.value.response["Error"]["Code"] == "InvalidAuthorizationMessageException"


def test_policy_arn_condition_limits_which_policies_may_be_attached(
    server: TesseraServer,
) -> None:
    acct = server.root.account_id if server.root else ""
    root_iam = server.client("iam")
    root_iam.create_role(
        RoleName="attach-target",
        AssumeRolePolicyDocument=_doc(
            {"Effect": "Allow", "Principal": {"AWS": acct}, "Action": "sts:AssumeRole"}
        ),
    )
    allowed, other = (
        root_iam.create_policy(
            PolicyName=name,
            PolicyDocument=_doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
        )["Policy"]["Arn"]
        for name in ("attachable-ok", "attachable-no")
    )
    creds = _user(
        server,
        "attacher",
        _doc(
            {
                "Effect": "Allow",
                "Action": ["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
                "Resource": "*",
                "Condition": {"ArnEquals": {"iam:PolicyARN": allowed}},
            }
        ),
    )
    iam = server.client("iam", creds)
    iam.attach_role_policy(RoleName="attach-target", PolicyArn=allowed)
    with pytest.raises(ClientError) as exc:
        iam.attach_role_policy(RoleName="attach-target", PolicyArn=other)
    assert _denied(exc).endswith(
        "because no identity-based policy allows the iam:AttachRolePolicy action"
    )
    root_iam.attach_role_policy(RoleName="attach-target", PolicyArn=other)
    with pytest.raises(ClientError) as exc:
        iam.detach_role_policy(RoleName="attach-target", PolicyArn=other)
    _denied(exc)
    iam.detach_role_policy(RoleName="attach-target", PolicyArn=allowed)
