"""Every declared operation authorises: called through the real pipeline (all
optional services configured) by a user whose only policy is an explicit
``{"Effect": "Deny", "Action": "*", "Resource": "*"}``, each one answers
``AccessDenied`` — except the short allow-list below — and the action it
authorises first is the one its declaration names (``tessera.registry``).

Parameters are the minimal valid input botocore's model allows (required members
with sample values, from the generator of ``tests/unit/protocol``), so model
validation never answers first. Every handler authorises before it checks that
the resource exists (the sample names exist nowhere), which is also AWS's order:
an unauthorised caller learns nothing about the account's resources."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.serialize import create_serializer

from tessera.app.bootstrap import build_runtime, init_store
from tessera.app.operations import build_table
from tessera.app.pipeline import Pipeline, Request
from tessera.app.runtime import Runtime
from tessera.clock import SystemClock
from tessera.config import ServerConfig
from tessera.iam.authz import Authorizer
from tessera.operation import OperationContext
from tessera.protocol.model import service_spec
from tessera.registry import Operation
from tests.unit.protocol.test_protocol_query import _sample_input

DENY_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
)

#: Operations a caller denied everything may still call, and why (AWS's behaviour).
ALLOWED: Mapping[str, str] = {
    # "No permissions are required to perform this operation. If an administrator
    # attaches a policy to your identity that explicitly denies access to the
    # sts:GetCallerIdentity action, you can still perform this operation."
    "sts:GetCallerIdentity": "AWS never authorises it (declared action=None)",
    # "No permissions are required for users to perform this operation": AWS
    # documents that GetSessionToken cannot be restricted by IAM policy (it only
    # turns long-term credentials into a session with the same permissions).
    "sts:GetSessionToken": "AWS never authorises it (declared action=None)",
}

#: Operations whose sample input cannot be generated from the model alone.
#: The resource ARN is derived from Url, so it is parsed (and must be well formed)
#: before the handler can authorise; AWS answers a malformed one with InvalidInput
#: first too. AssumeRole answers AccessDenied *without* authorising when the role
#: does not exist (AWS's answer, which leaks nothing), so it names a real role
#: (``{account}``: the caller's account) to reach the authorisation.
EXTRA_PARAMS: Mapping[str, dict[str, Any]] = {
    "sts:AssumeRole": {"RoleArn": "arn:aws:iam::{account}:role/guard", "RoleSessionName": "guard"},
    "iam:CreateOpenIDConnectProvider": {"Url": "https://token.example.com/tenant"},
    "sts:GetWebIdentityToken": {
        "Audience": ["https://rp.example.com"],
        "SigningAlgorithm": "RS256",
    },
}


class _Recorder(Authorizer):
    """The real authoriser, recording the action of each call's first authorisation."""

    def __init__(self, inner: Authorizer) -> None:
        self.inner = inner
        self.first: dict[str, str] = {}

    def authorize(self, ctx: OperationContext, action: str, resource: str, **kwargs: Any) -> None:
        self.first.setdefault(ctx.request_id, action)
        self.inner.authorize(ctx, action, resource, **kwargs)


class _Guard:
    def __init__(self, runtime: Runtime, keys: Credentials) -> None:
        self.runtime = runtime
        self.pipeline = Pipeline(runtime)
        self.recorder = _Recorder(runtime.authorizer)
        runtime.authorizer = self.recorder
        self.keys = keys
        self.account = ""

    def call(
        self, service: str, operation: str, params: Mapping[str, Any], keys: Credentials
    ) -> tuple[int, str, str | None]:
        """(status, body, the first action authorised) of one signed call, in the
        service's own protocol (Query, JSON 1.1 or REST-JSON), serialised by botocore."""
        spec = service_spec(service)
        op_model = spec.model.operation_model(operation)
        wire = create_serializer(spec.protocol, include_validation=False).serialize_to_request(
            dict(params), op_model
        )
        query = urlencode(wire["query_string"], doseq=True) if wire["query_string"] else ""
        headers_in = dict(wire["headers"])
        if spec.protocol == "query":
            headers_in = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        url = "http://127.0.0.1:7070" + wire["url_path"] + (f"?{query}" if query else "")
        aws = AWSRequest(method=wire["method"], url=url, data=wire["body"], headers=headers_in)
        SigV4Auth(keys, service, "us-east-1").add_auth(aws)
        headers = (*((k, str(v)) for k, v in aws.headers.items()), ("host", "127.0.0.1:7070"))
        raw = aws.body if isinstance(aws.body, bytes) else str(aws.body or "").encode()
        path = wire["url_path"].split("?", 1)[0]
        request = Request(wire["method"], path, query, headers, raw, "127.0.0.1", True)
        before = set(self.recorder.first)
        response = self.pipeline.handle(request, threaded=True)
        new = [rid for rid in self.recorder.first if rid not in before]
        first = self.recorder.first[new[0]] if new else None
        return response.status, response.body.decode(), first


def denied(status: int, body: str) -> bool:
    """Whether an answer is AWS's access-denied error, in any protocol."""
    if "<Code>AccessDenied</Code>" in body:
        return status == 403
    try:
        document = json.loads(body)
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("__type") == "AccessDeniedException"


@pytest.fixture(scope="module")
def guard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Guard]:
    data_dir: Path = tmp_path_factory.mktemp("guard")
    root = init_store(data_dir, None, SystemClock())
    runtime = build_runtime(ServerConfig(data_dir=data_dir))
    assert runtime.optional_services() == {"issuers", "inbound_oidc"}
    g = _Guard(runtime, Credentials(root.access_key_id, root.secret_access_key))
    root_keys = g.keys
    for operation, params in (
        ("CreateUser", {"UserName": "denied"}),
        ("CreateRole", {"RoleName": "guard", "AssumeRolePolicyDocument": _trust(root.account_id)}),
        (
            "PutUserPolicy",
            {"UserName": "denied", "PolicyName": "deny-all", "PolicyDocument": DENY_ALL},
        ),
    ):
        status, body, _ = g.call("iam", operation, params, root_keys)
        assert status == 200, body
    status, body, _ = g.call("iam", "CreateAccessKey", {"UserName": "denied"}, root_keys)
    assert status == 200, body
    akid = body.split("<AccessKeyId>")[1].split("<")[0]
    secret = body.split("<SecretAccessKey>")[1].split("<")[0]
    g.keys = Credentials(akid, secret)
    g.account = root.account_id
    yield g
    if runtime.bookkeeping is not None:
        runtime.bookkeeping.close()
    runtime.store.close()


def _declared() -> list[Operation]:
    table = build_table(("issuers", "inbound_oidc"))
    return sorted((op for ops in table.values() for op in ops.values()), key=lambda o: o.key)


DECLARED = _declared()


def _trust(account: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": account}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _params(op: Operation, account: str) -> dict[str, Any]:
    extra = EXTRA_PARAMS.get(f"{op.service}:{op.name}")
    if extra is not None:
        return {k: v.format(account=account) if isinstance(v, str) else v for k, v in extra.items()}
    shape = service_spec(op.service).model.operation_model(op.name).input_shape
    params: dict[str, Any] = {}
    for name in [] if shape is None else shape.required_members:
        member = shape.members[name]
        value = _sample_input(member)
        if isinstance(value, list):  # one item: two equal tags would be a duplicate
            value = value[:1]
        assert value is not None, f"{op.name}: add a sample to EXTRA_PARAMS"
        params[name] = value
    return params


@pytest.mark.parametrize("op", DECLARED, ids=[f"{o.service}:{o.name}" for o in DECLARED])
def test_every_operation_denies_under_an_explicit_deny_all(guard: _Guard, op: Operation) -> None:
    if not op.signed:
        # AssumeRoleWithWebIdentity / AssumeRoleWithSAML: called without AWS
        # credentials; the caller's identity policies play no part (AWS: "you do not
        # need to use AWS security credentials"), the role's trust policy decides.
        pytest.skip("unsigned federation call: the role's trust policy authorises it")
    status, body, first = guard.call(op.service, op.name, _params(op, guard.account), guard.keys)
    key = f"{op.service}:{op.name}"
    if key in ALLOWED:
        assert op.action is None, key
        assert not denied(status, body), body
        assert first is None, first
        return
    assert denied(status, body), (key, status, body)
    assert first == op.action, f"{key} is declared {op.action!r} but authorises {first!r}"


def test_the_allow_list_names_declared_operations() -> None:
    names = {f"{o.service}:{o.name}" for o in DECLARED}
    assert set(ALLOWED) <= names
    assert {f"{o.service}:{o.name}" for o in DECLARED if o.action is None} == set(ALLOWED)


def test_unsigned_operations_are_the_federation_calls_and_never_inline() -> None:
    unsigned = {o.name for o in DECLARED if not o.signed}
    assert unsigned == {"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"}
    assert not any(o.inline for o in DECLARED if not o.signed or o.service == "iam")
