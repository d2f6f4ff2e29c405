"""Tests for tessera.tls (ca, server, client): the local CA, certificate fields,
file modes, the TLS policy as enforced by a real uvicorn server, and the split
that keeps uvicorn out of the client policy's imports."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import httpx
import pytest
import uvicorn
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError, SSLError
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tessera.tls.ca import TlsPaths, default_paths, init_local_ca, instructions
from tessera.tls.client import client_ssl_context
from tessera.tls.errors import TlsConfigError
from tessera.tls.server import (
    SERVER_CIPHERS,
    TlsUvicornConfig,
    server_ssl_context,
    uvicorn_ssl_kwargs,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        set(ext.get_values_for_type(x509.DNSName)),
        {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)},
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsPaths:
    """One CA + server certificate (real time) shared by the server tests."""
    return init_local_ca(tmp_path_factory.mktemp("data"), ["tessera.test", "*.tokens.localhost"])


# --- layout and certificate fields --------------------------------------------------


def test_default_paths(tmp_path: Path) -> None:
    p = default_paths(tmp_path)
    assert p == TlsPaths(
        ca_cert=tmp_path / "tls" / "ca.pem",
        ca_key=tmp_path / "tls" / "ca-key.pem",
        server_cert=tmp_path / "tls" / "server.pem",
        server_key=tmp_path / "tls" / "server-key.pem",
    )


def test_ca_certificate_fields(tmp_path: Path) -> None:
    paths = init_local_ca(tmp_path, now=NOW)
    ca = load(paths.ca_cert)
    assert ca.subject == ca.issuer
    cn = ca.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    expected = f"Tessera local CA ({socket.gethostname()})"
    assert cn == (expected if len(expected) <= 64 else expected[:63] + ")")
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert not ku.value.digital_signature
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(ca.public_key())
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert ca.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert timedelta(days=5 * 365) <= lifetime <= timedelta(days=5 * 366)
    assert ca.not_valid_before_utc <= NOW
    ca.verify_directly_issued_by(ca)


def test_server_certificate_fields(tmp_path: Path) -> None:
    paths = init_local_ca(
        tmp_path, ["Tessera.Example.com.", "*.tokens.localhost", "10.1.2.3", "[fd00::7]"], now=NOW
    )
    ca, srv = load(paths.ca_cert), load(paths.server_cert)
    srv.verify_directly_issued_by(ca)
    dns, ips = sans(srv)
    assert dns == {"localhost", "tessera.example.com", "*.tokens.localhost"}
    assert ips == {"127.0.0.1", "::1", "10.1.2.3", "fd00::7"}
    eku = srv.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    bc = srv.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = srv.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature
    assert not ku.value.key_cert_sign and not ku.value.key_encipherment  # EC key
    aki = srv.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    lifetime = srv.not_valid_after_utc - srv.not_valid_before_utc
    assert lifetime == timedelta(days=397)  # within the CA/B Forum 398-day ceiling
    assert srv.not_valid_before_utc <= NOW < srv.not_valid_after_utc
    key = serialization.load_pem_private_key(paths.server_key.read_bytes(), None)
    assert key.public_key() == srv.public_key()


def test_unicode_hostname_becomes_a_label(tmp_path: Path) -> None:
    paths = init_local_ca(tmp_path, ["bücher.example"], now=NOW)
    assert "xn--bcher-kva.example" in sans(load(paths.server_cert))[0]


@pytest.mark.parametrize("bad", ["", "   ", "exa mple.com", "a..b", "-x.com", "foo.*.com", "*"])
def test_junk_hostnames_rejected(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError):
        init_local_ca(tmp_path, [bad], now=NOW)


def test_naive_now_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone"):
        init_local_ca(tmp_path, now=datetime(2026, 1, 1))


# --- modes and idempotency ----------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_file_and_directory_modes(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        paths = init_local_ca(tmp_path, now=NOW)
    finally:
        os.umask(old)
    assert mode(paths.ca_cert.parent) == 0o700
    assert mode(paths.ca_key) == 0o600
    assert mode(paths.server_key) == 0o600
    assert mode(paths.ca_cert) == 0o644
    assert mode(paths.server_cert) == 0o644
    leftovers = [p.name for p in paths.ca_cert.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_existing_loose_directory_is_tightened(tmp_path: Path) -> None:
    (tmp_path / "tls").mkdir(mode=0o755)
    (tmp_path / "tls").chmod(0o755)
    paths = init_local_ca(tmp_path, now=NOW)
    assert mode(paths.ca_cert.parent) == 0o700


def snapshot(paths: TlsPaths) -> dict[str, tuple[bytes, int, int]]:
    out = {}
    for p in (paths.ca_cert, paths.ca_key, paths.server_cert, paths.server_key):
        st = p.stat()
        out[p.name] = (p.read_bytes(), st.st_ino, st.st_mtime_ns)
    return out


def test_second_call_is_a_no_op(tmp_path: Path) -> None:
    paths = init_local_ca(tmp_path, ["svc.test"], now=NOW)
    before = snapshot(paths)
    again = init_local_ca(tmp_path, ["svc.test"], now=NOW + timedelta(days=10))
    assert again == paths
    assert snapshot(paths) == before
    # A subset of the covered names (or none at all) is also satisfied.
    init_local_ca(tmp_path, [], now=NOW + timedelta(days=11))
    assert snapshot(paths) == before


def test_reissue_when_hostnames_change_keeps_ca(tmp_path: Path) -> None:
    paths = init_local_ca(tmp_path, ["a.test"], now=NOW)
    before = snapshot(paths)
    init_local_ca(tmp_path, ["b.test", "192.0.2.9"], now=NOW)
    after = snapshot(paths)
    assert after["ca.pem"] == before["ca.pem"]
    assert after["ca-key.pem"] == before["ca-key.pem"]
    assert after["server.pem"][0] != before["server.pem"][0]
    assert after["server-key.pem"][0] != before["server-key.pem"][0]
    dns, ips = sans(load(paths.server_cert))
    assert dns == {"localhost", "b.test"}
    assert "192.0.2.9" in ips
    assert mode(paths.server_key) == 0o600
    load(paths.server_cert).verify_directly_issued_by(load(paths.ca_cert))


def test_reissue_near_expiry_and_on_force(tmp_path: Path) -> None:
    paths = init_local_ca(tmp_path, now=NOW)
    ca_before = paths.ca_cert.read_bytes(), paths.ca_key.read_bytes()
    first = load(paths.server_cert)
    # 360 days in: 37 days left -> kept.
    init_local_ca(tmp_path, now=NOW + timedelta(days=360))
    assert load(paths.server_cert).serial_number == first.serial_number
    # 370 days in: 27 days left -> renewed.
    init_local_ca(tmp_path, now=NOW + timedelta(days=370))
    renewed = load(paths.server_cert)
    assert renewed.serial_number != first.serial_number
    assert renewed.not_valid_after_utc > first.not_valid_after_utc
    init_local_ca(tmp_path, now=NOW + timedelta(days=371), force=True)
    assert load(paths.server_cert).serial_number != renewed.serial_number
    assert (paths.ca_cert.read_bytes(), paths.ca_key.read_bytes()) == ca_before


def test_reissue_when_server_files_missing_or_foreign(tmp_path: Path) -> None:
    paths = init_local_ca(tmp_path, now=NOW)
    paths.server_cert.unlink()
    init_local_ca(tmp_path, now=NOW)
    assert paths.server_cert.exists()
    # A server certificate from some other CA is replaced.
    other = init_local_ca(tmp_path / "other", now=NOW)
    shutil.copy(other.server_cert, paths.server_cert)
    shutil.copy(other.server_key, paths.server_key)
    init_local_ca(tmp_path, now=NOW)
    load(paths.server_cert).verify_directly_issued_by(load(paths.ca_cert))


def test_server_cert_capped_by_ca_lifetime(tmp_path: Path) -> None:
    paths = init_local_ca(tmp_path, now=NOW)
    ca = load(paths.ca_cert)
    late = ca.not_valid_after_utc - timedelta(days=100)
    init_local_ca(tmp_path, now=late)
    srv = load(paths.server_cert)
    assert srv.not_valid_after_utc == ca.not_valid_after_utc
    serial = srv.serial_number
    init_local_ca(tmp_path, now=ca.not_valid_after_utc - timedelta(days=5))
    assert load(paths.server_cert).serial_number == serial  # re-issuing would not help
    with pytest.raises(TlsConfigError, match="expired"):
        init_local_ca(tmp_path, now=ca.not_valid_after_utc + timedelta(seconds=1))


def test_never_overwrites_ca_key(tmp_path: Path) -> None:
    paths = init_local_ca(tmp_path, now=NOW)
    key = paths.ca_key.read_bytes()
    paths.ca_cert.unlink()
    with pytest.raises(TlsConfigError, match="refusing"):
        init_local_ca(tmp_path, now=NOW)
    assert paths.ca_key.read_bytes() == key


def test_missing_ca_key_needed_for_issue(tmp_path: Path) -> None:
    paths = init_local_ca(tmp_path, now=NOW)
    paths.ca_key.unlink()
    init_local_ca(tmp_path, now=NOW)  # server cert still fine: no key needed
    with pytest.raises(TlsConfigError, match="CA key"):
        init_local_ca(tmp_path, ["new.test"], now=NOW)


def test_instructions_mention_every_client(pki: TlsPaths) -> None:
    text = instructions(pki, "https://localhost:8443/")
    ca = str(pki.ca_cert)
    assert f"AWS_CA_BUNDLE={ca}" in text
    assert f"aws --ca-bundle {ca} --endpoint-url https://localhost:8443" in text
    assert f"REQUESTS_CA_BUNDLE={ca}" in text
    assert f"SSL_CERT_FILE={ca}" in text
    assert f"tessera token verify --ca-bundle {ca}" in text


# --- contexts (in-memory handshakes) ------------------------------------------------


def handshake(
    server: ssl.SSLContext, client: ssl.SSLContext, server_hostname: str | None
) -> tuple[str | None, tuple[str, str, int] | None]:
    """Run a TLS handshake between two contexts over memory BIOs."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    cobj = client.wrap_bio(c_in, c_out, server_side=False, server_hostname=server_hostname)
    sobj = server.wrap_bio(s_in, s_out, server_side=True)
    c_done = s_done = False
    for _ in range(20):
        if not c_done:
            try:
                cobj.do_handshake()
                c_done = True
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        if not s_done:
            try:
                sobj.do_handshake()
                s_done = True
            except ssl.SSLWantReadError:
                pass
        c_in.write(s_out.read())
        if c_done and s_done:
            return cobj.version(), cobj.cipher()
    raise AssertionError("handshake did not complete")


def test_server_context_policy(pki: TlsPaths) -> None:
    ctx = server_ssl_context(pki.server_cert, pki.server_key)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.options & ssl.OP_NO_COMPRESSION
    assert ctx.options & ssl.OP_NO_RENEGOTIATION
    assert ctx.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    for cipher in ctx.get_ciphers():
        if cipher["protocol"] == "TLSv1.3":
            continue
        assert cipher["kea"] == "kx-ecdhe", cipher["name"]
        assert cipher["aead"], cipher["name"]


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "tessera.test", "a.tokens.localhost"])
def test_client_context_verifies_every_san(pki: TlsPaths, name: str) -> None:
    server = server_ssl_context(pki.server_cert, pki.server_key)
    version, _ = handshake(server, client_ssl_context(pki.ca_cert), name)
    assert version in {"TLSv1.2", "TLSv1.3"}


def test_client_context_rejects_wrong_name_and_unknown_ca(pki: TlsPaths) -> None:
    server = server_ssl_context(pki.server_cert, pki.server_key)
    with pytest.raises(ssl.SSLCertVerificationError, match=r"match|mismatch"):
        handshake(server, client_ssl_context(pki.ca_cert), "a.b.tokens.localhost")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(server, client_ssl_context(None), "localhost")


def test_client_context_policy(pki: TlsPaths) -> None:
    ctx = client_ssl_context(pki.ca_cert)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize("module", ["tessera.tls.client", "tessera.tls.ca"])
def test_client_policy_and_ca_do_not_import_uvicorn(module: str) -> None:
    """Services import the client policy; it must not drag in uvicorn or the server side."""
    probe = (
        "import json, sys\n"
        f"import {module}\n"
        "print(json.dumps(sorted(m for m in sys.modules"
        " if m.split('.')[0] == 'uvicorn' or m == 'tessera.tls.server')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [], f"{module} imported {result.stdout.strip()}"


def test_tls12_handshake_uses_ecdhe_aead(pki: TlsPaths) -> None:
    server = server_ssl_context(pki.server_cert, pki.server_key)
    client = client_ssl_context(pki.ca_cert)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    version, cipher = handshake(server, client, "localhost")
    assert version == "TLSv1.2"
    assert cipher is not None and cipher[0].startswith("ECDHE-ECDSA-")
    assert "GCM" in cipher[0] or "CHACHA20" in cipher[0]


def test_bad_files_raise_tls_config_error(tmp_path: Path, pki: TlsPaths) -> None:
    other = init_local_ca(tmp_path, now=NOW)
    with pytest.raises(TlsConfigError, match="does not match"):
        server_ssl_context(pki.server_cert, other.server_key)
    with pytest.raises(TlsConfigError, match="cannot read"):
        server_ssl_context(tmp_path / "missing.pem", pki.server_key)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(TlsConfigError):
        server_ssl_context(junk, pki.server_key)
    with pytest.raises(TlsConfigError):
        client_ssl_context(junk)
    with pytest.raises(TlsConfigError):
        uvicorn_ssl_kwargs(pki.server_cert, other.server_key)
    with pytest.raises(TlsConfigError):
        TlsUvicornConfig(lambda: None, cert_file=pki.server_cert, key_file=other.server_key)
    assert issubclass(TlsConfigError, ValueError)


def test_uvicorn_kwargs_shape(pki: TlsPaths) -> None:
    kw = uvicorn_ssl_kwargs(pki.server_cert, pki.server_key)
    assert kw["ssl_certfile"] == str(pki.server_cert)
    assert kw["ssl_keyfile"] == str(pki.server_key)
    assert kw["ssl_ciphers"] == SERVER_CIPHERS
    assert kw["ssl_version"] == ssl.PROTOCOL_TLS_SERVER
    # The factory must survive uvicorn's subprocess spawning (workers/reload).
    kw = dict[str, object](pickle.loads(pickle.dumps(kw)))
    config = uvicorn.Config(app, **kw)  # type: ignore[arg-type]
    config.load()
    assert config.ssl is not None
    assert config.ssl.minimum_version == ssl.TLSVersion.TLSv1_2
    assert config.ssl.options & ssl.OP_NO_RENEGOTIATION


def test_concurrent_init_creates_one_ca(tmp_path: Path) -> None:
    results: list[TlsPaths] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(init_local_ca(tmp_path, ["c.test"], now=NOW))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 6
    paths = results[0]
    load(paths.server_cert).verify_directly_issued_by(load(paths.ca_cert))


# --- a real uvicorn server ----------------------------------------------------------


async def hello(request: Request) -> Response:
    return PlainTextResponse(f"hello over {request.url.scheme}")


async def sts(request: Request) -> Response:
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        "<Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>"
        "<Message>test server</Message></Error><RequestId>x</RequestId></ErrorResponse>"
    )
    return Response(body, status_code=403, media_type="text/xml")


app = Starlette(routes=[Route("/hello", hello), Route("/", sts, methods=["POST"])])


class RunningServer:
    def __init__(self, config: uvicorn.Config) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> RunningServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


SERVER_KW: dict[str, object] = {
    "lifespan": "off",
    "ws": "none",
    "log_level": "critical",
    "access_log": False,
}


@pytest.fixture(scope="module", params=["TlsUvicornConfig", "uvicorn_ssl_kwargs"])
def server(request: pytest.FixtureRequest, pki: TlsPaths) -> Iterator[RunningServer]:
    if request.param == "TlsUvicornConfig":
        config: uvicorn.Config = TlsUvicornConfig(
            app, cert_file=pki.server_cert, key_file=pki.server_key, **SERVER_KW
        )
    else:
        kw = {**uvicorn_ssl_kwargs(pki.server_cert, pki.server_key), **SERVER_KW}
        config = uvicorn.Config(app, **kw)  # type: ignore[arg-type]
    with RunningServer(config) as running:
        yield running


def test_httpx_with_ca_succeeds(server: RunningServer, pki: TlsPaths) -> None:
    with httpx.Client(verify=client_ssl_context(pki.ca_cert)) as client:
        r = client.get(f"{server.url}/hello")
    assert r.status_code == 200
    assert r.text == "hello over https"


def test_httpx_without_ca_fails(server: RunningServer) -> None:
    with httpx.Client() as client, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY"):
        client.get(f"{server.url}/hello")


def raw_handshake(port: int, ctx: ssl.SSLContext) -> str | None:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return tls.version()


def legacy_client(pki: TlsPaths) -> ssl.SSLContext:
    """A client that can only speak TLS 1.1 (if this OpenSSL still builds one)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.ca_cert)
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    return ctx


def test_tls11_client_refused(server: RunningServer, pki: TlsPaths, tmp_path: Path) -> None:
    try:
        ctx = legacy_client(pki)
    except (ValueError, ssl.SSLError) as exc:
        openssl_tls11_refused(server, pki)
        pytest.skip(f"this Python/OpenSSL cannot build a TLS 1.1 client ({exc}); used s_client")
    with pytest.raises(ssl.SSLError):
        raw_handshake(server.port, ctx)


def test_tls11_client_works_against_permissive_server(pki: TlsPaths) -> None:
    """Control for the test above: the TLS 1.1 client really can do TLS 1.1."""
    try:
        client = legacy_client(pki)
    except (ValueError, ssl.SSLError) as exc:
        pytest.skip(f"this Python/OpenSSL cannot build a TLS 1.1 client ({exc})")
    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    permissive.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        permissive.minimum_version = ssl.TLSVersion.TLSv1
    permissive.load_cert_chain(pki.server_cert, pki.server_key)
    try:
        version, _ = handshake(permissive, client, "localhost")
    except ssl.SSLError as exc:
        pytest.skip(f"local OpenSSL refuses TLS 1.1 even when permitted ({exc})")
    assert version == "TLSv1.1"
    with pytest.raises(ssl.SSLError):
        handshake(server_ssl_context(pki.server_cert, pki.server_key), client, "localhost")


def openssl_tls11_refused(server: RunningServer, pki: TlsPaths) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        pytest.skip("neither a Python TLS 1.1 client nor the openssl CLI is available")
    proc = subprocess.run(
        [exe, "s_client", "-connect", f"127.0.0.1:{server.port}", "-tls1_1"],
        input=b"",
        capture_output=True,
        timeout=15,
    )
    assert proc.returncode != 0


# ECDHE-ECDSA CBC suites are usable with our EC certificate, so refusing them is the
# cipher policy at work (the control test below shows a permissive server accepts them).
WEAK_CIPHERS = ["AES128-SHA", "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384"]


def weak_client(pki: TlsPaths, cipher: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.ca_cert)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(f"{cipher}:@SECLEVEL=0")
    return ctx


@pytest.mark.parametrize("cipher", WEAK_CIPHERS)
def test_weak_cipher_client_refused(server: RunningServer, pki: TlsPaths, cipher: str) -> None:
    with pytest.raises(ssl.SSLError):
        raw_handshake(server.port, weak_client(pki, cipher))


@pytest.mark.parametrize("cipher", WEAK_CIPHERS[1:])
def test_weak_cipher_control(pki: TlsPaths, cipher: str) -> None:
    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    permissive.set_ciphers("ALL:@SECLEVEL=0")
    permissive.load_cert_chain(pki.server_cert, pki.server_key)
    _, negotiated = handshake(permissive, weak_client(pki, cipher), "localhost")
    assert negotiated is not None and negotiated[0] == cipher


def test_tls12_and_tls13_clients_accepted(server: RunningServer, pki: TlsPaths) -> None:
    ctx = client_ssl_context(pki.ca_cert)
    assert raw_handshake(server.port, ctx) == "TLSv1.3"
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    assert raw_handshake(server.port, ctx) == "TLSv1.2"


def test_openssl_cli_tls11_refused(server: RunningServer, pki: TlsPaths) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    openssl_tls11_refused(server, pki)


def boto_sts(url: str, verify: str | bool) -> object:
    return boto3.session.Session().client(
        "sts",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="AKIAEXAMPLEEXAMPLE00",
        aws_secret_access_key="secret",
        verify=verify,
        config=BotoConfig(retries={"max_attempts": 1}),
    )


def test_boto3_with_ca_bundle_reaches_server(server: RunningServer, pki: TlsPaths) -> None:
    client = boto_sts(server.url, str(pki.ca_cert))
    with pytest.raises(ClientError) as info:
        client.get_caller_identity()  # type: ignore[attr-defined]
    assert info.value.response["Error"]["Code"] == "InvalidClientTokenId"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_boto3_without_ca_bundle_gets_ssl_error(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    client = boto_sts(server.url, True)
    with pytest.raises(SSLError):
        client.get_caller_identity()  # type: ignore[attr-defined]
