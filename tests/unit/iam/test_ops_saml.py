"""IAM SAML provider operations in process (botocore serialises, the server decodes
and renders, botocore parses): shapes, what each call authorises, ValidUntil, the
private-key rules and texts, sealing at rest, quotas, and cross-account isolation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select
from test_service_support import ACCOUNT_A, ACCOUNT_B, OPERATIONS, START, AllowAll, Harness, root
from tests.saml_fixtures.make_saml import SamlIdP

from tessera.errors import TesseraError
from tessera.iam.ops_saml import parse_provider_arn
from tessera.protocol.model import service_spec
from tessera.protocol.query import decode
from tessera.protocol.render import render_error, render_result
from tessera.store.sql import schema

IDP = SamlIdP("https://idp.example.test/iam-unit")
METADATA = IDP.metadata()


def call(h: Harness, operation: str, caller: Any = None, **params: Any) -> Any:
    spec = service_spec("iam")
    op_model = spec.model.operation_model(operation)
    body = create_serializer("query", include_validation=False).serialize_to_request(
        params, op_model
    )["body"]
    decoded = decode(spec, [(k, str(v)) for k, v in body.items()])
    result = OPERATIONS[operation](h.context(operation, caller), decoded.params)
    xml = render_result(spec, operation, result, "req-1")
    parsed = create_parser("query").parse(
        {"body": xml, "headers": {}, "status_code": 200}, op_model.output_shape
    )
    parsed.pop("ResponseMetadata", None)
    return parsed


def error(h: Harness, operation: str, caller: Any = None, **params: Any) -> tuple[str, str, int]:
    with pytest.raises(TesseraError) as info:
        call(h, operation, caller, **params)
    xml = render_error(service_spec("iam"), info.value, "req-1")
    parsed = create_parser("query").parse(
        {"body": xml, "headers": {}, "status_code": info.value.status}, None
    )
    return parsed["Error"]["Code"], parsed["Error"]["Message"], info.value.status


def pem(key: Any) -> str:
    return str(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    )


@pytest.fixture
def authz() -> AllowAll:
    return AllowAll()


@pytest.fixture
def h(authz: AllowAll) -> Harness:
    return Harness.create(authz)


ARN = f"arn:aws:iam::{ACCOUNT_A}:saml-provider/corp"


def test_create_and_get_shapes(h: Harness, authz: AllowAll) -> None:
    out = call(h, "CreateSAMLProvider", Name="corp", SAMLMetadataDocument=METADATA)
    assert out == {"SAMLProviderArn": ARN}
    got = call(h, "GetSAMLProvider", SAMLProviderArn=ARN)
    assert got["SAMLMetadataDocument"] == METADATA
    assert got["CreateDate"] == START.replace(microsecond=0)
    assert got["ValidUntil"] == START.replace(microsecond=0) + timedelta(days=36525)
    assert got["Tags"] == [] and got["PrivateKeyList"] == []
    assert got["AssertionEncryptionMode"] == "Allowed"
    assert len(got["SAMLProviderUUID"]) == 32 and got["SAMLProviderUUID"].isupper()
    listed = call(h, "ListSAMLProviders")["SAMLProviderList"]
    assert listed == [
        {"Arn": ARN, "ValidUntil": got["ValidUntil"], "CreateDate": got["CreateDate"]}
    ]
    assert authz.calls == [
        ("iam:CreateSAMLProvider", ARN),
        ("iam:GetSAMLProvider", ARN),
        ("iam:ListSAMLProviders", "*"),
    ]


def test_names_are_case_insensitive_and_accounts_isolated(h: Harness) -> None:
    call(h, "CreateSAMLProvider", Name="corp", SAMLMetadataDocument=METADATA)
    assert error(h, "CreateSAMLProvider", Name="CORP", SAMLMetadataDocument=METADATA) == (
        "EntityAlreadyExists",
        "SAMLProvider with name CORP already exists.",
        409,
    )
    # the same ARN read by another account's root is not found
    assert error(h, "GetSAMLProvider", root(ACCOUNT_B), SAMLProviderArn=ARN) == (
        "NoSuchEntity",
        f"Manifest not found for arn {ARN}",
        404,
    )
    assert call(h, "ListSAMLProviders", root(ACCOUNT_B)) == {"SAMLProviderList": []}
    bad = "arn:aws:iam::111111111111:role/corp"
    assert error(h, "DeleteSAMLProvider", SAMLProviderArn=bad)[0] == "NoSuchEntity"


def test_tags(h: Harness, authz: AllowAll) -> None:
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    call(h, "CreateSAMLProvider", Name="corp", SAMLMetadataDocument=METADATA, Tags=tags[:3])
    call(h, "TagSAMLProvider", SAMLProviderArn=ARN, Tags=tags[3:])
    assert len(call(h, "ListSAMLProviderTags", SAMLProviderArn=ARN)["Tags"]) == 50
    page = call(h, "ListSAMLProviderTags", SAMLProviderArn=ARN, MaxItems=20)
    assert page["IsTruncated"] and len(page["Tags"]) == 20
    assert error(h, "TagSAMLProvider", SAMLProviderArn=ARN, Tags=[{"Key": "x", "Value": "y"}]) == (
        "LimitExceeded",
        "Cannot exceed quota for TagsPerSAMLProvider: 50",
        409,
    )
    call(h, "UntagSAMLProvider", SAMLProviderArn=ARN, TagKeys=["K0", "k1"])
    assert len(call(h, "ListSAMLProviderTags", SAMLProviderArn=ARN)["Tags"]) == 48
    actions = [a for a, _ in authz.calls]
    assert "iam:TagSAMLProvider" in actions and "iam:UntagSAMLProvider" in actions
    call(h, "DeleteSAMLProvider", SAMLProviderArn=ARN)
    call(h, "CreateSAMLProvider", Name="corp", SAMLMetadataDocument=METADATA)
    assert call(h, "ListSAMLProviderTags", SAMLProviderArn=ARN)["Tags"] == []


def test_private_keys(h: Harness) -> None:
    k1, k2, k3 = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3))
    call(
        h,
        "CreateSAMLProvider",
        Name="corp",
        SAMLMetadataDocument=METADATA,
        AssertionEncryptionMode="Required",
        AddPrivateKey=pem(k1),
    )
    got = call(h, "GetSAMLProvider", SAMLProviderArn=ARN)
    assert got["AssertionEncryptionMode"] == "Required"
    [first] = got["PrivateKeyList"]
    assert len(first["KeyId"]) == 26 and first["KeyId"].isalnum() and first["KeyId"].isupper()
    # sealed at rest
    with h.store.engine.connect() as conn:
        sealed = conn.execute(select(schema.saml_providers.c.private_keys_sealed)).scalar_one()
    assert b"PRIVATE KEY" not in bytes(sealed)

    call(h, "UpdateSAMLProvider", SAMLProviderArn=ARN, AddPrivateKey=pem(k2))
    assert error(h, "UpdateSAMLProvider", SAMLProviderArn=ARN, AddPrivateKey=pem(k3)) == (
        "LimitExceeded",
        "Private key limit of 2 is reached.",
        409,
    )
    assert error(
        h,
        "UpdateSAMLProvider",
        SAMLProviderArn=ARN,
        AddPrivateKey=pem(k3),
        RemovePrivateKey=first["KeyId"],
    )[1] == (
        "Unable to add and remove private keys in the same request. Set a value for only one "
        "of the two parameters."
    )
    keys = call(h, "GetSAMLProvider", SAMLProviderArn=ARN)["PrivateKeyList"]
    call(h, "UpdateSAMLProvider", SAMLProviderArn=ARN, RemovePrivateKey=keys[0]["KeyId"])
    # the last key of a provider that requires encryption stays
    assert error(
        h, "UpdateSAMLProvider", SAMLProviderArn=ARN, RemovePrivateKey=keys[1]["KeyId"]
    ) == (
        "InvalidInput",
        "Failed to remove private key.",
        400,
    )
    call(h, "UpdateSAMLProvider", SAMLProviderArn=ARN, AssertionEncryptionMode="Allowed")
    call(h, "UpdateSAMLProvider", SAMLProviderArn=ARN, RemovePrivateKey=keys[1]["KeyId"])
    got = call(h, "GetSAMLProvider", SAMLProviderArn=ARN)
    assert got["PrivateKeyList"] == [] and got["AssertionEncryptionMode"] == "Allowed"


@pytest.mark.parametrize(
    "key",
    [
        "not a key",
        pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
        pem(ec.generate_private_key(ec.SECP256R1())),
    ],
)
def test_invalid_private_keys(h: Harness, key: str) -> None:
    assert error(
        h, "CreateSAMLProvider", Name="corp", SAMLMetadataDocument=METADATA, AddPrivateKey=key
    ) == ("InvalidInput", "Invalid private key.", 400)


def test_metadata_rules(h: Harness) -> None:
    assert error(h, "CreateSAMLProvider", Name="corp", SAMLMetadataDocument="<x/>" * 300) == (
        "InvalidInput",
        "Could not parse metadata.",
        400,
    )
    call(h, "CreateSAMLProvider", Name="corp", SAMLMetadataDocument=METADATA)
    assert error(h, "UpdateSAMLProvider", SAMLProviderArn=ARN, SAMLMetadataDocument="<x/>" * 300)[
        1
    ] == ("Could not parse metadata.")
    # a failed update changes nothing
    assert call(h, "GetSAMLProvider", SAMLProviderArn=ARN)["SAMLMetadataDocument"] == METADATA


def test_provider_quota(h: Harness) -> None:
    for i in range(100):
        call(h, "CreateSAMLProvider", Name=f"p{i}", SAMLMetadataDocument=METADATA)
    assert error(h, "CreateSAMLProvider", Name="one-more", SAMLMetadataDocument=METADATA) == (
        "LimitExceeded",
        "Cannot exceed quota for SAMLProvidersPerAccount: 100",
        409,
    )


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        (ARN, (ACCOUNT_A, "corp")),
        ("arn:aws:iam::111111111111:saml-provider/a.b_c-d", (ACCOUNT_A, "a.b_c-d")),
        ("arn:aws:iam::111111111111:saml-provider/", None),
        ("arn:aws:iam::111111111111:saml-provider/a/b", None),
        ("arn:aws:iam::11111111111:saml-provider/a", None),
        ("arn:aws:iam:us-east-1:111111111111:saml-provider/a", None),
        ("arn:aws:sts::111111111111:saml-provider/a", None),
        ("arn:aws:iam::111111111111:oidc-provider/a", None),
        ("saml-provider/a", None),
    ],
)
def test_parse_provider_arn(arn: str, expected: tuple[str, str] | None) -> None:
    ref = parse_provider_arn(arn)
    assert (None if ref is None else (ref.account_id, ref.name)) == expected
