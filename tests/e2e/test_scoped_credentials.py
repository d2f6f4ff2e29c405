"""GetScopedCredentials end to end: a real server process, boto3 1.44.8 and the
real policy engine. A role session scoped down three times (each layer narrowing
what the session may do), a fourth layer refused while a duration-only call is
still allowed, expiry bounds, long-term credentials refused, GetCallerIdentity
identical to the parent's, session tags and source identity kept, and the calls a
scoped session makes to STS itself (AssumeRole, GetWebIdentityToken,
GetScopedCredentials) limited by its layers; a role assumed from a scoped session
does not inherit the layers (aws-2026-additions.md §3.3)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.server import Creds, TesseraServer

pytestmark = pytest.mark.e2e


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(*actions: str, **condition: Any) -> dict[str, Any]:
    st: dict[str, Any] = {"Effect": "Allow", "Action": list(actions), "Resource": "*"}
    if condition:
        st["Condition"] = condition
    return st


def _err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def _creds(account: str, c: dict[str, Any]) -> Creds:
    return Creds(account, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


@dataclass
class World:
    srv: TesseraServer
    account: str
    boss: Creds  # IAM user allowed to assume "agent"
    agent_arn: str
    wide_arn: str  # a role "agent" sessions may assume


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base: Path = tmp_path_factory.mktemp("scoped")
    srv = TesseraServer(data_dir=base / "data")
    root = srv.init()
    srv.start()
    try:
        account = root.account_id
        iam = srv.client("iam", root)
        iam.create_user(UserName="boss")
        iam.put_user_policy(
            UserName="boss",
            PolicyName="p",
            PolicyDocument=_doc(
                _allow(
                    "sts:AssumeRole",
                    "sts:TagSession",
                    "sts:SetSourceIdentity",
                    "sts:GetScopedCredentials",
                    "sts:GetFederationToken",
                    "iam:ListUsers",
                )
            ),
        )
        key = iam.create_access_key(UserName="boss")["AccessKey"]
        boss = Creds(account, key["AccessKeyId"], key["SecretAccessKey"])
        trust = _doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:user/boss"},
                "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
            }
        )
        agent = iam.create_role(RoleName="agent", AssumeRolePolicyDocument=trust)["Role"]
        iam.put_role_policy(
            RoleName="agent",
            PolicyName="p",
            PolicyDocument=_doc(
                _allow(
                    "iam:List*",
                    "iam:GetRole",
                    "sts:GetScopedCredentials",
                    "sts:AssumeRole",
                    "sts:GetWebIdentityToken",
                )
            ),
        )
        wide_trust = _doc(
            {"Effect": "Allow", "Principal": {"AWS": agent["Arn"]}, "Action": "sts:AssumeRole"}
        )
        wide = iam.create_role(RoleName="wide", AssumeRolePolicyDocument=wide_trust)["Role"]
        iam.put_role_policy(RoleName="wide", PolicyName="p", PolicyDocument=_doc(_allow("iam:*")))
        iam.enable_outbound_web_identity_federation()
        yield World(srv, account, boss, agent["Arn"], wide["Arn"])
    finally:
        srv.stop()


def _agent(w: World, **kw: Any) -> tuple[Creds, dict[str, Any]]:
    out = w.srv.client("sts", w.boss).assume_role(
        RoleArn=w.agent_arn, RoleSessionName=kw.pop("RoleSessionName", "job-1"), **kw
    )
    return _creds(w.account, out["Credentials"]), out


def _scope(w: World, creds: Creds, **kw: Any) -> tuple[Creds, dict[str, Any]]:
    out = w.srv.client("sts", creds).get_scoped_credentials(**kw)
    return _creds(w.account, out["Credentials"]), out


def _can(w: World, creds: Creds, call: str, **kw: Any) -> bool:
    try:
        getattr(w.srv.client("iam", creds), call)(**kw)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "AccessDenied", exc.response
        return False
    return True


def test_each_layer_narrows_and_a_fourth_is_refused(world: World) -> None:
    w = world
    parent, assumed = _agent(w)
    assert _can(w, parent, "list_users") and _can(w, parent, "get_role", RoleName="agent")

    one, out = _scope(w, parent, Policy=_doc(_allow("iam:List*", "sts:GetScopedCredentials")))
    assert out["ScopedPoliciesCount"] == 1
    assert _can(w, one, "list_users") and _can(w, one, "list_roles")
    assert not _can(w, one, "get_role", RoleName="agent")
    # the parent is unchanged
    assert _can(w, parent, "get_role", RoleName="agent")

    # a later layer cannot widen: iam:GetRole is still denied by layer one
    two, out = _scope(
        w, one, Policy=_doc(_allow("iam:ListUsers", "iam:GetRole", "sts:GetScopedCredentials"))
    )
    assert out["ScopedPoliciesCount"] == 2
    assert _can(w, two, "list_users")
    assert not _can(w, two, "list_roles")
    assert not _can(w, two, "get_role", RoleName="agent")

    three, out = _scope(w, two, Policy=_doc(_allow("*")))
    assert out["ScopedPoliciesCount"] == 3
    assert _can(w, three, "list_users") and not _can(w, three, "list_roles")

    with pytest.raises(ClientError) as exc:
        _scope(w, three, Policy=_doc(_allow("*")))
    code, status, message = _err(exc)
    assert (code, status) == ("AccessDenied", 403) and "maximum of 3" in message
    four, out = _scope(w, three, DurationSeconds=120)  # duration only: allowed at 3
    assert out["ScopedPoliciesCount"] == 3
    assert _can(w, four, "list_users") and not _can(w, four, "list_roles")

    for creds in (one, two, three, four):
        ident = w.srv.client("sts", creds).get_caller_identity()
        assert ident["Arn"] == assumed["AssumedRoleUser"]["Arn"]
        assert ident["UserId"] == assumed["AssumedRoleUser"]["AssumedRoleId"]
        assert ident["Account"] == w.account


def test_scoping_needs_the_action_in_every_layer(world: World) -> None:
    w = world
    parent, _ = _agent(w)
    one, _ = _scope(w, parent, Policy=_doc(_allow("iam:ListUsers")))
    with pytest.raises(ClientError) as exc:
        _scope(w, one, DurationSeconds=60)
    code, status, message = _err(exc)
    assert (code, status) == ("AccessDenied", 403)
    assert "sts:GetScopedCredentials" in message and "session policy" in message


def test_caller_identity_is_the_parents(world: World) -> None:
    w = world
    parent, _ = _agent(w, RoleSessionName="same-me")
    scoped, out = _scope(w, parent, DurationSeconds=300)
    before = w.srv.client("sts", parent).get_caller_identity()
    after = w.srv.client("sts", scoped).get_caller_identity()
    assert {k: before[k] for k in ("UserId", "Account", "Arn")} == {
        k: after[k] for k in ("UserId", "Account", "Arn")
    }
    assert out["SessionInfo"]["Arn"] == before["Arn"]
    assert out["SessionInfo"]["ScopedSessionId"].startswith(before["UserId"] + ":scoped-")
    assert out["SessionTokenSize"] == len(scoped.session_token or "")
    assert 0 < out["SessionTokenUtilization"] <= 100


def test_expiry_bounds(world: World) -> None:
    w = world
    parent, assumed = _agent(w, DurationSeconds=900)
    parent_exp = assumed["Credentials"]["Expiration"]
    _, out = _scope(w, parent, Policy=_doc(_allow("iam:ListUsers")))
    assert out["Credentials"]["Expiration"] == parent_exp  # inherited
    _, out = _scope(w, parent, DurationSeconds=60)
    assert out["Credentials"]["Expiration"] < parent_exp - timedelta(seconds=800)
    for seconds in (1000, 129_600):
        with pytest.raises(ClientError) as exc:
            _scope(w, parent, DurationSeconds=seconds)
        assert _err(exc)[:2] == ("InsufficientSessionLifetime", 400)
    with pytest.raises(ClientError) as exc:
        _scope(w, parent)
    assert _err(exc)[:2] == ("ValidationError", 400)


def test_long_term_credentials_are_refused(world: World) -> None:
    w = world
    with pytest.raises(ClientError) as exc:
        w.srv.client("sts", w.boss).get_scoped_credentials(DurationSeconds=60)
    code, status, message = _err(exc)
    assert (code, status) == ("InvalidSubjectCredentials", 400)
    assert "not a valid session" in message
    # a GetSessionToken session of the same user may
    token = w.srv.client("sts", w.boss).get_session_token()["Credentials"]
    _, out = _scope(w, _creds(w.account, token), Policy=_doc(_allow("iam:ListUsers")))
    assert out["SessionInfo"]["Arn"] == f"arn:aws:iam::{w.account}:user/boss"
    assert out["ScopedPoliciesCount"] == 1


def test_malformed_policy(world: World) -> None:
    w = world
    parent, _ = _agent(w)
    with pytest.raises(ClientError) as exc:
        _scope(w, parent, Policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}')
    assert _err(exc)[:2] == ("MalformedPolicyDocument", 400)


def test_session_tags_and_source_identity_are_kept(world: World) -> None:
    w = world
    parent, _ = _agent(
        w, Tags=[{"Key": "team", "Value": "blue"}], SourceIdentity="alice", RoleSessionName="tagged"
    )
    layer = _doc(
        _allow("iam:ListUsers", StringEquals={"aws:PrincipalTag/team": "blue"}),
        _allow("iam:ListRoles", StringEquals={"aws:SourceIdentity": "alice"}),
        _allow("iam:ListGroups", StringEquals={"aws:PrincipalTag/team": "red"}),
    )
    scoped, out = _scope(w, parent, Policy=layer)
    assert out["SourceIdentity"] == "alice"
    assert _can(w, scoped, "list_users")
    assert _can(w, scoped, "list_roles")
    assert not _can(w, scoped, "list_groups")


def test_assume_role_is_limited_by_the_layers_but_does_not_inherit_them(world: World) -> None:
    w = world
    parent, _ = _agent(w)
    narrow, _ = _scope(w, parent, Policy=_doc(_allow("iam:ListUsers")))
    sts = w.srv.client("sts", narrow)
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=w.wide_arn, RoleSessionName="escape")
    code, status, message = _err(exc)
    assert (code, status) == ("AccessDenied", 403) and "sts:AssumeRole" in message
    # the parent may; so may a scoped session whose layers allow sts:AssumeRole
    w.srv.client("sts", parent).assume_role(RoleArn=w.wide_arn, RoleSessionName="ok")
    chained, _ = _scope(w, parent, Policy=_doc(_allow("iam:ListUsers", "sts:AssumeRole")))
    out = w.srv.client("sts", chained).assume_role(RoleArn=w.wide_arn, RoleSessionName="next")
    wide = _creds(w.account, out["Credentials"])
    # the new role session has the wide role's permissions, not the layers
    assert _can(w, wide, "list_roles") and _can(w, wide, "get_role", RoleName="agent")
    ident = w.srv.client("sts", wide).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:sts::{w.account}:assumed-role/wide/next"


def test_get_web_identity_token_is_limited_by_the_layers(world: World) -> None:
    w = world
    parent, _ = _agent(w)
    kw: dict[str, Any] = {"Audience": ["https://rp.example.com"], "SigningAlgorithm": "ES384"}
    assert w.srv.client("sts", parent).get_web_identity_token(**kw)["WebIdentityToken"]
    narrow, _ = _scope(w, parent, Policy=_doc(_allow("iam:ListUsers")))
    with pytest.raises(ClientError) as exc:
        w.srv.client("sts", narrow).get_web_identity_token(**kw)
    code, status, message = _err(exc)
    assert (code, status) == ("AccessDenied", 403) and "sts:GetWebIdentityToken" in message
    allowed, _ = _scope(w, parent, Policy=_doc(_allow("sts:GetWebIdentityToken")))
    assert w.srv.client("sts", allowed).get_web_identity_token(**kw)["WebIdentityToken"]


def test_federated_user_sessions_can_be_scoped(world: World) -> None:
    w = world
    fed = w.srv.client("sts", w.boss).get_federation_token(
        Name="fed-agent", Policy=_doc(_allow("iam:ListUsers", "sts:GetScopedCredentials"))
    )
    creds = _creds(w.account, fed["Credentials"])
    scoped, out = _scope(w, creds, DurationSeconds=60)
    assert out["SessionInfo"]["Arn"] == fed["FederatedUser"]["Arn"]
    ident = w.srv.client("sts", scoped).get_caller_identity()
    assert ident["Arn"] == fed["FederatedUser"]["Arn"]
