"""AssumeRoleWithWebIdentity in process: the real runtime (pipeline, real
authoriser and policy engine) on a loopback port in a thread, a real test IdP
(``tests.e2e.oidc_idp``) serving discovery and JWKS over HTTP, boto3 as the
client. Covers the response shape, every accepted algorithm, the trust decision
and its condition keys, session tags / source identity from the token (and the
extra trust actions they need), durations and chaining, the provider remembered
by the session (aws:FederatedProvider, <provider>:sub in later decisions, the
``federated_provider`` claim of later outbound tokens), and the failure modes
with AWS's codes, statuses and messages."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import httpx
import jwt
import pytest
import uvicorn
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from tests.e2e.oidc_idp import TestIdp, new_key
from tests.e2e.server import free_port

from tessera.app.asgi import TesseraApp
from tessera.app.bootstrap import build_runtime, init_store
from tessera.app.issuer_routes import issuer_document_route
from tessera.app.runtime import Runtime
from tessera.clock import OffsetClock, SystemClock
from tessera.config import ServerConfig
from tessera.federation.oidc import InboundOidc
from tessera.sts import web_identity_federation as wif
from tessera.tls.ca import init_local_ca
from tessera.tls.server import server_ssl_context

AUD = "sts.amazonaws.com"
SUB = "system:serviceaccount:ci:deployer"
TAGS = "https://aws.amazon.com/tags"
SOURCE = "https://aws.amazon.com/source_identity"


@dataclass
class Fed:
    runtime: Runtime
    clock: OffsetClock
    port: int
    account_id: str
    root: tuple[str, str]
    server: uvicorn.Server
    idp: TestIdp
    provider_arn: str = ""

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, service: str, creds: dict[str, Any] | None = None) -> Any:
        if creds is None:
            akid, secret, token = self.root[0], self.root[1], None
        else:
            akid, secret = creds["AccessKeyId"], creds["SecretAccessKey"]
            token = creds["SessionToken"]
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=akid,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=Config(retries={"max_attempts": 1}),
        )

    def anonymous_sts(self) -> Any:
        return boto3.client(
            "sts",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}),
        )

    def use(self, client: InboundOidc) -> None:
        """Swap the server's IdP client (closing the old one's connections)."""
        old = self.runtime.inbound_oidc
        self.runtime.inbound_oidc = client
        if old is not None:
            old.close()

    @property
    def url(self) -> str:
        return self.provider_arn.split(":oidc-provider/", 1)[1]

    def role(
        self,
        name: str,
        *,
        actions: tuple[str, ...] = ("sts:AssumeRoleWithWebIdentity",),
        condition: dict[str, Any] | None = None,
        provider: str | None = None,
        max_session: int = 3600,
        path: str = "/",
    ) -> str:
        statement: dict[str, Any] = {
            "Effect": "Allow",
            "Principal": {"Federated": provider or self.provider_arn},
            "Action": list(actions),
        }
        if condition is not None:
            statement["Condition"] = condition
        doc = {"Version": "2012-10-17", "Statement": [statement]}
        iam = self.client("iam")
        try:
            iam.delete_role(RoleName=name)
        except ClientError:
            pass
        arn: str = iam.create_role(
            RoleName=name,
            Path=path,
            AssumeRolePolicyDocument=json.dumps(doc),
            MaxSessionDuration=max_session,
        )["Role"]["Arn"]
        return arn

    def assume(self, role_arn: str, token: str, **kw: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.anonymous_sts().assume_role_with_web_identity(
            RoleArn=role_arn,
            RoleSessionName=kw.pop("RoleSessionName", "s1"),
            WebIdentityToken=token,
            **kw,
        )
        return result

    def error(self, role_arn: str, token: str, **kw: Any) -> tuple[str, int, str]:
        with pytest.raises(ClientError) as info:
            self.assume(role_arn, token, **kw)
        err = info.value.response
        return (
            err["Error"]["Code"],
            err["ResponseMetadata"]["HTTPStatusCode"],
            err["Error"]["Message"],
        )


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fed]:
    data = tmp_path_factory.mktemp("wif") / "data"
    creds = init_store(data, None, SystemClock())
    port = free_port()
    clock = OffsetClock(0.0)
    runtime = build_runtime(ServerConfig(data_dir=data, host="127.0.0.1", port=port), clock)
    build_default = runtime.inbound_oidc
    assert build_default is not None
    build_default.close()
    runtime.inbound_oidc = InboundOidc(timeout=1.0, failure_ttl=0.0, refresh_cooldown=0.0)
    app = TesseraApp(runtime)
    assert runtime.issuers is not None
    app.get_routes.append(issuer_document_route(runtime.issuers))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    with TestIdp() as idp:
        f = Fed(
            runtime,
            clock,
            port,
            creds.account_id,
            (creds.access_key_id, creds.secret_access_key),
            server,
            idp,
        )
        f.provider_arn = f.client("iam").create_open_id_connect_provider(
            Url=idp.issuer, ClientIDList=[AUD, "second-app"]
        )["OpenIDConnectProviderArn"]
        try:
            yield f
        finally:
            server.should_exit = True
            if runtime.inbound_oidc is not None:
                runtime.inbound_oidc.close()
            runtime.store.close()


@pytest.fixture(autouse=True)
def _reset(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "fed" in request.fixturenames:
        f: Fed = request.getfixturevalue("fed")
        f.clock.offset = 0.0
        f.idp.overrides.clear()
        f.idp.delay = 0.0


# --- success ------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"])
def test_each_algorithm_is_accepted(fed: Fed, alg: str) -> None:
    role = fed.role("alg-role")
    out = fed.assume(role, fed.idp.token(alg))
    assert out["Provider"] == fed.provider_arn
    assert out["Audience"] == AUD
    assert out["SubjectFromWebIdentityToken"] == SUB
    assert out["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{fed.account_id}:assumed-role/alg-role/s1"
    )
    assert out["AssumedRoleUser"]["AssumedRoleId"].startswith("AROA")
    assert out["Credentials"]["AccessKeyId"].startswith("ASIA")
    assert "PackedPolicySize" not in out and "SourceIdentity" not in out
    who = fed.client("sts", out["Credentials"]).get_caller_identity()
    assert who["Arn"] == out["AssumedRoleUser"]["Arn"]


def test_audience_list_and_second_client_id(fed: Fed) -> None:
    role = fed.role("aud-role")
    out = fed.assume(role, fed.idp.token(aud=["not-registered", "second-app"]))
    assert out["Audience"] == "second-app"


def test_clients_holding_credentials_work_too(fed: Fed) -> None:
    """boto3 sends the call unsigned even with credentials (the model says noAuth);
    a SigV4-signed call is covered by the self-issuer test below."""
    role = fed.role("signed-role")
    out = fed.client("sts").assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="s1", WebIdentityToken=fed.idp.token()
    )
    assert out["Provider"] == fed.provider_arn


def test_exp_has_five_minutes_of_leeway(fed: Fed) -> None:
    role = fed.role("leeway-role")
    now = int(time.time())
    assert fed.assume(role, fed.idp.token(iat=now - 900, exp=now - 200))
    code, status, msg = fed.error(role, fed.idp.token(iat=now - 900, exp=now - 400))
    assert (code, status) == ("ExpiredTokenException", 400)
    assert msg.startswith("Token expired: current date/time ")
    assert msg.endswith(f"must be before the expiration date/time {now - 400}")


def test_the_server_clock_decides(fed: Fed) -> None:
    role = fed.role("clock-role")
    token = fed.idp.token()
    fed.clock.offset = 3600
    code, _, _ = fed.error(role, token)
    assert code == "ExpiredTokenException"
    fed.clock.offset = 0
    assert fed.assume(role, token)


# --- the trust decision -----------------------------------------------------------------


def test_trust_conditions_on_aud_sub_and_amr(fed: Fed) -> None:
    cond = {
        "StringEquals": {f"{fed.url}:aud": AUD, f"{fed.url}:sub": SUB},
        "ForAnyValue:StringEquals": {f"{fed.url}:amr": "mfa"},
        "StringLike": {"sts:RoleSessionName": "ci-*"},
    }
    role = fed.role("cond-role", condition=cond)
    ok = fed.assume(role, fed.idp.token(amr=["pwd", "mfa"]), RoleSessionName="ci-1")
    assert ok["SubjectFromWebIdentityToken"] == SUB
    denied = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    for token, session in [
        (fed.idp.token(amr=["pwd"]), "ci-1"),
        (fed.idp.token(amr=["mfa"], sub="someone-else"), "ci-1"),
        (fed.idp.token(amr=["mfa"], aud="second-app"), "ci-1"),
        (fed.idp.token(amr=["mfa"]), "other"),
    ]:
        assert fed.error(role, token, RoleSessionName=session) == ("AccessDenied", 403, denied)


def test_roles_that_trust_someone_else_refuse(fed: Fed) -> None:
    other = f"arn:aws:iam::{fed.account_id}:oidc-provider/other.example.com"
    role = fed.role("other-trust", provider=other)
    denied = ("AccessDenied", 403, "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    assert fed.error(role, fed.idp.token()) == denied
    missing = f"arn:aws:iam::{fed.account_id}:role/does-not-exist"
    assert fed.error(missing, fed.idp.token()) == denied
    wrong_path = f"arn:aws:iam::{fed.account_id}:role/some/path/alg-role"
    fed.role("alg-role")
    assert fed.error(wrong_path, fed.idp.token()) == denied
    code, status, _ = fed.error("arn:aws:iam:not-a-role-arn", fed.idp.token())
    assert (code, status) == ("ValidationError", 400)


def test_the_role_is_not_revealed_before_the_token_verifies(fed: Fed) -> None:
    missing = f"arn:aws:iam::{fed.account_id}:role/does-not-exist"
    code, _, _ = fed.error(missing, fed.idp.unsigned_token())
    assert code == "InvalidIdentityToken"


def test_session_tags_need_tag_session(fed: Fed) -> None:
    claim = {TAGS: {"principal_tags": {"Project": ["Apollo"]}, "transitive_tag_keys": ["Project"]}}
    without = fed.role("tags-denied")
    assert fed.error(without, fed.idp.token(**claim)) == (
        "AccessDenied",
        403,
        "Not authorized to perform sts:TagSession",
    )
    cond = {"StringEquals": {"aws:RequestTag/Project": "Apollo"}}
    role = fed.role(
        "tags-role",
        actions=("sts:AssumeRoleWithWebIdentity", "sts:TagSession"),
        condition=cond,
    )
    out = fed.assume(role, fed.idp.token(**claim))
    assert out["PackedPolicySize"] >= 1
    other = {TAGS: {"principal_tags": {"Project": ["Gemini"]}}}
    assert fed.error(role, fed.idp.token(**other))[0] == "AccessDenied"


def test_source_identity_needs_set_source_identity(fed: Fed) -> None:
    without = fed.role("si-denied")
    assert fed.error(without, fed.idp.token(**{SOURCE: "alice"})) == (
        "AccessDenied",
        403,
        "Not authorized to perform sts:SetSourceIdentity",
    )
    role = fed.role(
        "si-role",
        actions=("sts:AssumeRoleWithWebIdentity", "sts:SetSourceIdentity"),
        condition={"StringEquals": {"sts:SourceIdentity": "alice"}},
    )
    out = fed.assume(role, fed.idp.token(**{SOURCE: "alice"}))
    assert out["SourceIdentity"] == "alice"


@pytest.mark.parametrize(
    "claims",
    [
        {TAGS: "Project=Apollo"},
        {TAGS: {"principal_tags": {"Project": ["a", "b"]}}},
        {TAGS: {"principal_tags": {"Project": [1]}}},
        {TAGS: {"principal_tags": {"aws:reserved": ["x"]}}},
        {TAGS: {"principal_tags": {"P": ["x"]}, "transitive_tag_keys": ["Q"]}},
        {TAGS: {"principal_tags": {"k" * 129: ["x"]}}},
        {TAGS: {"principal_tags": {f"k{i}": ["v"] for i in range(51)}}},
        {SOURCE: "a"},
        {SOURCE: "aws:admin"},
        {SOURCE: ["alice"]},
    ],
)
def test_malformed_aws_claims_are_rejected(fed: Fed, claims: dict[str, Any]) -> None:
    role = fed.role(
        "claims-role",
        actions=("sts:AssumeRoleWithWebIdentity", "sts:TagSession", "sts:SetSourceIdentity"),
    )
    code, status, _ = fed.error(role, fed.idp.token(**claims))
    assert (code, status) == ("IDPRejectedClaim", 403)


# --- durations, policies and chaining -------------------------------------------------------


def test_durations_follow_the_role_and_are_not_chained(fed: Fed) -> None:
    role = fed.role("long-role", max_session=7200)
    out = fed.assume(role, fed.idp.token(), DurationSeconds=7200)
    expires = out["Credentials"]["Expiration"].timestamp()
    assert 7100 < expires - time.time() <= 7200
    code, status, msg = fed.error(role, fed.idp.token(), DurationSeconds=7201)
    assert (code, status, msg) == ("ValidationError", 400, wif.durations.EXCEEDS_ROLE_MAX)


def test_assuming_a_role_from_a_web_identity_session_is_chaining(fed: Fed) -> None:
    iam = fed.client("iam")
    target_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{fed.account_id}:role/chain-src"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }
    try:
        iam.delete_role(RoleName="chain-dst")
    except ClientError:
        pass
    src = fed.role(  # first: a trust policy can only name a role that exists
        "chain-src", actions=("sts:AssumeRoleWithWebIdentity", "sts:TagSession"), max_session=7200
    )
    dst = iam.create_role(
        RoleName="chain-dst",
        AssumeRolePolicyDocument=json.dumps(target_trust),
        MaxSessionDuration=7200,
    )["Role"]["Arn"]
    claim = {TAGS: {"principal_tags": {"Project": ["Apollo"]}, "transitive_tag_keys": ["Project"]}}
    first = fed.assume(src, fed.idp.token(**claim), DurationSeconds=7200)
    sts = fed.client("sts", first["Credentials"])
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn=dst, RoleSessionName="hop", DurationSeconds=7200)
    assert info.value.response["Error"]["Message"] == wif.durations.EXCEEDS_CHAINING_MAX
    hop = sts.assume_role(RoleArn=dst, RoleSessionName="hop", DurationSeconds=3600)
    session, _akid, _secret = fed.runtime.sessions.decode(hop["Credentials"]["SessionToken"])
    assert session.chain_depth == 1
    assert [(t.key, t.value) for t in session.tags] == [("Project", "Apollo")]  # transitive
    assert session.federated_provider is None
    first_session, _a, _s = fed.runtime.sessions.decode(first["Credentials"]["SessionToken"])
    assert first_session.chain_depth == 0
    assert first_session.federated_provider == fed.provider_arn


def test_session_policy_narrows_the_session(fed: Fed) -> None:
    role = fed.role("policy-role")
    fed.client("iam").put_role_policy(
        RoleName="policy-role",
        PolicyName="all-iam",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}],
            }
        ),
    )
    narrow = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}],
    }
    out = fed.assume(role, fed.idp.token(), Policy=json.dumps(narrow))
    assert out["PackedPolicySize"] >= 1
    iam = fed.client("iam", out["Credentials"])
    iam.list_roles()
    with pytest.raises(ClientError) as info:
        iam.list_users()
    assert info.value.response["Error"]["Code"] == "AccessDenied"


def test_the_session_remembers_its_provider(fed: Fed) -> None:
    role = fed.role("remember-role")
    statement = {
        "Effect": "Allow",
        "Action": "iam:ListRoles",
        "Resource": "*",
        "Condition": {
            "StringEquals": {
                "aws:FederatedProvider": fed.provider_arn,
                f"{fed.url}:sub": SUB,
            }
        },
    }
    fed.client("iam").put_role_policy(
        RoleName="remember-role",
        PolicyName="fed-only",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )
    out = fed.assume(role, fed.idp.token())
    fed.client("iam", out["Credentials"]).list_roles()
    other = fed.assume(role, fed.idp.token(sub="someone-else"))
    with pytest.raises(ClientError) as info:
        fed.client("iam", other["Credentials"]).list_roles()
    assert info.value.response["Error"]["Code"] == "AccessDenied"


def test_later_outbound_tokens_name_the_provider(fed: Fed) -> None:
    fed.client("iam").enable_outbound_web_identity_federation()
    role = fed.role("outbound-role")
    fed.client("iam").put_role_policy(
        RoleName="outbound-role",
        PolicyName="tokens",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:GetWebIdentityToken", "Resource": "*"}
                ],
            }
        ),
    )
    out = fed.assume(role, fed.idp.token())
    token = fed.client("sts", out["Credentials"]).get_web_identity_token(
        Audience=["https://rp.example"], SigningAlgorithm="ES384"
    )["WebIdentityToken"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["https://sts.amazonaws.com/"]["federated_provider"] == fed.provider_arn


# --- rejected tokens ------------------------------------------------------------------------


def test_security_set(fed: Fed) -> None:
    role = fed.role("sec-role")
    idp = fed.idp
    now = int(time.time())
    not_jwt = ("InvalidIdentityToken", 400, wif.NOT_A_JWT)
    cases: dict[str, tuple[str, tuple[str, int, str]]] = {
        "alg none": (idp.unsigned_token(), not_jwt),
        "HS256 keyed with the public key": (idp.hs256_with_public_key(), not_jwt),
        "garbage": ("not.a.jwt", not_jwt),
        "wrong key": (
            idp.token(key=new_key("RS256"), kid=idp.key("RS256").kid),
            ("InvalidIdentityToken", 400, wif.SIGNATURE_INVALID),
        ),
        "unknown kid": (
            idp.token(key=new_key("RS256"), kid="unknown-kid"),
            ("InvalidIdentityToken", 400, wif.NO_VERIFICATION_KEY),
        ),
        "wrong audience": (
            idp.token(aud="someone-else"),
            ("InvalidIdentityToken", 400, wif.INCORRECT_AUDIENCE),
        ),
        "no audience": (
            idp.token(aud=None),
            ("InvalidIdentityToken", 400, "Missing a required claim: aud"),
        ),
        "wrong issuer": (
            idp.token(iss="https://evil.example.com"),
            (
                "InvalidIdentityToken",
                400,
                "No OpenIDConnect provider found in your account for https://evil.example.com",
            ),
        ),
        "future iat": (
            idp.token(iat=now + 3600, exp=now + 7200),
            ("InvalidIdentityToken", 400, ""),
        ),
        "float exp": (
            idp.token(exp=now + 600.5),
            ("InvalidIdentityToken", 400, "Invalid exp claim: it must be an integer NumericDate."),
        ),
        "no sub": (
            idp.token(sub=None),
            ("InvalidIdentityToken", 400, "Missing a required claim: sub"),
        ),
        "expired": (
            idp.token(iat=now - 7200, exp=now - 3600),
            ("ExpiredTokenException", 400, ""),
        ),
    }
    for name, (token, (code, status, message)) in cases.items():
        got = fed.error(role, token)
        assert got[:2] == (code, status), name
        if message:
            assert got[2] == message, name
    big = fed.error(role, "a" * 20001)
    assert big == (
        "ValidationError",
        400,
        "1 validation error detected: Value at 'webIdentityToken' failed to satisfy "
        "constraint: Member must have length less than or equal to 20000",
    )
    assert fed.error(role, idp.token(), ProviderId="www.amazon.com")[0] == "InvalidIdentityToken"


def test_providers_are_per_account(fed: Fed) -> None:
    from tessera.app.bootstrap import create_account

    other = create_account(fed.runtime.store, SystemClock())
    role = f"arn:aws:iam::{other.account_id}:role/anything"
    assert fed.error(role, fed.idp.token()) == (
        "InvalidIdentityToken",
        400,
        f"No OpenIDConnect provider found in your account for {fed.idp.issuer}",
    )


def test_idp_document_failures(fed: Fed) -> None:
    role = fed.role("doc-role")
    idp = fed.idp
    fed.use(InboundOidc(timeout=1.0, failure_ttl=0.0, refresh_cooldown=0.0))
    no_key = ("InvalidIdentityToken", 400, wif.NO_VERIFICATION_KEY)
    idp.serve(idp.discovery_path, {"issuer": "https://elsewhere.example", "jwks_uri": idp.jwks_uri})
    assert fed.error(role, idp.token()) == no_key
    idp.overrides.clear()
    idp.serve(idp.jwks_path, b"{}", status=404)
    assert fed.error(role, idp.token()) == no_key
    idp.serve(idp.jwks_path, {"keys": [], "pad": "x" * 300_000})
    assert fed.error(role, idp.token()) == no_key
    idp.serve(idp.jwks_path, b"oops", status=503)
    code, status, _ = fed.error(role, idp.token())
    assert (code, status) == ("IDPCommunicationError", 400)
    idp.overrides.clear()
    assert fed.assume(role, idp.token())


def test_a_slow_idp_times_out(fed: Fed) -> None:
    role = fed.role("slow-role")
    fed.use(InboundOidc(timeout=0.5, failure_ttl=0.0, refresh_cooldown=0.0))
    fed.idp.delay = 3.0
    start = time.monotonic()
    code, status, _ = fed.error(role, fed.idp.token())
    assert (code, status) == ("IDPCommunicationError", 400)
    assert time.monotonic() - start < 2.5
    fed.idp.delay = 0.0


def test_an_unreachable_idp(fed: Fed) -> None:
    dead = f"http://127.0.0.1:{free_port()}/gone"
    iam = fed.client("iam")
    arn = iam.create_open_id_connect_provider(Url=dead, ClientIDList=[AUD])[
        "OpenIDConnectProviderArn"
    ]
    try:
        role = fed.role("dead-role", provider=arn)
        token = fed.idp.token(iss=dead)
        start = time.monotonic()
        code, status, _ = fed.error(role, token)
        assert (code, status) == ("IDPCommunicationError", 400)
        assert time.monotonic() - start < 5
    finally:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


def test_https_idp_needs_a_trusted_certificate(fed: Fed, tmp_path: Path) -> None:
    paths = init_local_ca(tmp_path / "ca")
    context = server_ssl_context(paths.server_cert, paths.server_key)
    iam = fed.client("iam")
    with TestIdp(ssl_context=context, host="localhost") as idp:
        arn = iam.create_open_id_connect_provider(Url=idp.issuer, ClientIDList=[AUD])[
            "OpenIDConnectProviderArn"
        ]
        role = fed.role("tls-role", provider=arn)
        fed.use(InboundOidc(timeout=2.0, failure_ttl=0.0))
        assert fed.error(role, idp.token()) == (
            "InvalidIdentityToken",
            400,
            wif.THUMBPRINT_MISMATCH,
        )
        fed.use(InboundOidc(ca_bundle=paths.ca_cert, timeout=2.0))
        assert fed.assume(role, idp.token())["Provider"] == arn
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    fed.use(InboundOidc(timeout=1.0, failure_ttl=0.0, refresh_cooldown=0.0))


def test_a_deleted_provider_is_no_longer_trusted(fed: Fed) -> None:
    iam = fed.client("iam")
    with TestIdp(path="/short-lived") as idp:
        arn = iam.create_open_id_connect_provider(Url=idp.issuer, ClientIDList=[AUD])[
            "OpenIDConnectProviderArn"
        ]
        role = fed.role("deleted-role", provider=arn)
        assert fed.assume(role, idp.token())
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
        assert fed.error(role, idp.token())[2] == (
            f"No OpenIDConnect provider found in your account for {idp.issuer}"
        )
        iam.create_open_id_connect_provider(Url=idp.issuer, ClientIDList=["other"])
        assert fed.error(role, idp.token())[2] == wif.INCORRECT_AUDIENCE
        iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID=AUD)
        assert fed.assume(role, idp.token())
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


def signed_post(fed: Fed, form: dict[str, str]) -> httpx.Response:
    """POST a form SigV4-signed with the root key (boto3 never signs
    AssumeRoleWithWebIdentity: the model marks it noAuth)."""
    request = AWSRequest(
        method="POST",
        url=fed.endpoint + "/",
        data=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials(*fed.root), "sts", "us-east-1").add_auth(request)
    prepared = request.prepare()
    return httpx.post(
        prepared.url, content=prepared.body, headers=dict(prepared.headers), timeout=10
    )


def test_a_signed_call_trusting_this_servers_own_issuer(fed: Fed) -> None:
    """The request fetches discovery and JWKS from the server handling it: even a
    SigV4-signed call (signed STS calls may be answered on the event loop) must not
    wait on itself, and the signature changes nothing."""
    iam = fed.client("iam")
    try:
        issuer = iam.enable_outbound_web_identity_federation()["IssuerIdentifier"]
    except ClientError:
        issuer = iam.get_outbound_web_identity_federation_info()["IssuerIdentifier"]
    token = fed.client("sts").get_web_identity_token(Audience=["self"], SigningAlgorithm="ES384")[
        "WebIdentityToken"
    ]
    arn = iam.create_open_id_connect_provider(Url=issuer, ClientIDList=["self"])[
        "OpenIDConnectProviderArn"
    ]
    try:
        role = fed.role("self-trust", provider=arn)
        start = time.monotonic()
        answer = signed_post(
            fed,
            {
                "Action": "AssumeRoleWithWebIdentity",
                "Version": "2011-06-15",
                "RoleArn": role,
                "RoleSessionName": "self",
                "WebIdentityToken": token,
            },
        )
        assert answer.status_code == 200, answer.text
        assert f"<Provider>{arn}</Provider>" in answer.text
        assert f"arn:aws:iam::{fed.account_id}:root</SubjectFromWebIdentityToken>" in answer.text
        assert time.monotonic() - start < 3
    finally:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
