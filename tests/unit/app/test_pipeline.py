"""The request pipeline in-process: SigV4 → principal → decode → operation → render,
and the error paths (no 500 for bad input, no detail leaked on internal failure)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from tests.unit.app.runtime_support import in_memory_runtime

from tessera.app.bootstrap import create_account
from tessera.app.operations import build_table
from tessera.app.pipeline import Pipeline, Request
from tessera.app.runtime import Runtime
from tessera.operation import OperationContext
from tessera.protocol.query import Params


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    rt = in_memory_runtime(tmp_path)
    rt.operations = {"sts": build_table(())["sts"], "iam": {}}
    return rt


def _request(body: str, akid: str, secret: str, service: str = "sts") -> Request:
    aws = AWSRequest(
        method="POST",
        url="http://127.0.0.1:7070/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials(akid, secret), service, "eu-west-1").add_auth(aws)
    headers = tuple((k, str(v)) for k, v in aws.headers.items())
    headers += (("host", "127.0.0.1:7070"),)
    return Request(
        "POST",
        "/",
        "",
        headers,
        aws.body if isinstance(aws.body, bytes) else body.encode(),
        "127.0.0.1",
        False,
    )


def test_get_caller_identity(runtime: Runtime) -> None:
    creds = create_account(runtime.store, runtime.clock)
    resp = Pipeline(runtime).handle(
        _request(
            "Action=GetCallerIdentity&Version=2011-06-15",
            creds.access_key_id,
            creds.secret_access_key,
        )
    )
    assert resp.status == 200, resp.body
    assert f"<Account>{creds.account_id}</Account>".encode() in resp.body


def test_internal_failure_leaks_nothing(runtime: Runtime) -> None:
    creds = create_account(runtime.store, runtime.clock)

    def boom(ctx: OperationContext, params: Params) -> None:
        raise RuntimeError("secret detail")

    op = runtime.operations["sts"]["GetCallerIdentity"]
    runtime.operations["sts"]["GetCallerIdentity"] = dataclasses.replace(op, handler=boom)
    resp = Pipeline(runtime).handle(
        _request(
            "Action=GetCallerIdentity&Version=2011-06-15",
            creds.access_key_id,
            creds.secret_access_key,
        )
    )
    assert resp.status == 500
    assert b"<Code>InternalFailure</Code>" in resp.body
    assert b"<Type>Receiver</Type>" in resp.body
    assert b"secret detail" not in resp.body


def test_unimplemented_model_operation_is_invalid_action(runtime: Runtime) -> None:
    creds = create_account(runtime.store, runtime.clock)
    resp = Pipeline(runtime).handle(
        _request(
            # a model operation nobody declares (AssumeRoot is declared: a refusal, #14 §6)
            "Action=ListAccountAliases&Version=2010-05-08",
            creds.access_key_id,
            creds.secret_access_key,
            service="iam",
        )
    )
    assert resp.status == 400
    assert b"<Code>InvalidAction</Code>" in resp.body


def test_unsigned_operation_needs_no_signature_but_others_do(runtime: Runtime) -> None:
    req = Request(
        "POST",
        "/",
        "",
        (("content-type", "application/x-www-form-urlencoded"),),
        b"Action=GetCallerIdentity&Version=2011-06-15",
        "127.0.0.1",
        False,
    )
    resp = Pipeline(runtime).handle(req)
    assert resp.status == 403 and b"MissingAuthenticationToken" in resp.body


def test_key_use_is_written_behind_and_flushed_before_threaded_calls(
    runtime: Runtime,
) -> None:
    from tessera.store.bookkeeping import Bookkeeping

    runtime.bookkeeping = Bookkeeping()
    creds = create_account(runtime.store, runtime.clock)
    pipeline = Pipeline(runtime)
    body = "Action=GetCallerIdentity&Version=2011-06-15"
    assert (
        pipeline.handle(_request(body, creds.access_key_id, creds.secret_access_key)).status == 200
    )
    # a worker-thread call waits for the pending bookkeeping, so IAM reads see it
    pipeline.handle(_request(body, creds.access_key_id, creds.secret_access_key), threaded=True)
    key = runtime.store.get_access_key(creds.access_key_id)
    assert key is not None and key.last_used_service == "sts"
    assert key.last_used_region == "eu-west-1"
    pipeline.close()
    pipeline.close()  # idempotent


def test_bookkeeping_survives_a_failed_write_dedupes_and_drops_writes_after_close() -> None:
    import threading

    from tessera.store.bookkeeping import Bookkeeping

    written: list[str] = []
    gate = threading.Event()

    def fail() -> None:
        gate.wait(30)
        raise RuntimeError("store down")

    bookkeeping = Bookkeeping()
    bookkeeping.flush()  # nothing pending: returns at once
    bookkeeping.submit("bad", fail)
    bookkeeping.submit("a", lambda: written.append("a1"))
    bookkeeping.submit("a", lambda: written.append("a2"))  # "a" is pending: dropped
    assert bookkeeping.pending() == 2
    gate.set()
    bookkeeping.flush()
    assert written == ["a1"] and bookkeeping.pending() == 0
    bookkeeping.submit("a", lambda: written.append("a3"))
    bookkeeping.close()
    assert written == ["a1", "a3"]
    bookkeeping.submit("b", lambda: written.append("b"))
    bookkeeping.flush()
    assert written == ["a1", "a3"]


def test_inline_answers_follow_the_declarations(runtime: Runtime) -> None:
    """A signed STS call declared ``inline`` is answered on the calling thread; the
    same call declared otherwise is left to a worker thread (``None``)."""
    creds = create_account(runtime.store, runtime.clock)
    body = "Action=GetCallerIdentity&Version=2011-06-15"
    inline = Pipeline(runtime).handle_inline(
        _request(body, creds.access_key_id, creds.secret_access_key)
    )
    assert inline is not None and inline.status == 200
    op = runtime.operations["sts"]["GetCallerIdentity"]
    runtime.operations["sts"]["GetCallerIdentity"] = dataclasses.replace(op, inline=False)
    pipeline = Pipeline(runtime)
    request = _request(body, creds.access_key_id, creds.secret_access_key)
    assert pipeline.handle_inline(request) is None
    assert pipeline.handle(request, threaded=True).status == 200


IAM_NS = b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
STS_NS = b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'


@pytest.mark.parametrize(
    ("body", "code"),
    [
        # an action the IAM model does not have: InvalidAction while decoding
        ("Action=NoSuchThing&Version=2010-05-08", b"<Code>InvalidAction</Code>"),
        # a member over its bound: ValidationError while decoding
        (
            "Action=CreateUser&Version=2010-05-08&UserName=" + "u" * 200,
            b"<Code>ValidationError</Code>",
        ),
    ],
)
def test_iam_request_validation_errors_use_the_iam_namespace(
    runtime: Runtime, body: str, code: bytes
) -> None:
    """#17: AWS answers IAM requests' validation errors in IAM's XML namespace (they
    were rendered in STS's because the service was not settled yet)."""
    creds = create_account(runtime.store, runtime.clock)
    resp = Pipeline(runtime).handle(
        _request(body, creds.access_key_id, creds.secret_access_key, service="iam")
    )
    assert resp.status == 400
    assert code in resp.body
    assert resp.body.startswith(IAM_NS), resp.body


def test_unsigned_iam_version_errors_use_the_iam_namespace(runtime: Runtime) -> None:
    req = Request(
        "POST",
        "/",
        "",
        (("content-type", "application/x-www-form-urlencoded"),),
        b"Action=ListUsers&Version=2010-05-08",
        "127.0.0.1",
        False,
    )
    resp = Pipeline(runtime).handle(req)
    assert resp.status == 403
    assert resp.body.startswith(IAM_NS), resp.body


def test_sts_request_validation_errors_keep_the_sts_namespace(runtime: Runtime) -> None:
    creds = create_account(runtime.store, runtime.clock)
    resp = Pipeline(runtime).handle(
        _request(
            "Action=NoSuchThing&Version=2011-06-15", creds.access_key_id, creds.secret_access_key
        )
    )
    assert resp.status == 400
    assert resp.body.startswith(STS_NS), resp.body
