"""IAM users, groups, group membership, user tags and access keys, through the real
decode → handler → render → botocore-parse path."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from test_service_support import (
    ACCOUNT_A,
    ACCOUNT_B,
    IDENTITY,
    AllowAll,
    Harness,
    assert_error,
    role_session,
    root,
    user_principal,
)

from tessera.iam.ops_users import get_access_key_last_used


@pytest.fixture
def h() -> Harness:
    return Harness.create()


# --- users ------------------------------------------------------------------------------


def test_create_user_shape(h: Harness) -> None:
    out = h.call(
        "CreateUser",
        UserName="alice",
        Path="/eng/",
        Tags=[{"Key": "team", "Value": "blue"}],
    )
    user = out["User"]
    assert user["UserName"] == "alice"
    assert user["Path"] == "/eng/"
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT_A}:user/eng/alice"
    assert user["UserId"].startswith("AIDA") and len(user["UserId"]) == 21
    assert isinstance(user["CreateDate"], datetime)
    assert user["CreateDate"].microsecond == 0
    assert user["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert "PermissionsBoundary" not in user


def test_create_user_duplicate_is_case_insensitive(h: Harness) -> None:
    h.call("CreateUser", UserName="alice")
    err = h.error("CreateUser", UserName="ALICE")
    assert_error(err, "EntityAlreadyExists", "User with name ALICE already exists.", 409)


def test_get_user_by_name_case_insensitive(h: Harness) -> None:
    h.call("CreateUser", UserName="Alice")
    out = h.call("GetUser", UserName="alice")
    assert out["User"]["UserName"] == "Alice"


def test_get_user_missing(h: Harness) -> None:
    err = h.error("GetUser", UserName="bob")
    assert_error(err, "NoSuchEntity", "The user with name bob cannot be found.", 404)


def test_get_user_root_caller(h: Harness) -> None:
    out = h.call("GetUser")
    user = out["User"]
    assert user["UserId"] == ACCOUNT_A
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT_A}:root"
    assert "UserName" not in user and "Path" not in user
    assert isinstance(user["CreateDate"], datetime)


def test_get_user_self_for_iam_user() -> None:
    h = Harness.create(AllowAll())
    h.call("CreateUser", UserName="alice")
    out = h.call("GetUser", h.user("alice"))
    assert out["User"]["UserName"] == "alice"


def test_get_user_without_name_from_role_session() -> None:
    h = Harness.create(AllowAll())
    err = h.error("GetUser", role_session(ACCOUNT_A))
    assert_error(
        err,
        "ValidationError",
        "Must specify userName when calling with non-User credentials",
        400,
    )


def test_create_user_with_boundary(h: Harness) -> None:
    arn = h.call("CreatePolicy", PolicyName="b", PolicyDocument=IDENTITY)["Policy"]["Arn"]
    out = h.call("CreateUser", UserName="alice", PermissionsBoundary=arn)
    assert out["User"]["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "Policy",
        "PermissionsBoundaryArn": arn,
    }
    assert h.call("GetUser", UserName="alice")["User"]["PermissionsBoundary"][
        "PermissionsBoundaryArn"
    ] == (arn)


def test_create_user_with_unknown_boundary(h: Harness) -> None:
    arn = f"arn:aws:iam::{ACCOUNT_A}:policy/nope"
    err = h.error("CreateUser", UserName="alice", PermissionsBoundary=arn)
    assert_error(err, "NoSuchEntity", f"Scope ARN: {arn} does not exist or is not attachable.", 404)
    assert h.store.get_user(ACCOUNT_A, "alice") is None


def test_list_users_pagination_and_prefix(h: Harness) -> None:
    for name in ["carol", "alice", "bob", "dave"]:
        h.call("CreateUser", UserName=name, Path="/eng/" if name != "dave" else "/ops/")
    first = h.call("ListUsers", MaxItems=2)
    assert [u["UserName"] for u in first["Users"]] == ["alice", "bob"]
    assert first["IsTruncated"] is True
    second = h.call("ListUsers", MaxItems=2, Marker=first["Marker"])
    assert [u["UserName"] for u in second["Users"]] == ["carol", "dave"]
    assert second["IsTruncated"] is False and "Marker" not in second
    eng = h.call("ListUsers", PathPrefix="/eng/")
    assert [u["UserName"] for u in eng["Users"]] == ["alice", "bob", "carol"]
    assert all("Tags" not in u for u in eng["Users"])


def test_list_users_bad_marker(h: Harness) -> None:
    err = h.error("ListUsers", Marker="!!!not-base64")
    assert err["Code"] == "ValidationError"


def test_update_user_rename_carries_keys_policies_groups_tags(h: Harness) -> None:
    h.call("CreateUser", UserName="alice", Tags=[{"Key": "k", "Value": "v"}])
    key = h.call("CreateAccessKey", UserName="alice")["AccessKey"]
    h.call("PutUserPolicy", UserName="alice", PolicyName="p", PolicyDocument=IDENTITY)
    arn = h.call("CreatePolicy", PolicyName="m", PolicyDocument=IDENTITY)["Policy"]["Arn"]
    h.call("AttachUserPolicy", UserName="alice", PolicyArn=arn)
    h.call("CreateGroup", GroupName="devs")
    h.call("AddUserToGroup", GroupName="devs", UserName="alice")

    h.call("UpdateUser", UserName="alice", NewUserName="alicia", NewPath="/new/")

    assert h.error("GetUser", UserName="alice")["Code"] == "NoSuchEntity"
    user = h.call("GetUser", UserName="alicia")["User"]
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT_A}:user/new/alicia"
    assert user["Tags"] == [{"Key": "k", "Value": "v"}]
    keys = h.call("ListAccessKeys", UserName="alicia")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [key["AccessKeyId"]]
    assert keys[0]["UserName"] == "alicia"
    assert h.call("ListUserPolicies", UserName="alicia")["PolicyNames"] == ["p"]
    attached = h.call("ListAttachedUserPolicies", UserName="alicia")["AttachedPolicies"]
    assert attached == [{"PolicyName": "m", "PolicyArn": arn}]
    groups = h.call("ListGroupsForUser", UserName="alicia")["Groups"]
    assert [g["GroupName"] for g in groups] == ["devs"]


def test_update_user_errors(h: Harness) -> None:
    h.call("CreateUser", UserName="alice")
    h.call("CreateUser", UserName="bob")
    assert_error(
        h.error("UpdateUser", UserName="alice", NewUserName="BOB"),
        "EntityAlreadyExists",
        "User with name BOB already exists.",
        409,
    )
    assert_error(
        h.error("UpdateUser", UserName="zed", NewUserName="x"),
        "NoSuchEntity",
        "The user with name zed cannot be found.",
        404,
    )
    h.call("UpdateUser", UserName="alice", NewUserName="ALICE")  # case change only
    assert h.call("GetUser", UserName="alice")["User"]["UserName"] == "ALICE"


def test_delete_user_conflicts_in_order(h: Harness) -> None:
    h.call("CreateUser", UserName="alice")
    key = h.call("CreateAccessKey", UserName="alice")["AccessKey"]["AccessKeyId"]
    h.call("PutUserPolicy", UserName="alice", PolicyName="p", PolicyDocument=IDENTITY)
    arn = h.call("CreatePolicy", PolicyName="m", PolicyDocument=IDENTITY)["Policy"]["Arn"]
    h.call("AttachUserPolicy", UserName="alice", PolicyArn=arn)
    h.call("CreateGroup", GroupName="devs")
    h.call("AddUserToGroup", GroupName="devs", UserName="alice")

    def conflict() -> str:
        err = h.error("DeleteUser", UserName="alice")
        assert (err["Code"], err["Status"]) == ("DeleteConflict", 409)
        return str(err["Message"])

    assert conflict() == "Cannot delete entity, must delete access keys first."
    h.call("DeleteAccessKey", UserName="alice", AccessKeyId=key)
    assert conflict() == "Cannot delete entity, must delete policies first."
    h.call("DeleteUserPolicy", UserName="alice", PolicyName="p")
    assert conflict() == "Cannot delete entity, must detach all policies first."
    h.call("DetachUserPolicy", UserName="alice", PolicyArn=arn)
    assert conflict() == "Cannot delete entity, must remove users from group first."
    h.call("RemoveUserFromGroup", GroupName="devs", UserName="alice")
    h.call("DeleteUser", UserName="alice")
    assert h.error("GetUser", UserName="alice")["Code"] == "NoSuchEntity"
    assert h.error("DeleteUser", UserName="alice")["Code"] == "NoSuchEntity"


def test_delete_user_removes_tags(h: Harness) -> None:
    h.call("CreateUser", UserName="alice", Tags=[{"Key": "k", "Value": "v"}])
    h.call("DeleteUser", UserName="alice")
    h.call("CreateUser", UserName="alice")
    assert h.call("ListUserTags", UserName="alice")["Tags"] == []


# --- tags -------------------------------------------------------------------------------


def test_user_tags_case_insensitive_keys(h: Harness) -> None:
    h.call("CreateUser", UserName="alice", Tags=[{"Key": "Team", "Value": "a"}])
    h.call("TagUser", UserName="alice", Tags=[{"Key": "team", "Value": "b"}])
    h.call("TagUser", UserName="alice", Tags=[{"Key": "env", "Value": "prod"}])
    tags = h.call("ListUserTags", UserName="alice")
    assert tags["Tags"] == [{"Key": "team", "Value": "b"}, {"Key": "env", "Value": "prod"}]
    assert tags["IsTruncated"] is False
    h.call("UntagUser", UserName="alice", TagKeys=["TEAM"])
    assert h.call("ListUserTags", UserName="alice")["Tags"] == [{"Key": "env", "Value": "prod"}]


def test_duplicate_tag_keys_rejected(h: Harness) -> None:
    err = h.error(
        "CreateUser",
        UserName="alice",
        Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}],
    )
    assert_error(
        err,
        "InvalidInput",
        "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
        400,
    )


def test_tag_quota(h: Harness) -> None:
    h.call("CreateUser", UserName="alice", Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(45)])
    h.call("TagUser", UserName="alice", Tags=[{"Key": f"K{i}", "Value": "w"} for i in range(45)])
    err = h.error(
        "TagUser", UserName="alice", Tags=[{"Key": f"n{i}", "Value": "v"} for i in range(6)]
    )
    assert_error(err, "LimitExceeded", "Cannot exceed quota for TagsPerUser: 50", 409)
    h.call("TagUser", UserName="alice", Tags=[{"Key": f"n{i}", "Value": "v"} for i in range(5)])


def test_list_user_tags_pagination(h: Harness) -> None:
    h.call("CreateUser", UserName="alice", Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(5)])
    page = h.call("ListUserTags", UserName="alice", MaxItems=3)
    assert [t["Key"] for t in page["Tags"]] == ["k0", "k1", "k2"]
    rest = h.call("ListUserTags", UserName="alice", MaxItems=3, Marker=page["Marker"])
    assert [t["Key"] for t in rest["Tags"]] == ["k3", "k4"]
    assert rest["IsTruncated"] is False


def test_tag_missing_user(h: Harness) -> None:
    err = h.error("TagUser", UserName="nobody", Tags=[{"Key": "a", "Value": "b"}])
    assert_error(err, "NoSuchEntity", "The user with name nobody cannot be found.", 404)


# --- groups -----------------------------------------------------------------------------


def test_group_lifecycle(h: Harness) -> None:
    group = h.call("CreateGroup", GroupName="devs", Path="/eng/")["Group"]
    assert group["GroupId"].startswith("AGPA") and len(group["GroupId"]) == 21
    assert group["Arn"] == f"arn:aws:iam::{ACCOUNT_A}:group/eng/devs"
    assert_error(
        h.error("CreateGroup", GroupName="DEVS"),
        "EntityAlreadyExists",
        "Group with name DEVS already exists.",
        409,
    )
    for name in ["u3", "u1", "u2"]:
        h.call("CreateUser", UserName=name)
        h.call("AddUserToGroup", GroupName="devs", UserName=name)
    h.call("AddUserToGroup", GroupName="devs", UserName="u1")  # idempotent
    got = h.call("GetGroup", GroupName="DEVS", MaxItems=2)
    assert got["Group"]["GroupName"] == "devs"
    assert [u["UserName"] for u in got["Users"]] == ["u1", "u2"]
    assert got["IsTruncated"] is True
    more = h.call("GetGroup", GroupName="devs", Marker=got["Marker"])
    assert [u["UserName"] for u in more["Users"]] == ["u3"]

    assert_error(
        h.error("DeleteGroup", GroupName="devs"),
        "DeleteConflict",
        "Cannot delete entity, must remove users from group first.",
        409,
    )
    for name in ["u1", "u2", "u3"]:
        h.call("RemoveUserFromGroup", GroupName="devs", UserName=name)
    h.call("PutGroupPolicy", GroupName="devs", PolicyName="p", PolicyDocument=IDENTITY)
    assert_error(
        h.error("DeleteGroup", GroupName="devs"),
        "DeleteConflict",
        "Cannot delete entity, must delete policies first.",
        409,
    )
    h.call("DeleteGroupPolicy", GroupName="devs", PolicyName="p")
    arn = h.call("CreatePolicy", PolicyName="m", PolicyDocument=IDENTITY)["Policy"]["Arn"]
    h.call("AttachGroupPolicy", GroupName="devs", PolicyArn=arn)
    assert_error(
        h.error("DeleteGroup", GroupName="devs"),
        "DeleteConflict",
        "Cannot delete entity, must detach all policies first.",
        409,
    )
    h.call("DetachGroupPolicy", GroupName="devs", PolicyArn=arn)
    h.call("DeleteGroup", GroupName="devs")
    assert_error(
        h.error("GetGroup", GroupName="devs"),
        "NoSuchEntity",
        "The group with name devs cannot be found.",
        404,
    )


def test_update_group_rename_keeps_members(h: Harness) -> None:
    h.call("CreateGroup", GroupName="devs")
    h.call("CreateUser", UserName="alice")
    h.call("AddUserToGroup", GroupName="devs", UserName="alice")
    h.call("UpdateGroup", GroupName="devs", NewGroupName="engineers", NewPath="/x/")
    got = h.call("GetGroup", GroupName="engineers")
    assert got["Group"]["Arn"] == f"arn:aws:iam::{ACCOUNT_A}:group/x/engineers"
    assert [u["UserName"] for u in got["Users"]] == ["alice"]
    h.call("CreateGroup", GroupName="other")
    assert h.error("UpdateGroup", GroupName="other", NewGroupName="ENGINEERS")["Code"] == (
        "EntityAlreadyExists"
    )


def test_list_groups(h: Harness) -> None:
    for name in ["b", "a", "c"]:
        h.call("CreateGroup", GroupName=name)
    page = h.call("ListGroups", MaxItems=2)
    assert [g["GroupName"] for g in page["Groups"]] == ["a", "b"]
    assert page["IsTruncated"] is True
    assert [g["GroupName"] for g in h.call("ListGroups", Marker=page["Marker"])["Groups"]] == ["c"]


def test_membership_errors(h: Harness) -> None:
    h.call("CreateGroup", GroupName="devs")
    assert_error(
        h.error("AddUserToGroup", GroupName="devs", UserName="ghost"),
        "NoSuchEntity",
        "The user with name ghost cannot be found.",
        404,
    )
    assert h.error("AddUserToGroup", GroupName="nope", UserName="ghost")["Message"] == (
        "The group with name nope cannot be found."
    )
    h.call("CreateUser", UserName="alice")
    assert h.error("RemoveUserFromGroup", GroupName="devs", UserName="alice")["Code"] == (
        "NoSuchEntity"
    )
    assert h.call("ListGroupsForUser", UserName="alice")["Groups"] == []


# --- access keys ------------------------------------------------------------------------


def test_access_key_lifecycle(h: Harness) -> None:
    h.call("CreateUser", UserName="alice")
    key = h.call("CreateAccessKey", UserName="alice")["AccessKey"]
    assert key["UserName"] == "alice"
    assert key["AccessKeyId"].startswith("AKIA") and len(key["AccessKeyId"]) == 20
    assert len(key["SecretAccessKey"]) == 40
    assert key["Status"] == "Active"
    h.call("CreateAccessKey", UserName="ALICE")
    assert_error(
        h.error("CreateAccessKey", UserName="alice"),
        "LimitExceeded",
        "Cannot exceed quota for AccessKeysPerUser: 2",
        409,
    )
    listed = h.call("ListAccessKeys", UserName="alice")
    assert len(listed["AccessKeyMetadata"]) == 2
    assert "SecretAccessKey" not in listed["AccessKeyMetadata"][0]
    assert listed["IsTruncated"] is False

    h.call("UpdateAccessKey", UserName="alice", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    statuses = {
        k["AccessKeyId"]: k["Status"]
        for k in h.call("ListAccessKeys", UserName="alice")["AccessKeyMetadata"]
    }
    assert statuses[key["AccessKeyId"]] == "Inactive"
    h.call("DeleteAccessKey", UserName="alice", AccessKeyId=key["AccessKeyId"])
    assert_error(
        h.error("DeleteAccessKey", UserName="alice", AccessKeyId=key["AccessKeyId"]),
        "NoSuchEntity",
        f"The Access Key with id {key['AccessKeyId']} cannot be found.",
        404,
    )


def test_access_key_of_other_user_is_not_found(h: Harness) -> None:
    h.call("CreateUser", UserName="alice")
    h.call("CreateUser", UserName="bob")
    key = h.call("CreateAccessKey", UserName="alice")["AccessKey"]["AccessKeyId"]
    err = h.error("UpdateAccessKey", UserName="bob", AccessKeyId=key, Status="Inactive")
    assert err["Code"] == "NoSuchEntity"


def test_root_access_keys(h: Harness) -> None:
    key = h.call("CreateAccessKey")["AccessKey"]
    assert "UserName" not in key
    listed = h.call("ListAccessKeys")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [key["AccessKeyId"]]
    h.call("DeleteAccessKey", AccessKeyId=key["AccessKeyId"])
    assert h.call("ListAccessKeys")["AccessKeyMetadata"] == []


def test_iam_user_creates_own_key() -> None:
    h = Harness.create(AllowAll())
    h.call("CreateUser", UserName="alice")
    key = h.call("CreateAccessKey", h.user("alice"))["AccessKey"]
    assert key["UserName"] == "alice"
    assert h.error("CreateAccessKey", role_session(ACCOUNT_A))["Code"] == "ValidationError"


def test_list_access_keys_missing_user(h: Harness) -> None:
    assert_error(
        h.error("ListAccessKeys", UserName="ghost"),
        "NoSuchEntity",
        "The user with name ghost cannot be found.",
        404,
    )


def test_get_access_key_last_used(h: Harness) -> None:
    h.call("CreateUser", UserName="alice")
    key = h.call("CreateAccessKey", UserName="alice")["AccessKey"]["AccessKeyId"]
    out = h.call("GetAccessKeyLastUsed", AccessKeyId=key)
    assert out["UserName"] == "alice"
    assert out["AccessKeyLastUsed"] == {"ServiceName": "N/A", "Region": "N/A"}
    h.store.record_access_key_use(key, h.clock.now(), "iam", "us-east-1")
    used = h.call("GetAccessKeyLastUsed", AccessKeyId=key)["AccessKeyLastUsed"]
    assert used["ServiceName"] == "iam" and used["Region"] == "us-east-1"
    assert isinstance(used["LastUsedDate"], datetime)
    assert h.error("GetAccessKeyLastUsed", AccessKeyId="AKIAAAAAAAAAAAAAAAAA")["Code"] == (
        "NoSuchEntity"
    )


def test_get_access_key_last_used_direct_result_keys(h: Harness) -> None:
    h.call("CreateUser", UserName="alice")
    key = h.call("CreateAccessKey")["AccessKey"]["AccessKeyId"]
    from tessera.protocol.model import service_spec
    from tessera.protocol.query import params_for

    params = params_for(service_spec("iam"), "GetAccessKeyLastUsed", {"AccessKeyId": key})
    result = get_access_key_last_used(h.context("GetAccessKeyLastUsed", None), params)
    assert result is not None and "UserName" not in result  # a root key has no user


# --- isolation --------------------------------------------------------------------------


def test_accounts_are_isolated(h: Harness) -> None:
    b = h.as_caller(root(ACCOUNT_B))
    h.call("CreateUser", UserName="alice")
    key = h.call("CreateAccessKey", UserName="alice")["AccessKey"]["AccessKeyId"]
    h.call("CreateGroup", GroupName="devs")
    assert b.error("GetUser", UserName="alice")["Code"] == "NoSuchEntity"
    assert b.call("ListUsers")["Users"] == []
    assert b.call("ListGroups")["Groups"] == []
    b.call("CreateUser", UserName="alice")  # same name, other account
    assert b.error("DeleteAccessKey", UserName="alice", AccessKeyId=key)["Code"] == ("NoSuchEntity")
    assert b.error("GetAccessKeyLastUsed", AccessKeyId=key)["Code"] == "NoSuchEntity"
    assert b.call("GetUser", UserName="alice")["User"]["Arn"].startswith(
        f"arn:aws:iam::{ACCOUNT_B}:"
    )


def test_authorize_called_with_user_arn() -> None:
    authz = AllowAll()
    h = Harness.create(authz)
    h.call("CreateUser", UserName="alice", Path="/eng/")
    h.call("GetUser", UserName="alice")
    h.call("ListUsers", PathPrefix="/eng/")
    assert authz.calls == [
        ("iam:CreateUser", f"arn:aws:iam::{ACCOUNT_A}:user/eng/alice"),
        ("iam:GetUser", f"arn:aws:iam::{ACCOUNT_A}:user/eng/alice"),
        ("iam:ListUsers", f"arn:aws:iam::{ACCOUNT_A}:user/eng/"),
    ]


def test_denied_caller_learns_nothing() -> None:
    h = Harness.create()
    err = h.error("GetUser", user_principal(ACCOUNT_A, "mallory"), UserName="ghost")
    assert err["Code"] == "AccessDenied"


def test_real_authorizer_uses_user_arn_and_resource_tags() -> None:
    h = Harness.create()  # the real policy engine
    h.call("CreateUser", UserName="alice")
    h.call("CreateUser", UserName="bob", Tags=[{"Key": "team", "Value": "blue"}])
    h.call("CreateUser", UserName="carol", Tags=[{"Key": "team", "Value": "red"}])
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iam:GetUser",
                "Resource": "arn:aws:iam::*:user/${aws:username}",
            },
            {
                "Effect": "Allow",
                "Action": "iam:ListUserTags",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}},
            },
            {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "arn:aws:iam::*:user/"},
        ],
    }
    h.call("PutUserPolicy", UserName="alice", PolicyName="p", PolicyDocument=json.dumps(policy))
    user = h.call("GetUser", UserName="alice")["User"]
    alice = user_principal(ACCOUNT_A, "alice", user["UserId"])
    assert h.call("GetUser", alice)["User"]["UserName"] == "alice"
    assert h.call("GetUser", alice, UserName="alice")["User"]["UserName"] == "alice"
    denied = h.error("GetUser", alice, UserName="bob")
    assert denied["Code"] == "AccessDenied"
    assert f"arn:aws:iam::{ACCOUNT_A}:user/bob" in denied["Message"]
    assert h.call("ListUserTags", alice, UserName="bob")["Tags"] == [
        {"Key": "team", "Value": "blue"}
    ]
    assert h.error("ListUserTags", alice, UserName="carol")["Code"] == "AccessDenied"
    assert len(h.call("ListUsers", alice)["Users"]) == 3
