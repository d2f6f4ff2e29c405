"""Inbound OpenID Connect federation end to end against real ``tessera serve``
processes: IAM OIDC providers via boto3 and the aws CLI, AssumeRoleWithWebIdentity
with tokens from a real local IdP (``tests.e2e.oidc_idp``) and from Tessera's own
issuers — another account on the same server (the server fetches its own issuer
documents while serving the request) and another server, over plain loopback
HTTP and over HTTPS with ``--oidc-ca-bundle`` — boto3's and the aws CLI's own
web-identity credential providers driven only by environment variables, the
security set (each hostile token with its code, status and message), and an
unreachable IdP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.oidc_idp import TestIdp, new_key
from tests.e2e.server import Creds, TesseraServer, free_port

pytestmark = pytest.mark.e2e

AUD = "sts.amazonaws.com"
SUB = "system:serviceaccount:ci:deployer"
NOT_A_JWT = (
    "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)"
)


def trust(provider_arn: str, **condition: Any) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
    }
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def anonymous_sts(server: TesseraServer, verify: str | bool = True) -> Any:
    return boto3.client(
        "sts",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}),
        verify=verify,
    )


def failure(call: Any, **kw: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call(**kw)
    resp = info.value.response
    return (
        resp["Error"]["Code"],
        resp["ResponseMetadata"]["HTTPStatusCode"],
        resp["Error"]["Message"],
    )


def sdk_env(server: TesseraServer, role_arn: str, token_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TESSERA_"))}
    env.update(
        AWS_ROLE_ARN=role_arn,
        AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file),
        AWS_ROLE_SESSION_NAME="sdk-session",
        AWS_ENDPOINT_URL_STS=server.endpoint,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TesseraServer]:
    srv = TesseraServer(data_dir=tmp_path_factory.mktemp("oidc") / "data")
    srv.init()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def idp() -> Iterator[TestIdp]:
    with TestIdp() as local:
        yield local


@pytest.fixture(scope="module")
def provider(server: TesseraServer, idp: TestIdp) -> str:
    arn: str = server.client("iam").create_open_id_connect_provider(
        Url=idp.issuer, ClientIDList=[AUD]
    )["OpenIDConnectProviderArn"]
    return arn


@pytest.fixture(scope="module")
def role(server: TesseraServer, provider: str) -> str:
    url = provider.split(":oidc-provider/", 1)[1]
    iam = server.client("iam")
    arn: str = iam.create_role(
        RoleName="ci-deployer",
        AssumeRolePolicyDocument=trust(
            provider, StringEquals={f"{url}:aud": AUD, f"{url}:sub": SUB}
        ),
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName="ci-deployer",
        PolicyName="read-iam",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"}],
            }
        ),
    )
    return arn


# --- IAM ---------------------------------------------------------------------------------


def test_providers_through_the_aws_cli(server: TesseraServer, tmp_path: Path) -> None:
    out = server.aws_cli(
        "iam",
        "create-open-id-connect-provider",
        "--url",
        "https://token.actions.example.com",
        "--client-id-list",
        "sts.amazonaws.com",
        "--thumbprint-list",
        "6938fd4d98bab03faadb97b34396831e3780aea1",
    )
    assert out.returncode == 0, out.stderr
    arn = json.loads(out.stdout)["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{server.root.account_id}:oidc-provider/token.actions.example.com"  # type: ignore[union-attr]
    got = server.aws_cli(
        "iam", "get-open-id-connect-provider", "--open-id-connect-provider-arn", arn
    )
    assert json.loads(got.stdout)["Url"] == "token.actions.example.com"
    again = server.aws_cli(
        "iam", "create-open-id-connect-provider", "--url", "https://token.actions.example.com"
    )
    assert again.returncode != 0
    assert "EntityAlreadyExists" in again.stderr
    assert "Provider with url https://token.actions.example.com already exists." in again.stderr
    server.aws_cli("iam", "delete-open-id-connect-provider", "--open-id-connect-provider-arn", arn)
    listed = server.aws_cli("iam", "list-open-id-connect-providers")
    assert arn not in listed.stdout


# --- a local IdP ---------------------------------------------------------------------------


def test_assume_role_with_a_local_idp(
    server: TesseraServer, idp: TestIdp, provider: str, role: str
) -> None:
    out = anonymous_sts(server).assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="ci-run-1", WebIdentityToken=idp.token("ES256")
    )
    assert out["Provider"] == provider
    assert out["Audience"] == AUD
    assert out["SubjectFromWebIdentityToken"] == SUB
    creds = out["Credentials"]
    session = Creds(
        server.root.account_id,  # type: ignore[union-attr]
        creds["AccessKeyId"],
        creds["SecretAccessKey"],
        creds["SessionToken"],
    )
    who = server.client("sts", session).get_caller_identity()
    assert who["Arn"].endswith(":assumed-role/ci-deployer/ci-run-1")
    assert server.client("iam", session).get_role(RoleName="ci-deployer")["Role"]["Arn"] == role


def test_boto3_web_identity_provider_from_the_environment(
    server: TesseraServer, idp: TestIdp, role: str, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(idp.token())
    script = (
        "import boto3, json\n"
        "s = boto3.Session()\n"
        "c = s.get_credentials()\n"
        "who = s.client('sts').get_caller_identity()\n"
        "print(json.dumps({'method': c.method, 'arn': who['Arn']}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=sdk_env(server, role, token_file),
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["method"] == "assume-role-with-web-identity"
    assert result["arn"].endswith(":assumed-role/ci-deployer/sdk-session")


def test_aws_cli_web_identity_provider_from_the_environment(
    server: TesseraServer, idp: TestIdp, role: str, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(idp.token("RS512"))
    aws = Path(sys.executable).parent / "aws"
    cmd = [str(aws)] if aws.exists() else ["aws"]
    out = subprocess.run(
        [*cmd, "sts", "get-caller-identity", "--output", "json"],
        capture_output=True,
        text=True,
        env=sdk_env(server, role, token_file),
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Arn"].endswith(":assumed-role/ci-deployer/sdk-session")


def test_security_set(server: TesseraServer, idp: TestIdp, role: str) -> None:
    sts = anonymous_sts(server)
    now = int(time.time())
    cases = {
        "wrong key": (
            idp.token(key=new_key("RS256"), kid=idp.key("RS256").kid),
            (
                "InvalidIdentityToken",
                400,
                "The signature of the web identity token could not be verified.",
            ),
        ),
        "alg none": (idp.unsigned_token(), ("InvalidIdentityToken", 400, NOT_A_JWT)),
        "HS256 with the public key": (
            idp.hs256_with_public_key(),
            ("InvalidIdentityToken", 400, NOT_A_JWT),
        ),
        "expired": (
            idp.token(iat=now - 7200, exp=now - 3600),
            (
                "ExpiredTokenException",
                400,
                None,
            ),
        ),
        "future iat": (
            idp.token(iat=now + 3600, exp=now + 7200),
            ("InvalidIdentityToken", 400, None),
        ),
        "wrong audience": (
            idp.token(aud="not-us"),
            ("InvalidIdentityToken", 400, "Incorrect token audience"),
        ),
        "wrong issuer": (
            idp.token(iss="https://accounts.example.org"),
            (
                "InvalidIdentityToken",
                400,
                "No OpenIDConnect provider found in your account for https://accounts.example.org",
            ),
        ),
        "unknown kid": (
            idp.token(key=new_key("ES384"), kid="never-published"),
            (
                "InvalidIdentityToken",
                400,
                "Couldn't retrieve verification key from your identity provider,  please "
                "reference AssumeRoleWithWebIdentity documentation for requirements",
            ),
        ),
        "oversized": (
            idp.token(pad="x" * 25_000),
            (
                "ValidationError",
                400,
                "1 validation error detected: Value at 'webIdentityToken' failed to satisfy "
                "constraint: Member must have length less than or equal to 20000",
            ),
        ),
    }
    for name, (token, (code, status, message)) in cases.items():
        got = failure(
            sts.assume_role_with_web_identity,
            RoleArn=role,
            RoleSessionName="attack",
            WebIdentityToken=token,
        )
        assert got[:2] == (code, status), (name, got)
        if message is not None:
            assert got[2] == message, (name, got)
    expired = failure(
        sts.assume_role_with_web_identity,
        RoleArn=role,
        RoleSessionName="attack",
        WebIdentityToken=idp.token(iat=now - 7200, exp=now - 3600),
    )
    assert expired[2].startswith("Token expired: current date/time ")
    assert expired[2].endswith(f"must be before the expiration date/time {now - 3600}")
    denied = failure(
        sts.assume_role_with_web_identity,
        RoleArn=role,
        RoleSessionName="attack",
        WebIdentityToken=idp.token(sub="someone-else"),
    )
    assert denied == (
        "AccessDenied",
        403,
        "Not authorized to perform sts:AssumeRoleWithWebIdentity",
    )


def test_an_unreachable_idp(server: TesseraServer, idp: TestIdp) -> None:
    dead = f"http://127.0.0.1:{free_port()}/nobody-home"
    iam = server.client("iam")
    arn = iam.create_open_id_connect_provider(Url=dead, ClientIDList=[AUD])[
        "OpenIDConnectProviderArn"
    ]
    iam.create_role(RoleName="dead-idp", AssumeRolePolicyDocument=trust(arn))
    start = time.monotonic()
    code, status, _ = failure(
        anonymous_sts(server).assume_role_with_web_identity,
        RoleArn=f"arn:aws:iam::{server.root.account_id}:role/dead-idp",  # type: ignore[union-attr]
        RoleSessionName="s1",
        WebIdentityToken=idp.token(iss=dead),
    )
    assert (code, status) == ("IDPCommunicationError", 400)
    assert time.monotonic() - start < 10


# --- Tessera issuers ----------------------------------------------------------------------


def outbound_token(server: TesseraServer, creds: Creds, audience: str) -> tuple[str, str]:
    """(issuer URL, a fresh GetWebIdentityToken JWT) for ``creds``'s account."""
    iam = server.client("iam", creds)
    try:
        issuer: str = iam.enable_outbound_web_identity_federation()["IssuerIdentifier"]
    except ClientError:
        issuer = iam.get_outbound_web_identity_federation_info()["IssuerIdentifier"]
    token: str = server.client("sts", creds).get_web_identity_token(
        Audience=[audience], SigningAlgorithm="RS256"
    )["WebIdentityToken"]
    return issuer, token


def trust_tessera_issuer(
    server: TesseraServer, creds: Creds, issuer: str, audience: str, subject: str, name: str
) -> str:
    iam = server.client("iam", creds)
    arn = iam.create_open_id_connect_provider(Url=issuer, ClientIDList=[audience])[
        "OpenIDConnectProviderArn"
    ]
    url = arn.split(":oidc-provider/", 1)[1]
    role: str = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=trust(
            arn, StringEquals={f"{url}:aud": audience, f"{url}:sub": subject}
        ),
    )["Role"]["Arn"]
    return role


def test_two_accounts_on_one_server_federate(server: TesseraServer) -> None:
    """Account A's issuer lives on the same server that verifies the token: the
    request thread fetches discovery and JWKS from its own event loop."""
    a = server.root
    assert a is not None
    b = server.create_account()
    issuer, token = outbound_token(server, a, "tessera-account-b")
    assert issuer.startswith(server.endpoint + "/issuers/")
    role = trust_tessera_issuer(
        server, b, issuer, "tessera-account-b", f"arn:aws:iam::{a.account_id}:root", "from-a"
    )
    out = anonymous_sts(server).assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="from-account-a", WebIdentityToken=token
    )
    assert out["SubjectFromWebIdentityToken"] == f"arn:aws:iam::{a.account_id}:root"
    assert out["Provider"].startswith(f"arn:aws:iam::{b.account_id}:oidc-provider/127.0.0.1:")
    who = server.client(
        "sts",
        Creds(
            b.account_id,
            out["Credentials"]["AccessKeyId"],
            out["Credentials"]["SecretAccessKey"],
            out["Credentials"]["SessionToken"],
        ),
    ).get_caller_identity()
    assert who["Account"] == b.account_id


def test_two_servers_federate_over_https(tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("two-servers")
    a = TesseraServer(data_dir=base / "a", extra_args=("--tls", "auto"), https=True)
    a.init()
    a.start()
    try:
        a.ca_bundle = base / "a" / "tls" / "ca.pem"
        assert a.root is not None
        issuer, token = outbound_token(a, a.root, "server-b")
        assert issuer.startswith("https://127.0.0.1:")
        b = TesseraServer(data_dir=base / "b", extra_args=("--oidc-ca-bundle", str(a.ca_bundle)))
        b.init()
        b.start()
        plain = TesseraServer(data_dir=base / "c")  # does not trust A's CA
        plain.init()
        plain.start()
        try:
            for srv in (b, plain):
                assert srv.root is not None
                trust_tessera_issuer(
                    srv,
                    srv.root,
                    issuer,
                    "server-b",
                    f"arn:aws:iam::{a.root.account_id}:root",
                    "from-a",
                )
            role_b = f"arn:aws:iam::{b.root.account_id}:role/from-a"  # type: ignore[union-attr]
            out = anonymous_sts(b).assume_role_with_web_identity(
                RoleArn=role_b, RoleSessionName="cross-server", WebIdentityToken=token
            )
            assert out["AssumedRoleUser"]["Arn"].endswith(":assumed-role/from-a/cross-server")
            role_c = f"arn:aws:iam::{plain.root.account_id}:role/from-a"  # type: ignore[union-attr]
            assert failure(
                anonymous_sts(plain).assume_role_with_web_identity,
                RoleArn=role_c,
                RoleSessionName="cross-server",
                WebIdentityToken=token,
            ) == (
                "InvalidIdentityToken",
                400,
                "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint",
            )
        finally:
            b.stop()
            plain.stop()
    finally:
        a.stop()


def test_insecure_http_is_opt_in_and_loud(tmp_path_factory: pytest.TempPathFactory) -> None:
    srv = TesseraServer(data_dir=tmp_path_factory.mktemp("insecure") / "data")
    srv.init()
    srv.start()
    try:
        code, status, _ = failure(
            srv.client("iam").create_open_id_connect_provider, Url="http://idp.example.com"
        )
        assert (code, status) == ("InvalidInput", 400)
        srv.restart("--insecure-oidc-http")
        assert "INSECURE" in srv.log_text()
        srv.client("iam").create_open_id_connect_provider(Url="http://idp.example.com")
    finally:
        srv.stop()
