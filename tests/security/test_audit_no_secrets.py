"""No secret reaches the audit trail: for every STS and IAM operation, every member
the botocore models mark ``sensitive`` (plus the explicit list) is hidden in
requestParameters and omitted from responseElements, and a secret echoed in an error
message or a free-text member, or any JWT, is scrubbed; end to end, the secrets a
real server hands out or receives (secret keys, session tokens, passwords) appear
neither in the store's audit rows nor in the --audit-log file."""

from __future__ import annotations

import json
import secrets
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import botocore.session
import orjson
import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.audit.record import CallFacts, build_event, capture, render
from tessera.audit.redact import HIDDEN, may_hold, scrub, secret_members
from tessera.store.sql.schema import unpack_lines
from tests.e2e.server import Creds, TesseraServer
from tests.unit.audit.support import call_facts


def _fill(shape: object, secret: str, depth: int = 0) -> object:
    kind = shape.type_name  # type: ignore[attr-defined]
    if depth > 4:
        return None
    if kind == "structure":
        return {n: _fill(m, secret, depth + 1) for n, m in shape.members.items()}  # type: ignore[attr-defined]
    if kind == "list":
        return [_fill(shape.member, secret, depth + 1)]  # type: ignore[attr-defined]
    if kind == "map":
        return {"k": _fill(shape.value, secret, depth + 1)}  # type: ignore[attr-defined]
    if kind in ("integer", "long"):
        return 1
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return datetime(2026, 1, 1, tzinfo=UTC)
    return secret if kind in ("string", "blob") else None


@pytest.mark.parametrize("service", ["sts", "iam"])
def test_every_sensitive_member_is_hidden(service: str) -> None:
    model = botocore.session.get_session().get_service_model(service)
    names = secret_members()
    for op_name in model.operation_names:
        op = model.operation_model(op_name)
        for shape, where in ((op.input_shape, "params"), (op.output_shape, "result")):
            if shape is None:
                continue
            secret = "S3CRET" + secrets.token_hex(12)
            filled = _fill(shape, secret)
            assert isinstance(filled, dict)
            sensitive = {n for n in filled if n in names}
            if not sensitive:
                continue
            # other members carry harmless values; only secret members carry the secret
            data = {
                k: (v if k in sensitive else ("plain" if isinstance(v, str) else v))
                for k, v in filled.items()
            }
            facts = CallFacts(
                request_id="r",
                event_time=datetime.now(UTC),
                service=service,
                operation=op_name,
                region="us-east-1",
                source_ip="127.0.0.1",
                user_agent="t",
                status=200,
                params=data if where == "params" else {},
                result=data if where == "result" else None,
            )
            event = build_event(facts)
            assert secret not in event.record_json, (op_name, where, sensitive)


def test_echoed_secrets_and_jwts_are_scrubbed() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    facts = CallFacts(
        request_id="r",
        event_time=datetime.now(UTC),
        service="sts",
        operation="AssumeRoleWithWebIdentity",
        region="us-east-1",
        source_ip="127.0.0.1",
        user_agent=f"evil {jwt}",
        status=400,
        params={
            "WebIdentityToken": jwt,
            "RoleArn": "arn:aws:iam::123456789012:role/r",
            "RoleSessionName": jwt[:20] + "xx",
        },
        error_code="InvalidIdentityToken",
        error_message=f"token {jwt} is not valid",
    )
    event = build_event(facts)
    assert jwt not in event.record_json
    assert event.record["requestParameters"]["webIdentityToken"] == HIDDEN


def test_an_echoed_secret_with_quotes_and_non_ascii_is_scrubbed_in_every_form() -> None:
    """The spool line and the stored capture are written by orjson (raw UTF-8,
    only quotes, backslashes and control characters escaped), the rendered record
    by the standard library (everything past ASCII escaped): a password echoed in
    an error message must be gone from both spellings."""
    password = 'pä"ss\\wörd-1234'
    facts = call_facts(
        service="iam",
        operation="CreateLoginProfile",
        status=400,
        params={"UserName": "bob", "Password": password},
        error_code="PasswordPolicyViolation",
        error_message=f"password {password} does not meet the policy",
    )
    captured = capture(facts)
    stored = captured.line.decode()
    rendered = render(stored.rstrip("\n"))
    live = build_event(facts).record_json
    for text in (stored, rendered, live):
        for spelling in (
            password,
            json.dumps(password)[1:-1],
            json.dumps(password, ensure_ascii=False)[1:-1],
        ):
            assert spelling not in text, (spelling, text)
    assert json.loads(rendered)["requestParameters"]["password"] == HIDDEN


@pytest.mark.e2e
def test_no_secret_in_store_or_audit_log(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    srv = TesseraServer(data_dir=tmp_path / "data", extra_args=("--audit-log", str(log)))
    root = srv.init()
    srv.start()
    seen: list[str] = [root.secret_access_key]
    try:
        iam = srv.client("iam")
        iam.create_user(UserName="bob")
        key = iam.create_access_key(UserName="bob")["AccessKey"]
        seen.append(key["SecretAccessKey"])
        password = "Pa55-" + secrets.token_hex(10)
        iam.create_login_profile(UserName="bob", Password=password)
        seen.append(password)
        with pytest.raises(ClientError):  # refused (no such user), still recorded
            iam.update_login_profile(UserName="nobody-" + password[:6], Password=password)
        role = iam.create_role(
            RoleName="r",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
                    ],
                }
            ),
        )["Role"]
        iam.put_user_policy(
            UserName="bob",
            PolicyName="all",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),
        )
        bob = Creds(root.account_id, key["AccessKeyId"], key["SecretAccessKey"])
        creds = srv.client("sts", bob).assume_role(RoleArn=role["Arn"], RoleSessionName="sess")[
            "Credentials"
        ]
        seen += [creds["SecretAccessKey"], creds["SessionToken"]]
        session = srv.client("sts").get_session_token()["Credentials"]
        seen += [session["SecretAccessKey"], session["SessionToken"]]
        srv.client(
            "sts", Creds("", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
        ).get_caller_identity()
        assert key["AccessKeyId"]
    finally:
        srv.stop()  # flushes the writer
    db = sqlite3.connect(tmp_path / "data" / "tessera.db")
    lines = [
        line
        # stored packed (zlib): a secret would not show in the file's bytes, so
        # every segment is unpacked and read
        for data, packed in db.execute("SELECT data, packed FROM audit_segments").fetchall()
        for line in unpack_lines(data, packed).split("\n")
    ]
    terms = [value for (value,) in db.execute("SELECT value FROM audit_terms").fetchall()]
    terms += [value for (value,) in db.execute("SELECT term_values FROM audit_term_lists")]
    db.close()
    stored = "\n".join(lines + terms)
    rendered = "\n".join(render(line) for line in lines)  # what LookupEvents returns
    assert len(lines) >= 7
    text = log.read_text()
    assert creds["AccessKeyId"] in stored  # access key ids stay
    assert creds["AccessKeyId"] in rendered
    for secret in seen:
        assert secret not in stored
        assert secret not in rendered
        assert secret not in text


@settings(max_examples=400, deadline=None)
@given(
    secret=st.text(min_size=8, max_size=60),
    before=st.text(max_size=40),
    after=st.text(max_size=40),
    ascii_only=st.booleans(),
)
def test_may_hold_never_misses_a_secret_in_any_json_spelling(
    secret: str, before: str, after: str, ascii_only: bool
) -> None:
    """``may_hold`` lets the request path skip the scrub: it must say True whenever
    a collected secret appears in the line however JSON spells it (orjson's raw
    UTF-8, the standard library's ASCII escapes), quotes, backslashes, control
    and non-ASCII characters included."""
    value = before + secret + after
    if ascii_only:
        line = json.dumps({"echo": value}).encode()
    else:
        try:
            line = orjson.dumps({"echo": value})
        except orjson.JSONEncodeError:  # a lone surrogate: orjson refuses it
            line = json.dumps({"echo": value}).encode()
    assert may_hold(line, {secret})
    # and the scrub it lets run removes it
    assert secret not in scrub(line.decode(), {secret}) or len(secret) < 8


def test_may_hold_is_false_only_when_nothing_needs_scrubbing() -> None:
    token = "IQoJb3JpZ2luX2VjE" + "A" * 400
    key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    line = orjson.dumps({"credentials": {"accessKeyId": "ASIA0000000000000000"}})
    assert not may_hold(line, {token, key, "123456"})  # omitted where they stood
    assert may_hold(line + token[:16].encode(), {token})  # its prefix: maybe
    assert may_hold(line + b"eyJhbGciOi", set())  # a JWT-shaped string
    assert may_hold(line, {'quote"d-secret-value'})  # JSON spells it otherwise
    assert not may_hold(line + b"123456", {"123456"})  # under 8: hidden in place only
