"""Tests of tessera.protocol.query and .render on a small synthetic Query model that uses
the constructs STS and IAM inputs do not (maps, timestamps, blobs, longs, doubles,
flattened lists, locationName, recursive structures), checked against botocore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import botocore.parsers
import botocore.serialize
import pytest
from botocore.model import ServiceModel

from tessera.errors import ValidationError
from tessera.protocol.model import ServiceSpec
from tessera.protocol.query import decode, parse_form
from tessera.protocol.render import render_result

_MEMBERS = {
    "When": {"shape": "Time"},
    "Data": {"shape": "Blob"},
    "Attrs": {"shape": "AttrMap"},
    "Flat": {"shape": "FlatList"},
    "FlatNamed": {"shape": "FlatNamedList"},
    "Named": {"shape": "Str", "locationName": "OtherName"},
    "Big": {"shape": "Long"},
    "Ratio": {"shape": "Double"},
    "Items": {"shape": "ItemList"},
    "Tree": {"shape": "Node"},
    "Flag": {"shape": "Bool"},
}

MODEL = {
    "metadata": {
        "apiVersion": "2020-01-01",
        "protocol": "query",
        "xmlNamespace": "https://example.com/doc/2020-01-01/",
        "serviceId": "Example",
        "endpointPrefix": "example",
        "signatureVersion": "v4",
    },
    "operations": {
        "Do": {
            "name": "Do",
            "http": {"method": "POST", "requestUri": "/"},
            "input": {"shape": "DoRequest"},
            "output": {"shape": "DoResponse", "resultWrapper": "DoResult"},
        }
    },
    "shapes": {
        "DoRequest": {"type": "structure", "members": _MEMBERS},
        "DoResponse": {"type": "structure", "members": _MEMBERS},
        "Time": {"type": "timestamp"},
        "Blob": {"type": "blob", "max": 8},
        "Str": {"type": "string"},
        "Long": {"type": "long", "min": -5},
        "Double": {"type": "double"},
        "Bool": {"type": "boolean"},
        "AttrMap": {"type": "map", "key": {"shape": "Str"}, "value": {"shape": "Str"}, "max": 3},
        "FlatList": {"type": "list", "member": {"shape": "Str"}, "flattened": True},
        "FlatNamedList": {
            "type": "list",
            "member": {"shape": "Str", "locationName": "FlatItem"},
            "flattened": True,
        },
        "ItemList": {"type": "list", "member": {"shape": "Node", "locationName": "Item"}},
        "Node": {
            "type": "structure",
            "required": ["Name"],
            "members": {"Name": {"shape": "Str"}, "Child": {"shape": "Node"}},
        },
    },
}

SPEC = ServiceSpec(
    name="example",
    api_version="2020-01-01",
    namespace="https://example.com/doc/2020-01-01/",
    model=ServiceModel(MODEL, service_name="example"),
)

VALUE: dict[str, Any] = {
    "When": datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
    "Data": b"\x00\xffab",
    "Attrs": {"a": "1", "b": "two & <three>"},
    "Flat": ["x", "y"],
    "FlatNamed": ["p", "q", "r"],
    "Named": "renamed",
    "Big": 2**40,
    "Ratio": 0.25,
    "Items": [{"Name": "n1", "Child": {"Name": "n2", "Child": {"Name": "n3"}}}, {"Name": "m"}],
    "Tree": {"Name": "root"},
    "Flag": False,
}


def _pairs(params: dict[str, Any]) -> list[tuple[str, str]]:
    serializer = botocore.serialize.create_serializer("query")
    request = serializer.serialize_to_request(params, SPEC.model.operation_model("Do"))
    return parse_form(urlencode(request["body"]))


def test_request_roundtrip() -> None:
    pairs = _pairs(VALUE)
    keys = {k for k, _ in pairs}
    assert {"OtherName", "Flat.1", "FlatItem.3", "Attrs.entry.2.value", "Items.Item.1.Name"} <= keys
    assert dict(decode(SPEC, pairs).params.raw()) == VALUE


def test_params_accessors_for_other_types() -> None:
    params = decode(SPEC, _pairs(VALUE)).params
    assert params.get_datetime("When") == VALUE["When"]
    assert params.get_bytes("Data") == VALUE["Data"]
    assert params.get_map("Attrs") == VALUE["Attrs"]
    assert params.get_int("Big") == 2**40
    tree = params.get_struct("Tree")
    assert tree is not None and tree.get_str("Name") == "root"
    assert params.get_struct_list("Items") is not None
    with pytest.raises(TypeError):
        params.get_map("Named")
    with pytest.raises(TypeError):
        params.get_map("Tree")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-05-06T07:08:09Z", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
        ("2024-05-06T07:08:09.5+02:00", datetime(2024, 5, 6, 5, 8, 9, 500000, tzinfo=UTC)),
        ("2024-05-06T07:08:09", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
        ("1715000000", datetime.fromtimestamp(1715000000, UTC)),
        ("1715000000.25", datetime.fromtimestamp(1715000000.25, UTC)),
    ],
)
def test_timestamp_forms(raw: str, expected: datetime) -> None:
    params = decode(SPEC, [("Action", "Do"), ("Version", "2020-01-01"), ("When", raw)]).params
    assert params.get_datetime("When") == expected


@pytest.mark.parametrize(
    ("key", "raw", "constraint"),
    [
        ("When", "yesterday", "Member must be a timestamp (ISO 8601 or epoch seconds)"),
        ("When", "1e400", "Member must be a timestamp (ISO 8601 or epoch seconds)"),
        ("Data", "not base64!", "Member must be base64-encoded"),
        ("Data", "QUJDREVGR0hJSg==", "Member must have length less than or equal to 8"),
        ("Big", "-6", "Member must have value greater than or equal to -5"),
        ("Big", "9223372036854775808", "Member must be a long integer"),
        ("Ratio", "nan", "Member must be a number"),
        ("Ratio", "1e999", "Member must be a number"),
    ],
)
def test_conversion_errors(key: str, raw: str, constraint: str) -> None:
    with pytest.raises(ValidationError) as info:
        decode(SPEC, [("Action", "Do"), ("Version", "2020-01-01"), (key, raw)])
    assert info.value.message.endswith(constraint)
    assert f"at '{key[0].lower()}{key[1:]}'" in info.value.message


def test_map_errors() -> None:
    entries = {f"Attrs.entry.{i}.key": f"k{i}" for i in range(1, 5)}
    entries.update({f"Attrs.entry.{i}.value": "v" for i in range(1, 5)})
    with pytest.raises(ValidationError) as info:
        decode(SPEC, [("Action", "Do"), ("Version", "2020-01-01"), *entries.items()])
    assert info.value.message.endswith(
        "at 'attrs' failed to satisfy constraint: Member must have length less than or equal to 3"
    )
    with pytest.raises(ValidationError) as info:
        decode(SPEC, [("Action", "Do"), ("Version", "2020-01-01"), ("Attrs.entry.1.key", "k")])
    assert "Value null at 'attrs.entry.1.value'" in info.value.message


def test_empty_map_and_nested_required() -> None:
    params = decode(SPEC, [("Action", "Do"), ("Version", "2020-01-01"), ("Attrs", "")]).params
    assert params.get_map("Attrs") == {}
    with pytest.raises(ValidationError) as info:
        decode(
            SPEC,
            [("Action", "Do"), ("Version", "2020-01-01"), ("Items.Item.1.Child.Child.Name", "x")],
        )
    message = info.value.message
    assert message.startswith("2 validation errors detected: ")
    assert "Value null at 'items.1.member.name'" in message
    assert "Value null at 'items.1.member.child.name'" in message


def _parse(body: bytes) -> dict[str, Any]:
    parser = botocore.parsers.create_parser("query")
    shape = SPEC.model.operation_model("Do").output_shape
    parsed: dict[str, Any] = parser.parse({"body": body, "headers": {}, "status_code": 200}, shape)
    parsed.pop("ResponseMetadata")
    return parsed


def test_response_roundtrip() -> None:
    body = render_result(SPEC, "Do", VALUE, "rid")
    assert b"<OtherName>renamed</OtherName>" in body
    assert b"<Flat>x</Flat><Flat>y</Flat>" in body
    assert b"<FlatItem>p</FlatItem>" in body
    assert b"<Attrs><entry><key>a</key><value>1</value></entry>" in body
    assert b"<Items><Item><Name>n1</Name>" in body
    assert _parse(body) == VALUE


def test_response_timezones_and_json() -> None:
    value = dict(VALUE, When=datetime(2024, 5, 6, 9, 8, 9, tzinfo=timezone(timedelta(hours=2))))
    assert _parse(render_result(SPEC, "Do", value, "rid"))["When"] == VALUE["When"]
    doc = render_result(SPEC, "Do", value, "rid", as_json=True)
    assert b'"When":1714979289' in doc
    assert b'"Data":"AP9hYg=="' in doc
    assert b'"Attrs":{"a":"1","b":"two & <three>"}' in doc
