"""Tests for tessera.protocol.render: every body is parsed back with botocore's own Query
response parser, which is what boto3 and the AWS CLI will do with it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any
from xml.etree import ElementTree

import botocore.parsers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import (
    AccessDenied,
    InternalFailure,
    InvalidClientTokenId,
    NoSuchEntity,
    TesseraError,
    ValidationError,
)
from tessera.protocol.model import ServiceSpec, service_spec
from tessera.protocol.render import (
    JSON_CONTENT_TYPE,
    XML_CONTENT_TYPE,
    format_timestamp,
    precompile,
    render_error,
    render_result,
    wants_json,
)

STS = service_spec("sts")
IAM = service_spec("iam")
REQUEST_ID = "c6104cbe-af31-11e0-8154-cbc7ccf896c7"
WHEN = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def _parse(spec: ServiceSpec, operation: str, body: bytes, status: int = 200) -> dict[str, Any]:
    parser = botocore.parsers.create_parser("query")
    shape = spec.model.operation_model(operation).output_shape if status == 200 else None
    parsed: dict[str, Any] = parser.parse(
        {"body": body, "headers": {}, "status_code": status}, shape
    )
    return parsed


def _sample(shape: Any, depth: int = 0, text: str = "v") -> Any:
    kind = shape.type_name
    if kind == "structure":
        if depth > 6:
            return {}
        return {
            name: _sample(member, depth + 1, f"{name} & <{depth}> é")
            for name, member in shape.members.items()
        }
    if kind == "list":
        return [_sample(shape.member, depth + 1, f"{text}-1"), _sample(shape.member, depth + 1)]
    if kind == "map":
        return {"k1": _sample(shape.value, depth + 1), "k2": _sample(shape.value, depth + 1)}
    if kind == "string":
        return str(shape.metadata["enum"][0]) if "enum" in shape.metadata else text
    if kind in ("integer", "long"):
        return 42 + depth
    if kind == "boolean":
        return depth % 2 == 0
    if kind == "timestamp":
        return WHEN + timedelta(days=depth)
    if kind == "blob":
        return b"\x00\x01binary\xff"
    raise AssertionError(kind)


def _without_metadata(parsed: dict[str, Any]) -> dict[str, Any]:
    parsed = dict(parsed)
    assert parsed.pop("ResponseMetadata")["RequestId"] == REQUEST_ID
    return parsed


def _operations(spec: ServiceSpec) -> list[str]:
    return list(spec.model.operation_names)


@pytest.mark.parametrize("operation", _operations(STS))
def test_every_sts_output_roundtrips_through_botocore(operation: str) -> None:
    _check_roundtrip(STS, operation)


@pytest.mark.parametrize("operation", _operations(IAM))
def test_every_iam_output_roundtrips_through_botocore(operation: str) -> None:
    _check_roundtrip(IAM, operation)


def _check_roundtrip(spec: ServiceSpec, operation: str) -> None:
    output = spec.model.operation_model(operation).output_shape
    result = None if output is None else _sample(output)
    body = render_result(spec, operation, result, REQUEST_ID)
    assert body.startswith(f'<{operation}Response xmlns="{spec.namespace}">'.encode())
    if output is None:
        assert f"<{operation}Result>".encode() not in body
    assert _without_metadata(_parse(spec, operation, body)) == (result or {})


def test_get_caller_identity_exact_bytes() -> None:
    body = render_result(
        STS,
        "GetCallerIdentity",
        {"UserId": "AIDAEXAMPLE", "Account": "123456789012", "Arn": "arn:aws:iam::1:user/a"},
        REQUEST_ID,
    )
    assert body == (
        b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        b"<GetCallerIdentityResult><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account>"
        b"<Arn>arn:aws:iam::1:user/a</Arn></GetCallerIdentityResult>"
        b"<ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>"
        b"</ResponseMetadata></GetCallerIdentityResponse>"
    )


def test_members_in_shape_order_and_none_skipped() -> None:
    body = render_result(
        STS,
        "GetCallerIdentity",
        {"Arn": "a", "UserId": None, "Account": "1"},
        REQUEST_ID,
    )
    assert b"<GetCallerIdentityResult><Account>1</Account><Arn>a</Arn></" in body
    assert b"UserId" not in body


def test_no_output_operation() -> None:
    body = render_result(IAM, "DeleteRole", None, REQUEST_ID)
    assert body == (
        b'<DeleteRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
        b"<ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>"
        b"</ResponseMetadata></DeleteRoleResponse>"
    )
    assert render_result(IAM, "DeleteRole", {}, REQUEST_ID) == body
    with pytest.raises(AssertionError):
        render_result(IAM, "DeleteRole", {"Role": {}}, REQUEST_ID)


def test_empty_result_and_empty_list() -> None:
    body = render_result(IAM, "ListRoles", {"Roles": [], "IsTruncated": False}, REQUEST_ID)
    assert b"<Roles></Roles>" in body
    assert _without_metadata(_parse(IAM, "ListRoles", body)) == {
        "Roles": [],
        "IsTruncated": False,
    }
    body = render_result(STS, "GetCallerIdentity", None, REQUEST_ID)
    assert b"<GetCallerIdentityResult></GetCallerIdentityResult>" in body


def test_escaping_roundtrips() -> None:
    tricky = "a&b<c>d\"e'f\r\ng\tä\u2028😀]]>"
    result = {"UserId": tricky, "Account": "", "Arn": "&amp;"}
    body = render_result(STS, "GetCallerIdentity", result, "<rid&>")
    parsed = _parse(STS, "GetCallerIdentity", body)
    assert parsed["ResponseMetadata"]["RequestId"] == "<rid&>"
    parsed.pop("ResponseMetadata")
    assert parsed == result


def test_timestamps() -> None:
    assert format_timestamp(WHEN) == "2024-05-06T07:08:09Z"
    assert format_timestamp(WHEN.replace(microsecond=123456)) == "2024-05-06T07:08:09.123Z"
    plus_two = timezone(timedelta(hours=2))
    assert format_timestamp(datetime(2024, 5, 6, 9, 8, 9, tzinfo=plus_two)) == (
        "2024-05-06T07:08:09Z"
    )
    result = _assume_role_result()
    result["Credentials"]["Expiration"] = WHEN.replace(microsecond=500000)
    body = render_result(STS, "AssumeRole", result, REQUEST_ID)
    assert b"<Expiration>2024-05-06T07:08:09.500Z</Expiration>" in body
    assert _without_metadata(_parse(STS, "AssumeRole", body)) == result


def test_naive_datetime_is_a_bug() -> None:
    result = _assume_role_result()
    result["Credentials"]["Expiration"] = datetime(2024, 1, 1)
    with pytest.raises(TypeError):
        render_result(STS, "AssumeRole", result, REQUEST_ID)


def _assume_role_result() -> dict[str, Any]:
    return {
        "Credentials": {
            "AccessKeyId": "ASIAEXAMPLE",
            "SecretAccessKey": "secret",
            "SessionToken": "token",
            "Expiration": WHEN,
        },
        "AssumedRoleUser": {
            "AssumedRoleId": "AROAEXAMPLE:s1",
            "Arn": "arn:aws:sts::123456789012:assumed-role/demo/s1",
        },
        "PackedPolicySize": 6,
        "SourceIdentity": "alice",
    }


def test_unknown_key_is_a_bug() -> None:
    with pytest.raises(AssertionError, match="Bogus"):
        render_result(STS, "GetCallerIdentity", {"Arn": "a", "Bogus": "x"}, REQUEST_ID)
    result = _assume_role_result()
    result["Credentials"]["Extra"] = None
    with pytest.raises(AssertionError, match="Extra"):
        render_result(STS, "AssumeRole", result, REQUEST_ID)
    with pytest.raises(AssertionError):
        render_result(STS, "AssumeRole", result, REQUEST_ID, as_json=True)


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("PackedPolicySize", "6"),
        ("PackedPolicySize", True),
        ("SourceIdentity", 5),
        ("Credentials", "x"),
    ],
)
def test_wrong_types_are_bugs(member: str, value: object) -> None:
    result = _assume_role_result()
    result[member] = value
    with pytest.raises(TypeError):
        render_result(STS, "AssumeRole", result, REQUEST_ID)
    with pytest.raises(TypeError):
        render_result(STS, "AssumeRole", result, REQUEST_ID, as_json=True)


def test_wrong_list_and_bool_types_are_bugs() -> None:
    with pytest.raises(TypeError):
        render_result(IAM, "ListRoles", {"Roles": "nope"}, REQUEST_ID)
    with pytest.raises(TypeError):
        render_result(IAM, "ListRoles", {"Roles": [], "IsTruncated": "false"}, REQUEST_ID)


def test_unknown_operation_is_a_bug() -> None:
    with pytest.raises(Exception):  # noqa: B017 - botocore's OperationNotFoundError
        render_result(STS, "Nope", None, REQUEST_ID)


class _Status(StrEnum):
    ACTIVE = "Active"


def test_str_subclasses_render_their_value() -> None:
    body = render_result(
        IAM,
        "ListAccessKeys",
        {
            "AccessKeyMetadata": [
                {"UserName": "u", "AccessKeyId": "AKIA", "Status": _Status.ACTIVE}
            ],
            "IsTruncated": False,
        },
        REQUEST_ID,
    )
    assert b"<Status>Active</Status>" in body


# --- JSON -----------------------------------------------------------------------------


def test_json_get_caller_identity() -> None:
    body = render_result(
        STS,
        "GetCallerIdentity",
        {"UserId": "AIDA", "Account": "123456789012", "Arn": "arn:aws:iam::1:user/a"},
        REQUEST_ID,
        as_json=True,
    )
    assert json.loads(body) == {
        "GetCallerIdentityResponse": {
            "GetCallerIdentityResult": {
                "UserId": "AIDA",
                "Account": "123456789012",
                "Arn": "arn:aws:iam::1:user/a",
            },
            "ResponseMetadata": {"RequestId": REQUEST_ID},
        }
    }


def test_json_assume_role_types() -> None:
    result = _assume_role_result()
    result["SourceIdentity"] = None
    doc = json.loads(render_result(STS, "AssumeRole", result, REQUEST_ID, as_json=True))
    inner = doc["AssumeRoleResponse"]["AssumeRoleResult"]
    assert inner["Credentials"]["Expiration"] == WHEN.timestamp()
    assert inner["PackedPolicySize"] == 6
    assert "SourceIdentity" not in inner


def test_json_no_output_operation() -> None:
    doc = json.loads(render_result(IAM, "DeleteRole", None, REQUEST_ID, as_json=True))
    assert doc == {"DeleteRoleResponse": {"ResponseMetadata": {"RequestId": REQUEST_ID}}}


@pytest.mark.parametrize("operation", _operations(IAM)[:60] + _operations(STS))
def test_json_every_output_serialises(operation: str) -> None:
    spec = STS if operation in _operations(STS) else IAM
    output = spec.model.operation_model(operation).output_shape
    result = None if output is None else _sample(output)
    doc = json.loads(render_result(spec, operation, result, REQUEST_ID, as_json=True))
    assert doc[f"{operation}Response"]["ResponseMetadata"] == {"RequestId": REQUEST_ID}


# --- errors ---------------------------------------------------------------------------

ERRORS: list[TesseraError] = [
    ValidationError("1 validation error detected: Value 'x!' at 'roleSessionName' <&>"),
    InvalidClientTokenId(),
    AccessDenied("User: arn:aws:iam::1:user/a is not authorized to perform: sts:AssumeRole"),
    NoSuchEntity("The role with name x cannot be found."),
    InternalFailure(""),
]


@pytest.mark.parametrize("error", ERRORS, ids=[type(e).__name__ for e in ERRORS])
def test_error_roundtrips_through_botocore(error: TesseraError) -> None:
    for spec in (STS, IAM, None):
        body = render_error(spec, error, REQUEST_ID)
        namespace = (spec or STS).namespace
        assert body.startswith(f'<ErrorResponse xmlns="{namespace}"><Error><Type>'.encode())
        parsed = _parse(STS, "GetCallerIdentity", body, status=error.status)
        assert parsed["Error"] == {
            "Type": error.fault,
            "Code": error.code,
            "Message": error.message or None,  # botocore reads <Message></Message> as None
        }
        assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID


def test_error_exact_bytes() -> None:
    body = render_error(STS, InvalidClientTokenId(), REQUEST_ID)
    assert body == (
        b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
        b"<Type>Sender</Type><Code>InvalidClientTokenId</Code>"
        b"<Message>The security token included in the request is invalid.</Message>"
        b"</Error><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>"
    )


def test_error_json() -> None:
    body = render_error(STS, AccessDenied("no"), REQUEST_ID, as_json=True)
    assert json.loads(body) == {
        "Error": {"Code": "AccessDenied", "Message": "no", "Type": "Sender"},
        "RequestId": REQUEST_ID,
    }
    doc = json.loads(render_error(None, InternalFailure(), REQUEST_ID, as_json=True))
    assert doc["Error"]["Type"] == "Receiver"


# --- content negotiation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("text/xml", False),
        ("application/json", True),
        ("Application/JSON", True),
        ("text/html, application/json;q=0.9", True),
        ("application/json; charset=utf-8", True),
        ("application/json;q=0", False),
        ("application/json;q=0.0, text/xml", False),
        ("application/jsonx", False),
        ("application/x-amz-json-1.1", False),
    ],
)
def test_wants_json(accept: str | None, expected: bool) -> None:
    assert wants_json(accept) is expected


def test_content_types() -> None:
    assert XML_CONTENT_TYPE == "text/xml"
    assert JSON_CONTENT_TYPE == "application/json"


def test_precompile_all() -> None:
    precompile(STS)
    precompile(IAM)


# --- every rendered body is well-formed XML ------------------------------------------

_ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=()),  # surrogates included
        st.sampled_from("\x00\x01\x08\x0b\x0c\x0e\x1f\r\n\t&<>\"'\ufffe\uffff"),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(message=_ANY_TEXT, request_id=_ANY_TEXT)
def test_every_error_body_parses(message: str, request_id: str) -> None:
    """A RoleSessionName with ``\\x01`` echoed in a ValidationError once made a body
    botocore could not parse (so SDKs retried): forbidden characters become U+FFFD."""
    body = render_error(STS, ValidationError(message), request_id)
    root = ElementTree.fromstring(body)
    parsed = botocore.parsers.QueryParser().parse(
        {"body": body, "headers": {}, "status_code": 400}, None
    )
    assert parsed["Error"]["Code"] == "ValidationError"
    expected = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]", "\ufffd", message)
    assert (root.findtext("{*}Error/{*}Message") or "") == expected


@settings(max_examples=200, deadline=None)
@given(name=_ANY_TEXT)
def test_every_result_body_parses(name: str) -> None:
    user = {
        "Path": "/",
        "UserName": name,
        "UserId": "AIDAEXAMPLE",
        "Arn": f"arn:aws:iam::123456789012:user/{name}",
        "CreateDate": datetime(2026, 1, 1, tzinfo=UTC),
    }
    body = render_result(IAM, "GetUser", {"User": user}, REQUEST_ID)
    ElementTree.fromstring(body)
