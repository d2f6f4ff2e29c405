"""AWS managed policies and service-linked roles end to end through boto3 and the
AWS CLI: a role holding ReadOnlyAccess may read but not write, a session scoped by
an AWS managed PolicyArn, ListPolicies Scope=AWS paging, AWS managed policies that
cannot be changed, and service-linked roles created, protected and deleted."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.e2e.server import Creds, TesseraServer

pytestmark = pytest.mark.e2e

RO = "arn:aws:iam::aws:policy/ReadOnlyAccess"
IAM_RO = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_read_only_access_role_reads_but_cannot_write(server: TesseraServer) -> None:
    assert server.root is not None
    acct = server.root.account_id
    iam = server.client("iam")
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    role = iam.create_role(RoleName="auditor", AssumeRolePolicyDocument=trust)["Role"]
    iam.attach_role_policy(RoleName="auditor", PolicyArn=RO)
    assert iam.get_policy(PolicyArn=RO)["Policy"]["AttachmentCount"] == 1
    attached = iam.list_attached_role_policies(RoleName="auditor")["AttachedPolicies"]
    assert attached == [{"PolicyName": "ReadOnlyAccess", "PolicyArn": RO}]

    # a user needs sts:AssumeRole; the account root may not assume roles, so a user does
    iam.create_user(UserName="caller")
    iam.put_user_policy(
        UserName="caller",
        PolicyName="assume",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName="caller")["AccessKey"]
    user = Creds(acct, key["AccessKeyId"], key["SecretAccessKey"])
    sts = server.client("sts", user)
    c = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="audit")["Credentials"]
    session = Creds(acct, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    as_auditor = server.client("iam", session)
    assert any(r["RoleName"] == "auditor" for r in as_auditor.list_roles()["Roles"])
    as_auditor.get_user(UserName="caller")
    with pytest.raises(ClientError) as exc:
        as_auditor.create_user(UserName="intruder")
    assert _code(exc) == "AccessDenied"
    assert exc.value.response["Error"]["Message"].endswith(
        "because no identity-based policy allows the iam:CreateUser action"
    )

    # a session scoped down by an AWS managed policy ARN (IAM read only)
    c = sts.assume_role(
        RoleArn=role["Arn"], RoleSessionName="scoped", PolicyArns=[{"arn": IAM_RO}]
    )["Credentials"]
    scoped = server.client(
        "iam", Creds(acct, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    )
    scoped.list_roles()
    with pytest.raises(ClientError) as exc:
        scoped.create_user(UserName="intruder")
    assert _code(exc) == "AccessDenied"

    # ReadOnlyAccess as a boundary: an AdministratorAccess user is held to reads
    iam.create_user(UserName="bounded")
    iam.attach_user_policy(
        UserName="bounded", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
    )
    iam.put_user_permissions_boundary(UserName="bounded", PermissionsBoundary=RO)
    key = iam.create_access_key(UserName="bounded")["AccessKey"]
    bounded = server.client("iam", Creds(acct, key["AccessKeyId"], key["SecretAccessKey"]))
    bounded.list_users()
    with pytest.raises(ClientError) as exc:
        bounded.create_group(GroupName="g")
    assert _code(exc) == "AccessDenied"
    entities = iam.list_entities_for_policy(PolicyArn=RO)
    assert [r["RoleName"] for r in entities["PolicyRoles"]] == ["auditor"]
    assert [u["UserName"] for u in entities["PolicyUsers"]] == ["bounded"]


def test_list_policies_scope_aws_and_refusals(server: TesseraServer) -> None:
    iam = server.client("iam")
    names: list[str] = []
    for page in iam.get_paginator("list_policies").paginate(
        Scope="AWS", PaginationConfig={"PageSize": 400}
    ):
        names.extend(p["PolicyName"] for p in page["Policies"])
    assert len(names) == 1452 and "ReadOnlyAccess" in names
    version = iam.get_policy_version(
        PolicyArn=RO, VersionId=iam.get_policy(PolicyArn=RO)["Policy"]["DefaultVersionId"]
    )["PolicyVersion"]
    assert isinstance(version["Document"], dict)  # botocore decoded the URL-encoded JSON
    assert version["Document"]["Statement"]
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=RO)
    assert _code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        iam.create_policy_version(
            PolicyArn=RO,
            PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
            '"Action":"*","Resource":"*"}]}',
        )
    assert _code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        iam.attach_user_policy(UserName="nobody", PolicyArn="arn:aws:iam::aws:policy/Nope")
    assert _code(exc) == "NoSuchEntity"
    # the AWS CLI, paging itself
    out = server.aws_cli(
        "iam", "list-policies", "--scope", "AWS", "--path-prefix", "/job-function/",
        "--output", "json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)["Policies"]
    assert listed and all(p["Path"] == "/job-function/" for p in listed)


def test_service_linked_roles(server: TesseraServer) -> None:
    iam = server.client("iam")
    role = iam.create_service_linked_role(AWSServiceName="elasticloadbalancing.amazonaws.com")[
        "Role"
    ]
    name = role["RoleName"]
    assert name == "AWSServiceRoleForElasticLoadBalancing"
    assert role["Path"] == "/aws-service-role/elasticloadbalancing.amazonaws.com/"
    assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == [
        {
            "PolicyName": "AWSElasticLoadBalancingServiceRolePolicy",
            "PolicyArn": "arn:aws:iam::aws:policy/aws-service-role/"
            "AWSElasticLoadBalancingServiceRolePolicy",
        }
    ]
    with pytest.raises(ClientError) as exc:
        iam.create_service_linked_role(AWSServiceName="elasticloadbalancing.amazonaws.com")
    assert _code(exc) == "InvalidInput"
    assert "has been taken in this account" in exc.value.response["Error"]["Message"]
    for call in (
        lambda: iam.delete_role(RoleName=name),
        lambda: iam.attach_role_policy(RoleName=name, PolicyArn=RO),
        lambda: iam.update_assume_role_policy(RoleName=name, PolicyDocument="{}"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert _code(exc) == "UnmodifiableEntity"
    with pytest.raises(ClientError) as exc:
        iam.create_service_linked_role(AWSServiceName="nothing.amazonaws.com")
    assert _code(exc) == "InvalidInput"
    task = iam.delete_service_linked_role(RoleName=name)["DeletionTaskId"]
    assert task.startswith(f"task/aws-service-role/elasticloadbalancing.amazonaws.com/{name}/")
    status = iam.get_service_linked_role_deletion_status(DeletionTaskId=task)
    assert status["Status"] == "SUCCEEDED"
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName=name)
    assert _code(exc) == "NoSuchEntity"
    # the AWS CLI
    out = server.aws_cli(
        "iam", "create-service-linked-role", "--aws-service-name", "autoscaling.amazonaws.com",
        "--custom-suffix", "web", "--output", "json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Role"]["RoleName"] == "AWSServiceRoleForAutoScaling_web"
