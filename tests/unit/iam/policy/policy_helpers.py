"""Shared builders for the policy-engine tests."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tessera.iam.policy import (
    Decision,
    Policy,
    PolicyKind,
    PolicySet,
    PrincipalInfo,
    RequestContext,
    evaluate,
    parse_policy,
)

ACCT = "123456789012"
OTHER = "210987654321"

ALICE = PrincipalInfo(
    f"arn:aws:iam::{ACCT}:user/alice", ACCT, "user", unique_id="AIDAALICE0000000000"
)
BOB_OTHER = PrincipalInfo(f"arn:aws:iam::{OTHER}:user/bob", OTHER, "user")
ROOT = PrincipalInfo(f"arn:aws:iam::{ACCT}:root", ACCT, "root")
ROLE_ARN = f"arn:aws:iam::{ACCT}:role/Dev"
SESSION = PrincipalInfo(
    f"arn:aws:sts::{ACCT}:assumed-role/Dev/s1",
    ACCT,
    "role-session",
    role_arn=ROLE_ARN,
    unique_id="AROADEV000000000000",
)
OTHER_SESSION = PrincipalInfo(
    f"arn:aws:sts::{OTHER}:assumed-role/Ops/s9",
    OTHER,
    "role-session",
    role_arn=f"arn:aws:iam::{OTHER}:role/Ops",
)
FED_USER = PrincipalInfo(
    f"arn:aws:sts::{ACCT}:federated-user/carol",
    ACCT,
    "federated-user",
    source_user_arn=f"arn:aws:iam::{ACCT}:user/alice",
)
WEB = PrincipalInfo(
    "web-identity-caller",
    None,
    "web-identity",
    federated_provider=f"arn:aws:iam::{ACCT}:oidc-provider/token.actions.githubusercontent.com",
)
COGNITO = PrincipalInfo(
    "cognito-caller", None, "web-identity", federated_provider="cognito-identity.amazonaws.com"
)
SAML = PrincipalInfo(
    "saml-caller", None, "saml", federated_provider=f"arn:aws:iam::{ACCT}:saml-provider/Okta"
)
EC2 = PrincipalInfo("ec2.amazonaws.com", None, "service", service="ec2.amazonaws.com")
ANON = PrincipalInfo.anonymous()


def stmt(
    effect: str = "Allow",
    action: Any = "*",
    resource: Any = "*",
    **extra: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": effect}
    if "NotAction" not in extra:
        out["Action"] = action
    if resource is not None and "NotResource" not in extra:
        out["Resource"] = resource
    out.update(extra)
    return out


def doc(*statements: Mapping[str, Any], version: str | None = "2012-10-17") -> str:
    body: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        body = {"Version": version, **body}
    return json.dumps(body)


def pol(
    *statements: Mapping[str, Any],
    kind: PolicyKind = PolicyKind.IDENTITY,
    version: str | None = "2012-10-17",
    label: str = "",
) -> Policy:
    return parse_policy(doc(*statements, version=version), kind, label=label or kind.value)


def trust(*statements: Mapping[str, Any]) -> Policy:
    return pol(*statements, kind=PolicyKind.TRUST)


def ctx(
    action: str = "s3:GetObject",
    resource: str = "arn:aws:s3:::bucket/key",
    principal: PrincipalInfo = ALICE,
    keys: Mapping[str, Any] | None = None,
) -> RequestContext:
    return RequestContext.build(action, resource, principal, keys or {})


def decide(
    context: RequestContext,
    identity: Sequence[Policy] = (),
    **kw: Any,
) -> Decision:
    return evaluate(context, PolicySet(identity=identity, **kw))
