"""tessera.iam.tip_model: ContextProvider validation, the Update rules, the session
keys STS derives and the TrustedIdentityPropagationContext shape."""

from __future__ import annotations

import pytest

from tessera.errors import InvalidInput, ValidationError
from tessera.iam.tip_model import (
    BadValue,
    ContextProvider,
    KeyDefinition,
    MissingSubject,
    configuration_keys,
    parse_context_provider,
    parse_identity_center_arn,
    plan_update,
    render_context,
    session_keys,
)

IC = "arn:aws:sso:::instance/ssoins-1234567890abcdef"
CP = ContextProvider("sub", "user", None, (KeyDefinition("amr", "auth"),))


def test_parse_and_round_trip() -> None:
    cp = parse_context_provider(
        {
            "SubjectSourceKey": "sub",
            "SubjectTypeValue": "user",
            "KeyDefinitionList": [{"SourceKey": "amr", "TargetKey": "auth"}, {"SourceKey": "x"}],
        }
    )
    assert cp == ContextProvider(
        "sub", "user", None, (KeyDefinition("amr", "auth"), KeyDefinition("x", "x"))
    )
    assert ContextProvider.from_json(cp.to_json()) == cp
    assert parse_context_provider(None) is None


@pytest.mark.parametrize(
    "raw",
    [
        {"SubjectSourceKey": "sub", "SubjectTypeValue": "u", "SubjectTypeSourceKey": "t"},
        {"SubjectSourceKey": "a  b"},
        {"SubjectSourceKey": " a"},
        {"SubjectSourceKey": "a "},
        {"SubjectSourceKey": "a!"},
        {"SubjectSourceKey": ""},
        {"SubjectSourceKey": "sub", "KeyDefinitionList": [{"SourceKey": "é"}]},
        {
            "SubjectSourceKey": "sub",
            "KeyDefinitionList": [{"SourceKey": "a", "TargetKey": "t"}, {"SourceKey": "t"}],
        },
    ],
)
def test_invalid_context_providers(raw: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        parse_context_provider(raw)


def test_too_many_key_definitions() -> None:
    with pytest.raises(ValidationError):
        parse_context_provider(
            {
                "SubjectSourceKey": "s",
                "KeyDefinitionList": [{"SourceKey": f"k{i}"} for i in range(11)],
            }
        )


def test_identity_center_arn() -> None:
    assert parse_identity_center_arn(IC) == IC
    for bad in ("arn:aws:sso:::instance/ssoins-short", "arn:aws:iam::123456789012:root"):
        with pytest.raises(InvalidInput):
            parse_identity_center_arn(bad)


def test_update_rules() -> None:
    raw = {"SubjectSourceKey": "sub"}
    with pytest.raises(InvalidInput):
        plan_update(raw, None, True, False, CP, None)  # value + Remove flag
    with pytest.raises(InvalidInput):
        plan_update(None, IC, False, True, CP, None)
    with pytest.raises(InvalidInput):
        plan_update(raw, IC, False, False, CP, None)  # both changes
    with pytest.raises(InvalidInput):
        plan_update(None, None, True, False, CP, IC)  # remove while associated
    with pytest.raises(InvalidInput):
        plan_update(None, IC, False, False, None, None)  # association needs a context
    change = plan_update(None, IC, False, False, CP, None)
    assert change.identity_center_arn == IC and change.context_provider == CP
    change = plan_update(None, None, True, False, CP, None)
    assert change.context_provider is None and not change.empty
    assert plan_update(None, None, False, False, CP, None).empty


def test_configuration_keys() -> None:
    keys = configuration_keys(
        context_provider={"x": 1},
        identity_center_arn=IC,
        request_issuers=("https://a",),
        resource_issuers=("https://b",),
        resource_identity_center_arn=IC,
        enabling=True,
    )
    assert keys == {
        "iam:EnableIdentityPropagation": "true",
        "iam:EnableIdentityCenterAssociation": "true",
        "iam:RequestIdentityCenterInstanceArn": IC,
        "iam:RequestIdentityProviderIssuers": ("https://a",),
        "iam:ResourceIdentityProviderIssuers": ("https://b",),
        "iam:ResourceIdentityCenterInstanceArn": IC,
    }
    assert (
        configuration_keys(
            context_provider=None,
            identity_center_arn=None,
            request_issuers=None,
            resource_issuers=None,
            resource_identity_center_arn=None,
            enabling=True,
        )
        == {}
    )


def test_session_keys_and_context() -> None:
    tip = session_keys(
        CP, {"sub": "alice", "amr": ["mfa"]}, issuer="idp.example.com", provider_arn="arn:p"
    )
    assert tip == (
        ("aws:OriginIdentity/Subject", "alice"),
        ("aws:OriginIdentity/SubjectType", "user"),
        ("aws:OriginIdentity/Issuer", "idp.example.com"),
        ("aws:OriginIdentity/FederatedProviderArn", "arn:p"),
        ("aws:TransactionContext/IdentityProvider/auth", "mfa"),
    )
    assert render_context(tip) == {
        "OriginIdentity": {
            "Subject": "alice",
            "SubjectType": "user",
            "Issuer": "idp.example.com",
            "FederatedProviderArn": "arn:p",
        },
        "TransactionContext": {"IdentityProvider": {"auth": "mfa"}},
    }
    assert render_context(()) is None
    typed = ContextProvider("sub", None, "kind")
    assert ("aws:OriginIdentity/SubjectType", "bot") in session_keys(
        typed, {"sub": "a", "kind": "bot"}, issuer="i", provider_arn="p"
    )
    assert all(
        k != "aws:OriginIdentity/SubjectType"
        for k, _ in session_keys(typed, {"sub": "a"}, issuer="i", provider_arn="p")
    )


@pytest.mark.parametrize("claims", [{}, {"sub": ""}, {"sub": []}])
def test_missing_subject(claims: dict[str, object]) -> None:
    with pytest.raises(MissingSubject):
        session_keys(CP, claims, issuer="i", provider_arn="p")


@pytest.mark.parametrize(
    "claims", [{"sub": "x" * 129}, {"sub": 5}, {"sub": ["a", "b"]}, {"sub": "a", "amr": "y" * 129}]
)
def test_bad_values(claims: dict[str, object]) -> None:
    with pytest.raises(BadValue):
        session_keys(CP, claims, issuer="i", provider_arn="p")
