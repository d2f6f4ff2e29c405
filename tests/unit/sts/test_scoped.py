"""GetScopedCredentials through the real pipeline over HTTP with boto3 (in-process
server, permissive authoriser: the policy engine's part is in the e2e suite and
``tests/unit/iam/policy/test_scope_layers.py``). One test per rule and error."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from sts_harness import Keys, LocalServer

from tessera.sts.scoped import NOT_A_SESSION, TOO_MANY_LAYERS
from tessera.sts.token_size import utilization

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
)


def _policy(action: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}],
        }
    )


def _err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


@pytest.fixture(scope="module")
def alice(local: LocalServer) -> Keys:
    return local.user("scoper")


@pytest.fixture(scope="module")
def role_arn(local: LocalServer) -> str:
    iam = local.client("iam")
    return str(iam.create_role(RoleName="scoped", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"])


def _session(local: LocalServer, alice: Keys, role_arn: str, **kw: Any) -> tuple[Keys, Any]:
    out = local.client("sts", alice).assume_role(RoleArn=role_arn, RoleSessionName="agent", **kw)
    return Keys.of(out["Credentials"]), out


def _scope(local: LocalServer, keys: Keys, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = local.client("sts", keys).get_scoped_credentials(**kw)
    return out


def test_long_term_credentials_are_refused(local: LocalServer, alice: Keys) -> None:
    with pytest.raises(ClientError) as exc:
        _scope(local, alice, DurationSeconds=60)
    assert _err(exc) == ("InvalidSubjectCredentials", 400, NOT_A_SESSION)
    with pytest.raises(ClientError) as exc:
        _scope(local, local.root, DurationSeconds=60)
    assert _err(exc)[0] == "InvalidSubjectCredentials"


def test_authorises_the_action_first(local: LocalServer, alice: Keys) -> None:
    local.authz.deny.add("sts:GetScopedCredentials")
    with pytest.raises(ClientError) as exc:
        _scope(local, alice, DurationSeconds=60)  # long-term keys: still AccessDenied first
    assert _err(exc)[:2] == ("AccessDenied", 403)


def test_policy_or_duration_is_required(local: LocalServer, alice: Keys, role_arn: str) -> None:
    keys, _ = _session(local, alice, role_arn)
    with pytest.raises(ClientError) as exc:
        _scope(local, keys)
    assert _err(exc) == (
        "ValidationError",
        400,
        "A request must provide at least one of Policy or DurationSeconds.",
    )
    with pytest.raises(ClientError) as exc:
        _scope(local, keys, ScopedSessionDescription="just a description")
    assert _err(exc)[0] == "ValidationError"


def test_malformed_policy(local: LocalServer, alice: Keys, role_arn: str) -> None:
    keys, _ = _session(local, alice, role_arn)
    with pytest.raises(ClientError) as exc:
        _scope(local, keys, Policy='{"Version":"2012-10-17","Statement":[{"Effect":"Maybe"}]}')
    assert _err(exc)[:2] == ("MalformedPolicyDocument", 400)
    with pytest.raises(ClientError) as exc:
        _scope(local, keys, Policy="not json")
    assert _err(exc)[:2] == ("MalformedPolicyDocument", 400)


def test_model_bounds(local: LocalServer, alice: Keys, role_arn: str) -> None:
    keys, _ = _session(local, alice, role_arn)
    sts = boto3.client(
        "sts",
        endpoint_url=local.endpoint,
        region_name="us-east-1",
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
        aws_session_token=keys.session_token,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )
    for kw in (
        {"DurationSeconds": 0},
        {"DurationSeconds": 129_601},
        {"Policy": "x" * 2049},
        {"DurationSeconds": 60, "ScopedSessionDescription": "x"},
        {"DurationSeconds": 60, "ScopedSessionDescription": "x" * 257},
        {"DurationSeconds": 60, "MinimumSessionTokenSize": 4097},
    ):
        with pytest.raises(ClientError) as exc:
            sts.get_scoped_credentials(**kw)
        assert _err(exc)[:2] == ("ValidationError", 400), kw


def test_duration_bounds(
    local: LocalServer, alice: Keys, role_arn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys, parent = _session(local, alice, role_arn, DurationSeconds=900)
    parent_exp = parent["Credentials"]["Expiration"]
    # omitted: inherits the caller's expiry
    out = _scope(local, keys, Policy=_policy("s3:*"))
    assert out["Credentials"]["Expiration"] == parent_exp
    # shorter: now + duration
    out = _scope(local, keys, DurationSeconds=1)
    assert out["Credentials"]["Expiration"] <= parent_exp - timedelta(seconds=890)
    # exactly the remaining lifetime is fine, one second more is not
    with pytest.raises(ClientError) as exc:
        _scope(local, keys, DurationSeconds=901)
    code, status, message = _err(exc)
    assert (code, status) == ("InsufficientSessionLifetime", 400)
    assert "901" in message and "remaining lifetime" in message
    with pytest.raises(ClientError) as exc:
        _scope(local, keys, DurationSeconds=129_600)
    assert _err(exc)[0] == "InsufficientSessionLifetime"
    # later in the session the remaining lifetime shrinks
    local.shift(600, monkeypatch)
    with pytest.raises(ClientError) as exc:
        _scope(local, keys, DurationSeconds=301)
    assert _err(exc)[0] == "InsufficientSessionLifetime"
    assert _scope(local, keys, DurationSeconds=290)["Credentials"]["Expiration"] <= parent_exp
    # a scoped session's own scoped credentials cannot outlive it
    short = Keys.of(_scope(local, keys, DurationSeconds=100)["Credentials"])
    with pytest.raises(ClientError) as exc:
        _scope(local, short, DurationSeconds=200)
    assert _err(exc)[0] == "InsufficientSessionLifetime"


def test_layers_are_recorded_and_capped_at_three(
    local: LocalServer, alice: Keys, role_arn: str
) -> None:
    keys, _ = _session(local, alice, role_arn)
    codec = local.runtime.sessions
    out = _scope(local, keys, DurationSeconds=60)  # duration only: no layer
    assert out["ScopedPoliciesCount"] == 0
    for n, action in enumerate(("s3:*", "s3:Get*", "s3:GetObject"), 1):
        out = _scope(local, keys, Policy=_policy(action))
        assert out["ScopedPoliciesCount"] == n
        keys = Keys.of(out["Credentials"])
    session, _, _ = codec.decode(keys.session_token or "")
    assert [json.loads(p)["Statement"][0]["Action"] for p in session.scope_policies] == [
        "s3:*",
        "s3:Get*",
        "s3:GetObject",
    ]
    with pytest.raises(ClientError) as exc:
        _scope(local, keys, Policy=_policy("s3:GetObject"))
    assert _err(exc) == ("AccessDenied", 403, TOO_MANY_LAYERS)
    # duration-only at three layers is still allowed and keeps all three
    out = _scope(local, keys, DurationSeconds=60)
    assert out["ScopedPoliciesCount"] == 3
    session, _, _ = codec.decode(out["Credentials"]["SessionToken"])
    assert len(session.scope_policies) == 3


def test_identity_and_session_facts_are_preserved(
    local: LocalServer, alice: Keys, role_arn: str
) -> None:
    keys, parent = _session(
        local,
        alice,
        role_arn,
        Tags=[{"Key": "team", "Value": "blue"}],
        TransitiveTagKeys=["team"],
        SourceIdentity="alice-src",
    )
    out = _scope(
        local, keys, Policy=_policy("s3:*"), ScopedSessionDescription="nightly report agent"
    )
    before = local.client("sts", keys).get_caller_identity()
    scoped_keys = Keys.of(out["Credentials"])
    after = local.client("sts", scoped_keys).get_caller_identity()
    for k in ("UserId", "Account", "Arn"):
        assert before[k] == after[k]
    assert out["SessionInfo"]["Arn"] == parent["AssumedRoleUser"]["Arn"]
    sid = out["SessionInfo"]["ScopedSessionId"]
    assert sid.startswith(parent["AssumedRoleUser"]["AssumedRoleId"] + ":scoped-")
    assert out["SourceIdentity"] == "alice-src"
    assert scoped_keys.access_key_id != keys.access_key_id
    assert scoped_keys.access_key_id.startswith("ASIA")
    codec = local.runtime.sessions
    p, _, _ = codec.decode(keys.session_token or "")
    s, _, _ = codec.decode(scoped_keys.session_token or "")
    assert s.scoped_session_id == sid
    assert s.scoped_description == "nightly report agent"
    for name in (
        "kind",
        "account_id",
        "source_arn",
        "source_id",
        "source_name",
        "session_name",
        "session_policy",
        "policy_arns",
        "tags",
        "transitive_tag_keys",
        "source_identity",
        "mfa_authenticated",
        "mfa_auth_time",
        "chain_depth",
        "federated_provider",
        "original_expires_at",
        "web_identity_claims",
        "expires_at",
    ):
        assert getattr(s, name) == getattr(p, name), name
    # a second scope keeps the first layer and gets a new id
    again = _scope(local, scoped_keys, DurationSeconds=60)
    assert again["SessionInfo"]["ScopedSessionId"] != sid
    assert again["ScopedPoliciesCount"] == 1


def test_session_token_size_outputs(local: LocalServer, alice: Keys, role_arn: str) -> None:
    keys, _ = _session(local, alice, role_arn)
    out = _scope(local, keys, DurationSeconds=60)
    size = len(out["Credentials"]["SessionToken"])
    assert out["SessionTokenSize"] == size
    assert out["SessionTokenUtilization"] == utilization(size)
    assert "SourceIdentity" not in out


def test_minimum_session_token_size(local: LocalServer, alice: Keys, role_arn: str) -> None:
    keys, _ = _session(local, alice, role_arn)
    size = _scope(local, keys, DurationSeconds=60, MinimumSessionTokenSize=0)["SessionTokenSize"]
    out = _scope(local, keys, DurationSeconds=60, MinimumSessionTokenSize=2000)
    assert out["SessionTokenSize"] >= 2000 > size
    assert len(out["Credentials"]["SessionToken"]) == out["SessionTokenSize"]
    # the padded scoped token still works and still carries the session
    ident = local.client("sts", Keys.of(out["Credentials"])).get_caller_identity()
    assert ident["Arn"].endswith(":assumed-role/scoped/agent")


def test_token_limit(local: LocalServer, alice: Keys, role_arn: str) -> None:
    """Large layers soon outgrow the 4,096-byte token: PackedPolicyTooLarge."""
    keys, _ = _session(local, alice, role_arn)

    def big() -> str:  # ~1,900 characters that do not compress
        resources = [f"arn:aws:s3:::{secrets.token_urlsafe(90)}" for _ in range(13)]
        statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": resources}
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]})

    with pytest.raises(ClientError) as exc:
        for _ in range(3):
            keys = Keys.of(_scope(local, keys, Policy=big())["Credentials"])
    code, status, message = _err(exc)
    assert (code, status) == ("PackedPolicyTooLarge", 400)
    assert "4096 bytes" in message


def test_other_temporary_credentials(local: LocalServer, alice: Keys) -> None:
    sts = local.client("sts", alice)
    token = Keys.of(sts.get_session_token()["Credentials"])
    out = _scope(local, token, Policy=_policy("s3:*"))
    assert out["SessionInfo"]["Arn"] == sts.get_caller_identity()["Arn"]
    assert out["ScopedPoliciesCount"] == 1
    fed = sts.get_federation_token(Name="fed", Policy=_policy("s3:*"))
    out = _scope(local, Keys.of(fed["Credentials"]), DurationSeconds=60)
    assert out["SessionInfo"]["Arn"] == fed["FederatedUser"]["Arn"]
    assert out["SessionInfo"]["ScopedSessionId"].startswith(fed["FederatedUser"]["FederatedUserId"])


def test_assume_role_from_a_scoped_session_does_not_carry_layers(
    local: LocalServer, alice: Keys, role_arn: str
) -> None:
    keys, _ = _session(local, alice, role_arn)
    scoped = Keys.of(_scope(local, keys, Policy=_policy("sts:AssumeRole"))["Credentials"])
    out = local.client("sts", scoped).assume_role(RoleArn=role_arn, RoleSessionName="next")
    session, _, _ = local.runtime.sessions.decode(out["Credentials"]["SessionToken"])
    assert session.scope_policies == () and session.scoped_session_id is None
