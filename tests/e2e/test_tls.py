"""HTTPS end to end: a CA from ``tessera tls init``, real ``tessera serve`` processes
over HTTPS and HTTP on one data dir, boto3 and the AWS CLI with and without the
CA, ``aws:SecureTransport`` / ``aws:SourceIp`` through trusted proxies, the TLS
policy against a real socket, ``--tls auto`` and rotation by restart."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import httpx
import jwt
import pytest

from tessera.verify.verifier import Verifier
from tests.e2e.server import Creds, TesseraServer, tessera_cmd

SECURE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "iam:ListUsers",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}},
        },
        {
            "Effect": "Allow",
            "Action": "iam:GetUser",
            "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
        },
    ],
}


class Env:
    def __init__(
        self, ca: Path, https: TesseraServer, trusting: TesseraServer, untrusting: TesseraServer
    ) -> None:
        self.ca = ca
        self.https = https
        self.trusting = trusting  # plain HTTP, --trusted-proxy 127.0.0.1/32
        self.untrusting = untrusting  # plain HTTP, --trusted-proxy 10.0.0.0/8
        self.user: Creds | None = None


def _tls_init(data_dir: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tessera_cmd("tls", "init", "--data-dir", str(data_dir), *more),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("tls")
    data = base / "data"
    out = _tls_init(data)
    assert out.returncode == 0, out.stderr
    assert "AWS_CA_BUNDLE=" in out.stdout and "--ca-bundle" in out.stdout
    tls = data / "tls"
    https = TesseraServer(
        data_dir=data,
        extra_args=(
            "--tls-cert",
            str(tls / "server.pem"),
            "--tls-key",
            str(tls / "server-key.pem"),
        ),
        https=True,
        ca_bundle=tls / "ca.pem",
    )
    https.init()
    trusting = TesseraServer(data_dir=data, extra_args=("--trusted-proxy", "127.0.0.1/32"))
    untrusting = TesseraServer(data_dir=data, extra_args=("--trusted-proxy", "10.0.0.0/8"))
    trusting.root = untrusting.root = https.root
    started: list[TesseraServer] = []
    try:
        for srv in (https, trusting, untrusting):
            srv.start()
            started.append(srv)
        e = Env(tls / "ca.pem", https, trusting, untrusting)
        iam = https.client("iam")
        iam.create_user(UserName="tls-user")
        iam.put_user_policy(
            UserName="tls-user", PolicyName="secure", PolicyDocument=json.dumps(SECURE_POLICY)
        )
        key = iam.create_access_key(UserName="tls-user")["AccessKey"]
        assert https.root is not None
        e.user = Creds(https.root.account_id, key["AccessKeyId"], key["SecretAccessKey"])
        yield e
    finally:
        for srv in started:
            srv.stop()


def _with_headers(client: Any, headers: dict[str, str]) -> Any:
    """Add (unsigned) headers to every request, as a reverse proxy would."""

    def hook(request: Any, **_: Any) -> None:
        for name, value in headers.items():
            request.headers[name] = value

    client.meta.events.register("before-send", hook)
    return client


def _denied(call: Callable[[], object]) -> bool:
    try:
        call()
    except botocore.exceptions.ClientError as exc:
        assert exc.response["Error"]["Code"] == "AccessDenied", exc.response
        return True
    return False


# --- clients with and without the CA -------------------------------------------------


def test_boto3_with_ca_bundle_succeeds(env: Env) -> None:
    ident = env.https.client("sts").get_caller_identity()
    assert env.https.root is not None
    assert ident["Account"] == env.https.root.account_id
    assert env.https.endpoint.startswith("https://")


def test_boto3_without_ca_bundle_fails(env: Env) -> None:
    sts = env.https.client("sts", verify=True)
    with pytest.raises(botocore.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        sts.get_caller_identity()


def test_aws_cli_with_ca_bundle_succeeds(env: Env) -> None:
    out = env.https.aws_cli("sts", "get-caller-identity")
    assert out.returncode == 0, out.stderr
    assert env.https.root is not None
    assert json.loads(out.stdout)["Account"] == env.https.root.account_id


def test_aws_cli_without_ca_bundle_fails(env: Env) -> None:
    out = env.https.aws_cli("sts", "get-caller-identity", ca_bundle=None)
    assert out.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in out.stderr or "SSL" in out.stderr, out.stderr


def test_served_public_url_is_https(env: Env) -> None:
    assert f"at https://127.0.0.1:{env.https.port}" in env.https.log_text()


# --- aws:SecureTransport and aws:SourceIp -------------------------------------------


def test_secure_transport_allows_over_https(env: Env) -> None:
    env.https.client("iam", env.user).list_users()


def test_secure_transport_denies_over_http(env: Env) -> None:
    iam = env.trusting.client("iam", env.user)
    assert _denied(iam.list_users)


def test_trusted_proxy_forwarded_proto_https_allows(env: Env) -> None:
    iam = _with_headers(env.trusting.client("iam", env.user), {"X-Forwarded-Proto": "https"})
    iam.list_users()


def test_untrusted_peer_forwarded_proto_ignored(env: Env) -> None:
    iam = _with_headers(env.untrusting.client("iam", env.user), {"X-Forwarded-Proto": "https"})
    assert _denied(iam.list_users)


def test_trusted_proxy_forwarded_for_sets_source_ip(env: Env) -> None:
    assert _denied(env.trusting.client("iam", env.user).get_user)
    iam = _with_headers(env.trusting.client("iam", env.user), {"X-Forwarded-For": "203.0.113.7"})
    assert iam.get_user()["User"]["UserName"] == "tls-user"
    spoofed = _with_headers(
        env.trusting.client("iam", env.user), {"X-Forwarded-For": "198.51.100.1"}
    )
    assert _denied(spoofed.get_user)


def test_untrusted_peer_forwarded_for_ignored(env: Env) -> None:
    iam = _with_headers(env.untrusting.client("iam", env.user), {"X-Forwarded-For": "203.0.113.7"})
    assert _denied(iam.get_user)


# --- TLS policy against the real server ---------------------------------------------


def _handshake(port: int, ctx: ssl.SSLContext) -> str | None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.version()


def test_tls12_and_tls13_accepted(env: Env) -> None:
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = ssl.create_default_context(cafile=str(env.ca))
        ctx.minimum_version = ctx.maximum_version = version
        assert _handshake(env.https.port, ctx) == (
            "TLSv1.2" if version.name == "TLSv1_2" else "TLSv1.3"
        )


def test_tls11_client_refused(env: Env) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # that is the point
        try:
            ctx.set_ciphers("ALL:@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        except (ValueError, ssl.SSLError):  # pragma: no cover - OpenSSL built without it
            pytest.skip("this OpenSSL cannot speak TLS 1.1")
        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            _handshake(env.https.port, ctx)


def test_weak_tls12_cipher_refused(env: Env) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:@SECLEVEL=0")  # CBC, no AEAD
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        _handshake(env.https.port, ctx)


# --- outbound federation tokens over HTTPS --------------------------------------------


def test_token_over_https_verifies_with_pyjwkclient_and_ca(env: Env) -> None:
    iam = env.https.client("iam")
    try:
        issuer: str = iam.enable_outbound_web_identity_federation()["IssuerIdentifier"]
    except botocore.exceptions.ClientError:
        issuer = iam.get_outbound_web_identity_federation_info()["IssuerIdentifier"]
    assert issuer.startswith(f"https://127.0.0.1:{env.https.port}/")
    token = env.https.client("sts").get_web_identity_token(
        Audience=["https://rp.example"], SigningAlgorithm="ES384"
    )["WebIdentityToken"]
    ca_ctx = ssl.create_default_context(cafile=str(env.ca))
    disc = httpx.get(issuer + "/.well-known/openid-configuration", verify=ca_ctx, timeout=10)
    jwks_uri: str = disc.json()["jwks_uri"]
    assert jwks_uri.startswith("https://")

    client = jwt.PyJWKClient(jwks_uri, cache_keys=False, ssl_context=ca_ctx)
    key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token, key.key, algorithms=["ES384"], audience="https://rp.example", issuer=issuer
    )
    assert claims["iss"] == issuer

    with Verifier(issuer=issuer, audience="https://rp.example", ca_bundle=env.ca) as verifier:
        assert verifier.verify(token).issuer == issuer

    # without the CA the JWKS fetch fails on the certificate
    untrusted = jwt.PyJWKClient(jwks_uri, cache_keys=False)
    with pytest.raises(jwt.PyJWKClientConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        untrusted.get_signing_key_from_jwt(token)


# --- verifier requires HTTPS with a configurable CA ----------------------------------


def test_verifier_requires_https_issuer(env: Env) -> None:
    with pytest.raises(ValueError, match="https"):
        Verifier(issuer="http://issuer.example.com", audience="rp")
    Verifier(issuer=env.https.endpoint, audience="rp", ca_bundle=env.ca).close()


# --- --tls auto, rotation by restart, bad configuration -----------------------------


def _served_cert(port: int) -> str:
    return ssl.get_server_certificate(("127.0.0.1", port)).strip()


def test_tls_auto_creates_reuses_and_rotates(tmp_path: Path) -> None:
    data = tmp_path / "data"
    tls = data / "tls"
    srv = TesseraServer(data_dir=data, extra_args=("--tls", "auto"), https=True)
    srv.init()
    assert not tls.exists()
    srv.start()
    try:
        assert (tls / "ca.pem").is_file() and (tls / "server-key.pem").stat().st_mode & 0o077 == 0
        srv.ca_bundle = tls / "ca.pem"
        ca_before = (tls / "ca.pem").read_bytes()
        first = (tls / "server.pem").read_text().strip()
        assert _served_cert(srv.port) == first
        srv.client("sts").get_caller_identity()

        srv.restart()  # reuse: nothing re-issued
        assert (tls / "server.pem").read_text().strip() == first
        assert _served_cert(srv.port) == first

        out = _tls_init(data, "--force")  # rotate, then restart
        assert out.returncode == 0, out.stderr
        srv.restart()
        second = _served_cert(srv.port)
        assert second != first and second == (tls / "server.pem").read_text().strip()
        assert (tls / "ca.pem").read_bytes() == ca_before
        srv.client("sts").get_caller_identity()  # same CA still trusted
    finally:
        srv.stop()


def test_tls_env_auto(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = TesseraServer(data_dir=data, env={"TESSERA_TLS": "auto"}, https=True)
    srv.init()
    srv.start()
    try:
        srv.ca_bundle = data / "tls" / "ca.pem"
        srv.client("sts").get_caller_identity()
    finally:
        srv.stop()


@pytest.mark.parametrize(
    "args, message",
    [
        (("--trusted-proxy", "10.0.0.1/8"), "trusted-proxy"),
        (("--trusted-proxy", "not-a-network"), "trusted-proxy"),
        (("--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"), "cert"),
    ],
)
def test_serve_refuses_bad_configuration(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    srv = TesseraServer(data_dir=tmp_path / "data")
    srv.init()
    out = subprocess.run(
        tessera_cmd("serve", "--data-dir", str(srv.data_dir), "--port", str(srv.port), *args),
        capture_output=True,
        text=True,
        timeout=60,
        env=srv._env(),
        check=False,
    )
    assert out.returncode != 0
    assert message in out.stderr, out.stderr
