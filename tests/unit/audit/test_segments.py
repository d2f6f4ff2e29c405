"""How the writer indexes spooled lines (``tessera.audit.segments``): the typed
parse of a capture line gives exactly the terms, accounts and time the general path
(an orjson parse and ``index_terms``) gives, and every line the typed parse refuses
still takes the general path. Also which records keep ``responseElements``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.audit.support import call_facts

from tessera.audit import segments
from tessera.audit.record import build_row, capture, index_terms, keeps_response
from tessera.audit.segments import build_segments

_T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _general_only(region: bytes, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``build_segments`` with the typed parse switched off: every line takes the
    general path."""
    with monkeypatch.context() as m:
        m.setattr(segments, "_captured", lambda text: None)
        return build_segments(region)


def _same(region: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = build_segments(region)
    general = _general_only(region, monkeypatch)
    assert fast[1:] == general[1:]
    assert [
        (s.account_id, s.first_time, s.last_time, s.count, s.data, s.terms) for s in fast[0]
    ] == [(s.account_id, s.first_time, s.last_time, s.count, s.data, s.terms) for s in general[0]]


_name = st.text(alphabet='abcXYZ09-_:/é"\\', min_size=0, max_size=12)
_value = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), _name)
_params = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(
            ["RoleArn", "RoleName", "UserName", "PolicyArn", "SerialNumber", "Path", "Tags"]
        ),
        st.one_of(_value, st.lists(_value, max_size=2)),
        max_size=4,
    ),
)
_result = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "Credentials": st.one_of(
                _value,
                st.fixed_dictionaries(
                    {"AccessKeyId": st.one_of(_value, st.just("ASIAEXAMPLE0000009"))},
                    optional={"SessionToken": _name},
                ),
            ),
            "Arn": _name,
        },
    ),
)


@settings(max_examples=150, deadline=None)
@given(
    operation=st.sampled_from(
        ["AssumeRole", "AssumeRoleWithSAML", "GetSessionToken", "CreateUser"]
    ),
    service=st.sampled_from(["sts", "iam"]),
    role_account=st.sampled_from(["111122223333", "123456789012", "x"]),
    params=_params,
    result=_result,
    error=st.booleans(),
)
def test_the_typed_parse_indexes_every_capture_as_the_general_path_does(
    operation: str,
    service: str,
    role_account: str,
    params: dict[str, Any] | None,
    result: dict[str, Any] | None,
    error: bool,
) -> None:
    if params is not None and "RoleArn" in params and isinstance(params["RoleArn"], str):
        params["RoleArn"] = f"arn:aws:iam::{role_account}:role/{params['RoleArn']}"
    captured = capture(
        call_facts(
            service=service,
            operation=operation,
            params=params,
            result=result,
            error_code="AccessDenied" if error else None,
            error_message="no" if error else None,
        )
    )
    with pytest.MonkeyPatch.context() as m:
        _same(captured.line, m)


def test_lines_the_typed_parse_refuses_take_the_general_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = capture(
        call_facts(
            operation="AssumeRole",
            event_time=_T0,
            params={"RoleArn": "arn:aws:iam::111122223333:role/r", "RoleSessionName": "s"},
            result={"Credentials": {"AccessKeyId": "ASIAEXAMPLE0000001", "SessionToken": "t" * 40}},
        )
    )
    values = orjson.loads(good.line)["c1"]
    odd_types = list(values)
    odd_types[0] = str(values[0])  # a time as a string: float() reads it
    odd_types[-1] = {"credentials": {"accessKeyId": "ASIAEXAMPLE0000003"}}
    odd_response = list(values)
    odd_response[-1] = {"credentials": "not an object"}
    legacy = (
        b'{"id":"e1","t":"2026-01-01T00:00:00+00:00","n":"CreateUser","s":"iam.amazonaws.com",'
        b'"ro":false,"u":"alice","k":null,"a":["123456789012"],"r":[["AWS::IAM::User","bob"]],'
        b'"rec":{"eventName":"CreateUser"}}\n'
    )
    lines = [
        good.line,
        orjson.dumps({"c1": odd_types, "i": {}}) + b"\n",
        orjson.dumps({"c1": odd_response, "i": {}}) + b"\n",
        legacy,
        b'{"c1":[1,2\n',  # torn
        b"[1,2,3]\n",  # not an object
    ]
    assert segments._captured(good.line.decode().rstrip("\n")) is not None  # the common case
    for line in lines[1:4]:
        assert segments._captured(line.decode().rstrip("\n")) is None
    region = b"".join(lines)
    _same(region, monkeypatch)
    built, _texts, events = build_segments(region)
    assert events == 4
    terms = set().union(*(s.terms for s in built))
    assert ("ResourceName", "ASIAEXAMPLE0000001") in terms  # the typed parse's
    assert ("ResourceName", "ASIAEXAMPLE0000003") in terms  # the general path's
    assert ("ResourceName", "bob") in terms  # the legacy line's
    assert {s.account_id for s in built} == {"123456789012", "111122223333"}


def test_index_terms_of_a_capture_match_its_record() -> None:
    captured = capture(
        call_facts(
            operation="AssumeRole",
            event_time=_T0 + timedelta(seconds=3),
            params={"RoleArn": "arn:aws:iam::111122223333:role/r", "RoleSessionName": "s"},
            result={"Credentials": {"AccessKeyId": "ASIAEXAMPLE0000002", "SessionToken": "t" * 40}},
        )
    )
    seconds, accounts, shared, own = index_terms(captured.values)
    row = build_row(captured.values, captured.ident_json, captured.secrets)
    assert seconds == row.event_time.timestamp()
    assert ("EventName", "AssumeRole") in shared
    assert [t for t in own if t[0] == "ResourceName"] == [
        ("ResourceName", name) for _kind, name in row.resources
    ]
    assert accounts == row.accounts


@pytest.mark.parametrize(
    ("operation", "params", "result"),
    [
        (
            "AssumeRole",
            {"RoleArn": "arn:aws:iam::111122223333:role/r", "RoleSessionName": "s"},
            {"Credentials": {"AccessKeyId": "ASIAEXAMPLE0000004", "SessionToken": "t" * 40}},
        ),
        ("GetSessionToken", {"SerialNumber": "arn:aws:iam::1:mfa/x", "TokenCode": "123456"}, None),
        ("CreateUser", {"UserName": "bob", "Path": "/"}, {"User": {"UserName": "bob"}}),
    ],
)
def test_a_capture_is_indexed_by_the_typed_parse_as_by_the_general_path(
    operation: str,
    params: dict[str, Any],
    result: dict[str, Any] | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    line = capture(call_facts(operation=operation, params=params, result=result)).line
    assert segments._captured(line.decode().rstrip("\n")) is not None
    _same(line, monkeypatch)


@pytest.mark.parametrize(
    ("service", "operation", "kept"),
    [
        ("sts", "AssumeRole", True),
        ("sts", "GetSessionToken", True),
        ("sts", "GetFederationToken", True),
        ("sts", "GetWebIdentityToken", True),
        ("sts", "GetCallerIdentity", False),
        ("sts", "GetAccessKeyInfo", False),
        ("sts", "DecodeAuthorizationMessage", False),
        ("iam", "CreateUser", True),
        ("iam", "CreateAccessKey", True),
        ("iam", "GetUser", False),
        ("iam", "ListRoles", False),
        ("iam", "SimulatePrincipalPolicy", False),
        ("organizations", "DescribeOrganization", False),
        ("cloudtrail", "LookupEvents", False),
    ],
)
def test_records_of_reads_have_no_response_elements(
    service: str, operation: str, kept: bool
) -> None:
    assert keeps_response(service, operation) is kept
    captured = capture(
        call_facts(service=service, operation=operation, params={}, result={"Arn": "arn:x"})
    )
    record = json.loads(
        build_row(captured.values, captured.ident_json, captured.secrets).record_json
    )
    assert (record["responseElements"] is not None) is kept
