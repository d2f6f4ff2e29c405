"""GetWebIdentityToken in process (recording authoriser, movable clock): the
authorisation calls and their condition keys, subjects and session claims for
role sessions (GetSessionToken / GetFederationToken sessions are refused), organization claims, the
escalation boundary, and the disabled/denied paths."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sts_harness import Keys, LocalServer

AWS = "https://sts.amazonaws.com/"


def claims_of(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return data


@pytest.fixture(scope="module")
def enabled(local: LocalServer) -> str:
    issuer: str = local.client("iam").enable_outbound_web_identity_federation()["IssuerIdentifier"]
    return issuer


def _calls(local: LocalServer, action_prefix: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [c for c in local.authz.calls if c[0].startswith(action_prefix)]


def test_authorisation_calls_and_condition_keys(local: LocalServer, enabled: str) -> None:
    local.authz.calls.clear()
    local.client("sts").get_web_identity_token(
        Audience=["a", "b"], SigningAlgorithm="RS256", Tags=[{"Key": "env", "Value": "prod"}]
    )
    calls = _calls(local, "sts:")
    assert [c[0] for c in calls] == ["sts:GetWebIdentityToken", "sts:TagGetWebIdentityToken"]
    assert calls[0][1] == "*"
    assert calls[0][2]["request_keys"] == {
        "sts:IdentityTokenAudience": ("a", "b"),
        "sts:DurationSeconds": "300",
        "sts:SigningAlgorithm": "RS256",
        "sts:SubjectMode": "AWSIdentity",  # the effective mode, also when defaulted
        "aws:RequestTag/env": "prod",
        "aws:TagKeys": ("env",),
    }
    assert calls[1][2]["request_keys"] == {"aws:RequestTag/env": "prod", "aws:TagKeys": ("env",)}

    local.authz.calls.clear()
    local.client("sts").get_web_identity_token(
        Audience=["a"], SigningAlgorithm="ES384", DurationSeconds=120
    )
    calls = _calls(local, "sts:")
    assert [c[0] for c in calls] == ["sts:GetWebIdentityToken"]
    assert calls[0][2]["request_keys"]["sts:DurationSeconds"] == "120"


def test_denied_and_duplicate_tags(local: LocalServer, enabled: str) -> None:
    sts = local.client("sts")
    local.authz.deny.add("sts:TagGetWebIdentityToken")
    with pytest.raises(ClientError) as exc:
        sts.get_web_identity_token(
            Audience=["a"], SigningAlgorithm="RS256", Tags=[{"Key": "k", "Value": "v"}]
        )
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    sts.get_web_identity_token(Audience=["a"], SigningAlgorithm="RS256")
    with pytest.raises(ClientError) as exc:
        sts.get_web_identity_token(
            Audience=["a"],
            SigningAlgorithm="RS256",
            Tags=[{"Key": "k", "Value": "1"}, {"Key": "K", "Value": "2"}],
        )
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValue"


ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def test_session_kinds_and_web_identity_tokens(local: LocalServer, enabled: str) -> None:
    """GetSessionToken and GetFederationToken sessions may only call the STS operations
    AWS documents for them (``tessera.sts.restrictions``): GetWebIdentityToken is one of
    them for GetSessionToken sessions (AWS changed this), not for federation ones."""
    keys = local.user("wit-user")
    out = local.client("sts", keys).get_session_token(DurationSeconds=900)
    sts = local.client("sts", Keys.of(out["Credentials"]))
    sts.get_web_identity_token(Audience=["a"], SigningAlgorithm="ES384")
    fed = local.client("sts", keys).get_federation_token(Name="wit-fed", Policy=ALLOW_ALL)
    with pytest.raises(ClientError) as exc:
        local.client("sts", Keys.of(fed["Credentials"])).get_web_identity_token(
            Audience=["a"], SigningAlgorithm="ES384"
        )
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    assert exc.value.response["Error"]["Message"] == (
        "Cannot call GetWebIdentityToken with session credentials"
    )


def _role_session(local: LocalServer, seconds: int) -> tuple[Keys, Any, str]:
    iam = local.client("iam")
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{local.account_id}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    role_arn: str = iam.create_role(
        RoleName="wit-role", Path="/a/b/", AssumeRolePolicyDocument=trust
    )["Role"]["Arn"]
    user = local.user("wit-assumer")
    out = local.client("sts", user).assume_role(
        RoleArn=role_arn, RoleSessionName="wit-session", DurationSeconds=seconds
    )
    return Keys.of(out["Credentials"]), out["Credentials"]["Expiration"], role_arn


def test_role_session_claims_and_escalation_boundary(local: LocalServer, enabled: str) -> None:
    session, expiry, role_arn = _role_session(local, 900)
    sts = local.client("sts", session)
    claims = claims_of(
        sts.get_web_identity_token(Audience=["a"], SigningAlgorithm="ES384", DurationSeconds=600)[
            "WebIdentityToken"
        ]
    )
    assert role_arn.endswith(":role/a/b/wit-role")
    assert claims["sub"] == role_arn and claims[AWS]["principal_id"] == role_arn
    assert claims[AWS]["original_session_exp"] == expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(ClientError) as exc:
        sts.get_web_identity_token(Audience=["a"], SigningAlgorithm="ES384", DurationSeconds=960)
    assert exc.value.response["Error"]["Code"] == "SessionDurationEscalationException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # a token whose exp equals the session expiry is allowed; one second more is not
    remaining = int(expiry.timestamp()) - int(local.runtime.clock.now().timestamp())
    if 60 <= remaining <= 3599:
        sts.get_web_identity_token(
            Audience=["a"], SigningAlgorithm="ES384", DurationSeconds=remaining
        )
        with pytest.raises(ClientError):
            sts.get_web_identity_token(
                Audience=["a"], SigningAlgorithm="ES384", DurationSeconds=remaining + 2
            )


def test_organization_claims(local: LocalServer, enabled: str) -> None:
    local.runtime.store.update_account(
        local.account_id, org_id="o-abc1234567", ou_path="o-abc1234567/r-ab12/ou-ab12-11111111/"
    )
    try:
        token = local.client("sts").get_web_identity_token(
            Audience=["a"], SigningAlgorithm="RS256"
        )["WebIdentityToken"]
    finally:
        local.runtime.store.update_account(local.account_id, org_id=None, ou_path=None)
    aws = claims_of(token)[AWS]
    assert aws["org_id"] == "o-abc1234567"
    assert aws["ou_path"] == ["o-abc1234567/r-ab12/ou-ab12-11111111/"]


def test_other_account_not_enabled(local: LocalServer, enabled: str) -> None:
    _acct, keys = local.new_account()
    with pytest.raises(ClientError) as exc:
        local.client("sts", keys).get_web_identity_token(Audience=["a"], SigningAlgorithm="RS256")
    assert exc.value.response["Error"]["Code"] == "OutboundWebIdentityFederationDisabledException"
