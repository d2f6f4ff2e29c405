"""Outbound identity federation end to end against a real server: IAM enable /
disable / info, issuer documents over HTTP, GetWebIdentityToken via boto3 for IAM
users, role sessions, chained and tagged sessions, every error and condition key,
verification with PyJWT, joserfc and jwcrypto (JWKS fetched from the issuer URL),
rotation with ``tessera keys rotate``, restart, and ``tessera token verify``."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from botocore.exceptions import ClientError
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from jwcrypto import jwk as jc_jwk
from jwcrypto import jwt as jc_jwt

from tessera.oidc.keys import kid_suffix
from tests.e2e.server import Creds, TesseraServer, tessera_cmd

pytestmark = pytest.mark.e2e

AWS = "https://sts.amazonaws.com/"
AUD = "https://relying-party.example.com"
TRUST_ACTIONS = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]


# ---------------------------------------------------------------- helpers


def b64json(part: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return data


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _sig = token.split(".")
    return b64json(header), b64json(payload)


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    resp = exc.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"]


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str | list[str], **condition: Any) -> dict[str, Any]:
    st: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": "*"}
    if condition:
        st["Condition"] = condition
    return st


def kid(issuer: str, base: str) -> str:
    """The kid ``base`` (``RSA_<n>``) of an issuer: with its issuer-derived suffix."""
    if "/issuers/" in issuer:  # path form: <public-url>/issuers/<uuid>
        issuer_id = issuer.rstrip("/").rsplit("/", 1)[1]
    else:  # host form: http://<uuid>.tokens.…
        issuer_id = issuer.split("://", 1)[1].split(".", 1)[0]
    return f"{base}_{kid_suffix(issuer_id)}"


def jwks_uri(issuer: str) -> str:
    disc = httpx.get(issuer + "/.well-known/openid-configuration", timeout=10)
    assert disc.status_code == 200
    uri: str = disc.json()["jwks_uri"]
    return uri


def verify_pyjwt(token: str, issuer: str, aud: str) -> dict[str, Any]:
    client = pyjwt.PyJWKClient(jwks_uri(issuer), cache_keys=False)
    key = client.get_signing_key_from_jwt(token)
    alg = unverified(token)[0]["alg"]
    claims: dict[str, Any] = pyjwt.decode(
        token, key.key, algorithms=[alg], audience=aud, issuer=issuer, leeway=5
    )
    return claims


def verify_joserfc(token: str, issuer: str, aud: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(httpx.get(jwks_uri(issuer), timeout=10).json())
    alg = unverified(token)[0]["alg"]
    decoded = jose_jwt.decode(token, keys, algorithms=[alg])
    registry = jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer}, aud={"essential": True, "value": aud}
    )
    registry.validate(decoded.claims)
    return dict(decoded.claims)


def verify_jwcrypto(token: str, issuer: str, aud: str) -> dict[str, Any]:
    keys = jc_jwk.JWKSet.from_json(httpx.get(jwks_uri(issuer), timeout=10).text)
    alg = unverified(token)[0]["alg"]
    checked = jc_jwt.JWT(
        jwt=token, key=keys, algs=[alg], check_claims={"iss": issuer, "aud": aud, "exp": None}
    )
    claims: dict[str, Any] = json.loads(checked.claims)
    return claims


def token_for(
    srv: TesseraServer, creds: Creds | None = None, region: str = "us-east-1", **kw: Any
) -> str:
    kw.setdefault("Audience", [AUD])
    kw.setdefault("SigningAlgorithm", "ES384")
    out = srv.client("sts", creds, region=region).get_web_identity_token(**kw)
    token: str = out["WebIdentityToken"]
    _h, claims = unverified(token)
    assert int(out["Expiration"].timestamp()) == claims["exp"]
    return token


def make_user(
    srv: TesseraServer,
    name: str,
    doc: str,
    path: str = "/",
    tags: list[dict[str, str]] | None = None,
) -> tuple[Creds, str]:
    iam = srv.client("iam")
    user = iam.create_user(UserName=name, Path=path, Tags=tags or [])["User"]
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    assert srv.root is not None
    return Creds(srv.root.account_id, key["AccessKeyId"], key["SecretAccessKey"]), user["Arn"]


def session_creds(account: str, out: dict[str, Any]) -> Creds:
    c = out["Credentials"]
    return Creds(account, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


@pytest.fixture(scope="module")
def issuer(server: TesseraServer) -> str:
    iam = server.client("iam")
    try:
        out = iam.enable_outbound_web_identity_federation()
        value: str = out["IssuerIdentifier"]
    except ClientError:
        value = iam.get_outbound_web_identity_federation_info()["IssuerIdentifier"]
    return value


# ---------------------------------------------------------------- IAM operations


def test_enable_info_disable_reenable(server: TesseraServer) -> None:
    iam = server.client("iam")
    sts = server.client("sts")
    with pytest.raises(ClientError) as exc:
        iam.get_outbound_web_identity_federation_info()
    assert error_code(exc) == ("FeatureDisabled", 404)
    with pytest.raises(ClientError) as exc:
        sts.get_web_identity_token(Audience=[AUD], SigningAlgorithm="RS256")
    assert error_code(exc) == ("OutboundWebIdentityFederationDisabledException", 403)

    issuer = iam.enable_outbound_web_identity_federation()["IssuerIdentifier"]
    assert issuer.startswith(server.endpoint + "/issuers/")
    with pytest.raises(ClientError) as exc:
        iam.enable_outbound_web_identity_federation()
    assert error_code(exc) == ("FeatureEnabled", 409)
    info = iam.get_outbound_web_identity_federation_info()
    assert (info["IssuerIdentifier"], info["JwtVendingEnabled"]) == (issuer, True)
    token = token_for(server, SigningAlgorithm="RS256")

    iam.disable_outbound_web_identity_federation()
    info = iam.get_outbound_web_identity_federation_info()
    assert (info["IssuerIdentifier"], info["JwtVendingEnabled"]) == (issuer, False)
    with pytest.raises(ClientError) as exc:
        iam.disable_outbound_web_identity_federation()
    assert error_code(exc) == ("FeatureDisabled", 404)
    with pytest.raises(ClientError) as exc:
        sts.get_web_identity_token(Audience=[AUD], SigningAlgorithm="ES384")
    assert error_code(exc) == ("OutboundWebIdentityFederationDisabledException", 403)
    # already-issued tokens still verify while disabled
    assert verify_pyjwt(token, issuer, AUD)["iss"] == issuer

    assert iam.enable_outbound_web_identity_federation()["IssuerIdentifier"] == issuer


def test_outbound_ops_need_iam_permission(server: TesseraServer, issuer: str) -> None:
    creds, _arn = make_user(server, "no-outbound", policy(allow("iam:GetUser")))
    iam = server.client("iam", creds)
    for call in (
        iam.get_outbound_web_identity_federation_info,
        iam.disable_outbound_web_identity_federation,
        iam.enable_outbound_web_identity_federation,
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc)[0] == "AccessDenied"


# ---------------------------------------------------------------- documents


def test_issuer_documents_over_http(server: TesseraServer, issuer: str) -> None:
    disc = httpx.get(issuer + "/.well-known/openid-configuration", timeout=10)
    assert disc.status_code == 200
    assert disc.headers["content-type"] == "application/json"
    assert disc.headers["cache-control"] == "public, max-age=300"
    assert disc.json() == {
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "jti", AWS],
        "id_token_signing_alg_values_supported": ["RS256", "ES384"],
        "issuer": issuer,
        "jwks_uri": issuer + "/.well-known/jwks.json",
        "subject_types_supported": ["public"],
    }
    jwks = httpx.get(issuer + "/.well-known/jwks.json", timeout=10)
    assert jwks.status_code == 200
    keys = jwks.json()["keys"]
    assert [k["kid"] for k in keys] == [kid(issuer, "RSA_0"), kid(issuer, "EC384_0")]
    assert "alg" not in keys[0] and keys[1]["alg"] == "ES384" and keys[1]["crv"] == "P-384"
    assert len(base64.urlsafe_b64decode(keys[0]["n"] + "==")) == 256
    etag = jwks.headers["etag"]
    again = httpx.get(
        issuer + "/.well-known/jwks.json", headers={"If-None-Match": etag}, timeout=10
    )
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    head = httpx.head(issuer + "/.well-known/jwks.json", timeout=10)
    assert head.status_code == 200 and head.headers["etag"] == etag
    unknown = httpx.get(
        server.endpoint + "/issuers/00000000-0000-4000-8000-000000000000/.well-known/jwks.json",
        timeout=10,
    )
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/json"
    assert unknown.json()["error"] == "not_found"


# ---------------------------------------------------------------- verification


@pytest.mark.parametrize("alg", ["RS256", "ES384"])
def test_token_verifies_with_three_libraries(server: TesseraServer, issuer: str, alg: str) -> None:
    token = token_for(server, SigningAlgorithm=alg, Audience=[AUD])
    header, _claims = unverified(token)
    assert header == {
        "kid": kid(issuer, "RSA_0") if alg == "RS256" else kid(issuer, "EC384_0"),
        "typ": "JWT",
        "alg": alg,
    }
    assert list(header) == ["kid", "typ", "alg"]
    for verify in (verify_pyjwt, verify_joserfc, verify_jwcrypto):
        claims = verify(token, issuer, AUD)
        assert claims["iss"] == issuer and claims["aud"] == AUD


def test_multiple_audiences_are_an_array(server: TesseraServer, issuer: str) -> None:
    token = token_for(server, Audience=[AUD, "other"], SigningAlgorithm="RS256")
    assert verify_pyjwt(token, issuer, "other")["aud"] == [AUD, "other"]


# ---------------------------------------------------------------- claims


def test_claims_for_iam_user(server: TesseraServer, issuer: str) -> None:
    doc = policy(allow(["sts:GetWebIdentityToken", "sts:TagGetWebIdentityToken"]))
    creds, user_arn = make_user(
        server, "builder", doc, path="/ci/", tags=[{"Key": "team", "Value": "data"}]
    )
    assert user_arn.endswith(":user/ci/builder")
    token = token_for(
        server,
        creds,
        region="eu-west-1",
        DurationSeconds=900,
        Tags=[{"Key": "job", "Value": "42"}],
    )
    claims = verify_joserfc(token, issuer, AUD)
    assert list(claims) == ["aud", "sub", AWS, "iss", "exp", "iat", "jti"]
    assert claims["sub"] == user_arn
    assert claims["exp"] - claims["iat"] == 900
    assert abs(claims["iat"] - time.time()) < 30
    assert len(claims["jti"]) == 36
    assert claims[AWS] == {
        "aws_account": creds.account_id,
        "source_region": "eu-west-1",
        "principal_id": user_arn,
        "principal_tags": {"team": "data"},
        "request_tags": {"job": "42"},
    }


def _make_role(
    srv: TesseraServer,
    name: str,
    path: str,
    principal: str,
    doc: str,
    tags: list[dict[str, str]] | None = None,
) -> str:
    iam = srv.client("iam")
    trust = policy({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": TRUST_ACTIONS})
    arn: str = iam.create_role(
        RoleName=name, Path=path, AssumeRolePolicyDocument=trust, Tags=tags or []
    )["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=doc)
    return arn


@pytest.fixture(scope="module")
def assumer(server: TesseraServer) -> Creds:
    """An IAM user allowed to assume roles (root may not assume roles)."""
    doc = policy(allow(TRUST_ACTIONS))
    creds, _arn = make_user(server, "assumer", doc)
    return creds


@pytest.fixture(scope="module")
def roles(server: TesseraServer, issuer: str) -> dict[str, str]:
    assert server.root is not None
    acct = server.root.account_id
    role_doc = policy(
        allow(
            [
                "sts:GetWebIdentityToken",
                "sts:TagGetWebIdentityToken",
                "sts:AssumeRole",
                "sts:TagSession",
                "sts:SetSourceIdentity",
            ]
        )
    )
    first = _make_role(
        server,
        "deployer",
        "/service-role/",
        f"arn:aws:iam::{acct}:root",
        role_doc,
        tags=[{"Key": "team", "Value": "platform"}, {"Key": "cost", "Value": "1"}],
    )
    second = _make_role(server, "uploader", "/chain/", first, role_doc)
    return {"first": first, "second": second}


def test_claims_for_tagged_role_session(
    server: TesseraServer, roles: dict[str, str], issuer: str, assumer: Creds
) -> None:
    assert server.root is not None
    acct = server.root.account_id
    out = server.client("sts", assumer).assume_role(
        RoleArn=roles["first"],
        RoleSessionName="s1",
        DurationSeconds=1800,
        SourceIdentity="alice",
        Tags=[{"Key": "team", "Value": "session-team"}, {"Key": "env", "Value": "prod"}],
        TransitiveTagKeys=["env"],
    )
    creds = session_creds(acct, out)
    token = token_for(server, creds, region="ap-south-1", SigningAlgorithm="RS256")
    claims = verify_jwcrypto(token, issuer, AUD)
    assert claims["sub"] == roles["first"]
    assert ":role/service-role/deployer" in claims["sub"]
    exp = out["Credentials"]["Expiration"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert claims[AWS] == {
        "aws_account": acct,
        "source_region": "ap-south-1",
        "principal_id": roles["first"],
        "original_session_exp": exp,
        "source_identity": "alice",
        "principal_tags": {"team": "session-team", "cost": "1", "env": "prod"},
    }

    # chained: the last role is the subject; source identity and transitive tags carry
    out2 = server.client("sts", creds).assume_role(
        RoleArn=roles["second"], RoleSessionName="s2", DurationSeconds=900
    )
    chained = session_creds(acct, out2)
    claims2 = verify_pyjwt(token_for(server, chained), issuer, AUD)
    assert claims2["sub"] == roles["second"]
    assert claims2[AWS]["principal_id"] == roles["second"]
    assert claims2[AWS]["source_identity"] == "alice"
    assert claims2[AWS]["principal_tags"] == {"env": "prod"}
    exp2 = out2["Credentials"]["Expiration"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert claims2[AWS]["original_session_exp"] == exp2


# ---------------------------------------------------------------- errors


def test_session_duration_escalation(
    server: TesseraServer, roles: dict[str, str], assumer: Creds
) -> None:
    assert server.root is not None
    out = server.client("sts", assumer).assume_role(
        RoleArn=roles["first"], RoleSessionName="short", DurationSeconds=900
    )
    creds = session_creds(server.root.account_id, out)
    token_for(server, creds, DurationSeconds=600)
    with pytest.raises(ClientError) as exc:
        token_for(server, creds, DurationSeconds=3600)
    assert error_code(exc) == ("SessionDurationEscalationException", 403)


def test_payload_size_and_validation(server: TesseraServer, issuer: str) -> None:
    sts = server.client("sts")
    tags = [{"Key": f"k{i:03d}" + "x" * 124, "Value": "v" * 256} for i in range(50)]
    with pytest.raises(ClientError) as exc:
        sts.get_web_identity_token(Audience=[AUD], SigningAlgorithm="ES384", Tags=tags)
    assert error_code(exc) == ("JWTPayloadSizeExceededException", 400)
    assert "16384" in exc.value.response["Error"]["Message"]
    # 10 small tags fit
    token_for(server, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(10)])

    with pytest.raises(ClientError) as exc:
        sts.get_web_identity_token(Audience=[AUD], SigningAlgorithm="HS256")
    assert error_code(exc) == ("ValidationError", 400)
    with pytest.raises(ClientError) as exc:
        sts.get_web_identity_token(Audience=[AUD], SigningAlgorithm="RS256", DurationSeconds=3601)
    assert error_code(exc) == ("ValidationError", 400)
    with pytest.raises(ClientError) as exc:
        sts.get_web_identity_token(Audience=[f"a{i}" for i in range(11)], SigningAlgorithm="RS256")
    assert error_code(exc) == ("ValidationError", 400)
    with pytest.raises(ClientError) as exc:
        sts.get_web_identity_token(Audience=["x" * 1001], SigningAlgorithm="RS256")
    assert error_code(exc) == ("ValidationError", 400)


# ---------------------------------------------------------------- condition keys


def test_condition_keys_decide(server: TesseraServer, issuer: str) -> None:
    doc = policy(
        allow(
            "sts:GetWebIdentityToken",
            **{
                "ForAnyValue:StringEquals": {"sts:IdentityTokenAudience": ["https://good.example"]},
                "NumericLessThanEquals": {"sts:DurationSeconds": "300"},
                "StringEquals": {"sts:SigningAlgorithm": "ES384"},
            },
        ),
        allow("sts:TagGetWebIdentityToken", StringEquals={"aws:RequestTag/env": "prod"}),
    )
    creds, _arn = make_user(server, "conditional", doc)

    def attempt(**kw: Any) -> str | None:
        try:
            token_for(server, creds, **kw)
            return None
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])

    good = ["https://good.example"]
    assert attempt(Audience=good) is None  # default duration 300 is the condition value
    assert attempt(Audience=["https://bad.example", *good]) is None  # ForAnyValue
    assert attempt(Audience=["https://bad.example"]) == "AccessDenied"
    assert attempt(Audience=good, DurationSeconds=300) is None
    assert attempt(Audience=good, DurationSeconds=301) == "AccessDenied"
    assert attempt(Audience=good, SigningAlgorithm="RS256") == "AccessDenied"
    assert attempt(Audience=good, Tags=[{"Key": "env", "Value": "prod"}]) is None
    assert attempt(Audience=good, Tags=[{"Key": "env", "Value": "dev"}]) == "AccessDenied"

    # without sts:TagGetWebIdentityToken, tags are refused; untagged calls still work
    plain, _arn2 = make_user(server, "plain", policy(allow("sts:GetWebIdentityToken")))
    token_for(server, plain)
    with pytest.raises(ClientError) as exc:
        token_for(server, plain, Tags=[{"Key": "env", "Value": "prod"}])
    assert error_code(exc)[0] == "AccessDenied"
    nothing, _arn3 = make_user(server, "nothing", policy(allow("iam:GetUser")))
    with pytest.raises(ClientError) as exc:
        token_for(server, nothing)
    assert error_code(exc) == ("AccessDenied", 403)


# ---------------------------------------------------------------- CLI verify


def test_token_verify_cli(server: TesseraServer, issuer: str) -> None:
    token = token_for(server, SigningAlgorithm="RS256")
    ok = subprocess.run(
        tessera_cmd("token", "verify", "-", "--issuer", issuer, "--audience", AUD, "--json"),
        input=token,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    verified = json.loads(ok.stdout)
    assert verified["claims"]["iss"] == issuer
    assert verified["claims"]["sub"].endswith(":root")
    assert token not in ok.stdout + ok.stderr
    bad = subprocess.run(
        tessera_cmd("token", "verify", token, "--issuer", issuer, "--audience", "someone-else"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "audience" in bad.stderr.lower()


def test_token_never_logged(server: TesseraServer, issuer: str) -> None:
    token = token_for(server)
    time.sleep(0.2)
    log = server.log_text()
    assert token not in log and token.split(".")[2] not in log


# ---------------------------------------------------------------- rotation and restart


@pytest.fixture(scope="module")
def rotating(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TesseraServer]:
    base: Path = tmp_path_factory.mktemp("tessera-rot")
    srv = TesseraServer(data_dir=base / "data")
    srv.init()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _kids(issuer: str) -> list[str]:
    return [
        k["kid"] for k in httpx.get(issuer + "/.well-known/jwks.json", timeout=10).json()["keys"]
    ]


def test_rotation_and_restart(rotating: TesseraServer) -> None:
    iss = rotating.client("iam").enable_outbound_web_identity_federation()["IssuerIdentifier"]
    old = {alg: token_for(rotating, SigningAlgorithm=alg) for alg in ("RS256", "ES384")}
    # publish-before-sign (default): new keys published, old keys still sign
    rot = subprocess.run(
        tessera_cmd("keys", "rotate", "--data-dir", str(rotating.data_dir), "--json"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rot.returncode == 0, rot.stderr
    out = json.loads(rot.stdout)
    assert sorted(k["kid"] for k in out["issuer_keys"][rotating.root.account_id]) == [  # type: ignore[union-attr]
        kid(iss, "EC384_1"),
        kid(iss, "RSA_1"),
    ]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(_kids(iss)) < 4:
        time.sleep(0.5)
    assert _kids(iss) == [
        kid(iss, "RSA_0"),
        kid(iss, "RSA_1"),
        kid(iss, "EC384_0"),
        kid(iss, "EC384_1"),
    ]
    assert unverified(token_for(rotating, SigningAlgorithm="RS256"))[0]["kid"] == kid(iss, "RSA_0")
    # immediate rotation (publish-ahead 0) plus the session key
    rot2 = subprocess.run(
        tessera_cmd(
            "keys",
            "rotate",
            "--data-dir",
            str(rotating.data_dir),
            "--publish-ahead",
            "0",
            "--sessions",
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rot2.returncode == 0, rot2.stderr
    assert "session-token key rotated" in rot2.stdout
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and kid(iss, "RSA_2") not in _kids(iss):
        time.sleep(0.5)
    new = {alg: token_for(rotating, SigningAlgorithm=alg) for alg in ("RS256", "ES384")}
    assert unverified(new["RS256"])[0]["kid"] == kid(iss, "RSA_2")
    assert unverified(new["ES384"])[0]["kid"] == kid(iss, "EC384_2")
    for token in (*old.values(), *new.values()):
        verify_pyjwt(token, iss, AUD)
        verify_jwcrypto(token, iss, AUD)

    rotating.restart()
    info = rotating.client("iam").get_outbound_web_identity_federation_info()
    assert info["IssuerIdentifier"] == iss and info["JwtVendingEnabled"] is True
    assert _kids(iss) == [
        kid(iss, "RSA_0"),
        kid(iss, "RSA_1"),
        kid(iss, "RSA_2"),
        kid(iss, "EC384_0"),
        kid(iss, "EC384_1"),
        kid(iss, "EC384_2"),
    ]
    after = token_for(rotating, SigningAlgorithm="ES384")
    assert unverified(after)[0]["kid"] == kid(iss, "EC384_2")
    for token in (*old.values(), *new.values(), after):
        verify_joserfc(token, iss, AUD)


def test_host_form_issuer(tmp_path_factory: pytest.TempPathFactory) -> None:
    base: Path = tmp_path_factory.mktemp("tessera-host")
    srv = TesseraServer(data_dir=base / "data")
    srv.init()
    template = f"http://{{id}}.tokens.localhost:{srv.port}"
    srv.start("--issuer-host-template", template)
    try:
        iss = srv.client("iam").enable_outbound_web_identity_federation()["IssuerIdentifier"]
        issuer_id = iss.removeprefix("http://").split(".", 1)[0]
        assert iss == template.replace("{id}", issuer_id)
        host = iss.removeprefix("http://")
        disc = httpx.get(
            srv.endpoint + "/.well-known/openid-configuration", headers={"Host": host}, timeout=10
        )
        assert disc.status_code == 200
        assert disc.json()["issuer"] == iss
        assert disc.json()["jwks_uri"] == iss + "/.well-known/jwks.json"
        jwks = httpx.get(
            srv.endpoint + "/.well-known/jwks.json", headers={"Host": host}, timeout=10
        )
        assert [k["kid"] for k in jwks.json()["keys"]] == [kid(iss, "RSA_0"), kid(iss, "EC384_0")]
        other = httpx.get(
            srv.endpoint + "/.well-known/jwks.json",
            headers={"Host": f"00000000-0000-4000-8000-000000000000.tokens.localhost:{srv.port}"},
            timeout=10,
        )
        assert other.status_code == 404
        token = token_for(srv, SigningAlgorithm="RS256")
        assert unverified(token)[1]["iss"] == iss
    finally:
        srv.stop()


def test_two_replicas_on_postgresql_share_issuer_and_rotation(tmp_path: Path, pg_url: str) -> None:
    first = TesseraServer(data_dir=tmp_path / "shared", database_url=pg_url)
    first.init()
    second = TesseraServer(data_dir=tmp_path / "shared", database_url=pg_url)
    second.root = first.root
    public = ("--public-url", first.endpoint)  # replicas behind one public URL
    first.start(*public)
    second.start(*public)
    try:
        iss = first.client("iam").enable_outbound_web_identity_federation()["IssuerIdentifier"]
        assert (
            second.client("iam").get_outbound_web_identity_federation_info()["IssuerIdentifier"]
            == iss
        )
        old = token_for(second, SigningAlgorithm="RS256")
        assert verify_pyjwt(old, iss, AUD)["iss"] == iss
        rot = subprocess.run(
            tessera_cmd(
                "keys",
                "rotate",
                "--data-dir",
                str(first.data_dir),
                "--database-url",
                pg_url,
                "--publish-ahead",
                "0",
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert rot.returncode == 0, rot.stderr
        second_path = iss.replace(first.endpoint, second.endpoint)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (
            kid(iss, "RSA_1") not in _kids(iss) or kid(iss, "RSA_1") not in _kids(second_path)
        ):
            time.sleep(0.5)
        for srv in (first, second):
            new = token_for(srv, SigningAlgorithm="RS256")
            assert unverified(new)[0]["kid"] == kid(iss, "RSA_1")
            verify_jwcrypto(new, iss, AUD)
        verify_joserfc(old, iss, AUD)
    finally:
        first.stop()
        second.stop()
