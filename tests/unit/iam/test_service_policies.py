"""IAM policies: inline policies (all three holders), managed policies and versions,
attachments and their quotas, ListEntitiesForPolicy, policy tags, permissions
boundaries and ``validate_policy_document``."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from test_service_support import ACCOUNT_A, ACCOUNT_B, IDENTITY, TRUST, Harness, assert_error, root

from tessera.errors import LimitExceeded, MalformedPolicyDocument
from tessera.iam.service import validate_policy_document


@pytest.fixture
def h() -> Harness:
    h = Harness.create()
    h.call("CreateUser", UserName="alice")
    h.call("CreateGroup", GroupName="devs")
    h.call("CreateRole", RoleName="app", AssumeRolePolicyDocument=TRUST)
    return h


HOLDERS = [
    ("User", "UserName", "alice"),
    ("Group", "GroupName", "devs"),
    ("Role", "RoleName", "app"),
]


def _doc(size: int) -> str:
    """A valid identity policy of roughly ``size`` non-white-space characters."""
    base = json.loads(IDENTITY)
    base["Statement"][0]["Sid"] = "S" * max(1, size - len(IDENTITY.replace(" ", "")) - 8)
    return json.dumps(base)


# --- inline -----------------------------------------------------------------------------


@pytest.mark.parametrize(("title", "param", "name"), HOLDERS)
def test_inline_policy_lifecycle(h: Harness, title: str, param: str, name: str) -> None:
    h.call(f"Put{title}Policy", **{param: name}, PolicyName="Read", PolicyDocument=IDENTITY)
    got = h.call(f"Get{title}Policy", **{param: name.upper()}, PolicyName="read")
    assert got[param] == name
    assert got["PolicyName"] == "Read"
    assert got["PolicyDocument"] == json.loads(IDENTITY)  # boto3 sees a dict
    h.call(f"Put{title}Policy", **{param: name}, PolicyName="Write", PolicyDocument=IDENTITY)
    listed = h.call(f"List{title}Policies", **{param: name}, MaxItems=1)
    assert listed["PolicyNames"] == ["Read"] and listed["IsTruncated"] is True
    rest = h.call(f"List{title}Policies", **{param: name}, Marker=listed["Marker"])
    assert rest["PolicyNames"] == ["Write"]
    h.call(f"Delete{title}Policy", **{param: name}, PolicyName="READ")
    kind = title.lower()
    assert_error(
        h.error(f"Get{title}Policy", **{param: name}, PolicyName="Read"),
        "NoSuchEntity",
        f"The {kind} policy with name Read cannot be found.",
        404,
    )
    assert h.error(f"Delete{title}Policy", **{param: name}, PolicyName="Read")["Code"] == (
        "NoSuchEntity"
    )
    assert_error(
        h.error(f"Put{title}Policy", **{param: "ghost"}, PolicyName="p", PolicyDocument=IDENTITY),
        "NoSuchEntity",
        f"The {kind} with name ghost cannot be found.",
        404,
    )


def test_inline_document_on_the_wire_is_url_encoded(h: Harness) -> None:
    h.call("PutUserPolicy", UserName="alice", PolicyName="p", PolicyDocument=IDENTITY)
    _result, xml = h.raw("GetUserPolicy", UserName="alice", PolicyName="p")
    assert b"<PolicyDocument>%7B%22Version%22" in xml


@pytest.mark.parametrize(
    ("title", "param", "name", "limit"),
    [
        ("User", "UserName", "alice", 2048),
        ("Group", "GroupName", "devs", 5120),
        ("Role", "RoleName", "app", 10240),
    ],
)
def test_inline_size_quota_is_aggregate(
    h: Harness, title: str, param: str, name: str, limit: int
) -> None:
    half = _doc(limit // 2 + 10)
    h.call(f"Put{title}Policy", **{param: name}, PolicyName="a", PolicyDocument=half)
    h.call(f"Put{title}Policy", **{param: name}, PolicyName="a", PolicyDocument=half)  # replace
    assert_error(
        h.error(f"Put{title}Policy", **{param: name}, PolicyName="b", PolicyDocument=half),
        "LimitExceeded",
        f"Maximum policy size of {limit} bytes exceeded for {title.lower()} {name}",
        409,
    )


def test_inline_malformed(h: Harness) -> None:
    assert_error(
        h.error("PutUserPolicy", UserName="alice", PolicyName="p", PolicyDocument="{"),
        "MalformedPolicyDocument",
        "Syntax errors in policy.",
        400,
    )
    no_resource = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}'
    assert_error(
        h.error("PutRolePolicy", RoleName="app", PolicyName="p", PolicyDocument=no_resource),
        "MalformedPolicyDocument",
        "Policy statement must contain resources.",
        400,
    )


# --- managed policies -------------------------------------------------------------------


def test_create_and_get_policy_shape(h: Harness) -> None:
    created = h.call(
        "CreatePolicy",
        PolicyName="ReadOnly",
        Path="/team/",
        PolicyDocument=IDENTITY,
        Description="read things",
        Tags=[{"Key": "k", "Value": "v"}],
    )["Policy"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT_A}:policy/team/ReadOnly"
    assert created["PolicyId"].startswith("ANPA") and len(created["PolicyId"]) == 21
    assert created["DefaultVersionId"] == "v1"
    assert created["AttachmentCount"] == 0
    assert created["PermissionsBoundaryUsageCount"] == 0
    assert created["IsAttachable"] is True
    assert created["Tags"] == [{"Key": "k", "Value": "v"}]
    assert isinstance(created["CreateDate"], datetime)
    got = h.call("GetPolicy", PolicyArn=created["Arn"])["Policy"]
    assert got["Description"] == "read things"
    assert got["Tags"] == [{"Key": "k", "Value": "v"}]
    assert_error(
        h.error("CreatePolicy", PolicyName="readonly", PolicyDocument=IDENTITY),
        "EntityAlreadyExists",
        "A policy called readonly already exists. Duplicate names are not allowed.",
        409,
    )
    missing = f"arn:aws:iam::{ACCOUNT_A}:policy/nope"
    assert_error(
        h.error("GetPolicy", PolicyArn=missing),
        "NoSuchEntity",
        f"Policy {missing} was not found.",
        404,
    )


def test_create_policy_too_large(h: Harness) -> None:
    assert_error(
        h.error("CreatePolicy", PolicyName="big", PolicyDocument=_doc(6200)),
        "LimitExceeded",
        "Cannot exceed quota for PolicySize: 6144",
        409,
    )
    h.call("CreatePolicy", PolicyName="ok", PolicyDocument=_doc(6000))


def test_list_policies(h: Harness) -> None:
    arns = {}
    for name in ["c", "a", "b"]:
        arns[name] = h.call(
            "CreatePolicy", PolicyName=name, PolicyDocument=IDENTITY, Description="d"
        )["Policy"]["Arn"]
    page = h.call("ListPolicies", MaxItems=2)
    assert [p["PolicyName"] for p in page["Policies"]] == ["a", "b"]
    assert "Description" not in page["Policies"][0]
    rest = h.call("ListPolicies", Marker=page["Marker"], MaxItems=2)["Policies"]
    # the account's own policies come first, then AWS's
    assert [p["PolicyName"] for p in rest] == ["c", "AdministratorAccess"]
    aws = h.call("ListPolicies", Scope="AWS", MaxItems=1000)
    assert aws["IsTruncated"] and len(aws["Policies"]) == 1000
    assert all(p["Arn"].startswith("arn:aws:iam::aws:policy/") for p in aws["Policies"])
    assert len(h.call("ListPolicies", Scope="Local")["Policies"]) == 3
    h.call("AttachUserPolicy", UserName="alice", PolicyArn=arns["b"])
    h.call("PutRolePermissionsBoundary", RoleName="app", PermissionsBoundary=arns["c"])
    attached = h.call("ListPolicies", OnlyAttached=True)["Policies"]
    assert [p["PolicyName"] for p in attached] == ["b"]
    assert attached[0]["AttachmentCount"] == 1
    bounded = h.call("ListPolicies", OnlyAttached=True, PolicyUsageFilter="PermissionsBoundary")
    assert [p["PolicyName"] for p in bounded["Policies"]] == ["c"]


def test_policy_versions(h: Harness) -> None:
    arn = h.call("CreatePolicy", PolicyName="p", PolicyDocument=IDENTITY)["Policy"]["Arn"]
    v1 = h.call("GetPolicyVersion", PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert v1["Document"] == json.loads(IDENTITY)
    assert v1["IsDefaultVersion"] is True
    new_doc = IDENTITY.replace("GetObject", "PutObject")
    v2 = h.call("CreatePolicyVersion", PolicyArn=arn, PolicyDocument=new_doc)["PolicyVersion"]
    assert (v2["VersionId"], v2["IsDefaultVersion"]) == ("v2", False)
    assert "Document" not in v2
    v3 = h.call("CreatePolicyVersion", PolicyArn=arn, PolicyDocument=new_doc, SetAsDefault=True)
    assert v3["PolicyVersion"]["IsDefaultVersion"] is True
    assert h.call("GetPolicy", PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v3"
    listed = h.call("ListPolicyVersions", PolicyArn=arn)
    assert [v["VersionId"] for v in listed["Versions"]] == ["v3", "v2", "v1"]
    assert all("Document" not in v for v in listed["Versions"])
    page = h.call("ListPolicyVersions", PolicyArn=arn, MaxItems=2)
    assert page["IsTruncated"] is True
    h.call("CreatePolicyVersion", PolicyArn=arn, PolicyDocument=new_doc)
    h.call("CreatePolicyVersion", PolicyArn=arn, PolicyDocument=new_doc)
    assert_error(
        h.error("CreatePolicyVersion", PolicyArn=arn, PolicyDocument=new_doc),
        "LimitExceeded",
        "A managed policy can have up to 5 versions. Before you create a new version, you "
        "must delete an existing version.",
        409,
    )
    assert_error(
        h.error("DeletePolicyVersion", PolicyArn=arn, VersionId="v3"),
        "DeleteConflict",
        "Cannot delete the default version of a policy.",
        409,
    )
    assert_error(
        h.error("GetPolicyVersion", PolicyArn=arn, VersionId="v9"),
        "NoSuchEntity",
        f"Policy {arn} version v9 does not exist or is not attachable.",
        404,
    )
    h.call("SetDefaultPolicyVersion", PolicyArn=arn, VersionId="v1")
    assert h.call("GetPolicyVersion", PolicyArn=arn, VersionId="v1")["PolicyVersion"][
        "IsDefaultVersion"
    ]
    assert h.error("SetDefaultPolicyVersion", PolicyArn=arn, VersionId="v7")["Code"] == (
        "NoSuchEntity"
    )
    assert_error(
        h.error("DeletePolicy", PolicyArn=arn),
        "DeleteConflict",
        "This policy has more than one version. Before you delete a policy, you must delete "
        "the policy's versions. The default version is deleted with the policy.",
        409,
    )
    for version in ["v2", "v3", "v4", "v5"]:
        h.call("DeletePolicyVersion", PolicyArn=arn, VersionId=version)
    h.call("DeletePolicy", PolicyArn=arn)
    assert h.error("GetPolicy", PolicyArn=arn)["Code"] == "NoSuchEntity"


def test_create_policy_version_malformed(h: Harness) -> None:
    arn = h.call("CreatePolicy", PolicyName="p", PolicyDocument=IDENTITY)["Policy"]["Arn"]
    err = h.error("CreatePolicyVersion", PolicyArn=arn, PolicyDocument="nope")
    assert_error(err, "MalformedPolicyDocument", "Syntax errors in policy.", 400)


# --- attachments ------------------------------------------------------------------------


@pytest.mark.parametrize(("title", "param", "name"), HOLDERS)
def test_attach_detach(h: Harness, title: str, param: str, name: str) -> None:
    arn = h.call("CreatePolicy", PolicyName="p", PolicyDocument=IDENTITY)["Policy"]["Arn"]
    h.call(f"Attach{title}Policy", **{param: name}, PolicyArn=arn)
    h.call(f"Attach{title}Policy", **{param: name}, PolicyArn=arn)  # idempotent
    listed = h.call(f"ListAttached{title}Policies", **{param: name})
    assert listed == {
        "AttachedPolicies": [{"PolicyName": "p", "PolicyArn": arn}],
        "IsTruncated": False,
    }
    assert (
        h.call(f"ListAttached{title}Policies", **{param: name}, PathPrefix="/x/")[
            "AttachedPolicies"
        ]
        == []
    )
    assert h.call("GetPolicy", PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    assert_error(
        h.error("DeletePolicy", PolicyArn=arn),
        "DeleteConflict",
        "Cannot delete a policy attached to entities.",
        409,
    )
    h.call(f"Detach{title}Policy", **{param: name}, PolicyArn=arn)
    assert_error(
        h.error(f"Detach{title}Policy", **{param: name}, PolicyArn=arn),
        "NoSuchEntity",
        f"Policy {arn} was not found.",
        404,
    )
    missing = f"arn:aws:iam::{ACCOUNT_A}:policy/nope"
    assert_error(
        h.error(f"Attach{title}Policy", **{param: name}, PolicyArn=missing),
        "NoSuchEntity",
        f"Policy {missing} does not exist or is not attachable.",
        404,
    )


@pytest.mark.parametrize(("title", "param", "name"), HOLDERS)
def test_attach_quota(h: Harness, title: str, param: str, name: str) -> None:
    arns = [
        h.call("CreatePolicy", PolicyName=f"p{i}", PolicyDocument=IDENTITY)["Policy"]["Arn"]
        for i in range(11)
    ]
    for arn in arns[:10]:
        h.call(f"Attach{title}Policy", **{param: name}, PolicyArn=arn)
    h.call(f"Attach{title}Policy", **{param: name}, PolicyArn=arns[0])  # already attached
    assert_error(
        h.error(f"Attach{title}Policy", **{param: name}, PolicyArn=arns[10]),
        "LimitExceeded",
        f"Cannot exceed quota for PoliciesPer{title}: 10",
        409,
    )


def test_list_entities_for_policy(h: Harness) -> None:
    arn = h.call("CreatePolicy", PolicyName="p", PolicyDocument=IDENTITY)["Policy"]["Arn"]
    h.call("CreateUser", UserName="bob", Path="/ops/")
    h.call("AttachUserPolicy", UserName="alice", PolicyArn=arn)
    h.call("AttachUserPolicy", UserName="bob", PolicyArn=arn)
    h.call("AttachGroupPolicy", GroupName="devs", PolicyArn=arn)
    h.call("AttachRolePolicy", RoleName="app", PolicyArn=arn)
    h.call("PutUserPermissionsBoundary", UserName="alice", PermissionsBoundary=arn)
    out = h.call("ListEntitiesForPolicy", PolicyArn=arn)
    alice = h.call("GetUser", UserName="alice")["User"]
    assert [u["UserName"] for u in out["PolicyUsers"]] == ["alice", "bob"]
    assert out["PolicyUsers"][0]["UserId"] == alice["UserId"]
    assert [g["GroupName"] for g in out["PolicyGroups"]] == ["devs"]
    assert [r["RoleName"] for r in out["PolicyRoles"]] == ["app"]
    assert out["IsTruncated"] is False
    users = h.call("ListEntitiesForPolicy", PolicyArn=arn, EntityFilter="User", PathPrefix="/ops/")
    assert [u["UserName"] for u in users["PolicyUsers"]] == ["bob"]
    assert users["PolicyGroups"] == [] and users["PolicyRoles"] == []
    bounded = h.call(
        "ListEntitiesForPolicy", PolicyArn=arn, PolicyUsageFilter="PermissionsBoundary"
    )
    assert [u["UserName"] for u in bounded["PolicyUsers"]] == ["alice"]
    assert bounded["PolicyRoles"] == []
    page = h.call("ListEntitiesForPolicy", PolicyArn=arn, MaxItems=2)
    assert page["IsTruncated"] is True
    rest = h.call("ListEntitiesForPolicy", PolicyArn=arn, Marker=page["Marker"])
    total = sum(
        len(x[k]) for x in (page, rest) for k in ("PolicyUsers", "PolicyGroups", "PolicyRoles")
    )
    assert total == 4


def test_policy_tags(h: Harness) -> None:
    arn = h.call("CreatePolicy", PolicyName="p", PolicyDocument=IDENTITY)["Policy"]["Arn"]
    h.call(
        "TagPolicy", PolicyArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    )
    h.call("UntagPolicy", PolicyArn=arn, TagKeys=["A"])
    assert h.call("ListPolicyTags", PolicyArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    missing = f"arn:aws:iam::{ACCOUNT_A}:policy/nope"
    assert (
        h.error("TagPolicy", PolicyArn=missing, Tags=[{"Key": "a", "Value": "b"}])["Message"]
        == f"Policy {missing} was not found."
    )


# --- boundaries -------------------------------------------------------------------------


@pytest.mark.parametrize(("title", "param", "name"), [HOLDERS[0], HOLDERS[2]])
def test_permissions_boundary(h: Harness, title: str, param: str, name: str) -> None:
    arn = h.call("CreatePolicy", PolicyName="b", PolicyDocument=IDENTITY)["Policy"]["Arn"]
    h.call(f"Put{title}PermissionsBoundary", **{param: name}, PermissionsBoundary=arn)
    got = h.call(f"Get{title}", **{param: name})[title]
    assert got["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "Policy",
        "PermissionsBoundaryArn": arn,
    }
    assert h.call("GetPolicy", PolicyArn=arn)["Policy"]["PermissionsBoundaryUsageCount"] == 1
    assert h.error("DeletePolicy", PolicyArn=arn)["Code"] == "DeleteConflict"
    h.call(f"Delete{title}PermissionsBoundary", **{param: name})
    assert "PermissionsBoundary" not in h.call(f"Get{title}", **{param: name})[title]
    missing = f"arn:aws:iam::{ACCOUNT_A}:policy/nope"
    assert_error(
        h.error(f"Put{title}PermissionsBoundary", **{param: name}, PermissionsBoundary=missing),
        "NoSuchEntity",
        f"Scope ARN: {missing} does not exist or is not attachable.",
        404,
    )


# --- isolation --------------------------------------------------------------------------


def test_policies_are_isolated(h: Harness) -> None:
    arn = h.call("CreatePolicy", PolicyName="p", PolicyDocument=IDENTITY)["Policy"]["Arn"]
    b = h.as_caller(root(ACCOUNT_B))
    assert b.error("GetPolicy", PolicyArn=arn)["Code"] == "NoSuchEntity"
    assert b.call("ListPolicies", Scope="Local")["Policies"] == []
    b.call("CreateUser", UserName="bob")
    assert b.error("AttachUserPolicy", UserName="bob", PolicyArn=arn)["Code"] == "NoSuchEntity"
    assert b.error("DeletePolicy", PolicyArn=arn)["Code"] == "NoSuchEntity"
    b.call("CreatePolicy", PolicyName="p", PolicyDocument=IDENTITY)  # same name, other account


# --- validate_policy_document -----------------------------------------------------------


def test_validate_policy_document_kinds() -> None:
    validate_policy_document(IDENTITY, "managed", 6144)
    validate_policy_document(TRUST, "trust", 2048)
    with pytest.raises(MalformedPolicyDocument, match=r"^This policy contains invalid Json$"):
        validate_policy_document("{", "trust", 2048)
    with pytest.raises(MalformedPolicyDocument, match=r"^Syntax errors in policy\.$"):
        validate_policy_document("[]", "user", 2048)
    with pytest.raises(LimitExceeded, match="PolicySize: 10"):
        validate_policy_document(IDENTITY, "managed", 10)
    with pytest.raises(ValueError, match="unknown"):
        validate_policy_document(IDENTITY, "nonsense", 10)


def test_size_ignores_white_space() -> None:
    spaced = json.dumps(json.loads(IDENTITY), indent=8)
    limit = len(json.dumps(json.loads(IDENTITY), separators=(",", ":")))
    validate_policy_document(spaced, "managed", limit)
    with pytest.raises(LimitExceeded):
        validate_policy_document(spaced, "managed", limit - 1)
