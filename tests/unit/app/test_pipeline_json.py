"""The JSON protocols through the real pipeline: JSON 1.1 (Organizations, CloudTrail)
by ``X-Amz-Target`` and REST-JSON (Roles Anywhere) by method and path. Requests are
built and signed by botocore's own serializers and answers read by botocore's own
parsers, so the wire shapes are checked by an independent implementation. The
handlers here are test doubles registered in this runtime only."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.parsers
import botocore.serialize
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from tests.unit.app.runtime_support import in_memory_runtime

from tessera.app.bootstrap import create_account
from tessera.app.pipeline import Pipeline, Request, Response
from tessera.app.runtime import Runtime
from tessera.errors import AccessDenied, SenderError
from tessera.operation import OperationContext
from tessera.protocol.model import service_spec
from tessera.protocol.query import Params
from tessera.registry import Operation

Handler = Callable[[OperationContext, Params[Any]], dict[str, object]]
SEEN: dict[str, Any] = {}


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    rt = in_memory_runtime(tmp_path)
    rt.operations = {"sts": {}, "iam": {}, "rolesanywhere": {}, "organizations": {}}
    SEEN.clear()
    return rt


def _install(rt: Runtime, service: str, name: str, handler: Handler, signed: bool = True) -> None:
    rt.operations[service][name] = Operation(service, name, handler, None, signed)  # type: ignore[arg-type]


def _build(
    service: str, operation: str, params: dict[str, Any], creds: Credentials | None
) -> Request:
    spec = service_spec(service)
    op_model = spec.model.operation_model(operation)
    serializer = botocore.serialize.create_serializer(spec.model.metadata["protocol"])
    raw = serializer.serialize_to_request(params, op_model)
    url = "http://127.0.0.1:7070" + raw["url_path"]
    aws = AWSRequest(
        method=raw["method"],
        url=url,
        data=raw["body"],
        headers=dict(raw["headers"]),
        params=raw["query_string"],
    )
    if creds is not None:
        SigV4Auth(creds, service, "us-east-1").add_auth(aws)
    prepared = aws.prepare()
    path, _, query = prepared.url.partition("://")[2].partition("/")[2].partition("?")
    headers = tuple((k, str(v)) for k, v in prepared.headers.items())
    headers += (("host", "127.0.0.1:7070"),)
    body = prepared.body if isinstance(prepared.body, bytes) else (prepared.body or "").encode()
    return Request(prepared.method, "/" + path, query, headers, body, "127.0.0.1", False)


def _parse(service: str, operation: str, response: Response) -> dict[str, Any]:
    spec = service_spec(service)
    op_model = spec.model.operation_model(operation)
    parser = botocore.parsers.create_parser(spec.model.metadata["protocol"])
    parsed: dict[str, Any] = parser.parse(
        {
            "status_code": response.status,
            "headers": dict(response.headers),
            "body": response.body,
        },
        op_model.output_shape,
    )
    return parsed


def _creds(rt: Runtime) -> Credentials:
    account = create_account(rt.store, rt.clock)
    return Credentials(account.access_key_id, account.secret_access_key)


# --- JSON 1.1 -----------------------------------------------------------------------


def _describe_org(ctx: OperationContext, params: Params[Any]) -> dict[str, object]:
    SEEN["caller"] = ctx.caller.arn
    return {
        "Organization": {
            "Id": "o-abcdef1234",
            "Arn": "arn:aws:organizations::111111111111:organization/o-abcdef1234",
            "FeatureSet": "ALL",
            "MasterAccountId": "111111111111",
            "AvailablePolicyTypes": [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}],
        }
    }


def test_json11_round_trip_through_botocore(runtime: Runtime) -> None:
    _install(runtime, "organizations", "DescribeOrganization", _describe_org)
    creds = _creds(runtime)
    response = Pipeline(runtime).handle(_build("organizations", "DescribeOrganization", {}, creds))
    assert response.status == 200, response.body
    assert ("content-type", "application/x-amz-json-1.1") in response.headers
    parsed = _parse("organizations", "DescribeOrganization", response)
    assert parsed["Organization"]["Id"] == "o-abcdef1234"
    assert parsed["Organization"]["AvailablePolicyTypes"][0]["Status"] == "ENABLED"
    assert SEEN["caller"].endswith(":root")


def test_json11_params_typed_and_validated(runtime: Runtime) -> None:
    def create_ou(ctx: OperationContext, params: Params[Any]) -> dict[str, object]:
        SEEN["name"] = params.get_str("Name")
        SEEN["tags"] = params.get_list("Tags")
        return {"OrganizationalUnit": {"Id": "ou-ab12-cdef5678", "Name": params.get_str("Name")}}

    _install(runtime, "organizations", "CreateOrganizationalUnit", create_ou)
    creds = _creds(runtime)
    pipeline = Pipeline(runtime)
    good = {"ParentId": "r-ab12", "Name": "Prod", "Tags": [{"Key": "k", "Value": "v"}]}
    response = pipeline.handle(_build("organizations", "CreateOrganizationalUnit", good, creds))
    assert response.status == 200, response.body
    assert SEEN == {"name": "Prod", "tags": [{"Key": "k", "Value": "v"}]}

    bad = {"ParentId": "not-a-root", "Name": "x" * 200}
    response = pipeline.handle(_build("organizations", "CreateOrganizationalUnit", bad, creds))
    assert response.status == 400
    body = json.loads(response.body)
    assert body["__type"] == "InvalidInputException"
    assert body["message"].startswith("2 validation errors detected: ")
    assert ("x-amzn-errortype", "InvalidInputException") in response.headers


def _raw(target: str, body: bytes, creds: Credentials) -> Request:
    aws = AWSRequest(
        method="POST",
        url="http://127.0.0.1:7070/",
        data=body,
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
    )
    SigV4Auth(creds, "organizations", "us-east-1").add_auth(aws)
    headers = (*tuple((k, str(v)) for k, v in aws.headers.items()), ("host", "127.0.0.1:7070"))
    return Request("POST", "/", "", headers, body, "127.0.0.1", False)


@pytest.mark.parametrize(
    "body",
    [
        b'{"ParentId": "r-ab12", "Name": 5}',
        b'{"ParentId": "r-ab12", "Name": "x", "Tags": {"Key": "k"}}',
        b"[1, 2]",
        b"{not json",
        b'{"ParentId": "r-ab12", "Name": "x", "Tags": [{"Key": "k", "Value": NaN}]}',
        b'{"ParentId": "r-ab12", "Name": "x", "Tags": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ],
)
def test_json11_bad_bodies_are_serialization_errors(runtime: Runtime, body: bytes) -> None:
    _install(runtime, "organizations", "CreateOrganizationalUnit", lambda c, p: {})
    creds = _creds(runtime)
    request = _raw("AWSOrganizationsV20161128.CreateOrganizationalUnit", body, creds)
    response = Pipeline(runtime).handle(request)
    assert response.status == 400, response.body
    assert json.loads(response.body)["__type"] == "SerializationException"


def test_json11_unknown_targets(runtime: Runtime) -> None:
    creds = _creds(runtime)
    pipeline = Pipeline(runtime)
    for target in ("AWSOrganizationsV20161128.ListRoots", "DynamoDB_20120810.GetItem"):
        response = pipeline.handle(_raw(target, b"{}", creds))
        assert response.status == 400
        assert json.loads(response.body)["__type"] == "UnknownOperationException"


def test_json11_unsigned_and_wrongly_scoped_requests_refused(runtime: Runtime) -> None:
    _install(runtime, "organizations", "DescribeOrganization", _describe_org)
    pipeline = Pipeline(runtime)
    unsigned = _build("organizations", "DescribeOrganization", {}, None)
    response = pipeline.handle(unsigned)
    assert json.loads(response.body)["__type"] == "MissingAuthenticationTokenException"
    assert "caller" not in SEEN
    creds = _creds(runtime)
    bad = _build(
        "organizations", "DescribeOrganization", {}, Credentials(creds.access_key, "x" * 40)
    )
    response = pipeline.handle(bad)
    assert json.loads(response.body)["__type"] == "InvalidSignatureException"
    assert "caller" not in SEEN


class _Reasoned(SenderError):
    code = "ConstraintViolationException"

    def __init__(self) -> None:
        super().__init__("You have exceeded the allowed number of OUs.")
        self.fields = {"Reason": "OU_NUMBER_LIMIT_EXCEEDED"}


def test_json11_error_fields_and_translation(runtime: Runtime) -> None:
    def fails(ctx: OperationContext, params: Params[Any]) -> dict[str, object]:
        raise _Reasoned()

    def denies(ctx: OperationContext, params: Params[Any]) -> dict[str, object]:
        raise AccessDenied("nope")

    _install(runtime, "organizations", "ListRoots", fails)
    _install(runtime, "organizations", "DescribeOrganization", denies)
    creds = _creds(runtime)
    pipeline = Pipeline(runtime)
    response = pipeline.handle(_build("organizations", "ListRoots", {}, creds))
    assert response.status == 400
    assert json.loads(response.body) == {
        "__type": "ConstraintViolationException",
        "message": "You have exceeded the allowed number of OUs.",
        "Reason": "OU_NUMBER_LIMIT_EXCEEDED",
    }
    response = pipeline.handle(_build("organizations", "DescribeOrganization", {}, creds))
    assert json.loads(response.body)["__type"] == "AccessDeniedException"


# --- REST-JSON ----------------------------------------------------------------------


def _anchor(anchor_id: str) -> dict[str, object]:
    return {
        "trustAnchorId": anchor_id,
        "trustAnchorArn": f"arn:aws:rolesanywhere:us-east-1:111111111111:trust-anchor/{anchor_id}",
        "name": "ca",
        "enabled": True,
        "createdAt": datetime(2026, 12, 3, 17, 0, 1, tzinfo=UTC),
        "source": {"sourceType": "CERTIFICATE_BUNDLE", "sourceData": {"x509CertificateData": "x"}},
    }


def test_rest_json_labels_query_and_iso_timestamps(runtime: Runtime) -> None:
    anchor_id = "0123abcd-0123-4567-89ab-0123456789ab"

    def get_anchor(ctx: OperationContext, params: Params[Any]) -> dict[str, object]:
        return {"trustAnchor": _anchor(str(params.get_str("trustAnchorId")))}

    def list_anchors(ctx: OperationContext, params: Params[Any]) -> dict[str, object]:
        SEEN["page"] = (params.get_int("pageSize"), params.get_str("nextToken"))
        return {"trustAnchors": [_anchor(anchor_id)], "nextToken": "t2"}

    _install(runtime, "rolesanywhere", "GetTrustAnchor", get_anchor)
    _install(runtime, "rolesanywhere", "ListTrustAnchors", list_anchors)
    creds = _creds(runtime)
    pipeline = Pipeline(runtime)
    request = _build("rolesanywhere", "GetTrustAnchor", {"trustAnchorId": anchor_id}, creds)
    assert request.path == f"/trustanchor/{anchor_id}"
    response = pipeline.handle(request)
    assert response.status == 200, response.body
    assert b'"createdAt":"2026-12-03T17:00:01Z"' in response.body
    parsed = _parse("rolesanywhere", "GetTrustAnchor", response)
    assert parsed["trustAnchor"]["createdAt"] == datetime(2026, 12, 3, 17, 0, 1, tzinfo=UTC)

    request = _build("rolesanywhere", "ListTrustAnchors", {"pageSize": 5, "nextToken": "t1"}, creds)
    response = pipeline.handle(request)
    assert response.status == 200, response.body
    assert SEEN["page"] == (5, "t1")
    assert _parse("rolesanywhere", "ListTrustAnchors", response)["nextToken"] == "t2"


def test_rest_json_status_codes_and_errors(runtime: Runtime) -> None:
    def create(ctx: OperationContext, params: Params[Any]) -> dict[str, object]:
        return {"trustAnchor": _anchor("0123abcd-0123-4567-89ab-0123456789ab")}

    def denies(ctx: OperationContext, params: Params[Any]) -> dict[str, object]:
        raise AccessDenied("no")

    _install(runtime, "rolesanywhere", "CreateTrustAnchor", create)
    _install(runtime, "rolesanywhere", "DeleteTrustAnchor", denies)
    creds = _creds(runtime)
    pipeline = Pipeline(runtime)
    source = {"sourceType": "CERTIFICATE_BUNDLE", "sourceData": {"x509CertificateData": "x"}}
    response = pipeline.handle(
        _build("rolesanywhere", "CreateTrustAnchor", {"name": "ca", "source": source}, creds)
    )
    assert response.status == 201, response.body
    response = pipeline.handle(
        _build(
            "rolesanywhere",
            "DeleteTrustAnchor",
            {"trustAnchorId": "0123abcd-0123-4567-89ab-0123456789ab"},
            creds,
        )
    )
    assert response.status == 403
    assert json.loads(response.body)["__type"] == "AccessDeniedException"
    request = _build("rolesanywhere", "ListTrustAnchors", {}, creds)
    # an unknown method on a known path answers in JSON, not in the Query protocol's XML
    wrong = Request("PUT", "/trustanchors", "", request.headers, b"", "127.0.0.1", False)
    response = pipeline.handle(wrong)
    assert json.loads(response.body)["__type"] == "UnknownOperationException"


def test_rest_json_query_member_validation(runtime: Runtime) -> None:
    _install(runtime, "rolesanywhere", "ListTrustAnchors", lambda c, p: {})
    creds = _creds(runtime)
    spec_request = _build("rolesanywhere", "ListTrustAnchors", {}, creds)
    aws = AWSRequest(method="GET", url="http://127.0.0.1:7070/trustanchors?pageSize=abc")
    SigV4Auth(creds, "rolesanywhere", "us-east-1").add_auth(aws)
    headers = (*tuple((k, str(v)) for k, v in aws.headers.items()), ("host", "127.0.0.1:7070"))
    assert spec_request.path == "/trustanchors"
    request = Request("GET", "/trustanchors", "pageSize=abc", headers, b"", "127.0.0.1", False)
    response = Pipeline(runtime).handle(request)
    assert response.status == 400, response.body
    body = json.loads(response.body)
    assert body["__type"] == "ValidationException"
    assert "Member must be an integer" in body["message"]


def test_create_session_is_routed_unsigned_with_the_raw_request(runtime: Runtime) -> None:
    def create_session(ctx: OperationContext, params: Params[Any]) -> dict[str, object]:
        assert ctx.http is not None and ctx.principal is None
        SEEN["auth"] = ctx.http.header_map["authorization"] if ctx.http.header_map else None
        SEEN["params"] = (
            params.get_str("profileArn"),
            params.get_str("roleArn"),
            params.get_str("trustAnchorArn"),
            params.get_int("durationSeconds"),
            params.get_str("roleSessionName"),
        )
        ctx.response_status = 201
        return {
            "credentialSet": [
                {"credentials": {"expiration": datetime(2026, 12, 3, 18, 0, tzinfo=UTC)}}
            ],
            "subjectArn": "arn:aws:rolesanywhere:us-east-1:111111111111:subject/x",
        }

    _install(runtime, "rolesanywhere", "CreateSession", create_session, signed=False)
    query = "profileArn=p&roleArn=r&trustAnchorArn=t"
    headers = (
        (
            "authorization",
            "AWS4-X509-ECDSA-SHA256 Credential=123/20261203/us-east-1/rolesanywhere/aws4_request",
        ),
        ("content-type", "application/json"),
    )
    body = b'{"durationSeconds": 3600, "roleSessionName": "web"}'
    response = Pipeline(runtime).handle(
        Request("POST", "/sessions", query, headers, body, "127.0.0.1", False)
    )
    assert response.status == 201, response.body
    assert SEEN["params"] == ("p", "r", "t", 3600, "web")
    assert SEEN["auth"].startswith("AWS4-X509-ECDSA-SHA256 ")
    assert json.loads(response.body)["credentialSet"][0]["credentials"] == {
        "expiration": "2026-12-03T18:00:00Z"
    }
    # the ARNs may come in the body too; durationSeconds keeps its bounds
    body = b'{"profileArn": "p", "roleArn": "r", "trustAnchorArn": "t", "durationSeconds": 60}'
    response = Pipeline(runtime).handle(
        Request("POST", "/sessions", "", headers, body, "127.0.0.1", False)
    )
    assert response.status == 400
    assert "durationSeconds" in json.loads(response.body)["message"]
