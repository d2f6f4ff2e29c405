"""GetScopedCredentials scope-down layers in the policy engine
(``PolicySet.scope_layers``, ``evaluate`` step 3b): every layer must allow, an
explicit deny in a layer wins, and no path around them exists (root sessions,
resource-policy grants naming the session, cross-account)."""

from __future__ import annotations

from policy_helpers import ACCT, OTHER, ROOT, SESSION, ctx, decide, pol, stmt

from tessera.iam.policy import PolicyKind, PolicyType

ALL = pol(stmt())
S3_ALL = pol(stmt(action="s3:*"), kind=PolicyKind.SESSION)
S3_GET = pol(stmt(action="s3:GetObject"), kind=PolicyKind.SESSION)
S3_PUT = pol(stmt(action="s3:PutObject"), kind=PolicyKind.SESSION)
BUCKET = "arn:aws:s3:::bucket/key"


def test_without_layers_nothing_changes() -> None:
    assert decide(ctx("s3:PutObject", principal=SESSION), [ALL], scope_layers=()).allowed


def test_each_layer_narrows() -> None:
    layers = ((S3_ALL,), (S3_GET,))
    assert decide(ctx("s3:GetObject", principal=SESSION), [ALL], scope_layers=layers).allowed
    put = decide(ctx("s3:PutObject", principal=SESSION), [ALL], scope_layers=layers)
    assert not put.allowed and put.reason is not None
    assert put.reason.policy_type is PolicyType.SESSION and not put.reason.explicit
    assert not decide(
        ctx("ec2:RunInstances", principal=SESSION), [ALL], scope_layers=layers
    ).allowed


def test_disjoint_layers_allow_nothing() -> None:
    layers = ((S3_GET,), (S3_PUT,))
    for action in ("s3:GetObject", "s3:PutObject"):
        assert not decide(ctx(action, principal=SESSION), [ALL], scope_layers=layers).allowed


def test_a_layer_cannot_grant_what_the_identity_lacks() -> None:
    only_get = pol(stmt(action="s3:GetObject"))
    layers = ((S3_ALL,),)
    assert not decide(
        ctx("s3:PutObject", principal=SESSION), [only_get], scope_layers=layers
    ).allowed


def test_explicit_deny_in_a_layer_wins() -> None:
    deny = pol(stmt(action="s3:*"), stmt("Deny", action="s3:DeleteObject"), kind=PolicyKind.SESSION)
    d = decide(ctx("s3:DeleteObject", principal=SESSION), [ALL], scope_layers=((deny,),))
    assert not d.allowed and d.reason is not None and d.reason.explicit


def test_an_empty_layer_fails_closed() -> None:
    # a stored layer that no longer parses is passed as an empty layer
    assert not decide(ctx("s3:GetObject", principal=SESSION), [ALL], scope_layers=((),)).allowed


def test_layers_also_limit_session_policies_path() -> None:
    d = decide(
        ctx("s3:PutObject", principal=SESSION), [ALL], session=[S3_ALL], scope_layers=((S3_GET,),)
    )
    assert not d.allowed


def test_root_sessions_are_limited() -> None:
    assert decide(ctx("s3:GetObject", principal=ROOT), scope_layers=((S3_GET,),)).allowed
    assert not decide(ctx("s3:PutObject", principal=ROOT), scope_layers=((S3_GET,),)).allowed


def test_a_resource_policy_naming_the_session_does_not_bypass_layers() -> None:
    resource = pol(
        stmt(action="s3:*", resource="*", Principal={"AWS": SESSION.arn}),
        kind=PolicyKind.RESOURCE,
    )
    context = ctx("s3:PutObject", principal=SESSION)
    assert decide(context, (), resource=resource, resource_account=ACCT).allowed
    assert not decide(
        context, (), resource=resource, resource_account=ACCT, scope_layers=((S3_GET,),)
    ).allowed


def test_cross_account_is_limited() -> None:
    resource = pol(
        stmt(action="s3:*", resource="*", Principal={"AWS": ACCT}), kind=PolicyKind.RESOURCE
    )
    context = ctx("s3:PutObject", principal=SESSION)
    assert decide(context, [ALL], resource=resource, resource_account=OTHER).allowed
    assert not decide(
        context, [ALL], resource=resource, resource_account=OTHER, scope_layers=((S3_GET,),)
    ).allowed
