"""AssumeRole / GetSessionToken / GetFederationToken / MFA through the real
pipeline over HTTP with boto3 (in-process server, permissive authoriser: the
calls the policy engine will decide on are recorded and asserted instead)."""

from __future__ import annotations

import json
from typing import Any

import pyotp
import pytest
from botocore.exceptions import ClientError
from sts_harness import Keys, LocalServer

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["sts:AssumeRole"]}],
    }
)
S3_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
)


def _err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def _role(local: LocalServer, name: str, max_duration: int = 3600, keys: Keys | None = None) -> str:
    iam = local.client("iam", keys)
    return str(
        iam.create_role(
            RoleName=name, AssumeRolePolicyDocument=TRUST, MaxSessionDuration=max_duration
        )["Role"]["Arn"]
    )


@pytest.fixture(scope="module")
def alice(local: LocalServer) -> Keys:
    return local.user("alice")


def _assume(local: LocalServer, keys: Keys, role_arn: str, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = local.client("sts", keys).assume_role(
        RoleArn=role_arn, RoleSessionName=kw.pop("RoleSessionName", "s1"), **kw
    )
    return out


def test_assume_role_basic_and_credentials_sign(local: LocalServer, alice: Keys) -> None:
    arn = _role(local, "basic", max_duration=7200)
    out = _assume(local, alice, arn, RoleSessionName="bob@example.com", DurationSeconds=7200)
    role_id = local.client("iam").get_role(RoleName="basic")["Role"]["RoleId"]
    assert out["AssumedRoleUser"] == {
        "AssumedRoleId": f"{role_id}:bob@example.com",
        "Arn": f"arn:aws:sts::{local.account_id}:assumed-role/basic/bob@example.com",
    }
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    delta = creds["Expiration"].timestamp() - local.clock.now().timestamp()
    assert 7200 - 5 < delta <= 7200
    assert "PackedPolicySize" not in out and "SourceIdentity" not in out
    ident = local.client("sts", Keys.of(creds)).get_caller_identity()
    assert ident["Arn"] == out["AssumedRoleUser"]["Arn"]
    assert ident["UserId"] == out["AssumedRoleUser"]["AssumedRoleId"]
    action, resource, kw = local.authz.calls[-2]
    assert (action, resource) == ("sts:AssumeRole", arn)
    assert kw["trust"] is True and kw["resource_account"] == local.account_id
    assert kw["request_keys"]["sts:RoleSessionName"] == "bob@example.com"
    assert "Principal" in kw["resource_policy"].document


def test_role_last_used_is_written_behind_and_seen_by_iam_reads(
    local: LocalServer, alice: Keys
) -> None:
    arn = _role(local, "lastused")
    assert local.client("iam").get_role(RoleName="lastused")["Role"]["RoleLastUsed"] == {}
    _assume(local, alice, arn, RoleSessionName="one")
    # GetRole runs in a worker thread, which first waits for pending bookkeeping
    used = local.client("iam").get_role(RoleName="lastused")["Role"]["RoleLastUsed"]
    assert used["Region"] == "us-east-1" and "LastUsedDate" in used
    assert local.runtime.bookkeeping is not None
    assert local.runtime.bookkeeping.pending() == 0


def test_durations(local: LocalServer, alice: Keys) -> None:
    arn = _role(local, "dur")
    with pytest.raises(ClientError) as exc:
        _assume(local, alice, arn, DurationSeconds=3601)
    assert _err(exc) == (
        "ValidationError",
        400,
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
    )
    long_arn = _role(local, "long", max_duration=43200)
    first = _assume(local, alice, long_arn, DurationSeconds=43200)
    session = Keys.of(first["Credentials"])
    with pytest.raises(ClientError) as exc:
        _assume(local, session, long_arn, DurationSeconds=3700)
    assert _err(exc) == (
        "ValidationError",
        400,
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by "
        "role chaining.",
    )
    chained = _assume(local, session, long_arn, DurationSeconds=3600)
    assert chained["Credentials"]["AccessKeyId"].startswith("ASIA")


def test_root_cannot_assume_and_unknown_role(local: LocalServer, alice: Keys) -> None:
    arn = _role(local, "forroot")
    with pytest.raises(ClientError) as exc:
        _assume(local, local.root, arn)
    assert _err(exc) == ("AccessDenied", 403, "Roles may not be assumed by root accounts.")
    missing = f"arn:aws:iam::{local.account_id}:role/nope"
    with pytest.raises(ClientError) as exc:
        _assume(local, alice, missing)
    assert _err(exc) == (
        "AccessDenied",
        403,
        f"User: arn:aws:iam::{local.account_id}:user/alice is not authorized to perform: "
        f"sts:AssumeRole on resource: {missing}",
    )
    with pytest.raises(ClientError) as exc:
        _assume(local, alice, "nothing-valid-in-here")
    assert _err(exc) == ("ValidationError", 400, "nothing-valid-in-here is invalid")


def test_session_name_validation(local: LocalServer, alice: Keys) -> None:
    arn = _role(local, "names")
    with pytest.raises(ClientError) as exc:
        _assume(local, alice, arn, RoleSessionName="a:b")
    assert _err(exc)[2] == (
        "1 validation error detected: Value 'a:b' at 'roleSessionName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
    )


def test_session_policy_and_packed_size(local: LocalServer, alice: Keys) -> None:
    arn = _role(local, "pol")
    iam = local.client("iam")
    managed = iam.create_policy(PolicyName="m1", PolicyDocument=S3_POLICY)["Policy"]["Arn"]
    out = _assume(local, alice, arn, Policy=S3_POLICY, PolicyArns=[{"arn": managed}])
    assert 0 < out["PackedPolicySize"] < 100
    with pytest.raises(ClientError) as exc:
        _assume(
            local, alice, arn, PolicyArns=[{"arn": f"arn:aws:iam::{local.account_id}:policy/x"}]
        )
    assert _err(exc)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        _assume(local, alice, arn, Policy="{not json")
    assert _err(exc) == ("MalformedPolicyDocument", 400, "Syntax errors in policy.")
    big = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::b/" + "x" * 2000,
                }
            ],
        }
    )
    with pytest.raises(ClientError) as exc:
        _assume(local, alice, arn, Policy=big)
    assert _err(exc)[0] == "ValidationError"


def test_packed_policy_too_large(local: LocalServer, alice: Keys) -> None:
    arn = _role(local, "packed")
    import secrets

    tags = [{"Key": f"k{i}", "Value": secrets.token_hex(128)} for i in range(50)]
    with pytest.raises(ClientError) as exc:
        _assume(local, alice, arn, Tags=tags)
    code, status, message = _err(exc)
    assert (code, status) == ("PackedPolicyTooLarge", 400)
    assert message.startswith("Session token size ")
    assert message.endswith(" bytes exceeds the maximum allowed size of 4096 bytes.")


def test_tags_transitive_chain(local: LocalServer, alice: Keys) -> None:
    arn = _role(local, "tagged")
    out = _assume(
        local,
        alice,
        arn,
        Tags=[{"Key": "Project", "Value": "blue"}, {"Key": "team", "Value": "x"}],
        TransitiveTagKeys=["project"],
    )
    assert out["PackedPolicySize"] >= 1
    actions = [c[0] for c in local.authz.calls[-3:]]
    assert actions[-2:] == ["sts:AssumeRole", "sts:TagSession"]
    keys = local.authz.calls[-1][2]["request_keys"]
    assert keys["aws:TagKeys"] == ("Project", "team")
    assert keys["sts:TransitiveTagKeys"] == ("Project",)
    session = Keys.of(out["Credentials"])
    token = local.runtime.sessions.decode(session.session_token or "")[0]
    assert token.transitive_tag_keys == ("Project",)
    # chained: the transitive tag is inherited, a collision is refused
    with pytest.raises(ClientError) as exc:
        _assume(local, session, arn, Tags=[{"Key": "PROJECT", "Value": "red"}])
    assert _err(exc) == (
        "InvalidParameterValue",
        400,
        "One of the specified transitive tag keys can't be set because it conflicts with a "
        "transitive tag key from the calling session.",
    )
    chained = _assume(local, session, arn, Tags=[{"Key": "team", "Value": "y"}])
    inner = local.runtime.sessions.decode(chained["Credentials"]["SessionToken"])[0]
    assert [(t.key, t.value) for t in inner.tags] == [("Project", "blue"), ("team", "y")]
    assert inner.transitive_tag_keys == ("Project",)
    assert inner.chain_depth == 1
    assert local.authz.calls[-1][0] == "sts:TagSession"
    with pytest.raises(ClientError) as exc:
        _assume(local, alice, arn, Tags=[{"Key": "a", "Value": "1"}], TransitiveTagKeys=["b"])
    assert _err(exc) == (
        "InvalidParameterValue",
        400,
        "The specified transitive tag key must be included in the requested tags.",
    )
    with pytest.raises(ClientError) as exc:
        _assume(local, alice, arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])
    assert _err(exc) == (
        "InvalidParameterValue",
        400,
        "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
    )


def test_external_id_and_source_identity(local: LocalServer, alice: Keys) -> None:
    arn = _role(local, "srcid")
    out = _assume(local, alice, arn, ExternalId="ext-123", SourceIdentity="alice-corp")
    assert out["SourceIdentity"] == "alice-corp"
    assume_call = [c for c in local.authz.calls if c[0] == "sts:AssumeRole"][-1]
    assert assume_call[2]["request_keys"]["sts:ExternalId"] == "ext-123"
    assert assume_call[2]["request_keys"]["sts:SourceIdentity"] == "alice-corp"
    assert local.authz.calls[-1][0] == "sts:SetSourceIdentity"
    session = Keys.of(out["Credentials"])
    chained = _assume(local, session, arn)
    assert chained["SourceIdentity"] == "alice-corp"
    same = _assume(local, session, arn, SourceIdentity="alice-corp")
    assert same["SourceIdentity"] == "alice-corp"
    with pytest.raises(ClientError) as exc:
        _assume(local, session, arn, SourceIdentity="mallory")
    assert _err(exc)[:2] == ("AccessDenied", 403)


def test_cross_account(local: LocalServer, alice: Keys) -> None:
    other_account, other_root = local.new_account()
    arn = _role(local, "xacct", keys=other_root)
    out = _assume(local, alice, arn)
    assert out["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{other_account}:assumed-role/")
    call = [c for c in local.authz.calls if c[0] == "sts:AssumeRole"][-1]
    assert call[2]["resource_account"] == other_account
    ident = local.client("sts", Keys.of(out["Credentials"])).get_caller_identity()
    assert ident["Account"] == other_account


def test_get_session_token(local: LocalServer, alice: Keys) -> None:
    out = local.client("sts", alice).get_session_token()
    creds = out["Credentials"]
    delta = creds["Expiration"].timestamp() - local.clock.now().timestamp()
    assert 43200 - 5 < delta <= 43200
    session = Keys.of(creds)
    assert local.client("sts", session).get_caller_identity()["Arn"].endswith(":user/alice")
    with pytest.raises(ClientError) as exc:
        local.client("sts", session).get_session_token()
    assert _err(exc) == (
        "AccessDenied",
        403,
        "Cannot call GetSessionToken with session credentials",
    )
    root_out = local.client("sts").get_session_token(DurationSeconds=129600)
    delta = root_out["Credentials"]["Expiration"].timestamp() - local.clock.now().timestamp()
    assert 3600 - 5 < delta <= 3600


def test_get_federation_token(local: LocalServer, alice: Keys) -> None:
    out = local.client("sts", alice).get_federation_token(Name="fed-user", Policy=S3_POLICY)
    acct = local.account_id
    assert out["FederatedUser"] == {
        "FederatedUserId": f"{acct}:fed-user",
        "Arn": f"arn:aws:sts::{acct}:federated-user/fed-user",
    }
    assert out["PackedPolicySize"] > 0
    assert local.authz.calls[-1][:2] == (
        "sts:GetFederationToken",
        f"arn:aws:sts::{acct}:federated-user/fed-user",
    )
    plain = local.client("sts", alice).get_federation_token(Name="fed2")
    # PackedPolicySize is now the token's utilization (issue #14 §5)
    assert plain["PackedPolicySize"] == plain["SessionTokenUtilization"] > 0
    fed = Keys.of(out["Credentials"])
    assert local.client("sts", fed).get_caller_identity()["Arn"].endswith("federated-user/fed-user")
    with pytest.raises(ClientError) as exc:
        local.client("sts", fed).get_federation_token(Name="again")
    assert _err(exc) == (
        "AccessDenied",
        403,
        "Cannot call GetFederationToken with session credentials",
    )


def test_expired_and_tampered(
    local: LocalServer, alice: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = local.client("sts", alice).get_session_token(DurationSeconds=900)
    session = Keys.of(out["Credentials"])
    local.shift(901, monkeypatch)
    with pytest.raises(ClientError) as exc:
        local.client("sts", session).get_caller_identity()
    assert _err(exc)[:2] == ("ExpiredToken", 403)
    local.clock.offset = 0
    monkeypatch.undo()
    token = session.session_token or ""
    flipped = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(ClientError) as exc:
        local.client(
            "sts", Keys(session.access_key_id, session.secret_access_key, flipped)
        ).get_caller_identity()
    assert _err(exc)[:2] == ("InvalidClientTokenId", 403)


def test_mfa_devices_and_sessions(local: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    carol = local.user("carol")
    iam = local.client("iam")
    dev = iam.create_virtual_mfa_device(
        VirtualMFADeviceName="carol-phone", Tags=[{"Key": "k", "Value": "v"}]
    )["VirtualMFADevice"]
    serial = dev["SerialNumber"]
    assert serial == f"arn:aws:iam::{local.account_id}:mfa/carol-phone"
    assert dev["QRCodePNG"].startswith(b"\x89PNG\r\n\x1a\n")
    seed = dev["Base32StringSeed"].decode()
    totp = pyotp.TOTP(seed)
    now = local.clock.now().timestamp()
    with pytest.raises(ClientError) as exc:
        iam.enable_mfa_device(
            UserName="carol",
            SerialNumber=serial,
            AuthenticationCode1="000000",
            AuthenticationCode2="000000",
        )
    assert _err(exc) == (
        "InvalidAuthenticationCode",
        403,
        "Authentication code for device is not valid.",
    )
    iam.enable_mfa_device(
        UserName="carol",
        SerialNumber=serial,
        AuthenticationCode1=totp.at(now - 30),
        AuthenticationCode2=totp.at(now),
    )
    listed = iam.list_mfa_devices(UserName="carol")["MFADevices"]
    assert [d["SerialNumber"] for d in listed] == [serial]
    assigned = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
    assert assigned[0]["User"]["UserName"] == "carol"
    assert iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"] == []
    with pytest.raises(ClientError) as exc:
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert _err(exc)[0] == "DeleteConflict"

    sts = local.client("sts", carol)
    # the enabling code (current step) cannot be used again
    with pytest.raises(ClientError) as exc:
        sts.get_session_token(SerialNumber=serial, TokenCode=totp.at(now))
    assert _err(exc) == (
        "AccessDenied",
        403,
        "MultiFactorAuthentication failed with invalid MFA one time pass code.",
    )
    with pytest.raises(ClientError) as exc:
        sts.get_session_token(SerialNumber=serial + "x", TokenCode=totp.at(now + 30))
    assert _err(exc)[2].startswith("MultiFactorAuthentication failed, unable to validate MFA code.")
    out = sts.get_session_token(SerialNumber=serial, TokenCode=totp.at(now + 30))
    token = local.runtime.sessions.decode(out["Credentials"]["SessionToken"])[0]
    assert token.mfa_authenticated and token.mfa_auth_time is not None
    with pytest.raises(ClientError) as exc:  # replay of the same code
        sts.get_session_token(SerialNumber=serial, TokenCode=totp.at(now + 30))
    assert _err(exc)[0] == "AccessDenied"
    # AssumeRole with MFA: the trust decision sees aws:MultiFactorAuthPresent
    arn = _role(local, "mfarole")
    local.shift(60, monkeypatch)
    res = _assume(local, carol, arn, SerialNumber=serial, TokenCode=totp.at(now + 60))
    call = [c for c in local.authz.calls if c[0] == "sts:AssumeRole"][-1]
    assert call[2]["request_keys"]["aws:MultiFactorAuthPresent"] == "true"
    inner = local.runtime.sessions.decode(res["Credentials"]["SessionToken"])[0]
    assert inner.mfa_authenticated
    # resync, deactivate, delete
    iam.resync_mfa_device(
        UserName="carol",
        SerialNumber=serial,
        AuthenticationCode1=totp.at(now + 90),
        AuthenticationCode2=totp.at(now + 120),
    )
    iam.deactivate_mfa_device(UserName="carol", SerialNumber=serial)
    assert iam.list_mfa_devices(UserName="carol")["MFADevices"] == []
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    with pytest.raises(ClientError) as exc:
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert _err(exc)[0] == "NoSuchEntity"


def test_restrictions_through_pipeline(local: LocalServer, alice: Keys) -> None:
    sess = Keys.of(local.client("sts", alice).get_session_token()["Credentials"])
    with pytest.raises(ClientError) as exc:
        local.client("iam", sess).list_users()
    assert _err(exc)[:2] == ("InvalidClientTokenId", 403)
