"""AWS managed policies through the IAM operations (listing, reading, attaching,
boundaries, usage per account, refusals) and service-linked roles (create, delete,
deletion status, the service table, protection from ordinary role operations)."""

from __future__ import annotations

import pytest
from test_service_support import ACCOUNT_B, IDENTITY, TRUST, Harness, assert_error, root

from tessera.iam import aws_managed
from tessera.iam.service_linked import SERVICES, is_deletion_task_id, linked_service

RO = "arn:aws:iam::aws:policy/ReadOnlyAccess"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
SLR_POLICY = "arn:aws:iam::aws:policy/aws-service-role/AutoScalingServiceRolePolicy"


@pytest.fixture
def h() -> Harness:
    h = Harness.create()
    h.call("CreateUser", UserName="alice")
    h.call("CreateGroup", GroupName="devs")
    h.call("CreateRole", RoleName="app", AssumeRolePolicyDocument=TRUST)
    return h


# --- the service table ------------------------------------------------------------------


def test_every_service_policy_is_a_packaged_service_role_policy() -> None:
    assert len(SERVICES) >= 25
    assert len({s.principal for s in SERVICES}) == len(SERVICES)
    assert len({s.role_name.lower() for s in SERVICES}) == len(SERVICES)
    for service in SERVICES:
        policy = aws_managed.get(service.policy_arn)
        assert policy is not None, service
        assert policy.service_linked_only
        assert service.role_name.startswith("AWSServiceRoleFor")
        assert service.path == f"/aws-service-role/{service.principal}/"
    assert linked_service("nosuch.amazonaws.com") is None
    assert linked_service("autoscaling.amazonaws.com") is not None


# --- AWS managed policies ---------------------------------------------------------------


def test_get_policy_and_version(h: Harness) -> None:
    policy = h.call("GetPolicy", PolicyArn=RO)["Policy"]
    assert policy["PolicyName"] == "ReadOnlyAccess"
    assert policy["Arn"] == RO and policy["Path"] == "/"
    assert policy["AttachmentCount"] == 0 and policy["IsAttachable"]
    version_id = policy["DefaultVersionId"]
    version = h.call("GetPolicyVersion", PolicyArn=RO, VersionId=version_id)["PolicyVersion"]
    assert version["IsDefaultVersion"] and version["VersionId"] == version_id
    versions = h.call("ListPolicyVersions", PolicyArn=RO)["Versions"]
    assert [v["VersionId"] for v in versions] == [version_id]
    assert_error(
        h.error("GetPolicyVersion", PolicyArn=RO, VersionId="v1"),
        "NoSuchEntity",
        f"Policy {RO} version v1 does not exist or is not attachable.",
        404,
    )
    missing = "arn:aws:iam::aws:policy/NoSuchPolicy"
    assert_error(
        h.error("GetPolicy", PolicyArn=missing),
        "NoSuchEntity",
        f"Policy {missing} was not found.",
        404,
    )


def test_list_policies_scope_aws_pages_through_all(h: Harness) -> None:
    h.call(
        "CreatePolicy",
        PolicyName="mine",
        PolicyDocument=IDENTITY,
    )
    seen: list[str] = []
    marker = None
    while True:
        kwargs = {"Scope": "AWS", "MaxItems": 500}
        if marker:
            kwargs["Marker"] = marker
        page = h.call("ListPolicies", **kwargs)
        seen.extend(p["Arn"] for p in page["Policies"])
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert seen == [p.arn for p in aws_managed.all_policies()]
    local = h.call("ListPolicies", Scope="Local")["Policies"]
    assert [p["PolicyName"] for p in local] == ["mine"]
    every = h.call("ListPolicies", Scope="All", MaxItems=1000)
    assert every["Policies"][0]["PolicyName"] == "mine" and every["IsTruncated"]
    job = h.call("ListPolicies", Scope="AWS", PathPrefix="/job-function/")["Policies"]
    assert job and all(p["Path"] == "/job-function/" for p in job)
    root_task = h.call("ListPolicies", Scope="AWS", PathPrefix="/root-task/")["Policies"]
    assert len(root_task) == 5


def test_attach_counts_per_account_and_lists(h: Harness) -> None:
    h.call("AttachRolePolicy", RoleName="app", PolicyArn=RO)
    h.call("AttachUserPolicy", UserName="alice", PolicyArn=RO)
    h.call("AttachGroupPolicy", GroupName="devs", PolicyArn=ADMIN)
    assert h.call("GetPolicy", PolicyArn=RO)["Policy"]["AttachmentCount"] == 2
    attached = h.call("ListAttachedRolePolicies", RoleName="app")["AttachedPolicies"]
    assert attached == [{"PolicyName": "ReadOnlyAccess", "PolicyArn": RO}]
    entities = h.call("ListEntitiesForPolicy", PolicyArn=RO)
    assert [r["RoleName"] for r in entities["PolicyRoles"]] == ["app"]
    assert [u["UserName"] for u in entities["PolicyUsers"]] == ["alice"]
    only = h.call("ListPolicies", Scope="AWS", OnlyAttached=True)["Policies"]
    assert [(p["PolicyName"], p["AttachmentCount"]) for p in only] == [
        ("AdministratorAccess", 1),
        ("ReadOnlyAccess", 2),
    ]
    # another account sees its own counts, not these
    b = h.as_caller(root(ACCOUNT_B))
    assert b.call("GetPolicy", PolicyArn=RO)["Policy"]["AttachmentCount"] == 0
    assert b.call("ListPolicies", Scope="AWS", OnlyAttached=True)["Policies"] == []
    assert b.call("ListEntitiesForPolicy", PolicyArn=RO)["PolicyRoles"] == []
    # a role holding a policy cannot be deleted; detaching frees it
    assert h.error("DeleteRole", RoleName="app")["Code"] == "DeleteConflict"
    h.call("DetachRolePolicy", RoleName="app", PolicyArn=RO)
    assert h.call("GetPolicy", PolicyArn=RO)["Policy"]["AttachmentCount"] == 1
    h.call("DeleteRole", RoleName="app")


def test_boundary_with_an_aws_managed_policy(h: Harness) -> None:
    h.call("PutRolePermissionsBoundary", RoleName="app", PermissionsBoundary=RO)
    assert h.call("GetRole", RoleName="app")["Role"]["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "Policy",
        "PermissionsBoundaryArn": RO,
    }
    assert h.call("GetPolicy", PolicyArn=RO)["Policy"]["PermissionsBoundaryUsageCount"] == 1
    bounded = h.call(
        "ListPolicies", Scope="AWS", OnlyAttached=True, PolicyUsageFilter="PermissionsBoundary"
    )["Policies"]
    assert [p["Arn"] for p in bounded] == [RO]
    missing = "arn:aws:iam::aws:policy/NoSuchPolicy"
    assert (
        h.error("PutUserPermissionsBoundary", UserName="alice", PermissionsBoundary=missing)["Code"]
        == "NoSuchEntity"
    )


def test_unknown_aws_policy_is_not_attachable(h: Harness) -> None:
    missing = "arn:aws:iam::aws:policy/NoSuchPolicy"
    assert_error(
        h.error("AttachRolePolicy", RoleName="app", PolicyArn=missing),
        "NoSuchEntity",
        f"Policy {missing} does not exist or is not attachable.",
        404,
    )


@pytest.mark.parametrize(
    ("op", "param", "name", "target"),
    [
        ("AttachRolePolicy", "RoleName", "app", "Customer Role"),
        ("AttachUserPolicy", "UserName", "alice", "User"),
        ("AttachGroupPolicy", "GroupName", "devs", "Group"),
    ],
)
def test_service_role_policies_attach_only_to_service_linked_roles(
    h: Harness, op: str, param: str, name: str, target: str
) -> None:
    assert_error(
        h.error(op, PolicyArn=SLR_POLICY, **{param: name}),
        "PolicyNotAttachable",
        f"Cannot attach a Service Role Policy to a {target}.",
        400,
    )


@pytest.mark.parametrize(
    ("op", "extra"),
    [
        ("DeletePolicy", {}),
        ("CreatePolicyVersion", {"PolicyDocument": '{"Version":"2012-10-17","Statement":[]}'}),
        ("DeletePolicyVersion", {"VersionId": "v1"}),
        ("SetDefaultPolicyVersion", {"VersionId": "v1"}),
        ("TagPolicy", {"Tags": [{"Key": "k", "Value": "v"}]}),
        ("UntagPolicy", {"TagKeys": ["k"]}),
    ],
)
def test_aws_managed_policies_cannot_be_changed(
    h: Harness, op: str, extra: dict[str, object]
) -> None:
    err = h.error(op, PolicyArn=ADMIN, **extra)
    assert err["Code"] == "AccessDenied"
    assert f"is not authorized to perform: iam:{op} on resource: {ADMIN}" in err["Message"]
    assert h.call("ListPolicyTags", PolicyArn=ADMIN)["Tags"] == []
    assert h.call("GetPolicy", PolicyArn=ADMIN)["Policy"]["DefaultVersionId"] == "v1"


# --- service-linked roles ---------------------------------------------------------------


def test_create_service_linked_role(h: Harness) -> None:
    role = h.call(
        "CreateServiceLinkedRole", AWSServiceName="autoscaling.amazonaws.com", Description="d"
    )["Role"]
    assert role["RoleName"] == "AWSServiceRoleForAutoScaling"
    assert role["Path"] == "/aws-service-role/autoscaling.amazonaws.com/"
    assert role["Arn"].endswith(
        ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    )
    assert role["Description"] == "d"
    trust = role["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": ["autoscaling.amazonaws.com"]}
    attached = h.call("ListAttachedRolePolicies", RoleName=role["RoleName"])["AttachedPolicies"]
    assert attached == [{"PolicyName": "AutoScalingServiceRolePolicy", "PolicyArn": SLR_POLICY}]
    assert_error(
        h.error("CreateServiceLinkedRole", AWSServiceName="autoscaling.amazonaws.com"),
        "InvalidInput",
        "Service role name AWSServiceRoleForAutoScaling has been taken in this account, "
        "please try a different suffix.",
        400,
    )
    suffixed = h.call(
        "CreateServiceLinkedRole", AWSServiceName="autoscaling.amazonaws.com", CustomSuffix="web"
    )["Role"]
    assert suffixed["RoleName"] == "AWSServiceRoleForAutoScaling_web"


def test_create_refusals(h: Harness) -> None:
    assert_error(
        h.error("CreateServiceLinkedRole", AWSServiceName="ecs.amazonaws.com", CustomSuffix="x"),
        "InvalidInput",
        "Custom suffix is not allowed for ecs.amazonaws.com",
        400,
    )
    err = h.error("CreateServiceLinkedRole", AWSServiceName="nosuch.amazonaws.com")
    assert err["Code"] == "InvalidInput" and "nosuch.amazonaws.com" in err["Message"]
    # an ordinary role of that name takes it too
    h.call(
        "CreateRole",
        RoleName="AWSServiceRoleForECS",
        AssumeRolePolicyDocument=TRUST,
    )
    assert (
        h.error("CreateServiceLinkedRole", AWSServiceName="ecs.amazonaws.com")["Code"]
        == "InvalidInput"
    )


def test_ordinary_role_operations_refuse_service_linked_roles(h: Harness) -> None:
    name = h.call("CreateServiceLinkedRole", AWSServiceName="ecs.amazonaws.com")["Role"]["RoleName"]
    message = (
        f"Cannot perform the operation on the protected role '{name}' - "
        "this role is only modifiable by AWS"
    )
    doc = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'
    refused = [
        ("DeleteRole", {}),
        ("UpdateAssumeRolePolicy", {"PolicyDocument": TRUST}),
        ("PutRolePolicy", {"PolicyName": "p", "PolicyDocument": doc}),
        ("DeleteRolePolicy", {"PolicyName": "p"}),
        ("AttachRolePolicy", {"PolicyArn": RO}),
        (
            "DetachRolePolicy",
            {"PolicyArn": "arn:aws:iam::aws:policy/aws-service-role/AmazonECSServiceRolePolicy"},
        ),
        ("PutRolePermissionsBoundary", {"PermissionsBoundary": RO}),
        ("DeleteRolePermissionsBoundary", {}),
        ("UpdateRole", {"MaxSessionDuration": 7200}),
    ]
    for op, extra in refused:
        assert_error(h.error(op, RoleName=name, **extra), "UnmodifiableEntity", message, 400)
    # reading it and editing its description are allowed
    h.call("UpdateRoleDescription", RoleName=name, Description="new")
    assert h.call("GetRole", RoleName=name)["Role"]["Description"] == "new"


def test_delete_and_deletion_status(h: Harness) -> None:
    name = h.call("CreateServiceLinkedRole", AWSServiceName="eks.amazonaws.com")["Role"]["RoleName"]
    task_id = h.call("DeleteServiceLinkedRole", RoleName=name)["DeletionTaskId"]
    assert task_id.startswith(f"task/aws-service-role/eks.amazonaws.com/{name}/")
    assert is_deletion_task_id(task_id)
    status = h.call("GetServiceLinkedRoleDeletionStatus", DeletionTaskId=task_id)
    assert status == {"Status": "SUCCEEDED"}
    assert h.error("GetRole", RoleName=name)["Code"] == "NoSuchEntity"
    assert (
        h.call(
            "GetPolicy",
            PolicyArn="arn:aws:iam::aws:policy/aws-service-role/AmazonEKSServiceRolePolicy",
        )["Policy"]["AttachmentCount"]
        == 0
    )
    # created again after deletion
    h.call("CreateServiceLinkedRole", AWSServiceName="eks.amazonaws.com")
    # another account cannot see the task
    b = h.as_caller(root(ACCOUNT_B))
    assert (
        b.error("GetServiceLinkedRoleDeletionStatus", DeletionTaskId=task_id)["Code"]
        == "NoSuchEntity"
    )
    assert (
        h.error("GetServiceLinkedRoleDeletionStatus", DeletionTaskId="task/nope")["Code"]
        == "InvalidInput"
    )
    # an ordinary role is not service-linked
    assert h.error("DeleteServiceLinkedRole", RoleName="app")["Code"] == "NoSuchEntity"
    assert h.error("DeleteServiceLinkedRole", RoleName="ghost")["Code"] == "NoSuchEntity"
