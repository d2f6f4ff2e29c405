"""Trusted identity propagation end to end with boto3 (#14 §2): a TIP session from
a local OIDC IdP and from a SAML IdP, the TrustedIdentityPropagationContext answer,
the aws:OriginIdentity/* and aws:TransactionContext/IdentityProvider/* keys in
trust and identity policies, chained by AssumeRole into another account
unchanged, never overridable by session tags or a session policy, never logged;
ProvidedContexts needs sts:SetContext and is then refused (InvalidContextAssertion)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization

from tests.e2e.oidc_idp import TestIdp
from tests.e2e.server import Creds, TesseraServer, tessera_cmd
from tests.saml_fixtures.make_saml import ResponseSpec, SamlIdP

pytestmark = pytest.mark.e2e

AUD = "sts.amazonaws.com"
SUBJECT = "alice-origin@example.test"


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _err(call: Any, **kw: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call(**kw)
    r = info.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def _creds(account: str, out: dict[str, Any]) -> Creds:
    c = out["Credentials"]
    return Creds(account, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def _unsigned_sts(server: TesseraServer) -> Any:
    return boto3.client(
        "sts",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}),
    )


@dataclass
class World:
    server: TesseraServer
    a: Creds
    b: Creds
    idp: TestIdp
    oidc_provider: str
    web_role: str
    saml_idp: SamlIdP
    saml_provider: str
    saml_role: str
    b_role: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    srv = TesseraServer(data_dir=tmp_path_factory.mktemp("tip") / "data")
    srv.init()
    srv.start()
    try:
        with TestIdp() as idp:
            assert srv.root is not None
            a, b = srv.root, srv.create_account()
            iam_a, iam_b = srv.client("iam"), srv.client("iam", b)
            oidc = iam_a.create_open_id_connect_provider(
                Url=idp.issuer,
                ClientIDList=[AUD],
                ContextProvider={
                    "SubjectSourceKey": "username",
                    "SubjectTypeValue": "user",
                    "KeyDefinitionList": [
                        {"SourceKey": "amr", "TargetKey": "auth_method"},
                        {"SourceKey": "email"},
                    ],
                },
            )["OpenIDConnectProviderArn"]
            # the trust policy of the federation call itself tests a TIP key
            web_role = iam_a.create_role(
                RoleName="tip-web",
                AssumeRolePolicyDocument=_policy(
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": oidc},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {"StringEquals": {"aws:OriginIdentity/SubjectType": "user"}},
                    }
                ),
            )["Role"]["Arn"]
            saml_idp = SamlIdP(entity_id="https://saml.tip.example.test/idp")
            saml = iam_a.create_saml_provider(
                Name="tip-saml",
                SAMLMetadataDocument=saml_idp.metadata(),
                ContextProvider={
                    "SubjectSourceKey": "Subject/NameID",
                    "SubjectTypeSourceKey": "kind",
                    "KeyDefinitionList": [{"SourceKey": "department", "TargetKey": "dept"}],
                },
            )["SAMLProviderArn"]
            saml_role = iam_a.create_role(
                RoleName="tip-saml",
                AssumeRolePolicyDocument=_policy(
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": saml},
                        "Action": "sts:AssumeRoleWithSAML",
                    }
                ),
            )["Role"]["Arn"]
            for name in ("tip-web", "tip-saml"):
                iam_a.put_role_policy(
                    RoleName=name,
                    PolicyName="chain",
                    PolicyDocument=_policy(
                        {
                            "Effect": "Allow",
                            "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetContext"],
                            "Resource": "*",
                        },
                        {
                            "Effect": "Allow",
                            "Action": "iam:ListRoles",
                            "Resource": "*",
                            "Condition": {"StringEquals": {"aws:OriginIdentity/Subject": SUBJECT}},
                        },
                    ),
                )
            # account B trusts account A's sessions only for origin subject alice, and
            # lets them list roles only with an mfa runtime claim
            b_role = iam_b.create_role(
                RoleName="tip-target",
                AssumeRolePolicyDocument=_policy(
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{a.account_id}:root"},
                        "Action": ["sts:AssumeRole", "sts:TagSession"],
                        "Condition": {"StringEquals": {"aws:OriginIdentity/Subject": SUBJECT}},
                    }
                ),
            )["Role"]["Arn"]
            iam_b.put_role_policy(
                RoleName="tip-target",
                PolicyName="list",
                PolicyDocument=_policy(
                    {
                        "Effect": "Allow",
                        "Action": "iam:ListRoles",
                        "Resource": "*",
                        "Condition": {
                            "StringEquals": {
                                "aws:OriginIdentity/Subject": SUBJECT,
                                "aws:OriginIdentity/FederatedProviderArn": [oidc, saml],
                            }
                        },
                    },
                    {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"},
                ),
            )
            yield World(srv, a, b, idp, oidc, web_role, saml_idp, saml, saml_role, b_role)
    finally:
        srv.stop()


def _web_session(world: World, **claims: Any) -> dict[str, Any]:
    token = world.idp.token(
        "RS256", username=SUBJECT, amr="mfa", email="alice@example.test", **claims
    )
    out: dict[str, Any] = _unsigned_sts(world.server).assume_role_with_web_identity(
        RoleArn=world.web_role, RoleSessionName="tip", WebIdentityToken=token
    )
    return out


def test_oidc_session_context_and_chain(world: World) -> None:
    out = _web_session(world)
    url = world.idp.issuer.split("://", 1)[1]
    assert out["TrustedIdentityPropagationContext"] == {
        "OriginIdentity": {
            "Subject": SUBJECT,
            "SubjectType": "user",
            "Issuer": url,
            "FederatedProviderArn": world.oidc_provider,
        },
        "TransactionContext": {
            "IdentityProvider": {"auth_method": "mfa", "email": "alice@example.test"}
        },
    }
    creds = _creds(world.a.account_id, out)
    # identity policy of account A tests aws:OriginIdentity/Subject
    world.server.client("iam", creds).list_roles()
    # chained across accounts: the keys travel unchanged
    chained = world.server.client("sts", creds).assume_role(
        RoleArn=world.b_role, RoleSessionName="chained"
    )
    assert "TrustedIdentityPropagationContext" not in chained
    b_creds = _creds(world.b.account_id, chained)
    world.server.client("iam", b_creds).list_roles()
    # same-account chain in A: the trust policy tests the key, the keys travel
    iam_a = world.server.client("iam")
    same = iam_a.create_role(
        RoleName="tip-same",
        AssumeRolePolicyDocument=_policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{world.a.account_id}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:OriginIdentity/Subject": SUBJECT}},
            }
        ),
    )["Role"]["Arn"]
    iam_a.put_role_policy(
        RoleName="tip-same",
        PolicyName="list",
        PolicyDocument=_policy(
            {
                "Effect": "Allow",
                "Action": "iam:ListRoles",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:TransactionContext/IdentityProvider/auth_method": "mfa"}
                },
            }
        ),
    )
    same_out = world.server.client("sts", creds).assume_role(RoleArn=same, RoleSessionName="same")
    world.server.client("iam", _creds(world.a.account_id, same_out)).list_roles()
    assert SUBJECT not in world.server.log_text()


def test_trust_policy_sees_the_keys_and_missing_subject_is_refused(world: World) -> None:
    code, status, msg = _err(
        _unsigned_sts(world.server).assume_role_with_web_identity,
        RoleArn=world.web_role,
        RoleSessionName="tip",
        WebIdentityToken=world.idp.token("RS256", amr="mfa"),
    )
    assert (code, status, msg) == (
        "InvalidIdentityToken",
        400,
        "Missing a required claim: username",
    )
    code, status, _ = _err(
        _unsigned_sts(world.server).assume_role_with_web_identity,
        RoleArn=world.web_role,
        RoleSessionName="tip",
        WebIdentityToken=world.idp.token("RS256", username="x" * 129),
    )
    assert (code, status) == ("IDPRejectedClaim", 403)


def test_an_ordinary_session_has_no_tip_keys(world: World) -> None:
    iam = world.server.client("iam")
    iam.create_user(UserName="plain")
    iam.put_user_policy(
        UserName="plain",
        PolicyName="assume",
        PolicyDocument=_policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}),
    )
    key = iam.create_access_key(UserName="plain")["AccessKey"]
    plain = Creds(world.a.account_id, key["AccessKeyId"], key["SecretAccessKey"])
    code, status, _ = _err(
        world.server.client("sts", plain).assume_role,
        RoleArn=world.b_role,
        RoleSessionName="plain",
    )
    assert (code, status) == ("AccessDenied", 403)


def test_callers_cannot_override_the_keys(world: World) -> None:
    creds = _creds(world.a.account_id, _web_session(world))
    sts = world.server.client("sts", creds)
    # a tag cannot name an aws: key
    code, status, _ = _err(
        sts.assume_role,
        RoleArn=world.b_role,
        RoleSessionName="tags",
        Tags=[{"Key": "aws:OriginIdentity/Subject", "Value": "mallory"}],
    )
    assert status == 400 and code in ("ValidationError", "InvalidParameterValue")
    # tags and a session policy do not change what the policies see
    out = sts.assume_role(
        RoleArn=world.b_role,
        RoleSessionName="tags",
        Tags=[{"Key": "OriginIdentity/Subject", "Value": "mallory"}],
        Policy=_policy(
            {
                "Effect": "Allow",
                "Action": ["iam:ListRoles", "sts:GetCallerIdentity"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:OriginIdentity/Subject": SUBJECT}},
            }
        ),
    )
    world.server.client("iam", _creds(world.b.account_id, out)).list_roles()
    # a session policy requiring another subject denies: the key is not settable
    out = sts.assume_role(
        RoleArn=world.b_role,
        RoleSessionName="t2",
        Policy=_policy(
            {
                "Effect": "Allow",
                "Action": "iam:ListRoles",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:OriginIdentity/Subject": "mallory"}},
            }
        ),
    )
    code, status, _ = _err(world.server.client("iam", _creds(world.b.account_id, out)).list_roles)
    assert (code, status) == ("AccessDenied", 403)


def test_provided_contexts(world: World) -> None:
    creds = _creds(world.a.account_id, _web_session(world))
    sts = world.server.client("sts", creds)
    contexts = [
        {
            "ProviderArn": "arn:aws:iam::aws:contextProvider/IdentityCenter",
            "ContextAssertion": "x" * 3072,
        }
    ]
    # without sts:SetContext in the trust policy: AccessDenied first
    code, status, _ = _err(
        sts.assume_role, RoleArn=world.b_role, RoleSessionName="ctx", ProvidedContexts=contexts
    )
    assert (code, status) == ("AccessDenied", 403)
    iam_b = world.server.client("iam", world.b)
    trust = json.loads(
        json.dumps(iam_b.get_role(RoleName="tip-target")["Role"]["AssumeRolePolicyDocument"])
    )
    trust["Statement"][0]["Action"] = ["sts:AssumeRole", "sts:TagSession", "sts:SetContext"]
    iam_b.update_assume_role_policy(RoleName="tip-target", PolicyDocument=json.dumps(trust))
    try:
        code, status, msg = _err(
            sts.assume_role, RoleArn=world.b_role, RoleSessionName="ctx", ProvidedContexts=contexts
        )
        assert (code, status) == ("InvalidContextAssertion", 400)
        assert "trusted context provider" in msg
    finally:
        trust["Statement"][0]["Action"] = ["sts:AssumeRole", "sts:TagSession"]
        iam_b.update_assume_role_policy(RoleName="tip-target", PolicyDocument=json.dumps(trust))


def test_saml_session_context_and_chain(world: World) -> None:
    spec = ResponseSpec(
        roles=[f"{world.saml_role},{world.saml_provider}"],
        name_id=SUBJECT,
        attributes={"kind": ["workforce"], "department": ["finance"]},
    )
    out = _unsigned_sts(world.server).assume_role_with_saml(
        RoleArn=world.saml_role,
        PrincipalArn=world.saml_provider,
        SAMLAssertion=world.saml_idp.response(spec),
    )
    spki = world.saml_idp.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_hash = hashlib.sha256(spki).hexdigest()
    assert out["TrustedIdentityPropagationContext"] == {
        "OriginIdentity": {
            "Subject": SUBJECT,
            "SubjectType": "workforce",
            "Issuer": key_hash,
            "FederatedProviderArn": world.saml_provider,
        },
        "TransactionContext": {"IdentityProvider": {"dept": "finance"}},
    }
    # SAMLKeyHashes publishes the same hash
    got = world.server.client("iam").get_saml_provider(SAMLProviderArn=world.saml_provider)
    assert got["SAMLKeyHashes"][0]["KeyHashes"] == [key_hash]
    creds = _creds(world.a.account_id, out)
    chained = world.server.client("sts", creds).assume_role(
        RoleArn=world.b_role, RoleSessionName="saml-chained"
    )
    world.server.client("iam", _creds(world.b.account_id, chained)).list_roles()
    # no NameID: the subject source is missing, the call is refused
    spec2 = ResponseSpec(roles=spec.roles, name_id=None)
    code, status, _ = _err(
        _unsigned_sts(world.server).assume_role_with_saml,
        RoleArn=world.saml_role,
        PrincipalArn=world.saml_provider,
        SAMLAssertion=world.saml_idp.response(spec2),
    )
    assert (code, status) == ("AccessDenied", 403)


# --- GetWebIdentityToken: SubjectMode and Scope (#14 §3) -------------------------------------

RP = "https://rp.example.test"


def _allow_tokens(world: World) -> None:
    """Both accounts issue tokens; sessions may ask for them, Scope only with read/write
    (sts:IdentityTokenScope), and OriginIdentity never for the forbidden audience
    (sts:SubjectMode)."""
    statements = _policy(
        {"Effect": "Allow", "Action": "sts:GetWebIdentityToken", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "sts:SetWebIdentityTokenScope",
            "Resource": "*",
            "Condition": {
                "ForAllValues:StringEquals": {"sts:IdentityTokenScope": ["read", "write"]}
            },
        },
        {
            "Effect": "Deny",
            "Action": "sts:GetWebIdentityToken",
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "sts:SubjectMode": "OriginIdentity",
                    "sts:IdentityTokenAudience": "https://forbidden.example",
                }
            },
        },
    )
    for creds, role in ((world.a, "tip-web"), (world.a, "tip-saml"), (world.b, "tip-target")):
        iam = world.server.client("iam", creds)
        iam.put_role_policy(RoleName=role, PolicyName="tokens", PolicyDocument=statements)
    for creds in (world.a, world.b):
        try:
            world.server.client("iam", creds).enable_outbound_web_identity_federation()
        except ClientError as exc:  # already enabled by an earlier test
            assert exc.response["Error"]["Code"] == "FeatureEnabled", exc.response


def _verify_all(token: str, issuer: str) -> dict[str, Any]:
    from tests.e2e.test_outbound import verify_joserfc, verify_pyjwt

    a = verify_pyjwt(token, issuer, RP)
    b = verify_joserfc(token, issuer, RP)
    assert a == b
    return a


def test_tokens_in_both_modes_from_a_chained_oidc_session(world: World) -> None:
    from tessera.verify import FederatedCredentialRule, Verifier

    _allow_tokens(world)
    web = _creds(world.a.account_id, _web_session(world))
    chained = world.server.client("sts", web).assume_role(
        RoleArn=world.b_role, RoleSessionName="tokens"
    )
    sts = world.server.client("sts", _creds(world.b.account_id, chained))
    plain = sts.get_web_identity_token(Audience=[RP], SigningAlgorithm="ES384")["WebIdentityToken"]
    origin = sts.get_web_identity_token(
        Audience=[RP], SigningAlgorithm="RS256", SubjectMode="OriginIdentity", Scope="read write"
    )["WebIdentityToken"]
    issuer = world.server.client("iam", world.b).get_outbound_web_identity_federation_info()[
        "IssuerIdentifier"
    ]
    c1, c2 = _verify_all(plain, issuer), _verify_all(origin, issuer)
    ns = "https://sts.amazonaws.com/"
    assert c1["sub"] == world.b_role and "subject_mode" not in c1[ns] and "scope" not in c1
    url = world.idp.issuer.split("://", 1)[1]
    assert c2["sub"] == SUBJECT and c2["scope"] == "read write"
    assert c2[ns]["subject_mode"] == "OriginIdentity"
    assert c2[ns]["origin_identity"] == {
        "issuer": url,
        "federated_provider_arn": world.oidc_provider,
        "subject_type": "user",
    }
    assert c1[ns]["principal_id"] == c2[ns]["principal_id"] == world.b_role
    with Verifier(issuer=issuer, audience=RP) as verifier:
        v1, v2 = verifier.verify(plain), verifier.verify(origin)
    assert (v1.subject_mode, v1.scopes, v1.origin_issuer) == ("AWSIdentity", (), None)
    assert (v2.subject_mode, v2.origin_issuer, v2.scopes) == (
        "OriginIdentity",
        url,
        ("read", "write"),
    )
    rule = FederatedCredentialRule(
        issuer=issuer,
        subject=SUBJECT,
        audience=RP,
        subject_mode="OriginIdentity",
        origin_issuer=url,
        required_scopes=frozenset({"read"}),
    )
    assert rule.matches(v2) and not rule.matches(v1)
    assert not FederatedCredentialRule(
        issuer=issuer, subject="*", audience=RP, required_scopes=frozenset({"admin"})
    ).matches(v2)
    assert not FederatedCredentialRule(
        issuer=issuer, subject="*", audience=RP, subject_mode="AWSIdentity"
    ).matches(v2)
    # the CLI shows them too
    out = subprocess.run(
        tessera_cmd("token", "verify", origin, "--issuer", issuer, "--audience", RP, "--json"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    shown = json.loads(out.stdout)
    assert shown["subject_mode"] == "OriginIdentity" and shown["origin_issuer"] == url
    assert shown["scopes"] == ["read", "write"]

    # condition keys: a scope outside read/write, and OriginIdentity for the forbidden audience
    code, status, _ = _err(
        sts.get_web_identity_token,
        Audience=[RP],
        SigningAlgorithm="RS256",
        SubjectMode="OriginIdentity",
        Scope="read admin",
    )
    assert (code, status) == ("AccessDenied", 403)
    code, status, _ = _err(
        sts.get_web_identity_token,
        Audience=["https://forbidden.example"],
        SigningAlgorithm="RS256",
        SubjectMode="OriginIdentity",
    )
    assert (code, status) == ("AccessDenied", 403)
    sts.get_web_identity_token(Audience=["https://forbidden.example"], SigningAlgorithm="RS256")


@pytest.mark.parametrize(
    "kw",
    [
        {"Scope": "read"},  # without OriginIdentity
        {"Scope": "read", "SubjectMode": "AWSIdentity"},
        {"Scope": "read", "SubjectMode": "OriginIdentity", "Audience": [RP, "https://b"]},
        {"Scope": "read read", "SubjectMode": "OriginIdentity"},
        {"Scope": " read", "SubjectMode": "OriginIdentity"},
        {"Scope": "read ", "SubjectMode": "OriginIdentity"},
        {"Scope": "read  write", "SubjectMode": "OriginIdentity"},
        {"Scope": 'say"hi', "SubjectMode": "OriginIdentity"},
        {"SubjectMode": "Other"},
    ],
)
def test_scope_and_mode_validation(world: World, kw: dict[str, Any]) -> None:
    _allow_tokens(world)
    web = _creds(world.a.account_id, _web_session(world))
    sts = boto3.client(
        "sts",
        endpoint_url=world.server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=web.access_key_id,
        aws_secret_access_key=web.secret_access_key,
        aws_session_token=web.session_token,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )
    kw.setdefault("Audience", [RP])
    code, status, _ = _err(sts.get_web_identity_token, SigningAlgorithm="RS256", **kw)
    assert (code, status) == ("ValidationError", 400)


@pytest.mark.parametrize(
    "subject",
    [
        "ARN:aws:iam::123456789012:root",
        "arn:x",
        " alice",
        "alice ",
        "a\u200bb",
        "a\u2028b",
        "a\u00a0b",
    ],
)
def test_origin_subjects_that_cannot_be_a_sub(world: World, subject: str) -> None:
    _allow_tokens(world)
    token = world.idp.token("RS256", username=subject, amr="mfa")
    out = _unsigned_sts(world.server).assume_role_with_web_identity(
        RoleArn=world.web_role, RoleSessionName="odd", WebIdentityToken=token
    )
    sts = world.server.client("sts", _creds(world.a.account_id, out))
    code, status, _ = _err(
        sts.get_web_identity_token,
        Audience=[RP],
        SigningAlgorithm="RS256",
        SubjectMode="OriginIdentity",
    )
    assert (code, status) == ("ValidationError", 400)
    # the AWS identity still works
    sts.get_web_identity_token(Audience=[RP], SigningAlgorithm="RS256")


def test_origin_identity_needs_a_tip_session(world: World) -> None:
    _allow_tokens(world)
    code, status, msg = _err(
        world.server.client("sts").get_web_identity_token,
        Audience=[RP],
        SigningAlgorithm="RS256",
        SubjectMode="OriginIdentity",
    )
    assert (code, status) == ("ValidationError", 400) and "origin identity" in msg


def test_origin_identity_token_from_a_saml_session(world: World) -> None:
    from tessera.verify import Verifier

    _allow_tokens(world)
    spec = ResponseSpec(roles=[f"{world.saml_role},{world.saml_provider}"], name_id=SUBJECT)
    out = _unsigned_sts(world.server).assume_role_with_saml(
        RoleArn=world.saml_role,
        PrincipalArn=world.saml_provider,
        SAMLAssertion=world.saml_idp.response(spec),
    )
    chained = world.server.client("sts", _creds(world.a.account_id, out)).assume_role(
        RoleArn=world.b_role, RoleSessionName="saml-tokens"
    )
    sts = world.server.client("sts", _creds(world.b.account_id, chained))
    token = sts.get_web_identity_token(
        Audience=[RP], SigningAlgorithm="ES384", SubjectMode="OriginIdentity", Scope="read"
    )["WebIdentityToken"]
    issuer = world.server.client("iam", world.b).get_outbound_web_identity_federation_info()[
        "IssuerIdentifier"
    ]
    claims = _verify_all(token, issuer)
    key_hash = world.server.client("iam").get_saml_provider(SAMLProviderArn=world.saml_provider)[
        "SAMLKeyHashes"
    ][0]["KeyHashes"][0]
    assert claims["sub"] == SUBJECT and claims["scope"] == "read"
    assert claims["https://sts.amazonaws.com/"]["origin_identity"]["issuer"] == key_hash
    with Verifier(issuer=issuer, audience=RP) as verifier:
        v = verifier.verify(token)
    assert v.origin_issuer == key_hash and v.origin_provider_arn == world.saml_provider


def test_tip_session_chained_scoped_down_twice_then_an_origin_token(world: World) -> None:
    """The issue's whole path in one flow: an OIDC TIP session, AssumeRole into
    another account, GetScopedCredentials twice (each layer narrower), then an
    OriginIdentity token with a scope, verified by PyJWT, joserfc and tessera.verify;
    the identity and the TIP keys survive every step, the layers bind."""
    from tessera.verify import Verifier

    _allow_tokens(world)
    iam_b = world.server.client("iam", world.b)
    iam_b.put_role_policy(
        RoleName="tip-target",
        PolicyName="scoping",
        PolicyDocument=_policy(
            {"Effect": "Allow", "Action": "sts:GetScopedCredentials", "Resource": "*"}
        ),
    )
    web = _creds(world.a.account_id, _web_session(world))
    chained = world.server.client("sts", web).assume_role(
        RoleArn=world.b_role, RoleSessionName="scoped-chain"
    )
    parent = _creds(world.b.account_id, chained)
    first = world.server.client("sts", parent).get_scoped_credentials(
        Policy=_policy(
            {
                "Effect": "Allow",
                "Action": [
                    "sts:GetScopedCredentials",
                    "sts:GetWebIdentityToken",
                    "sts:SetWebIdentityTokenScope",
                    "sts:GetCallerIdentity",
                    "iam:ListRoles",
                ],
                "Resource": "*",
            }
        )
    )
    assert first["ScopedPoliciesCount"] == 1
    layer1 = _creds(world.b.account_id, first)
    second = world.server.client("sts", layer1).get_scoped_credentials(
        Policy=_policy(
            {
                "Effect": "Allow",
                "Action": [
                    "sts:GetWebIdentityToken",
                    "sts:SetWebIdentityTokenScope",
                    "sts:GetCallerIdentity",
                ],
                "Resource": "*",
            }
        )
    )
    assert second["ScopedPoliciesCount"] == 2
    scoped = _creds(world.b.account_id, second)
    ident = world.server.client("sts", scoped).get_caller_identity()
    parent_ident = world.server.client("sts", parent).get_caller_identity()
    assert (ident["Arn"], ident["UserId"]) == (parent_ident["Arn"], parent_ident["UserId"])
    # the second layer dropped iam:ListRoles, which the role (and layer 1) allow
    world.server.client("iam", layer1).list_roles()
    code, status, _ = _err(world.server.client("iam", scoped).list_roles)
    assert (code, status) == ("AccessDenied", 403)

    token = world.server.client("sts", scoped).get_web_identity_token(
        Audience=[RP], SigningAlgorithm="RS256", SubjectMode="OriginIdentity", Scope="read"
    )["WebIdentityToken"]
    issuer = iam_b.get_outbound_web_identity_federation_info()["IssuerIdentifier"]
    claims = _verify_all(token, issuer)
    ns = "https://sts.amazonaws.com/"
    assert claims["sub"] == SUBJECT and claims["scope"] == "read"
    assert claims[ns]["subject_mode"] == "OriginIdentity"
    assert claims[ns]["origin_identity"]["federated_provider_arn"] == world.oidc_provider
    assert claims[ns]["principal_id"] == world.b_role
    with Verifier(issuer=issuer, audience=RP) as verifier:
        verified = verifier.verify(token)
    assert verified.subject_mode == "OriginIdentity" and verified.scopes == ("read",)
