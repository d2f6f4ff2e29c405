"""Tests for tessera.protocol.query: form parsing, operation lookup, model-driven decoding
and validation. botocore's own Query serializer is the oracle for the wire format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import botocore.serialize
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import (
    InvalidAction,
    MissingAction,
    MissingParameter,
    TesseraError,
    ValidationError,
)
from tessera.protocol.model import ServiceSpec, service_spec
from tessera.protocol.query import (
    DecodedRequest,
    Params,
    _compile_pattern,
    decode,
    params_for,
    parse_form,
    precompile,
)

STS = service_spec("sts")
IAM = service_spec("iam")
ROLE_ARN = "arn:aws:iam::123456789012:role/demo"
POLICY_ARN = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def _serialize(spec: ServiceSpec, operation: str, params: Mapping[str, Any]) -> bytes:
    serializer = botocore.serialize.create_serializer("query", include_validation=True)
    request = serializer.serialize_to_request(params, spec.model.operation_model(operation))
    return urlencode(request["body"]).encode()


def _roundtrip(spec: ServiceSpec, operation: str, params: Mapping[str, Any]) -> DecodedRequest:
    decoded = decode(spec, parse_form(_serialize(spec, operation, params)))
    assert decoded.operation == operation
    assert dict(decoded.params.raw()) == dict(params)
    return decoded


def _form(spec: ServiceSpec, action: str, **params: str) -> list[tuple[str, str]]:
    return [("Action", action), ("Version", spec.api_version), *params.items()]


def _validation_message(spec: ServiceSpec, pairs: list[tuple[str, str]]) -> str:
    with pytest.raises(ValidationError) as info:
        decode(spec, pairs)
    assert info.value.code == "ValidationError"
    assert info.value.status == 400
    return info.value.message


# --- parse_form -----------------------------------------------------------------------


def test_parse_form_keeps_order_and_blanks() -> None:
    pairs = parse_form(b"Action=AssumeRole&Tags=&B=2&A=1&A=3")
    assert pairs == [("Action", "AssumeRole"), ("Tags", ""), ("B", "2"), ("A", "1"), ("A", "3")]


def test_parse_form_decodes_percent_and_plus() -> None:
    assert parse_form("RoleArn=arn%3Aaws%3Aiam&Name=a+b%20c") == [
        ("RoleArn", "arn:aws:iam"),
        ("Name", "a b c"),
    ]


def test_parse_form_is_lenient() -> None:
    assert parse_form(b"A=%zz&B=%ff&C") == [("A", "%zz"), ("B", "\ufffd"), ("C", "")]
    assert parse_form(b"\xff\xfe=1") == [("\ufffd\ufffd", "1")]
    assert parse_form(b"") == []
    assert parse_form("") == []


@settings(max_examples=400)
@given(st.text(alphabet="ab=&%+;2fF\u00e9 \x00", max_size=40))
def test_parse_form_agrees_with_parse_qsl(text: str) -> None:
    from urllib.parse import parse_qsl

    assert parse_form(text) == parse_qsl(text, keep_blank_values=True, errors="replace")
    raw = text.encode("utf-8", "surrogatepass")
    assert parse_form(raw) == parse_qsl(
        raw.decode("utf-8", "replace"), keep_blank_values=True, errors="replace"
    )  # --- Action and Version ---------------------------------------------------------------


def test_missing_action() -> None:
    with pytest.raises(MissingAction) as info:
        decode(STS, [("Version", "2011-06-15")])
    assert info.value.code == "MissingAction"


def test_unknown_action() -> None:
    with pytest.raises(InvalidAction) as info:
        decode(STS, _form(STS, "NoSuchAction"))
    assert info.value.message == "Could not find operation NoSuchAction for version 2011-06-15"


def test_empty_action() -> None:
    with pytest.raises(InvalidAction) as info:
        decode(STS, _form(STS, ""))
    assert info.value.message == "Could not find operation  for version 2011-06-15"


def test_missing_version() -> None:
    with pytest.raises(InvalidAction) as info:
        decode(STS, [("Action", "GetCallerIdentity")])
    expected = "Could not find operation GetCallerIdentity for version NO_VERSION_SPECIFIED"
    assert info.value.message == expected


@pytest.mark.parametrize("version", ["", "2000-01-01", "2010-05-08"])
def test_wrong_version(version: str) -> None:
    with pytest.raises(InvalidAction) as info:
        decode(STS, [("Action", "GetCallerIdentity"), ("Version", version)])
    expected = f"Could not find operation GetCallerIdentity for version {version}"
    assert info.value.message == expected


def test_iam_action_is_not_an_sts_action() -> None:
    with pytest.raises(InvalidAction):
        decode(STS, _form(STS, "CreateRole", RoleName="x"))


def test_first_action_and_version_win() -> None:
    pairs = [
        ("Action", "GetCallerIdentity"),
        ("Action", "NoSuchAction"),
        ("Version", "2011-06-15"),
        ("Version", "2000-01-01"),
    ]
    assert decode(STS, pairs).operation == "GetCallerIdentity"
    with pytest.raises(InvalidAction):
        decode(STS, list(reversed(pairs)))


def test_operation_without_input_shape() -> None:
    decoded = decode(IAM, _form(IAM, "GetAccountSummary", Unknown="x"))
    assert decoded.operation == "GetAccountSummary"
    assert dict(decoded.params.raw()) == {}


def test_unknown_and_presign_parameters_are_ignored() -> None:
    decoded = decode(
        STS,
        _form(
            STS,
            "GetCallerIdentity",
            Unknown="value",
            **{"X-Amz-Signature": "abc", "X-Amz-Credential": "AKIA/x"},
        ),
    )
    assert dict(decoded.params.raw()) == {}


# --- botocore serializer round trips --------------------------------------------------

ROUNDTRIPS: list[tuple[ServiceSpec, str, dict[str, Any]]] = [
    (STS, "GetCallerIdentity", {}),
    (
        STS,
        "AssumeRole",
        {
            "RoleArn": ROLE_ARN,
            "RoleSessionName": "build-42@ci",
            "PolicyArns": [{"arn": POLICY_ARN}, {"arn": POLICY_ARN + "2"}],
            "Policy": '{"Version":"2012-10-17","Statement":[]}',
            "DurationSeconds": 3600,
            "Tags": [{"Key": "team", "Value": "platform"}, {"Key": "env", "Value": "prod"}],
            "TransitiveTagKeys": ["team", "env"],
            "ExternalId": "ext-id:1",
            "SerialNumber": "arn:aws:iam::123456789012:mfa/user",
            "TokenCode": "123456",
            "SourceIdentity": "alice",
            "ProvidedContexts": [
                {
                    "ProviderArn": "arn:aws:iam::aws:contextProvider/IdentityCenter",
                    "ContextAssertion": "a" * 20,
                }
            ],
        },
    ),
    (STS, "AssumeRole", {"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "Tags": []}),
    (
        STS,
        "AssumeRoleWithWebIdentity",
        {
            "RoleArn": ROLE_ARN,
            "RoleSessionName": "web",
            "WebIdentityToken": "eyJhbGciOiJSUzI1NiJ9.e30.sig",
            "ProviderId": "www.amazon.com",
            "DurationSeconds": 900,
        },
    ),
    (
        STS,
        "AssumeRoleWithSAML",
        {
            "RoleArn": ROLE_ARN,
            "PrincipalArn": "arn:aws:iam::123456789012:saml-provider/idp",
            "SAMLAssertion": "PHNhbWw+" * 4,
        },
    ),
    (
        STS,
        "GetWebIdentityToken",
        {
            "Audience": ["https://api.example.com", "sts.amazonaws.com"],
            "DurationSeconds": 300,
            "SigningAlgorithm": "ES384",
            "Tags": [{"Key": "k", "Value": "v"}],
        },
    ),
    (STS, "GetSessionToken", {"DurationSeconds": 129600}),
    (STS, "GetFederationToken", {"Name": "bob", "PolicyArns": []}),
    (STS, "DecodeAuthorizationMessage", {"EncodedMessage": "xyz"}),
    (STS, "GetAccessKeyInfo", {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE"}),
    (
        IAM,
        "CreateRole",
        {
            "Path": "/service/",
            "RoleName": "demo-role",
            "AssumeRolePolicyDocument": '{"Version":"2012-10-17","Statement":[]}',
            "Description": "A role for tests",
            "MaxSessionDuration": 7200,
            "PermissionsBoundary": POLICY_ARN,
            "Tags": [{"Key": "a", "Value": ""}, {"Key": "b", "Value": "c d"}],
        },
    ),
    (IAM, "CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": "{}", "Tags": []}),
    (
        IAM,
        "PutRolePolicy",
        {"RoleName": "demo-role", "PolicyName": "inline", "PolicyDocument": '{"a": "é&="}'},
    ),
    (
        IAM,
        "SimulatePrincipalPolicy",
        {
            "PolicySourceArn": "arn:aws:iam::123456789012:user/alice",
            "PolicyInputList": ["{}"],
            "ActionNames": ["s3:GetObject", "sts:AssumeRole"],
            "ResourceArns": ["*"],
            "ContextEntries": [
                {
                    "ContextKeyName": "aws:MultiFactorAuthPresent",
                    "ContextKeyValues": ["true"],
                    "ContextKeyType": "boolean",
                },
                {
                    "ContextKeyName": "aws:SourceIp",
                    "ContextKeyValues": ["10.0.0.1", "10.0.0.2"],
                    "ContextKeyType": "ipList",
                },
            ],
            "MaxItems": 100,
        },
    ),
    (
        IAM,
        "UpdateAccountPasswordPolicy",
        {
            "MinimumPasswordLength": 14,
            "RequireSymbols": True,
            "RequireNumbers": False,
            "AllowUsersToChangePassword": True,
            "MaxPasswordAge": 90,
            "HardExpiry": False,
        },
    ),
    (
        IAM,
        "CreatePolicyVersion",
        {"PolicyArn": POLICY_ARN, "PolicyDocument": "{}", "SetAsDefault": True},
    ),
    (IAM, "UpdateAccessKey", {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "Status": "Inactive"}),
    (IAM, "ListRoles", {"PathPrefix": "/", "Marker": "m", "MaxItems": 1}),
    (IAM, "TagRole", {"RoleName": "r", "Tags": [{"Key": "x", "Value": "y"}]}),
    (IAM, "UntagRole", {"RoleName": "r", "TagKeys": ["x", "y:z"]}),
    (
        IAM,
        "CreateOpenIDConnectProvider",
        {
            "Url": "https://issuer.example.com",
            "ClientIDList": ["aud"],
            "ThumbprintList": ["a" * 40],
        },
    ),
    (
        IAM,
        "CreateLoginProfile",
        {"UserName": "u", "Password": "pässword&1", "PasswordResetRequired": True},
    ),
    (IAM, "GetOutboundWebIdentityFederationInfo", {}),
]


@pytest.mark.parametrize(
    ("spec", "operation", "params"),
    ROUNDTRIPS,
    ids=[f"{spec.name}-{op}-{i}" for i, (spec, op, _) in enumerate(ROUNDTRIPS)],
)
def test_botocore_serializer_roundtrip(
    spec: ServiceSpec, operation: str, params: dict[str, Any]
) -> None:
    _roundtrip(spec, operation, params)


def test_empty_list_is_empty_not_absent() -> None:
    decoded = _roundtrip(
        STS, "AssumeRole", {"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "Tags": []}
    )
    assert decoded.params.get_list("Tags") == []
    assert decoded.params.get_list("PolicyArns") is None
    assert "Tags" in decoded.params
    assert "PolicyArns" not in decoded.params


# Generic: every operation of both services, with sample inputs generated from the shapes.

_CANDIDATES = [
    "{a}",
    "{A}",
    "{n}",
    "arn:aws:iam::123456789012:role/x",
    "/",
    "/{a}/",
    "o-{a}",
    "o-aaaaaaaaaa",
    "p-aaaaaaaa",
    "v1",
    "https://example.com",
    "123456789012",
]


def _sample_string(shape: Any) -> str | None:
    meta = shape.metadata
    if "enum" in meta:
        return str(meta["enum"][0])
    lo, hi = int(meta.get("min", 1)), int(meta.get("max", 64))
    size = max(lo, min(hi, 8))
    check = _compile_pattern(meta["pattern"]) if "pattern" in meta else None
    for template in _CANDIDATES:
        text = template.format(a="a" * size, A="A" * size, n="1" * size)
        if lo <= len(text) <= hi and (check is None or check(text) is not None):
            return text
    return None


def _sample_input(shape: Any, depth: int = 0) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if depth > 4:
            return None
        out = {}
        for name, member in shape.members.items():
            value = _sample_input(member, depth + 1)
            if value is None:
                if name in shape.required_members:
                    return None
                continue
            out[name] = value
            if getattr(shape, "is_tagged_union", False):
                break  # a tagged union takes exactly one member
        return out
    if kind == "list":
        item = _sample_input(shape.member, depth + 1)
        if item is None:
            return None
        count = max(int(shape.metadata.get("min", 2)), 1)
        return [item] * min(count, int(shape.metadata.get("max", 2)))
    if kind == "map":
        key = _sample_input(shape.key, depth + 1)
        value = _sample_input(shape.value, depth + 1)
        return None if key is None or value is None else {key: value}
    if kind in ("integer", "long"):
        return int(shape.metadata.get("min", 1))
    if kind == "boolean":
        return True
    if kind == "string":
        return _sample_string(shape)
    return None  # no timestamps/blobs in the STS/IAM inputs


def _all_operations() -> list[tuple[ServiceSpec, str]]:
    return [(spec, op) for spec in (STS, IAM) for op in spec.model.operation_names]


@pytest.mark.parametrize(
    ("spec", "operation"), _all_operations(), ids=[f"{s.name}-{o}" for s, o in _all_operations()]
)
def test_every_operation_roundtrips(spec: ServiceSpec, operation: str) -> None:
    input_shape = spec.model.operation_model(operation).input_shape
    params = {} if input_shape is None else _sample_input(input_shape)
    if params is None:
        pytest.skip("no sample satisfies this input shape's patterns")
    _roundtrip(spec, operation, params)


def test_most_operations_are_sampled() -> None:
    sampled = sum(
        1
        for spec, op in _all_operations()
        if (shape := spec.model.operation_model(op).input_shape) is None
        or _sample_input(shape) is not None
    )
    assert sampled >= len(_all_operations()) * 0.95


# --- list details ---------------------------------------------------------------------


def test_member_indices_sorted_with_gaps() -> None:
    decoded = decode(
        STS,
        _form(
            STS,
            "AssumeRole",
            RoleArn=ROLE_ARN,
            RoleSessionName="s1",
            **{
                "TransitiveTagKeys.member.10": "c",
                "TransitiveTagKeys.member.2": "b",
                "TransitiveTagKeys.member.1": "a",
                "TransitiveTagKeys.member.x": "ignored",
            },
        ),
    )
    assert decoded.params.get_str_list("TransitiveTagKeys") == ["a", "b", "c"]


def test_duplicate_member_parameter_first_wins() -> None:
    pairs = [
        *_form(STS, "AssumeRole", RoleArn=ROLE_ARN),
        ("RoleSessionName", "first"),
        ("RoleSessionName", "x!"),
    ]
    assert decode(STS, pairs).params.get_str("RoleSessionName") == "first"


def test_empty_list_marker_with_members_gives_members() -> None:
    pairs = [
        *_form(STS, "AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="s1"),
        ("TransitiveTagKeys", ""),
        ("TransitiveTagKeys.member.1", "k"),
    ]
    assert decode(STS, pairs).params.get_list("TransitiveTagKeys") == ["k"]


def test_structure_list_entries() -> None:
    decoded = decode(
        STS,
        _form(
            STS,
            "AssumeRole",
            RoleArn=ROLE_ARN,
            RoleSessionName="s1",
            **{
                "Tags.member.2.Key": "b",
                "Tags.member.2.Value": "2",
                "Tags.member.1.Key": "a",
                "Tags.member.1.Value": "1",
            },
        ),
    )
    tags = decoded.params.get_struct_list("Tags")
    assert tags is not None
    assert [(t.req_str("Key"), t.req_str("Value")) for t in tags] == [("a", "1"), ("b", "2")]


# --- validation messages --------------------------------------------------------------


def test_pattern_message() -> None:
    message = _validation_message(
        STS, _form(STS, "AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="x!")
    )
    assert message == (
        "1 validation error detected: Value 'x!' at 'roleSessionName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
    )


def test_null_message() -> None:
    message = _validation_message(STS, _form(STS, "AssumeRole", RoleSessionName="s1"))
    assert message == (
        "1 validation error detected: Value null at 'roleArn' failed to satisfy "
        "constraint: Member must not be null"
    )


def test_range_message() -> None:
    message = _validation_message(
        STS,
        _form(STS, "AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="s1", DurationSeconds="43201"),
    )
    assert message == (
        "1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy "
        "constraint: Member must have value less than or equal to 43200"
    )
    message = _validation_message(
        STS,
        _form(STS, "AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="s1", DurationSeconds="899"),
    )
    assert message.endswith("Member must have value greater than or equal to 900")


def test_length_messages() -> None:
    message = _validation_message(
        STS, _form(STS, "AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="s")
    )
    assert message == (
        "1 validation error detected: Value 's' at 'roleSessionName' failed to satisfy "
        "constraint: Member must have length greater than or equal to 2"
    )
    message = _validation_message(
        STS, _form(STS, "AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="s" * 65)
    )
    assert message.endswith("Member must have length less than or equal to 64")


def test_several_errors_are_joined() -> None:
    message = _validation_message(STS, _form(STS, "AssumeRole", RoleSessionName="x!"))
    assert message == (
        "2 validation errors detected: "
        "Value null at 'roleArn' failed to satisfy constraint: Member must not be null; "
        "Value 'x!' at 'roleSessionName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\w+=,.@-]*"
    )


def test_length_and_pattern_both_reported() -> None:
    message = _validation_message(
        STS, _form(STS, "AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="!")
    )
    assert message.startswith("2 validation errors detected: Value '!' at 'roleSessionName'")
    assert "length greater than or equal to 2; Value '!' at 'roleSessionName'" in message


def test_nested_member_paths() -> None:
    message = _validation_message(
        STS,
        _form(
            STS,
            "AssumeRole",
            RoleArn=ROLE_ARN,
            RoleSessionName="s1",
            **{
                "Tags.member.1.Key": "ok",
                "Tags.member.1.Value": "v",
                "Tags.member.2.Key": "bad!key",
                "Tags.member.2.Value": "v",
                "Tags.member.3.Key": "k",
            },
        ),
    )
    assert message.startswith("2 validation errors detected: ")
    assert (
        "Value 'bad!key' at 'tags.2.member.key' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+"
    ) in message
    assert "Value null at 'tags.3.member.value' failed to satisfy constraint" in message


def test_list_length_message() -> None:
    tags = {f"TransitiveTagKeys.member.{i}": f"k{i}" for i in range(1, 52)}
    message = _validation_message(
        STS, _form(STS, "AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="s1", **tags)
    )
    assert message.startswith("1 validation error detected: Value '[k1, k2, ")
    assert message.endswith(
        "at 'transitiveTagKeys' failed to satisfy constraint: "
        "Member must have length less than or equal to 50"
    )


def test_list_min_length() -> None:
    message = _validation_message(
        STS, _form(STS, "GetWebIdentityToken", Audience="", SigningAlgorithm="RS256")
    )
    assert message == (
        "1 validation error detected: Value '[]' at 'audience' failed to satisfy "
        "constraint: Member must have length greater than or equal to 1"
    )


def test_enum_message() -> None:
    message = _validation_message(
        IAM, _form(IAM, "UpdateAccessKey", AccessKeyId="AKIAIOSFODNN7EXAMPLE", Status="foo")
    )
    assert message == (
        "1 validation error detected: Value 'foo' at 'status' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Active, Inactive, Expired]"
    )


def test_unicode_pattern_classes() -> None:
    decoded = decode(
        STS,
        _form(
            STS,
            "AssumeRole",
            RoleArn=ROLE_ARN,
            RoleSessionName="s1",
            **{"Tags.member.1.Key": "ключ é 1", "Tags.member.1.Value": "值"},
        ),
    )
    assert decoded.params.get_list("Tags") == [{"Key": "ключ é 1", "Value": "值"}]


def test_backslash_w_is_ascii_as_in_java() -> None:
    message = _validation_message(
        STS, _form(STS, "AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="séance")
    )
    assert "Member must satisfy regular expression pattern" in message
    message = _validation_message(
        STS, _form(STS, "AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="s1", TokenCode="١٢٣٤٥٦")
    )
    assert "at 'tokenCode'" in message


# --- sensitive members ----------------------------------------------------------------


def test_sensitive_value_is_not_echoed() -> None:
    secret = "ab!"
    message = _validation_message(
        STS,
        _form(
            STS,
            "AssumeRoleWithWebIdentity",
            RoleArn=ROLE_ARN,
            RoleSessionName="s1",
            WebIdentityToken=secret,
        ),
    )
    assert message == (
        "1 validation error detected: Value at 'webIdentityToken' failed to satisfy "
        "constraint: Member must have length greater than or equal to 4"
    )
    assert secret not in message


def test_sensitive_password_not_echoed() -> None:
    secret = "p" * 200
    message = _validation_message(
        IAM, _form(IAM, "CreateLoginProfile", UserName="u", Password=secret)
    )
    assert message == (
        "1 validation error detected: Value at 'password' failed to satisfy constraint: "
        "Member must have length less than or equal to 128"
    )


def test_sensitive_null_still_says_null() -> None:
    message = _validation_message(
        STS,
        _form(
            STS,
            "AssumeRoleWithSAML",
            RoleArn=ROLE_ARN,
            PrincipalArn="arn:aws:iam::123456789012:saml-provider/idp",
        ),
    )
    assert "Value null at 'sAMLAssertion'" in message


# --- type conversion ------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["abc", "", " 3600", "3600 ", "1_000", "3.5", "١٢٣", "99999999999", "0x10", "+"]
)
def test_bad_integer(raw: str) -> None:
    message = _validation_message(
        STS, _form(STS, "AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="s1", DurationSeconds=raw)
    )
    assert message == (
        f"1 validation error detected: Value '{raw}' at 'durationSeconds' failed to satisfy "
        "constraint: Member must be an integer"
    )


def test_signed_integer_accepted() -> None:
    decoded = decode(
        STS,
        _form(STS, "AssumeRole", RoleArn=ROLE_ARN, RoleSessionName="s1", DurationSeconds="+0900"),
    )
    assert decoded.params.get_int("DurationSeconds") == 900


@pytest.mark.parametrize(("raw", "value"), [("true", True), ("false", False), ("TRUE", True)])
def test_booleans(raw: str, value: bool) -> None:
    decoded = decode(
        IAM,
        _form(
            IAM, "CreatePolicyVersion", PolicyArn=POLICY_ARN, PolicyDocument="{}", SetAsDefault=raw
        ),
    )
    assert decoded.params.get_bool("SetAsDefault") is value


@pytest.mark.parametrize("raw", ["yes", "1", "", "t"])
def test_bad_boolean(raw: str) -> None:
    message = _validation_message(
        IAM,
        _form(
            IAM, "CreatePolicyVersion", PolicyArn=POLICY_ARN, PolicyDocument="{}", SetAsDefault=raw
        ),
    )
    assert message == (
        f"1 validation error detected: Value '{raw}' at 'setAsDefault' failed to satisfy "
        "constraint: Member must be a boolean (true or false)"
    )


def test_scalar_given_only_as_prefix_is_absent() -> None:
    message = _validation_message(
        STS, _form(STS, "AssumeRole", RoleSessionName="s1", **{"RoleArn.x": ROLE_ARN})
    )
    assert "Value null at 'roleArn'" in message


# --- Params ---------------------------------------------------------------------------


def _assume_role_params() -> Params:
    return _roundtrip(
        STS,
        "AssumeRole",
        {
            "RoleArn": ROLE_ARN,
            "RoleSessionName": "s1",
            "DurationSeconds": 900,
            "Tags": [{"Key": "k", "Value": "v"}],
            "ProvidedContexts": [{"ProviderArn": "a" * 20, "ContextAssertion": "b" * 4}],
        },
    ).params


def test_params_typed_access() -> None:
    params = _assume_role_params()
    assert params.get_str("RoleArn") == ROLE_ARN
    assert params.req_str("RoleSessionName") == "s1"
    assert params.get_int("DurationSeconds") == 900
    assert params.get_str("ExternalId") is None
    assert params.get_int("Policy") is None
    assert params.get_list("Tags") == [{"Key": "k", "Value": "v"}]
    assert "RoleArn" in params and "ExternalId" not in params
    assert set(params) == {
        "RoleArn",
        "RoleSessionName",
        "DurationSeconds",
        "Tags",
        "ProvidedContexts",
    }
    assert len(params) == 5


def test_params_req_str_missing() -> None:
    with pytest.raises(MissingParameter) as info:
        _assume_role_params().req_str("ExternalId")
    assert info.value.message == "The request must contain the parameter ExternalId."


def test_params_unknown_member_is_a_bug() -> None:
    with pytest.raises(KeyError):
        _assume_role_params().get_str("RoleARN")


def test_params_wrong_type_is_a_bug() -> None:
    params = _assume_role_params()
    with pytest.raises(TypeError):
        params.get_str("DurationSeconds")
    with pytest.raises(TypeError):
        params.get_int("RoleArn")
    with pytest.raises(TypeError):
        params.get_bool("RoleArn")
    with pytest.raises(TypeError):
        params.get_list("RoleArn")
    with pytest.raises(TypeError):
        params.get_struct("Tags")
    with pytest.raises(TypeError):
        params.get_str_list("Tags")
    with pytest.raises(TypeError):
        params.get_struct_list("RoleArn")
    with pytest.raises(TypeError):
        params.get_datetime("RoleArn")
    with pytest.raises(TypeError):
        params.get_bytes("RoleArn")
    with pytest.raises(TypeError):
        params.get_map("Tags")


def test_params_struct_access() -> None:
    decoded = _roundtrip(
        IAM,
        "CreateRole",
        {"RoleName": "r", "AssumeRolePolicyDocument": "{}"},
    )
    assert decoded.params.get_struct("Tags") is None
    nested = params_for(
        STS, "AssumeRole", {"ProvidedContexts": [{"ProviderArn": "p", "ContextAssertion": "c"}]}
    ).get_struct_list("ProvidedContexts")
    assert nested is not None
    assert nested[0].get_str("ProviderArn") == "p"
    with pytest.raises(KeyError):
        nested[0].get_str("Nope")


def test_params_raw_is_read_only_and_repr_hides_values() -> None:
    params = decode(
        STS,
        _form(
            STS,
            "AssumeRoleWithWebIdentity",
            RoleArn=ROLE_ARN,
            RoleSessionName="s1",
            WebIdentityToken="top-secret-token",
        ),
    ).params
    raw = params.raw()
    with pytest.raises(TypeError):
        raw["RoleArn"] = "x"  # type: ignore[index]
    assert "top-secret-token" not in repr(params)
    assert "WebIdentityToken" in repr(params)


def test_params_equality() -> None:
    assert _assume_role_params() == _assume_role_params()
    assert _assume_role_params() != params_for(STS, "AssumeRole", {})


def test_params_for_unknown_operation() -> None:
    with pytest.raises(KeyError):
        params_for(STS, "Nope", {})


def test_precompile_all() -> None:
    precompile(STS)
    precompile(IAM)


# --- robustness -----------------------------------------------------------------------

_KEY_PARTS = st.sampled_from(
    [
        "Tags",
        "member",
        "entry",
        "key",
        "value",
        "Key",
        "Value",
        "1",
        "2",
        "0",
        "01",
        "-1",
        "99999999999999999999999",
        "RoleArn",
        "RoleSessionName",
        "DurationSeconds",
        "PolicyArns",
        "arn",
        "TransitiveTagKeys",
        "ProvidedContexts",
        "ContextEntries",
        "ContextKeyValues",
        "ContextKeyName",
        "MaxItems",
        "SetAsDefault",
        "Audience",
        "",
        "x",
    ]
)
_KEYS = st.one_of(
    st.lists(_KEY_PARTS, min_size=1, max_size=6).map(".".join),
    st.text(max_size=20),
)
_VALUES = st.one_of(
    st.sampled_from(
        ["", "true", "false", "1", "900", "-5", "abc", ROLE_ARN, "s1", "x!", "1e5", "9" * 5000]
    ),
    st.text(max_size=40),
)


@settings(max_examples=300, deadline=None)
@given(
    spec_action=st.sampled_from(
        [
            (STS, "AssumeRole"),
            (STS, "GetWebIdentityToken"),
            (STS, "GetCallerIdentity"),
            (IAM, "SimulatePrincipalPolicy"),
            (IAM, "CreatePolicyVersion"),
            (IAM, "CreateRole"),
            (STS, "Nope"),
        ]
    ),
    pairs=st.lists(st.tuples(_KEYS, _VALUES), max_size=25),
    with_version=st.booleans(),
)
def test_decode_only_raises_tessera_errors(
    spec_action: tuple[ServiceSpec, str], pairs: list[tuple[str, str]], with_version: bool
) -> None:
    spec, action = spec_action
    head = [("Action", action)] + ([("Version", spec.api_version)] if with_version else [])
    try:
        decoded = decode(spec, head + pairs)
    except TesseraError:
        return
    assert decoded.operation == action
    assert isinstance(decoded.params.raw(), Mapping)


@settings(max_examples=200, deadline=None)
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_parse_form_never_raises(raw: bytes | str) -> None:
    for key, value in parse_form(raw):
        assert isinstance(key, str) and isinstance(value, str)
