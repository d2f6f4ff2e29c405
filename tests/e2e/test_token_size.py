"""Session-token size end to end (issue #14 §5), with the pinned boto3 against a real
server: every credential-issuing operation answers ``SessionTokenSize`` and
``SessionTokenUtilization`` (and ``PackedPolicySize`` with the same number where
its output has it), ``MinimumSessionTokenSize`` pads the token (0–4,096), the
whole token is limited to 4,096 bytes (``PackedPolicyTooLarge`` naming both
sizes), a 4,096-byte token works in the Authorization-header form and in a
presigned GetCallerIdentity URL, SourceIdentity takes 256 characters on every
path, and GetSessionToken credentials may call GetWebIdentityToken while
GetFederationToken credentials may not."""

from __future__ import annotations

import json
import math
import secrets
import urllib.parse
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.e2e.oidc_idp import TestIdp
from tests.e2e.server import Creds, TesseraServer
from tests.saml_fixtures import make_saml as ms
from tests.saml_fixtures.make_saml import ResponseSpec, SamlIdP

pytestmark = pytest.mark.e2e

LIMIT = 4096
AUD = "sts.amazonaws.com"
ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TesseraServer]:
    server = TesseraServer(data_dir=tmp_path_factory.mktemp("token-size") / "data")
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def idp() -> Iterator[TestIdp]:
    with TestIdp() as local:
        yield local


def _err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def _creds(account: str, c: dict[str, Any]) -> Creds:
    return Creds(account, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def _unsigned_sts(srv: TesseraServer, validate: bool = True) -> Any:
    return boto3.client(
        "sts",
        endpoint_url=srv.endpoint,
        region_name="us-east-1",
        config=Config(
            signature_version=UNSIGNED, retries={"max_attempts": 1}, parameter_validation=validate
        ),
    )


def _unvalidated_sts(srv: TesseraServer, creds: Creds) -> Any:
    """An STS client that leaves validation (e.g. 4097 > max) to the server."""
    return boto3.client(
        "sts",
        endpoint_url=srv.endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )


_users: dict[str, Creds] = {}


def _user(srv: TesseraServer, name: str) -> Creds:
    if name not in _users:
        assert srv.root is not None
        iam = srv.client("iam")
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="all", PolicyDocument=ALLOW_ALL)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        _users[name] = Creds(srv.root.account_id, key["AccessKeyId"], key["SecretAccessKey"])
    return _users[name]


def _role(srv: TesseraServer, name: str, principal: dict[str, str], actions: list[str]) -> str:
    iam = srv.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": principal, "Action": actions}],
    }
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=ALLOW_ALL)
    return arn


@pytest.fixture(scope="module")
def alice(srv: TesseraServer) -> Creds:
    return _user(srv, "alice")


@pytest.fixture(scope="module")
def role_arn(srv: TesseraServer, alice: Creds) -> str:
    return _role(
        srv,
        "sized",
        {"AWS": f"arn:aws:iam::{alice.account_id}:user/alice"},
        ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
    )


@pytest.fixture(scope="module")
def oidc_role(srv: TesseraServer, idp: TestIdp) -> str:
    provider = srv.client("iam").create_open_id_connect_provider(
        Url=idp.issuer, ClientIDList=[AUD]
    )["OpenIDConnectProviderArn"]
    return _role(
        srv,
        "oidc-sized",
        {"Federated": provider},
        ["sts:AssumeRoleWithWebIdentity", "sts:TagSession", "sts:SetSourceIdentity"],
    )


class Saml:
    def __init__(self, srv: TesseraServer) -> None:
        self.idp = SamlIdP()
        self.provider = srv.client("iam").create_saml_provider(
            Name="sized-idp", SAMLMetadataDocument=self.idp.metadata()
        )["SAMLProviderArn"]
        self.role = _role(
            srv,
            "saml-sized",
            {"Federated": self.provider},
            ["sts:AssumeRoleWithSAML", "sts:TagSession", "sts:SetSourceIdentity"],
        )
        self.sts = _unsigned_sts(srv)

    def assertion(self, **attributes: list[str]) -> str:
        spec = ResponseSpec(
            roles=[f"{self.role},{self.provider}"],
            attributes={ms.ATTR + k: v for k, v in attributes.items()},
        )
        return self.idp.response(spec)

    def assume(self, assertion: str, **kw: Any) -> dict[str, Any]:
        out: dict[str, Any] = self.sts.assume_role_with_saml(
            RoleArn=self.role, PrincipalArn=self.provider, SAMLAssertion=assertion, **kw
        )
        return out


@pytest.fixture(scope="module")
def saml(srv: TesseraServer) -> Saml:
    return Saml(srv)


def _issue(
    op: str,
    srv: TesseraServer,
    alice: Creds,
    role_arn: str,
    oidc_role: str,
    idp: TestIdp,
    saml: Saml,
    **kw: Any,
) -> dict[str, Any]:
    """One call of the credential-issuing operation ``op`` (boto3), with ``kw``."""
    sts = srv.client("sts", alice)
    if op == "GetSessionToken":
        out: dict[str, Any] = sts.get_session_token(**kw)
    elif op == "GetFederationToken":
        out = sts.get_federation_token(Name="sized-fed", Policy=ALLOW_ALL, **kw)
    elif op == "AssumeRole":
        out = sts.assume_role(RoleArn=role_arn, RoleSessionName="sized", **kw)
    elif op == "AssumeRoleWithWebIdentity":
        out = _unsigned_sts(srv).assume_role_with_web_identity(
            RoleArn=oidc_role, RoleSessionName="sized", WebIdentityToken=idp.token("ES256"), **kw
        )
    else:
        out = saml.assume(saml.assertion(), **kw)
    return out


OPERATIONS = [
    "GetSessionToken",
    "GetFederationToken",
    "AssumeRole",
    "AssumeRoleWithWebIdentity",
    "AssumeRoleWithSAML",
]
#: operations whose output shape has PackedPolicySize (botocore 1.44.8)
WITH_PACKED = {
    "GetFederationToken",
    "AssumeRole",
    "AssumeRoleWithWebIdentity",
    "AssumeRoleWithSAML",
}


@pytest.mark.parametrize("op", OPERATIONS)
def test_size_outputs(
    op: str,
    srv: TesseraServer,
    alice: Creds,
    role_arn: str,
    oidc_role: str,
    idp: TestIdp,
    saml: Saml,
) -> None:
    kw: dict[str, Any] = {}
    if op in ("AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"):
        kw["Policy"] = ALLOW_ALL  # AWS sends PackedPolicySize with a session policy
    out = _issue(op, srv, alice, role_arn, oidc_role, idp, saml, **kw)
    token = out["Credentials"]["SessionToken"]
    assert out["SessionTokenSize"] == len(token.encode())
    assert out["SessionTokenUtilization"] == math.ceil(100 * len(token) / LIMIT)
    assert 0 < out["SessionTokenUtilization"] <= 100
    if op in WITH_PACKED:
        assert out["PackedPolicySize"] == out["SessionTokenUtilization"]
    else:
        assert "PackedPolicySize" not in out


@pytest.mark.parametrize("op", OPERATIONS)
@pytest.mark.parametrize("minimum", [1500, LIMIT])
def test_minimum_size_pads_and_the_token_works(
    op: str,
    minimum: int,
    srv: TesseraServer,
    alice: Creds,
    role_arn: str,
    oidc_role: str,
    idp: TestIdp,
    saml: Saml,
) -> None:
    out = _issue(op, srv, alice, role_arn, oidc_role, idp, saml, MinimumSessionTokenSize=minimum)
    token = out["Credentials"]["SessionToken"]
    assert len(token) >= minimum
    assert len(token) == 4 * math.ceil(minimum / 4)  # padded exactly (base64 quanta)
    assert out["SessionTokenSize"] == len(token)
    assert out["SessionTokenUtilization"] == math.ceil(100 * len(token) / LIMIT)
    session = _creds(alice.account_id, out["Credentials"])
    assert srv.client("sts", session).get_caller_identity()["Account"] == alice.account_id


def test_no_minimum_no_padding(srv: TesseraServer, alice: Creds) -> None:
    sts = srv.client("sts", alice)
    plain = sts.get_session_token()["SessionTokenSize"]
    assert plain < 1000
    assert abs(sts.get_session_token(MinimumSessionTokenSize=0)["SessionTokenSize"] - plain) <= 4
    # a minimum below the natural size changes nothing
    assert abs(sts.get_session_token(MinimumSessionTokenSize=10)["SessionTokenSize"] - plain) <= 4


@pytest.mark.parametrize(
    ("value", "bound"),
    [(4097, "less than or equal to 4096"), (-1, "greater than or equal to 0")],
)
def test_minimum_size_range(srv: TesseraServer, alice: Creds, value: int, bound: str) -> None:
    sts = _unvalidated_sts(srv, alice)
    calls: list[tuple[Any, dict[str, Any]]] = [
        (sts.get_session_token, {}),
        (sts.get_federation_token, {"Name": "f"}),
    ]
    for call, kw in calls:
        with pytest.raises(ClientError) as exc:
            call(MinimumSessionTokenSize=value, **kw)
        code, status, message = _err(exc)
        assert (code, status) == ("ValidationError", 400)
        assert f"'{value}' at 'minimumSessionTokenSize'" in message
        assert message.endswith(f"Member must have value {bound}")


def test_whole_token_limit(srv: TesseraServer, alice: Creds, role_arn: str) -> None:
    tags = [{"Key": f"k{i}", "Value": secrets.token_hex(128)} for i in range(50)]
    sts = srv.client("sts", alice)
    calls: list[tuple[Any, dict[str, Any]]] = [
        (sts.assume_role, {"RoleArn": role_arn, "RoleSessionName": "too-big"}),
        (sts.get_federation_token, {"Name": "too-big"}),
    ]
    for call, kw in calls:
        with pytest.raises(ClientError) as exc:
            call(Tags=tags, **kw)
        code, status, message = _err(exc)
        assert (code, status) == ("PackedPolicyTooLarge", 400)
        size = int(message.split()[3])
        assert size > LIMIT
        assert message == (
            f"Session token size {size} bytes exceeds the maximum allowed size of 4096 bytes."
        )
    # what the pre-2026 packed limit refused now fits: tags up to the token limit
    fits = [{"Key": f"k{i}", "Value": secrets.token_hex(64)} for i in range(12)]
    out = srv.client("sts", alice).assume_role(
        RoleArn=role_arn, RoleSessionName="fits", Tags=fits, MinimumSessionTokenSize=LIMIT
    )
    assert out["SessionTokenSize"] == LIMIT
    assert out["SessionTokenUtilization"] == out["PackedPolicySize"] == 100


def test_full_size_token_in_header_and_presigned_url(
    srv: TesseraServer, alice: Creds, role_arn: str
) -> None:
    out = srv.client("sts", alice).assume_role(
        RoleArn=role_arn, RoleSessionName="big", MinimumSessionTokenSize=LIMIT
    )
    c = out["Credentials"]
    assert len(c["SessionToken"]) == LIMIT
    session = _creds(alice.account_id, c)
    # header form (X-Amz-Security-Token header), STS and IAM
    who = srv.client("sts", session).get_caller_identity()
    assert who["Arn"].endswith(":assumed-role/sized/big")
    assert srv.client("iam", session).get_role(RoleName="sized")["Role"]["Arn"] == role_arn
    # presigned GET URL (X-Amz-Security-Token in the query string)
    creds = Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    params = {"Action": "GetCallerIdentity", "Version": "2011-06-15"}
    req = AWSRequest(
        method="GET",
        url=srv.endpoint + "/?" + urllib.parse.urlencode(params),
        headers={"x-k8s-aws-id": "my-cluster"},
    )
    SigV4QueryAuth(creds, "sts", "us-east-1", expires=60).add_auth(req)
    assert len(req.url) > LIMIT
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(req.url).query)["X-Amz-Security-Token"] == [
        c["SessionToken"]
    ]
    resp = httpx.get(req.url, headers={"x-k8s-aws-id": "my-cluster", "Accept": "application/json"})
    assert resp.status_code == 200, resp.text
    result = resp.json()["GetCallerIdentityResponse"]["GetCallerIdentityResult"]
    assert result["Arn"] == who["Arn"]


def test_source_identity_256_everywhere(
    srv: TesseraServer,
    alice: Creds,
    role_arn: str,
    oidc_role: str,
    idp: TestIdp,
    saml: Saml,
) -> None:
    long_id = "a" * 200 + "@example.com" + "b" * 44
    assert len(long_id) == 256
    out = srv.client("sts", alice).assume_role(
        RoleArn=role_arn, RoleSessionName="si", SourceIdentity=long_id
    )
    assert out["SourceIdentity"] == long_id
    session = _creds(alice.account_id, out["Credentials"])
    assert srv.client("sts", session).get_caller_identity()["Account"] == alice.account_id
    with pytest.raises(ClientError) as exc:
        _unvalidated_sts(srv, alice).assume_role(
            RoleArn=role_arn, RoleSessionName="si", SourceIdentity=long_id + "c"
        )
    code, status, message = _err(exc)
    assert (code, status) == ("ValidationError", 400)
    assert message.endswith("Member must have length less than or equal to 256")

    claim: dict[str, Any] = {"https://aws.amazon.com/source_identity": long_id}
    too_long: dict[str, Any] = {"https://aws.amazon.com/source_identity": long_id + "c"}
    web = _unsigned_sts(srv).assume_role_with_web_identity(
        RoleArn=oidc_role,
        RoleSessionName="si",
        WebIdentityToken=idp.token("ES256", **claim),
    )
    assert web["SourceIdentity"] == long_id
    with pytest.raises(ClientError) as exc:
        _unsigned_sts(srv).assume_role_with_web_identity(
            RoleArn=oidc_role,
            RoleSessionName="si",
            WebIdentityToken=idp.token("ES256", **too_long),
        )
    assert _err(exc)[:2] == ("IDPRejectedClaim", 403)

    out = saml.assume(saml.assertion(SourceIdentity=[long_id]))
    assert out["SourceIdentity"] == long_id
    with pytest.raises(ClientError) as exc:
        saml.assume(saml.assertion(SourceIdentity=[long_id + "c"]))
    assert _err(exc)[:2] == ("InvalidIdentityToken", 400)


def test_web_identity_token_from_session_kinds(srv: TesseraServer, alice: Creds) -> None:
    srv.client("iam").enable_outbound_web_identity_federation()
    sts = srv.client("sts", alice)
    gst = _creds(alice.account_id, sts.get_session_token()["Credentials"])
    token = srv.client("sts", gst).get_web_identity_token(
        Audience=["https://rp.example"], SigningAlgorithm="ES384"
    )["WebIdentityToken"]
    assert token.count(".") == 2
    fed = _creds(
        alice.account_id,
        sts.get_federation_token(Name="wit-fed", Policy=ALLOW_ALL)["Credentials"],
    )
    with pytest.raises(ClientError) as exc:
        srv.client("sts", fed).get_web_identity_token(
            Audience=["https://rp.example"], SigningAlgorithm="ES384"
        )
    assert _err(exc) == (
        "AccessDenied",
        403,
        "Cannot call GetWebIdentityToken with session credentials",
    )
