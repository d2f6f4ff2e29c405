"""Harness for the IAM service tests: a real in-memory SqlStore with two accounts,
requests serialised by botocore's Query serializer and decoded/validated by
``tessera.protocol.query`` (so handlers see exactly what the server gives them), and
results rendered by ``tessera.protocol.render`` and parsed back by botocore's Query
parser plus its ``json_decode_policies`` handler (what a boto3 client sees)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.handlers import json_decode_policies
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from tessera import arn as arns
from tessera.app.operations import build_table
from tessera.app.runtime import Runtime
from tessera.auth.credentials import CredentialResolver
from tessera.auth.principal import Principal, PrincipalKind
from tessera.clock import FixedClock
from tessera.config import ServerConfig
from tessera.errors import TesseraError
from tessera.iam.authz import Authorizer
from tessera.kek import KeyEncryptionKey
from tessera.operation import ContextValue, OperationContext
from tessera.protocol.model import service_spec
from tessera.protocol.query import decode
from tessera.protocol.render import render_error, render_result
from tessera.store.sql import SqlStore

ACCOUNT_A = "111111111111"
ACCOUNT_B = "222222222222"
START = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
#: every IAM operation served without the optional services (outbound federation)
TABLE = build_table(())
OPERATIONS = {name: op.handler for name, op in TABLE["iam"].items()}


class AllowAll(Authorizer):
    """Allows every call and records it (the real decision is the policy engine's)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def authorize(
        self,
        ctx: OperationContext,
        action: str,
        resource: str,
        **kwargs: Any,
    ) -> None:
        self.calls.append((action, resource))


def root(account: str = ACCOUNT_A) -> Principal:
    return Principal(
        kind=PrincipalKind.ROOT,
        account_id=account,
        arn=arns.root_arn(account),
        user_id=account,
        principal_arn=arns.root_arn(account),
        name="",
    )


def user_principal(account: str, name: str, user_id: str = "AIDAEXAMPLE") -> Principal:
    user_arn = arns.user_arn(account, "/", name)
    return Principal(
        kind=PrincipalKind.USER,
        account_id=account,
        arn=user_arn,
        user_id=user_id,
        principal_arn=user_arn,
        name=name,
    )


def role_session(account: str) -> Principal:
    return Principal(
        kind=PrincipalKind.ROLE_SESSION,
        account_id=account,
        arn=arns.assumed_role_arn(account, "r", "s"),
        user_id="AROAEXAMPLE:s",
        principal_arn=arns.role_arn(account, "/", "r"),
        name="r",
    )


@dataclass
class Harness:
    store: SqlStore
    clock: FixedClock
    runtime: Runtime
    caller: Principal = field(default_factory=root)

    @classmethod
    def create(cls, authorizer: Authorizer | None = None) -> Harness:
        store = SqlStore("sqlite://", KeyEncryptionKey(os.urandom(32)))
        store.migrate()
        store.initialise()
        clock = FixedClock(START)
        store.create_account(ACCOUNT_A, clock.now())
        store.create_account(ACCOUNT_B, clock.now())
        values: dict[str, Any] = {
            "config": ServerConfig(),
            "store": store,
            "clock": clock,
            "resolver": CredentialResolver(store, memo=store),
            "authorizer": authorizer or Authorizer(store, memo=store),
            "operations": TABLE,
        }
        for f in dataclasses.fields(Runtime):  # members IAM handlers never touch
            if f.name not in values and f.default is dataclasses.MISSING:
                if f.default_factory is dataclasses.MISSING:
                    values[f.name] = None
        runtime = Runtime(**values)
        return cls(store, clock, runtime)

    def user(self, name: str, account: str = ACCOUNT_A) -> Principal:
        """The principal of the existing user ``name`` (its real unique id)."""
        found = self.store.get_user(account, name)
        assert found is not None
        return user_principal(account, found.name, found.user_id)

    def context(self, operation: str, caller: Principal | None) -> OperationContext:
        return OperationContext(
            request_id="req-1",
            service="iam",
            operation=operation,
            region="us-east-1",
            now=self.clock.now(),
            source_ip="127.0.0.1",
            secure_transport=True,
            user_agent="test",
            runtime=self.runtime,
            principal=caller or self.caller,
        )

    def raw(
        self, operation: str, caller: Principal | None = None, **params: Any
    ) -> tuple[object, bytes]:
        """Serialise like botocore, decode like the server, call the handler; returns
        (result, rendered XML body)."""
        spec = service_spec("iam")
        op_model = spec.model.operation_model(operation)
        body = create_serializer("query", include_validation=False).serialize_to_request(
            params, op_model
        )["body"]
        decoded = decode(spec, [(k, str(v)) for k, v in body.items()])
        ctx = self.context(operation, caller)
        result = OPERATIONS[operation](ctx, decoded.params)
        return result, render_result(spec, operation, result, "req-1")

    def call(self, operation: str, caller: Principal | None = None, **params: Any) -> Any:
        """The response as a boto3 client would return it (policy documents decoded)."""
        _result, xml = self.raw(operation, caller, **params)
        return parse(operation, xml)

    def error(self, operation: str, caller: Principal | None = None, **params: Any) -> Any:
        """Call expecting an error; returns botocore's parsed ``Error`` dict."""
        with pytest.raises(TesseraError) as info:
            self.raw(operation, caller, **params)
        spec = service_spec("iam")
        xml = render_error(spec, info.value, "req-1")
        parsed = create_parser("query").parse(
            {"body": xml, "headers": {}, "status_code": info.value.status}, None
        )
        err = dict(parsed["Error"])
        err["Status"] = info.value.status
        return err

    def as_caller(self, principal: Principal) -> Harness:
        return Harness(self.store, self.clock, self.runtime, principal)


def parse(operation: str, xml: bytes) -> Any:
    op_model = service_spec("iam").model.operation_model(operation)
    parsed = create_parser("query").parse(
        {"body": xml, "headers": {}, "status_code": 200}, op_model.output_shape
    )
    json_decode_policies(parsed, op_model)
    parsed.pop("ResponseMetadata", None)
    return parsed


TRUST = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
    '"Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
)
IDENTITY = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
    '"Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/*"}]}'
)


def assert_error(err: dict[str, Any], code: str, message: str, status: int) -> None:
    assert (err["Code"], err["Message"], err["Status"]) == (code, message, status)


def test_harness_round_trip() -> None:
    h = Harness.create()
    out = h.call("CreateUser", UserName="alice")
    assert out["User"]["UserName"] == "alice"


def test_default_authorizer_denies_non_root() -> None:
    h = Harness.create()
    h.call("CreateUser", UserName="alice")
    err = h.error("GetUser", h.user("alice"), UserName="alice")
    assert err["Code"] == "AccessDenied"
    assert "iam:GetUser" in err["Message"]


def test_request_keys_type_is_context_value() -> None:
    value: ContextValue = ("a",)
    assert value == ("a",)
