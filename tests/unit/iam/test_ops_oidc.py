"""IAM OpenID Connect providers through the IAM test harness (botocore
serialisation, the server's decoding, botocore parsing): shapes, URL rules,
limits and AWS's error texts, idempotent client-id changes and deletion, tags,
and the authorisation of each operation (actions, ARNs, tag keys)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest
from test_service_support import ACCOUNT_A, ACCOUNT_B, AllowAll, Harness, assert_error, root

from tessera.config import ServerConfig
from tessera.iam import ops_oidc
from tessera.iam.oidc_model import ProviderUrlError, parse_provider_arn, parse_provider_url

URL = "https://token.example.com/tenant"
ARN = f"arn:aws:iam::{ACCOUNT_A}:oidc-provider/token.example.com/tenant"


@pytest.fixture
def h() -> Harness:
    return Harness.create()


def test_create_and_get(h: Harness) -> None:
    out = h.call(
        "CreateOpenIDConnectProvider",
        Url=URL,
        ClientIDList=["sts.amazonaws.com", "app", "app"],
        ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"],
        Tags=[{"Key": "team", "Value": "ci"}],
    )
    assert out == {"OpenIDConnectProviderArn": ARN, "Tags": [{"Key": "team", "Value": "ci"}]}
    got = h.call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=ARN)
    assert got["Url"] == "token.example.com/tenant"
    assert got["ClientIDList"] == ["sts.amazonaws.com", "app"]
    assert got["ThumbprintList"] == ["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"]
    assert isinstance(got["CreateDate"], datetime)
    assert got["CreateDate"].microsecond == 0
    assert got["Tags"] == [{"Key": "team", "Value": "ci"}]


def test_thumbprints_and_client_ids_are_optional(h: Harness) -> None:
    out = h.call("CreateOpenIDConnectProvider", Url="https://Idp.Example.com")
    arn = out["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{ACCOUNT_A}:oidc-provider/idp.example.com"
    got = h.call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=arn)
    assert got["ClientIDList"] == [] and got["ThumbprintList"] == []
    assert "Tags" not in got


def test_list(h: Harness) -> None:
    assert h.call("ListOpenIDConnectProviders") == {"OpenIDConnectProviderList": []}
    h.call("CreateOpenIDConnectProvider", Url="https://b.example.com")
    h.call("CreateOpenIDConnectProvider", Url="https://a.example.com/x/")
    h.as_caller(root(ACCOUNT_B)).call("CreateOpenIDConnectProvider", Url="https://c.example.com")
    assert h.call("ListOpenIDConnectProviders")["OpenIDConnectProviderList"] == [
        {"Arn": f"arn:aws:iam::{ACCOUNT_A}:oidc-provider/a.example.com/x/"},
        {"Arn": f"arn:aws:iam::{ACCOUNT_A}:oidc-provider/b.example.com"},
    ]


def test_duplicates_are_refused(h: Harness) -> None:
    h.call("CreateOpenIDConnectProvider", Url=URL)
    err = h.error("CreateOpenIDConnectProvider", Url="https://TOKEN.example.com/tenant")
    assert_error(
        err,
        "EntityAlreadyExists",
        "Provider with url https://TOKEN.example.com/tenant already exists.",
        409,
    )
    # the path is part of the identity; another account may use the same URL
    h.call("CreateOpenIDConnectProvider", Url=URL + "/other")
    h.as_caller(root(ACCOUNT_B)).call("CreateOpenIDConnectProvider", Url=URL)


@pytest.mark.parametrize(
    "url", ["token.example.com", "example", "ftp://x.example.com", "https://", "https://x/?a=b"]
)
def test_invalid_urls(h: Harness, url: str) -> None:
    err = h.error("CreateOpenIDConnectProvider", Url=url)
    assert_error(err, "ValidationError", "Invalid Open ID Connect Provider URL", 400)


def test_plain_http_only_for_loopback_or_insecure(h: Harness) -> None:
    err = h.error("CreateOpenIDConnectProvider", Url="http://idp.example.com")
    assert_error(err, "InvalidInput", ops_oidc.HTTPS_REQUIRED, 400)
    for url in ("http://127.0.0.1:8080/issuers/x", "http://localhost:9", "http://[::1]:7/a"):
        h.call("CreateOpenIDConnectProvider", Url=url)
    arn = f"arn:aws:iam::{ACCOUNT_A}:oidc-provider/127.0.0.1:8080/issuers/x"
    assert h.call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=arn)["Url"] == (
        "127.0.0.1:8080/issuers/x"
    )
    h.runtime.config = dataclasses.replace(ServerConfig(), insecure_oidc_http=True)
    h.call("CreateOpenIDConnectProvider", Url="http://idp.example.com")


def test_limits(h: Harness) -> None:
    err = h.error("CreateOpenIDConnectProvider", Url=URL, ThumbprintList=["a" * 40] * 6)
    assert_error(err, "InvalidInput", "Thumbprint list must contain fewer than 5 entries.", 400)
    err = h.error("CreateOpenIDConnectProvider", Url=URL, ThumbprintList=["g" * 40])
    assert_error(err, "InvalidInput", ops_oidc.BAD_THUMBPRINT, 400)
    err = h.error("CreateOpenIDConnectProvider", Url=URL, ThumbprintList=["a" * 39])
    assert err["Code"] == "ValidationError"  # the model: exactly 40 characters
    ids = [f"app-{i}" for i in range(101)]
    err = h.error("CreateOpenIDConnectProvider", Url=URL, ClientIDList=ids)
    assert_error(
        err, "LimitExceeded", "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100", 409
    )
    h.call("CreateOpenIDConnectProvider", Url=URL, ClientIDList=ids[:100])
    h.call("AddClientIDToOpenIDConnectProvider", OpenIDConnectProviderArn=ARN, ClientID="app-1")
    err = h.error(
        "AddClientIDToOpenIDConnectProvider", OpenIDConnectProviderArn=ARN, ClientID="app-100"
    )
    assert err["Code"] == "LimitExceeded"
    err = h.error("CreateOpenIDConnectProvider", Url="https://" + "x" * 250)
    assert err["Code"] == "ValidationError"  # Url is at most 255 characters


def test_client_ids_add_and_remove_idempotently(h: Harness) -> None:
    h.call("CreateOpenIDConnectProvider", Url=URL, ClientIDList=["a"])
    for _ in range(2):
        h.call("AddClientIDToOpenIDConnectProvider", OpenIDConnectProviderArn=ARN, ClientID="b")
    got = h.call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=ARN)
    assert got["ClientIDList"] == ["a", "b"]
    for _ in range(2):
        h.call(
            "RemoveClientIDFromOpenIDConnectProvider", OpenIDConnectProviderArn=ARN, ClientID="a"
        )
    got = h.call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=ARN)
    assert got["ClientIDList"] == ["b"]


def test_thumbprints_are_replaced(h: Harness) -> None:
    h.call("CreateOpenIDConnectProvider", Url=URL, ThumbprintList=["a" * 40])
    h.call(
        "UpdateOpenIDConnectProviderThumbprint",
        OpenIDConnectProviderArn=ARN,
        ThumbprintList=["b" * 40, "C" * 40],
    )
    got = h.call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=ARN)
    assert got["ThumbprintList"] == ["b" * 40, "C" * 40]
    h.call("UpdateOpenIDConnectProviderThumbprint", OpenIDConnectProviderArn=ARN, ThumbprintList=[])
    got = h.call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=ARN)
    assert got["ThumbprintList"] == []


def test_missing_providers(h: Harness) -> None:
    message = f"OpenIDConnect Provider not found for arn {ARN}"
    for op, extra in [
        ("GetOpenIDConnectProvider", {}),
        ("UpdateOpenIDConnectProviderThumbprint", {"ThumbprintList": []}),
        ("AddClientIDToOpenIDConnectProvider", {"ClientID": "x"}),
        ("RemoveClientIDFromOpenIDConnectProvider", {"ClientID": "x"}),
        ("TagOpenIDConnectProvider", {"Tags": [{"Key": "k", "Value": "v"}]}),
        ("UntagOpenIDConnectProvider", {"TagKeys": ["k"]}),
        ("ListOpenIDConnectProviderTags", {}),
    ]:
        err = h.error(op, OpenIDConnectProviderArn=ARN, **extra)
        assert_error(err, "NoSuchEntity", message, 404)
    # another account's provider is invisible
    h.as_caller(root(ACCOUNT_B)).call("CreateOpenIDConnectProvider", Url=URL)
    b_arn = f"arn:aws:iam::{ACCOUNT_B}:oidc-provider/token.example.com/tenant"
    err = h.error("GetOpenIDConnectProvider", OpenIDConnectProviderArn=b_arn)
    assert err["Code"] == "NoSuchEntity"
    err = h.error("GetOpenIDConnectProvider", OpenIDConnectProviderArn="arn:aws:iam::bad:thing")
    assert_error(err, "InvalidInput", "Invalid ARN: arn:aws:iam::bad:thing", 400)


def test_delete_is_idempotent_and_takes_the_tags(h: Harness) -> None:
    h.call("CreateOpenIDConnectProvider", Url=URL, Tags=[{"Key": "k", "Value": "v"}])
    h.call("DeleteOpenIDConnectProvider", OpenIDConnectProviderArn=ARN)
    h.call("DeleteOpenIDConnectProvider", OpenIDConnectProviderArn=ARN)
    assert h.error("GetOpenIDConnectProvider", OpenIDConnectProviderArn=ARN)["Code"] == (
        "NoSuchEntity"
    )
    h.call("CreateOpenIDConnectProvider", Url=URL)
    assert h.call("ListOpenIDConnectProviderTags", OpenIDConnectProviderArn=ARN)["Tags"] == []


def test_tags(h: Harness) -> None:
    h.call("CreateOpenIDConnectProvider", Url=URL, Tags=[{"Key": "a", "Value": "1"}])
    h.call(
        "TagOpenIDConnectProvider",
        OpenIDConnectProviderArn=ARN,
        Tags=[{"Key": "A", "Value": "2"}, {"Key": "b", "Value": "3"}],
    )
    out = h.call("ListOpenIDConnectProviderTags", OpenIDConnectProviderArn=ARN)
    assert out == {
        "Tags": [{"Key": "A", "Value": "2"}, {"Key": "b", "Value": "3"}],
        "IsTruncated": False,
    }
    page = h.call("ListOpenIDConnectProviderTags", OpenIDConnectProviderArn=ARN, MaxItems=1)
    assert page["IsTruncated"] is True and len(page["Tags"]) == 1
    rest = h.call(
        "ListOpenIDConnectProviderTags", OpenIDConnectProviderArn=ARN, Marker=page["Marker"]
    )
    assert rest["Tags"] == [{"Key": "b", "Value": "3"}]
    h.call("UntagOpenIDConnectProvider", OpenIDConnectProviderArn=ARN, TagKeys=["a"])
    out = h.call("ListOpenIDConnectProviderTags", OpenIDConnectProviderArn=ARN)
    assert out["Tags"] == [{"Key": "b", "Value": "3"}]
    err = h.error(
        "TagOpenIDConnectProvider",
        OpenIDConnectProviderArn=ARN,
        Tags=[{"Key": "k", "Value": "1"}, {"Key": "K", "Value": "2"}],
    )
    assert err["Code"] == "InvalidInput"
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    err = h.error("TagOpenIDConnectProvider", OpenIDConnectProviderArn=ARN, Tags=many)
    assert_error(
        err, "LimitExceeded", "Cannot exceed quota for TagsPerOpenIdConnectProvider: 50", 409
    )


def test_authorisation_actions_and_resources() -> None:
    authz = AllowAll()
    h = Harness.create(authz)
    tags = [{"Key": "t", "Value": "v"}]
    h.call("CreateOpenIDConnectProvider", Url=URL, Tags=tags)
    h.call("GetOpenIDConnectProvider", OpenIDConnectProviderArn=ARN)
    h.call("ListOpenIDConnectProviders")
    h.call("UpdateOpenIDConnectProviderThumbprint", OpenIDConnectProviderArn=ARN, ThumbprintList=[])
    h.call("AddClientIDToOpenIDConnectProvider", OpenIDConnectProviderArn=ARN, ClientID="c")
    h.call("RemoveClientIDFromOpenIDConnectProvider", OpenIDConnectProviderArn=ARN, ClientID="c")
    h.call("TagOpenIDConnectProvider", OpenIDConnectProviderArn=ARN, Tags=tags)
    h.call("UntagOpenIDConnectProvider", OpenIDConnectProviderArn=ARN, TagKeys=["t"])
    h.call("ListOpenIDConnectProviderTags", OpenIDConnectProviderArn=ARN)
    h.call("DeleteOpenIDConnectProvider", OpenIDConnectProviderArn=ARN)
    assert authz.calls == [
        ("iam:CreateOpenIDConnectProvider", ARN),
        ("iam:GetOpenIDConnectProvider", ARN),
        ("iam:ListOpenIDConnectProviders", "*"),
        ("iam:UpdateOpenIDConnectProviderThumbprint", ARN),
        ("iam:AddClientIDToOpenIDConnectProvider", ARN),
        ("iam:RemoveClientIDFromOpenIDConnectProvider", ARN),
        ("iam:TagOpenIDConnectProvider", ARN),
        ("iam:UntagOpenIDConnectProvider", ARN),
        ("iam:ListOpenIDConnectProviderTags", ARN),
        ("iam:DeleteOpenIDConnectProvider", ARN),
    ]


def test_users_need_permission_before_anything_is_revealed(h: Harness) -> None:
    h.call("CreateUser", UserName="alice")
    alice = h.user("alice")
    err = h.error("GetOpenIDConnectProvider", alice, OpenIDConnectProviderArn=ARN)
    assert err["Code"] == "AccessDenied" and "iam:GetOpenIDConnectProvider" in err["Message"]
    err = h.error("CreateOpenIDConnectProvider", alice, Url=URL)
    assert err["Code"] == "AccessDenied"
    policy = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":'
        '"iam:*OpenIDConnectProvider*","Resource":"arn:aws:iam::*:oidc-provider/token.example.com/*",'
        '"Condition":{"StringEqualsIfExists":{"aws:ResourceTag/team":"ci"}}}]}'
    )
    h.call("PutUserPolicy", UserName="alice", PolicyName="oidc", PolicyDocument=policy)
    h.call("CreateOpenIDConnectProvider", alice, Url=URL, Tags=[{"Key": "team", "Value": "ci"}])
    assert h.call("GetOpenIDConnectProvider", alice, OpenIDConnectProviderArn=ARN)["Url"]
    h.call(
        "TagOpenIDConnectProvider",
        alice,
        OpenIDConnectProviderArn=ARN,
        Tags=[{"Key": "team", "Value": "ops"}],
    )
    err = h.error("GetOpenIDConnectProvider", alice, OpenIDConnectProviderArn=ARN)
    assert err["Code"] == "AccessDenied"  # the resource tag no longer matches


# --- the pure URL rules ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "scheme", "form"),
    [
        ("https://Token.Example.COM", "https", "token.example.com"),
        ("https://a.example.com/", "https", "a.example.com/"),
        ("https://a.example.com/Path/X", "https", "a.example.com/Path/X"),
        ("HTTPS://a.example.com:8443/p", "https", "a.example.com:8443/p"),
        ("http://127.0.0.1:7070/issuers/3ba6", "http", "127.0.0.1:7070/issuers/3ba6"),
        ("http://[::1]:7/x", "http", "[::1]:7/x"),
    ],
)
def test_url_normalisation(url: str, scheme: str, form: str) -> None:
    parsed = parse_provider_url(url)
    assert (parsed.scheme, parsed.url) == (scheme, form)


@pytest.mark.parametrize(
    "url",
    [
        "a.example.com",
        "https://",
        "https://u:p@a.example.com",
        "https://a.example.com#f",
        "https://a.example.com?",
        "https://a.example.com:99999",
        " https://a.example.com",
    ],
)
def test_url_rejections(url: str) -> None:
    with pytest.raises(ProviderUrlError):
        parse_provider_url(url)


def test_arn_parsing() -> None:
    assert parse_provider_arn(ARN) == (ACCOUNT_A, "token.example.com/tenant")
    assert parse_provider_arn(f"arn:aws:iam::{ACCOUNT_A}:oidc-provider/") is None
    assert parse_provider_arn(f"arn:aws:iam::{ACCOUNT_A}:role/x") is None
    assert parse_provider_arn(f"arn:aws:iam:us-east-1:{ACCOUNT_A}:oidc-provider/x") is None
    assert parse_provider_arn("arn:aws:iam::12:oidc-provider/x") is None
