"""The decision context built in two parts (the caller's keys, memoised per access
key, plus the moment's, the resource's and the request's) is exactly what
``global_keys`` builds in one go; and the memo follows IAM writes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import pytest
from test_service_support import ACCOUNT_A, Harness

from tessera import arn as arns
from tessera.auth.principal import Principal, PrincipalKind, Session, SessionKind
from tessera.iam.authz import _PRINCIPAL_TYPE, Authorizer, principal_info
from tessera.iam.model import Tag
from tessera.iam.policy import global_keys
from tessera.operation import ContextValue


def _reference(
    h: Harness,
    authz: Authorizer,
    caller: Principal,
    request_keys: Mapping[str, ContextValue] | None,
    resource_tags: Mapping[str, str] | None,
) -> dict[str, ContextValue]:
    """The condition keys as ``Authorizer`` built them with ``global_keys`` alone."""
    ctx = h.context("AssumeRole", caller)
    session = caller.session
    extra: dict[str, ContextValue] = {}
    if session is not None and session.federated_provider:
        extra["aws:FederatedProvider"] = session.federated_provider
    if session is not None:
        extra.update(session.web_identity_claims)
    for k, v in (resource_tags or {}).items():
        extra[f"iam:ResourceTag/{k}"] = v
    if request_keys:
        extra.update(request_keys)
    mfa_age = None
    if session is not None and session.mfa_authenticated and session.mfa_auth_time is not None:
        mfa_age = max(0, int((ctx.now - session.mfa_auth_time).total_seconds()))
    account = h.store.get_account(caller.account_id)
    return global_keys(
        principal_info(caller),
        current_time=ctx.now,
        secure_transport=ctx.secure_transport,
        source_ip=ctx.source_ip,
        username=caller.name if caller.kind is PrincipalKind.USER else None,
        userid=caller.user_id,
        principal_type=_PRINCIPAL_TYPE[caller.kind],
        principal_tags=authz.caller_policies(caller).principal_tags,
        resource_tags=resource_tags,
        mfa_present=(session.mfa_authenticated if session is not None else None),
        mfa_age_seconds=mfa_age,
        token_issue_time=session.issued_at if session is not None else None,
        source_identity=session.source_identity if session is not None else None,
        requested_region=ctx.region,
        org_id=account.org_id if account is not None else None,
        org_paths=[account.ou_path] if account is not None and account.ou_path else None,
        extra=extra,
    )


def _role_session(h: Harness) -> Principal:
    role = h.store.get_role(ACCOUNT_A, "app")
    assert role is not None
    now = h.clock.now()
    session = Session(
        kind=SessionKind.ASSUMED_ROLE,
        account_id=ACCOUNT_A,
        issued_at=now - timedelta(minutes=5),
        expires_at=now + timedelta(hours=1),
        source_arn=role.arn,
        source_id=role.role_id,
        source_name=role.name,
        session_name="s1",
        tags=(Tag("Team", "blue"), Tag("cost", "7")),
        source_identity="alice",
        mfa_authenticated=True,
        mfa_auth_time=now - timedelta(minutes=2),
        federated_provider="accounts.example.com",
        web_identity_claims=(("accounts.example.com:sub", "u-1"),),
    )
    return Principal(
        kind=PrincipalKind.ROLE_SESSION,
        account_id=ACCOUNT_A,
        arn=arns.assumed_role_arn(ACCOUNT_A, role.name, "s1"),
        user_id=f"{role.role_id}:s1",
        principal_arn=role.arn,
        name=role.name,
        session=session,
    )


@pytest.fixture
def h() -> Harness:
    h = Harness.create()
    h.store.enable_read_cache()
    h.call("CreateUser", UserName="bob", Tags=[{"Key": "Team", "Value": "red"}])
    h.call(
        "CreateRole",
        RoleName="app",
        AssumeRolePolicyDocument=(
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
            '"Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole"}]}'
        ),
        Tags=[{"Key": "team", "Value": "green"}, {"Key": "env", "Value": "prod"}],
    )
    h.store.create_access_key(ACCOUNT_A, "bob", "AKIABOBBOBBOBBOBBOB0", "s" * 40, h.clock.now())
    h.store.create_access_key(ACCOUNT_A, None, "AKIAROOTROOTROOTROO0", "r" * 40, h.clock.now())
    return h


@pytest.mark.parametrize(
    ("request_keys", "resource_tags"),
    [
        (None, None),
        ({"sts:RoleSessionName": "x", "aws:RequestTag/Team": "v"}, {"Env": "prod"}),
        ({"aws:MultiFactorAuthPresent": "true", "aws:TagKeys": ("a", "b")}, {"team": "t"}),
    ],
)
def test_two_part_keys_equal_global_keys(
    h: Harness,
    request_keys: Mapping[str, ContextValue] | None,
    resource_tags: Mapping[str, str] | None,
) -> None:
    authz = Authorizer(h.store, memo=h.store)
    now = h.clock.now()
    callers = [
        h.runtime.resolver.resolve("AKIABOBBOBBOBBOBBOB0", None, now)[0],
        h.runtime.resolver.resolve("AKIAROOTROOTROOTROO0", None, now)[0],
        _role_session(h),
    ]
    for caller in callers:
        ctx = h.context("AssumeRole", caller)
        for _ in range(2):  # the second time from the memo (long-term keys)
            keys = authz.context_keys(
                ctx, caller, authz.caller_view(caller), request_keys, resource_tags
            )
            assert keys == _reference(h, authz, caller, request_keys, resource_tags)


def test_caller_view_is_memoised_per_key_and_dropped_by_writes(h: Harness) -> None:
    authz = Authorizer(h.store, memo=h.store)
    bob = h.runtime.resolver.resolve("AKIABOBBOBBOBBOBBOB0", None, h.clock.now())[0]
    first = authz.caller_view(bob)
    assert authz.caller_view(bob) is first
    assert first.keys["aws:principaltag/team"] == "red"
    h.call("TagUser", UserName="bob", Tags=[{"Key": "Team", "Value": "yellow"}])
    h.store.validate_read_cache()
    again = authz.caller_view(bob)
    assert again is not first and again.keys["aws:principaltag/team"] == "yellow"
    session = _role_session(h)
    assert authz.caller_view(session) is not authz.caller_view(session)  # never memoised
