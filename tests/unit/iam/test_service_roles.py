"""IAM roles: shapes (URL-encoded trust policy decoded by botocore into a dict),
duration limits, descriptions, trust-policy validation, deletion conflicts, tags."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import unquote

import pytest
from test_service_support import ACCOUNT_A, ACCOUNT_B, IDENTITY, TRUST, Harness, assert_error, root


@pytest.fixture
def h() -> Harness:
    return Harness.create()


def test_create_role_shape(h: Harness) -> None:
    out = h.call(
        "CreateRole",
        RoleName="app",
        Path="/svc/",
        AssumeRolePolicyDocument=TRUST,
        Description="the app",
        MaxSessionDuration=7200,
        Tags=[{"Key": "k", "Value": "v"}],
    )
    role = out["Role"]
    assert role["RoleId"].startswith("AROA") and len(role["RoleId"]) == 21
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT_A}:role/svc/app"
    assert role["AssumeRolePolicyDocument"] == json.loads(TRUST)
    assert role["Description"] == "the app"
    # #17: AWS's CreateRole answer has no MaxSessionDuration (GetRole/ListRoles do)
    assert "MaxSessionDuration" not in role and "RoleLastUsed" not in role
    assert role["Tags"] == [{"Key": "k", "Value": "v"}]
    assert isinstance(role["CreateDate"], datetime)
    assert h.call("GetRole", RoleName="app")["Role"]["MaxSessionDuration"] == 7200
    listed = h.call("ListRoles")["Roles"]
    assert [r["MaxSessionDuration"] for r in listed] == [7200]


def test_trust_policy_is_url_encoded_on_the_wire(h: Harness) -> None:
    h.call("CreateRole", RoleName="app", AssumeRolePolicyDocument=TRUST)
    _result, xml = h.raw("GetRole", RoleName="app")
    text = xml.decode()
    start = text.index("<AssumeRolePolicyDocument>") + len("<AssumeRolePolicyDocument>")
    encoded = text[start : text.index("</AssumeRolePolicyDocument>")]
    assert encoded.startswith("%7B%22Version%22%3A%20%222012-10-17%22")
    assert unquote(encoded) == TRUST


def test_get_role_shape(h: Harness) -> None:
    h.call("CreateRole", RoleName="app", AssumeRolePolicyDocument=TRUST)
    role = h.call("GetRole", RoleName="APP")["Role"]
    assert role["RoleName"] == "app"
    assert role["MaxSessionDuration"] == 3600
    assert role["RoleLastUsed"] == {}
    assert "Description" not in role and "Tags" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Action"] == "sts:AssumeRole"


def test_role_last_used(h: Harness) -> None:
    h.call("CreateRole", RoleName="app", AssumeRolePolicyDocument=TRUST)
    h.store.update_role(ACCOUNT_A, "app", last_used_at=h.clock.now(), last_used_region="eu-west-1")
    used = h.call("GetRole", RoleName="app")["Role"]["RoleLastUsed"]
    assert used["Region"] == "eu-west-1" and isinstance(used["LastUsedDate"], datetime)


def test_role_errors(h: Harness) -> None:
    assert_error(
        h.error("GetRole", RoleName="ghost"),
        "NoSuchEntity",
        "The role with name ghost cannot be found.",
        404,
    )
    h.call("CreateRole", RoleName="app", AssumeRolePolicyDocument=TRUST)
    assert_error(
        h.error("CreateRole", RoleName="APP", AssumeRolePolicyDocument=TRUST),
        "EntityAlreadyExists",
        "Role with name APP already exists.",
        409,
    )
    assert_error(
        h.error("CreateRole", RoleName="bad", AssumeRolePolicyDocument="{not json"),
        "MalformedPolicyDocument",
        "This policy contains invalid Json",
        400,
    )
    err = h.error("CreateRole", RoleName="x", AssumeRolePolicyDocument=TRUST, MaxSessionDuration=60)
    assert err["Code"] == "ValidationError" and "maxSessionDuration" in err["Message"]
    err = h.error(
        "CreateRole", RoleName="x", AssumeRolePolicyDocument=TRUST, MaxSessionDuration=43201
    )
    assert err["Code"] == "ValidationError"
    big = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_A}:user/{'u' * 60}{i}"},
                    "Action": "sts:AssumeRole",
                }
                for i in range(40)
            ],
        }
    )
    assert_error(
        h.error("CreateRole", RoleName="big", AssumeRolePolicyDocument=big),
        "LimitExceeded",
        "Cannot exceed quota for ACLSizePerRole: 2048",
        409,
    )
    assert h.store.get_role(ACCOUNT_A, "bad") is None


def test_list_roles_omits_tags_and_last_used(h: Harness) -> None:
    for name in ["c", "a", "b"]:
        h.call(
            "CreateRole",
            RoleName=name,
            AssumeRolePolicyDocument=TRUST,
            Tags=[{"Key": "k", "Value": "v"}],
        )
    page = h.call("ListRoles", MaxItems=2)
    assert [r["RoleName"] for r in page["Roles"]] == ["a", "b"]
    assert page["IsTruncated"] is True
    assert all("Tags" not in r and "RoleLastUsed" not in r for r in page["Roles"])
    assert page["Roles"][0]["AssumeRolePolicyDocument"] == json.loads(TRUST)
    rest = h.call("ListRoles", Marker=page["Marker"])
    assert [r["RoleName"] for r in rest["Roles"]] == ["c"]


def test_update_role_and_description(h: Harness) -> None:
    h.call("CreateRole", RoleName="app", AssumeRolePolicyDocument=TRUST)
    assert h.call("UpdateRole", RoleName="app", Description="d1", MaxSessionDuration=43200) == {}
    role = h.call("GetRole", RoleName="app")["Role"]
    assert (role["Description"], role["MaxSessionDuration"]) == ("d1", 43200)
    out = h.call("UpdateRoleDescription", RoleName="app", Description="d2")
    assert out["Role"]["Description"] == "d2"
    assert h.error("UpdateRole", RoleName="ghost")["Code"] == "NoSuchEntity"


def test_update_assume_role_policy(h: Harness) -> None:
    h.call("CreateRole", RoleName="app", AssumeRolePolicyDocument=TRUST)
    new = TRUST.replace("ec2.amazonaws.com", "lambda.amazonaws.com")
    h.call("UpdateAssumeRolePolicy", RoleName="app", PolicyDocument=new)
    doc = h.call("GetRole", RoleName="app")["Role"]["AssumeRolePolicyDocument"]
    assert doc["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert_error(
        h.error("UpdateAssumeRolePolicy", RoleName="app", PolicyDocument="[1,"),
        "MalformedPolicyDocument",
        "This policy contains invalid Json",
        400,
    )


def test_trust_policy_grammar_is_checked(h: Harness) -> None:
    err = h.error("CreateRole", RoleName="x", AssumeRolePolicyDocument=IDENTITY)
    assert err["Code"] == "MalformedPolicyDocument"


def test_delete_role_conflicts(h: Harness) -> None:
    h.call("CreateRole", RoleName="app", AssumeRolePolicyDocument=TRUST)
    arn = h.call("CreatePolicy", PolicyName="m", PolicyDocument=IDENTITY)["Policy"]["Arn"]
    h.call("AttachRolePolicy", RoleName="app", PolicyArn=arn)
    h.call("PutRolePolicy", RoleName="app", PolicyName="p", PolicyDocument=IDENTITY)
    assert_error(
        h.error("DeleteRole", RoleName="app"),
        "DeleteConflict",
        "Cannot delete entity, must detach all policies first.",
        409,
    )
    h.call("DetachRolePolicy", RoleName="app", PolicyArn=arn)
    assert_error(
        h.error("DeleteRole", RoleName="app"),
        "DeleteConflict",
        "Cannot delete entity, must delete policies first.",
        409,
    )
    h.call("DeleteRolePolicy", RoleName="app", PolicyName="p")
    h.call("DeleteRole", RoleName="app")
    assert h.error("GetRole", RoleName="app")["Code"] == "NoSuchEntity"


def test_role_tags(h: Harness) -> None:
    h.call("CreateRole", RoleName="app", AssumeRolePolicyDocument=TRUST)
    h.call("TagRole", RoleName="app", Tags=[{"Key": "Env", "Value": "dev"}])
    h.call("TagRole", RoleName="APP", Tags=[{"Key": "env", "Value": "prod"}])
    assert h.call("ListRoleTags", RoleName="app")["Tags"] == [{"Key": "env", "Value": "prod"}]
    assert h.call("GetRole", RoleName="app")["Role"]["Tags"] == [{"Key": "env", "Value": "prod"}]
    h.call("UntagRole", RoleName="app", TagKeys=["ENV"])
    assert h.call("ListRoleTags", RoleName="app")["Tags"] == []
    err = h.error(
        "TagRole", RoleName="app", Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    )
    assert err["Code"] == "ValidationError"  # over the per-request model limit
    h.call("TagRole", RoleName="app", Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert_error(
        h.error("TagRole", RoleName="app", Tags=[{"Key": "one-more", "Value": "v"}]),
        "LimitExceeded",
        "Cannot exceed quota for TagsPerRole: 50",
        409,
    )


def test_role_isolation(h: Harness) -> None:
    h.call("CreateRole", RoleName="app", AssumeRolePolicyDocument=TRUST)
    b = h.as_caller(root(ACCOUNT_B))
    assert b.error("GetRole", RoleName="app")["Code"] == "NoSuchEntity"
    assert b.call("ListRoles")["Roles"] == []
    b.call("CreateRole", RoleName="app", AssumeRolePolicyDocument=TRUST)
