"""Trusted identity propagation configuration on IAM OIDC and SAML providers,
through a real server with boto3: ContextProvider / IdentityCenterInstanceArn on
Create*, UpdateOpenIDConnectProvider and UpdateSAMLProvider with the exclusivity
rules and Remove flags, Get*Provider (SAMLKeyHashes), and the iam:* condition
keys for configuring TIP."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization

from tests.e2e.server import TesseraServer
from tests.saml_fixtures.make_saml import SamlIdP

pytestmark = pytest.mark.e2e

IC = "arn:aws:sso:::instance/ssoins-1234567890abcdef"
CP = {
    "SubjectSourceKey": "sub",
    "SubjectTypeValue": "user",
    "KeyDefinitionList": [{"SourceKey": "amr", "TargetKey": "auth_method"}],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TesseraServer]:
    srv = TesseraServer(data_dir=tmp_path_factory.mktemp("tipcfg") / "data")
    srv.init()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _err(call: Any, **kw: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call(**kw)
    r = info.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def test_oidc_context_provider_lifecycle(server: TesseraServer) -> None:
    iam = server.client("iam")
    arn = iam.create_open_id_connect_provider(
        Url="https://tip.example.com", ClientIDList=["a"], ContextProvider=CP
    )["OpenIDConnectProviderArn"]
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert got["ContextProvider"] == CP
    assert "IdentityCenterInstanceArn" not in got and "IdentityStoreArn" not in got
    # associate, then the rules
    iam.update_open_id_connect_provider(OpenIDConnectProviderArn=arn, IdentityCenterInstanceArn=IC)
    assert (
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["IdentityCenterInstanceArn"]
        == IC
    )
    code, status, msg = _err(
        iam.update_open_id_connect_provider,
        OpenIDConnectProviderArn=arn,
        RemoveContextProvider=True,
    )
    assert (code, status) == ("InvalidInput", 400) and "association" in msg
    code, status, _ = _err(
        iam.update_open_id_connect_provider,
        OpenIDConnectProviderArn=arn,
        ContextProvider=CP,
        RemoveIdentityCenterInstance=True,
    )
    assert (code, status) == ("InvalidInput", 400)
    code, status, _ = _err(
        iam.update_open_id_connect_provider,
        OpenIDConnectProviderArn=arn,
        ContextProvider=CP,
        RemoveContextProvider=True,
    )
    assert (code, status) == ("InvalidInput", 400)
    code, status, _ = _err(iam.update_open_id_connect_provider, OpenIDConnectProviderArn=arn)
    assert (code, status) == ("InvalidInput", 400)
    iam.update_open_id_connect_provider(
        OpenIDConnectProviderArn=arn, RemoveIdentityCenterInstance=True
    )
    iam.update_open_id_connect_provider(
        OpenIDConnectProviderArn=arn,
        ContextProvider={"SubjectSourceKey": "email", "SubjectTypeSourceKey": "kind"},
    )
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert got["ContextProvider"] == {
        "SubjectSourceKey": "email",
        "SubjectTypeSourceKey": "kind",
        "KeyDefinitionList": [],
    }
    iam.update_open_id_connect_provider(OpenIDConnectProviderArn=arn, RemoveContextProvider=True)
    assert "ContextProvider" not in iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    code, status, _ = _err(
        iam.update_open_id_connect_provider,
        OpenIDConnectProviderArn=arn.replace("tip.example.com", "nope.example.com"),
        ContextProvider=CP,
    )
    assert (code, status) == ("NoSuchEntity", 404)


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"ContextProvider": {**CP, "SubjectTypeSourceKey": "t"}}, "InvalidInput"),
        ({"IdentityCenterInstanceArn": IC}, "InvalidInput"),
        (
            {"ContextProvider": CP, "IdentityCenterInstanceArn": "arn:aws:sso:::nope"},
            "InvalidInput",
        ),
        ({"ContextProvider": {"SubjectSourceKey": "two  spaces"}}, "InvalidInput"),
        ({"ContextProvider": {"SubjectSourceKey": " lead"}}, "InvalidInput"),
        ({"ContextProvider": {"SubjectSourceKey": "x" * 129}}, "ValidationError"),
        (
            {
                "ContextProvider": {
                    "SubjectSourceKey": "sub",
                    "KeyDefinitionList": [{"SourceKey": f"k{i}"} for i in range(11)],
                }
            },
            "ValidationError",
        ),
        (
            {
                "ContextProvider": {
                    "SubjectSourceKey": "sub",
                    "KeyDefinitionList": [
                        {"SourceKey": "a", "TargetKey": "t"},
                        {"SourceKey": "b", "TargetKey": "t"},
                    ],
                }
            },
            "InvalidInput",
        ),
    ],
)
def test_create_refusals(server: TesseraServer, kw: dict[str, Any], code: str) -> None:
    iam = _unvalidated_iam(server)
    got = _err(iam.create_open_id_connect_provider, Url="https://bad.example.com", **kw)
    assert got[:2] == (code, 400), got


def _unvalidated_iam(server: TesseraServer) -> Any:
    """An IAM client that leaves validation to the server."""
    assert server.root is not None
    return boto3.client(
        "iam",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=server.root.access_key_id,
        aws_secret_access_key=server.root.secret_access_key,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )


def test_saml_context_provider_and_key_hashes(server: TesseraServer) -> None:
    iam = server.client("iam")
    idp = SamlIdP(entity_id="https://saml-tip.example.test/idp")
    arn = iam.create_saml_provider(
        Name="tip-saml",
        SAMLMetadataDocument=idp.metadata(),
        ContextProvider={"SubjectSourceKey": "Subject/NameID", "SubjectTypeValue": "user"},
        IdentityCenterInstanceArn=IC,
    )["SAMLProviderArn"]
    got = iam.get_saml_provider(SAMLProviderArn=arn)
    spki = idp.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert got["SAMLKeyHashes"] == [
        {"IssuerURL": idp.entity_id, "KeyHashes": [hashlib.sha256(spki).hexdigest()]}
    ]
    assert got["ContextProvider"]["SubjectSourceKey"] == "Subject/NameID"
    assert got["IdentityCenterInstanceArn"] == IC
    # context provider and metadata in one request: refused
    code, status, _ = _err(
        iam.update_saml_provider,
        SAMLProviderArn=arn,
        SAMLMetadataDocument=idp.metadata(),
        ContextProvider={"SubjectSourceKey": "Subject/NameID"},
    )
    assert (code, status) == ("InvalidInput", 400)
    code, status, _ = _err(
        iam.update_saml_provider, SAMLProviderArn=arn, RemoveContextProvider=True
    )
    assert (code, status) == ("InvalidInput", 400)
    iam.update_saml_provider(SAMLProviderArn=arn, RemoveIdentityCenterInstance=True)
    iam.update_saml_provider(SAMLProviderArn=arn, RemoveContextProvider=True)
    got = iam.get_saml_provider(SAMLProviderArn=arn)
    assert "ContextProvider" not in got and "SAMLKeyHashes" not in got
    iam.update_saml_provider(
        SAMLProviderArn=arn, ContextProvider={"SubjectSourceKey": "Subject/NameID"}
    )
    assert iam.get_saml_provider(SAMLProviderArn=arn)["ContextProvider"] == {
        "SubjectSourceKey": "Subject/NameID",
        "KeyDefinitionList": [],
    }


def test_configuration_condition_keys(server: TesseraServer) -> None:
    """A user may create providers but not enable TIP (iam:EnableIdentityPropagation)
    and only for issuers under example.org (iam:RequestIdentityProviderIssuers)."""
    iam = server.client("iam")
    iam.create_user(UserName="idp-admin")
    iam.put_user_policy(
        UserName="idp-admin",
        PolicyName="p",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "iam:*OpenIDConnectProvider*", "Resource": "*"},
                    {
                        "Effect": "Deny",
                        "Action": "iam:*OpenIDConnectProvider*",
                        "Resource": "*",
                        "Condition": {"Bool": {"iam:EnableIdentityPropagation": "true"}},
                    },
                    {
                        "Effect": "Deny",
                        "Action": "iam:CreateOpenIDConnectProvider",
                        "Resource": "*",
                        "Condition": {
                            "ForAnyValue:StringNotLike": {
                                "iam:RequestIdentityProviderIssuers": "https://*.example.org"
                            }
                        },
                    },
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName="idp-admin")["AccessKey"]
    admin = _client_for(server, key)
    admin.create_open_id_connect_provider(Url="https://ok.example.org", ClientIDList=["a"])
    code, status, _ = _err(
        admin.create_open_id_connect_provider,
        Url="https://tip.example.org",
        ClientIDList=["a"],
        ContextProvider=CP,
    )
    assert (code, status) == ("AccessDenied", 403)
    code, status, _ = _err(
        admin.create_open_id_connect_provider, Url="https://other.example.net", ClientIDList=["a"]
    )
    assert (code, status) == ("AccessDenied", 403)
    arn = admin.list_open_id_connect_providers()["OpenIDConnectProviderList"][0]["Arn"]
    code, status, _ = _err(
        admin.update_open_id_connect_provider, OpenIDConnectProviderArn=arn, ContextProvider=CP
    )
    assert (code, status) == ("AccessDenied", 403)


def _client_for(server: TesseraServer, key: dict[str, str]) -> Any:
    return boto3.client(
        "iam",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        config=Config(retries={"max_attempts": 1}),
    )
