"""Temporary credentials end to end against a real server process, with boto3 and
the AWS CLI: AssumeRole (same/cross account, chaining, tags, SourceIdentity, MFA
codes from pyotp), GetSessionToken, GetFederationToken, expiry through the
server's injected clock, tampered and retired-key tokens, key rotation, token
size, and AWS's validation messages.

Tests that need a real *allow* from the policy engine (every AssumeRole that should
succeed — the fail-closed authoriser denies all trust decisions — and the IAM MFA
operations until ``MFA_OPERATIONS`` is merged into the IAM registry) are written
for the final behaviour and fail until those land."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.auth
import pyotp
import pytest
from botocore.exceptions import ClientError

from tessera.app.bootstrap import open_store
from tessera.sts.sessions import SessionKeyRing
from tests.e2e.server import Creds, TesseraServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TesseraServer]:
    base: Path = tmp_path_factory.mktemp("sessions")
    server = TesseraServer(data_dir=base / "data")
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def _creds(account: str, c: dict[str, Any]) -> Creds:
    return Creds(account, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def _trust(*principals: str, actions: tuple[str, ...] = ("sts:AssumeRole",), **cond: Any) -> str:
    stmt: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": list(principals)},
        "Action": list(actions),
    }
    if cond:
        stmt["Condition"] = cond
    return json.dumps({"Version": "2012-10-17", "Statement": [stmt]})


_users: dict[str, Creds] = {}


def _user(srv: TesseraServer, name: str, root: Creds | None = None) -> Creds:
    root = root or srv.root
    assert root is not None
    if name in _users:
        return _users[name]
    iam = srv.client("iam", root)
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    _users[name] = Creds(root.account_id, key["AccessKeyId"], key["SecretAccessKey"])
    return _users[name]


def _kid(token: str) -> int:
    return int(struct.unpack(">BH", base64.b64decode(token)[:3])[1])


# --- runs today (no policy allow needed) ------------------------------------------------


def test_get_session_token_boto3_and_cli(srv: TesseraServer) -> None:
    assert srv.root is not None
    alice = _user(srv, "alice")
    out = srv.client("sts", alice).get_session_token(DurationSeconds=900)
    creds = _creds(alice.account_id, out["Credentials"])
    assert creds.access_key_id.startswith("ASIA")
    ident = srv.client("sts", creds).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{alice.account_id}:user/alice"
    # root: clamped to one hour without an error
    root_out = srv.client("sts").get_session_token(DurationSeconds=129600)
    left = root_out["Credentials"]["Expiration"] - datetime.now(UTC)
    assert timedelta(minutes=58) < left <= timedelta(hours=1, seconds=5)
    # the AWS CLI: the session signs later calls
    cli = srv.aws_cli("sts", "get-session-token", "--duration-seconds", "900", creds=alice)
    assert cli.returncode == 0, cli.stderr
    cli_creds = _creds(alice.account_id, json.loads(cli.stdout)["Credentials"])
    who = srv.aws_cli("sts", "get-caller-identity", creds=cli_creds)
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["Arn"].endswith(":user/alice")
    again = srv.aws_cli("sts", "get-session-token", creds=cli_creds)
    assert again.returncode != 0
    assert "Cannot call GetSessionToken with session credentials" in again.stderr


def test_get_federation_token_root(srv: TesseraServer) -> None:
    assert srv.root is not None
    acct = srv.root.account_id
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
        }
    )
    out = srv.client("sts").get_federation_token(
        Name="fed-1",
        Policy=policy,
        Tags=[{"Key": f"tag{i}", "Value": f"value-{i}"} for i in range(10)],
    )
    assert out["FederatedUser"] == {
        "FederatedUserId": f"{acct}:fed-1",
        "Arn": f"arn:aws:sts::{acct}:federated-user/fed-1",
    }
    assert 0 < out["PackedPolicySize"] < 100
    token = out["Credentials"]["SessionToken"]
    assert len(token) < 2048  # presigned URLs / Kubernetes authenticator budgets
    fed = _creds(acct, out["Credentials"])
    ident = srv.client("sts", fed).get_caller_identity()
    assert ident == {**ident, "Arn": f"arn:aws:sts::{acct}:federated-user/fed-1"}
    assert ident["UserId"] == f"{acct}:fed-1"


def test_root_cannot_assume_role(srv: TesseraServer) -> None:
    assert srv.root is not None
    arn = srv.client("iam").create_role(
        RoleName="rootless", AssumeRolePolicyDocument=_trust(srv.root.account_id)
    )["Role"]["Arn"]
    with pytest.raises(ClientError) as exc:
        srv.client("sts").assume_role(RoleArn=arn, RoleSessionName="x1")
    assert _err(exc) == ("AccessDenied", 403, "Roles may not be assumed by root accounts.")


def test_validation_messages(srv: TesseraServer) -> None:
    assert srv.root is not None
    alice = _user(srv, "alice")
    arn = srv.client("iam").create_role(
        RoleName="short",
        AssumeRolePolicyDocument=_trust(f"arn:aws:iam::{alice.account_id}:user/alice"),
    )["Role"]["Arn"]
    sts = srv.client("sts", alice)
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="s1", DurationSeconds=7200)
    assert _err(exc) == (
        "ValidationError",
        400,
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
    )
    cli = srv.aws_cli(
        "sts", "assume-role", "--role-arn", arn, "--role-session-name", "bad:name", creds=alice
    )
    assert cli.returncode != 0
    assert (
        "Value 'bad:name' at 'roleSessionName' failed to satisfy constraint: Member must "
        "satisfy regular expression pattern: [\\w+=,.@-]*"
    ) in cli.stderr
    missing = f"arn:aws:iam::{alice.account_id}:role/does-not-exist"
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=missing, RoleSessionName="s1")
    assert _err(exc) == (
        "AccessDenied",
        403,
        f"User: arn:aws:iam::{alice.account_id}:user/alice is not authorized to perform: "
        f"sts:AssumeRole on resource: {missing}",
    )


def test_tampered_and_foreign_tokens(srv: TesseraServer) -> None:
    out = srv.client("sts").get_session_token(DurationSeconds=900)["Credentials"]
    token = out["SessionToken"]
    raw = bytearray(base64.b64decode(token))
    raw[-1] ^= 1
    bad = Creds("x", out["AccessKeyId"], out["SecretAccessKey"], base64.b64encode(raw).decode())
    with pytest.raises(ClientError) as exc:
        srv.client("sts", bad).get_caller_identity()
    assert _err(exc)[:2] == ("InvalidClientTokenId", 403)
    other = srv.client("sts").get_session_token(DurationSeconds=900)["Credentials"]
    swapped = Creds("x", out["AccessKeyId"], out["SecretAccessKey"], other["SessionToken"])
    with pytest.raises(ClientError) as exc:
        srv.client("sts", swapped).get_caller_identity()
    assert _err(exc)[:2] == ("InvalidClientTokenId", 403)


# --- restrictions (need the lead's pipeline call to session_restriction) ---------------------


def test_session_kind_restrictions(srv: TesseraServer) -> None:
    alice = _user(srv, "alice")
    sess = _creds(alice.account_id, srv.client("sts", alice).get_session_token()["Credentials"])
    with pytest.raises(ClientError) as exc:
        srv.client("iam", sess).list_users()
    assert _err(exc) == (
        "InvalidClientTokenId",
        403,
        "The security token included in the request is invalid",
    )
    fed = _creds(
        alice.account_id,
        srv.client("sts").get_federation_token(Name="fed-r")["Credentials"],
    )
    with pytest.raises(ClientError) as exc:
        srv.client("sts", fed).assume_role(
            RoleArn=f"arn:aws:iam::{alice.account_id}:role/short", RoleSessionName="s1"
        )
    assert _err(exc)[:2] == ("AccessDenied", 403)


# --- need the policy engine's allows ---------------------------------------------------


def test_assume_role_same_account_chain_tags(srv: TesseraServer) -> None:
    alice = _user(srv, "alice")
    acct = alice.account_id
    iam = srv.client("iam")
    first = iam.create_role(
        RoleName="first",
        AssumeRolePolicyDocument=_trust(
            f"arn:aws:iam::{acct}:user/alice",
            actions=("sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"),
        ),
        MaxSessionDuration=7200,
    )["Role"]
    second = iam.create_role(
        RoleName="second",
        AssumeRolePolicyDocument=_trust(
            first["Arn"], actions=("sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity")
        ),
        MaxSessionDuration=7200,
    )["Role"]
    iam.put_role_policy(
        RoleName="first",
        PolicyName="chain",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
                        "Resource": second["Arn"],
                    }
                ],
            }
        ),
    )
    out = srv.client("sts", alice).assume_role(
        RoleArn=first["Arn"],
        RoleSessionName="alice-session",
        DurationSeconds=7200,
        Tags=[{"Key": "Project", "Value": "blue"}, {"Key": "team", "Value": "infra"}],
        TransitiveTagKeys=["Project"],
        SourceIdentity="alice",
    )
    assert out["AssumedRoleUser"] == {
        "AssumedRoleId": f"{first['RoleId']}:alice-session",
        "Arn": f"arn:aws:sts::{acct}:assumed-role/first/alice-session",
    }
    assert out["SourceIdentity"] == "alice"
    assert out["PackedPolicySize"] > 0
    assert len(out["Credentials"]["SessionToken"]) < 2048
    session = _creds(acct, out["Credentials"])
    assert srv.client("sts", session).get_caller_identity()["Arn"] == out["AssumedRoleUser"]["Arn"]
    sts1 = srv.client("sts", session)
    with pytest.raises(ClientError) as exc:
        sts1.assume_role(RoleArn=second["Arn"], RoleSessionName="cc", DurationSeconds=3601)
    assert _err(exc)[2] == (
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by "
        "role chaining."
    )
    with pytest.raises(ClientError) as exc:
        sts1.assume_role(
            RoleArn=second["Arn"], RoleSessionName="cc", Tags=[{"Key": "project", "Value": "x"}]
        )
    assert _err(exc)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        sts1.assume_role(RoleArn=second["Arn"], RoleSessionName="cc", SourceIdentity="mallory")
    assert _err(exc)[0] == "AccessDenied"
    chained = sts1.assume_role(RoleArn=second["Arn"], RoleSessionName="chained")
    assert chained["SourceIdentity"] == "alice"
    assert chained["AssumedRoleUser"]["Arn"].endswith("assumed-role/second/chained")


def test_assume_role_cross_account_cli(srv: TesseraServer) -> None:
    alice = _user(srv, "alice")
    other = srv.create_account()
    arn = srv.client("iam", other).create_role(
        RoleName="xacct", AssumeRolePolicyDocument=_trust(alice.account_id)
    )["Role"]["Arn"]
    srv.client("iam").put_user_policy(
        UserName="alice",
        PolicyName="xacct",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": arn}],
            }
        ),
    )
    cli = srv.aws_cli(
        "sts", "assume-role", "--role-arn", arn, "--role-session-name", "xa", creds=alice
    )
    assert cli.returncode == 0, cli.stderr
    creds = _creds(other.account_id, json.loads(cli.stdout)["Credentials"])
    ident = srv.client("sts", creds).get_caller_identity()
    assert ident["Account"] == other.account_id
    assert ident["Arn"] == f"arn:aws:sts::{other.account_id}:assumed-role/xacct/xa"


def test_mfa_with_pyotp(srv: TesseraServer) -> None:
    bob = _user(srv, "bob")
    iam = srv.client("iam")
    iam.put_user_policy(
        UserName="bob",
        PolicyName="own-mfa",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "iam:ListMFADevices", "Resource": "*"}],
            }
        ),
    )
    dev = iam.create_virtual_mfa_device(VirtualMFADeviceName="bob-phone")["VirtualMFADevice"]
    serial = dev["SerialNumber"]
    assert dev["QRCodePNG"].startswith(b"\x89PNG")
    totp = pyotp.TOTP(dev["Base32StringSeed"].decode())
    now = datetime.now(UTC).timestamp()
    iam.enable_mfa_device(
        UserName="bob",
        SerialNumber=serial,
        AuthenticationCode1=totp.at(now - 30),
        AuthenticationCode2=totp.at(now),
    )
    sts = srv.client("sts", bob)
    with pytest.raises(ClientError) as exc:
        sts.get_session_token(SerialNumber=serial, TokenCode=totp.at(now))  # already used
    assert _err(exc) == (
        "AccessDenied",
        403,
        "MultiFactorAuthentication failed with invalid MFA one time pass code.",
    )
    out = sts.get_session_token(SerialNumber=serial, TokenCode=totp.at(now + 30))
    mfa_session = _creds(bob.account_id, out["Credentials"])
    assert srv.client("iam", mfa_session).list_mfa_devices(UserName="bob")["MFADevices"]
    arn = iam.create_role(
        RoleName="needs-mfa",
        AssumeRolePolicyDocument=_trust(
            f"arn:aws:iam::{bob.account_id}:user/bob",
            Bool={"aws:MultiFactorAuthPresent": "true"},
        ),
    )["Role"]["Arn"]
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="nomfa")
    assert _err(exc)[0] == "AccessDenied"


# --- keys and clock (restart the server: keep these last) -------------------------------------


def test_rotation_keeps_sessions_and_retired_keys_fail(srv: TesseraServer) -> None:
    live = srv.client("sts").get_session_token(DurationSeconds=3600)["Credentials"]
    old_kid = _kid(live["SessionToken"])
    store = open_store(srv.data_dir, None)
    try:
        new_kid = SessionKeyRing(store).rotate(datetime.now(UTC)).kid
    finally:
        store.close()
    srv.restart()
    creds = _creds("x", live)
    assert srv.client("sts", creds).get_caller_identity()["Arn"].endswith(":root")
    fresh = srv.client("sts").get_session_token(DurationSeconds=3600)["Credentials"]
    assert _kid(fresh["SessionToken"]) == new_kid != old_kid
    store = open_store(srv.data_dir, None)
    try:
        SessionKeyRing(store).retire(old_kid)
    finally:
        store.close()
    srv.restart()
    with pytest.raises(ClientError) as exc:
        srv.client("sts", creds).get_caller_identity()
    assert _err(exc)[:2] == ("InvalidClientTokenId", 403)
    assert srv.client("sts", _creds("x", fresh)).get_caller_identity()


def test_expired_session(srv: TesseraServer, monkeypatch: pytest.MonkeyPatch) -> None:
    out = srv.client("sts").get_session_token(DurationSeconds=900)["Credentials"]
    creds = _creds("x", out)
    srv.restart(clock_offset=960)
    when = datetime.now(UTC) + timedelta(seconds=960)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: when)
    try:
        with pytest.raises(ClientError) as exc:
            srv.client("sts", creds).get_caller_identity()
        assert _err(exc) == (
            "ExpiredToken",
            403,
            "The security token included in the request is expired",
        )
    finally:
        monkeypatch.undo()
        srv.restart()
