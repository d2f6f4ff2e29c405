"""Test support for ``tessera agent``: a throw-away PKI (RSA and EC) and a fake
Roles Anywhere CreateSession server that checks the X.509 request signature on
its own, with ``cryptography`` and its own reconstruction of the canonical
request and string to sign (no Tessera code), then hands out made-up
credentials."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import secrets
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tests.pki import build_certificate, cert_pem, cn_name, key_pem, key_usage

ACCOUNT = "123456789012"
REGION = "us-east-1"
ANCHOR_ARN = (
    f"arn:aws:rolesanywhere:{REGION}:{ACCOUNT}:trust-anchor/4f1e2a7c-0000-4000-8000-000000000001"
)
PROFILE_ARN = (
    f"arn:aws:rolesanywhere:{REGION}:{ACCOUNT}:profile/4f1e2a7c-0000-4000-8000-000000000002"
)
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/workloads/web-role"


_RSA_POOL: list[rsa.RSAPrivateKey] = []
_rsa_next = [0]


def new_key(kind: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """A key; RSA keys come from a pool of three (generation is slow), so one Pki's
    CA, intermediate and leaf still hold three different keys."""
    if kind == "rsa":
        if len(_RSA_POOL) < 3:
            _RSA_POOL.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
            return _RSA_POOL[-1]
        _rsa_next[0] += 1
        return _RSA_POOL[_rsa_next[0] % 3]
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class Pki:
    """A root CA, an intermediate and one leaf, written as PEM files."""

    directory: Path
    kind: str = "ec"
    ca_key: Any = None
    ca_cert: x509.Certificate | None = None
    inter_key: Any = None
    inter_cert: x509.Certificate | None = None
    leaf_key: Any = None
    leaf_cert: x509.Certificate | None = None

    def __post_init__(self) -> None:
        now = datetime.now(UTC)
        self.ca_key = new_key(self.kind)
        ca_name = cn_name(f"Test Root {self.kind}")
        self.ca_cert = build_certificate(
            ca_name,
            self.ca_key.public_key(),
            ca_name,
            self.ca_key,
            not_before=now - timedelta(hours=1),
            not_after=now + timedelta(days=2),
            ca=True,
            usage=key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True),
        )
        self.inter_key = new_key(self.kind)
        self.inter_cert = build_certificate(
            cn_name("Test Intermediate"),
            self.inter_key.public_key(),
            ca_name,
            self.ca_key,
            not_before=now - timedelta(hours=1),
            not_after=now + timedelta(days=2),
            ca=True,
            path_length=0,
        )
        self.issue_leaf()

    def issue_leaf(self, *, cn: str = "web-1", via_intermediate: bool = False) -> None:
        now = datetime.now(UTC)
        issuer_key = self.inter_key if via_intermediate else self.ca_key
        issuer = self.inter_cert if via_intermediate else self.ca_cert
        assert issuer is not None
        self.leaf_key = new_key(self.kind)
        self.leaf_cert = build_certificate(
            cn_name(cn),
            self.leaf_key.public_key(),
            issuer.subject,
            issuer_key,
            not_before=now - timedelta(minutes=5),
            not_after=now + timedelta(days=1),
            ca=False,
            usage=key_usage(digital_signature=True),
        )
        self.write()

    @property
    def cert_path(self) -> Path:
        return self.directory / f"leaf-{self.kind}.pem"

    @property
    def key_path(self) -> Path:
        return self.directory / f"leaf-{self.kind}.key"

    @property
    def ca_path(self) -> Path:
        return self.directory / f"ca-{self.kind}.pem"

    @property
    def inter_path(self) -> Path:
        return self.directory / f"inter-{self.kind}.pem"

    def write(self) -> None:
        assert self.leaf_cert and self.ca_cert and self.inter_cert
        pem = serialization.Encoding.PEM
        self.directory.mkdir(parents=True, exist_ok=True)
        self.cert_path.write_bytes(self.leaf_cert.public_bytes(pem))
        self.ca_path.write_bytes(self.ca_cert.public_bytes(pem))
        self.inter_path.write_bytes(self.inter_cert.public_bytes(pem))
        if self.key_path.exists():
            self.key_path.unlink()
        fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key_pem(self.leaf_key))

    def ca_pem(self) -> str:
        assert self.ca_cert is not None
        return cert_pem(self.ca_cert)


# --- independent verification of an AWS4-X509 request ----------------------------


def _uri_encode(text: str) -> str:
    return quote(text, safe="-_.~")


def verify_x509_request(
    method: str, raw_target: str, headers: list[tuple[str, str]], body: bytes
) -> x509.Certificate:
    """Check an AWS4-X509-{RSA,ECDSA}-SHA256 request; return its leaf certificate.
    Raises ``AssertionError``/``InvalidSignature`` on any mismatch."""
    lower: dict[str, list[str]] = {}
    for name, value in headers:
        lower.setdefault(name.lower(), []).append(value)
    auth = lower["authorization"][0]
    algorithm, _, rest = auth.partition(" ")
    assert algorithm in ("AWS4-X509-RSA-SHA256", "AWS4-X509-ECDSA-SHA256"), algorithm
    parts = dict(p.strip().split("=", 1) for p in rest.split(","))
    credential = parts["Credential"].split("/")
    signed = parts["SignedHeaders"].split(";")
    signature = bytes.fromhex(parts["Signature"])
    cert = x509.load_der_x509_certificate(base64.b64decode(lower["x-amz-x509"][0]))
    assert credential[0] == str(cert.serial_number), "Credential must start with the serial"
    assert credential[3:] == ["rolesanywhere", "aws4_request"], credential
    amz_date = lower["x-amz-date"][0]
    assert credential[1] == amz_date[:8]
    assert "host" in signed and "x-amz-x509" in signed and "x-amz-date" in signed
    assert signed == sorted(signed)
    url = urlsplit(raw_target)
    query = sorted(
        (_uri_encode(k), _uri_encode(v)) for k, v in parse_qsl(url.query, keep_blank_values=True)
    )
    canonical = "\n".join(
        [
            method,
            url.path,
            "&".join(f"{k}={v}" for k, v in query),
            *(f"{h}:{','.join(' '.join(v.split()) for v in lower[h])}" for h in signed),
            "",
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = "/".join(credential[1:])
    to_sign = "\n".join(
        [algorithm, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    ).encode()
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        assert algorithm == "AWS4-X509-RSA-SHA256"
        key.verify(signature, to_sign, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(key, ec.EllipticCurvePublicKey):
        assert algorithm == "AWS4-X509-ECDSA-SHA256"
        key.verify(signature, to_sign, ec.ECDSA(hashes.SHA256()))
    else:  # pragma: no cover
        raise AssertionError("unexpected key type")
    return cert


# --- a fake CreateSession server -------------------------------------------------


@dataclass
class Issued:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime
    serial: int


@dataclass
class FakeRolesAnywhere:
    """``POST /sessions`` on 127.0.0.1 that verifies the X.509 signature itself."""

    lifetime: timedelta = timedelta(hours=1)
    #: when set: (status, JSON body) answered instead of credentials
    fail_with: tuple[int, dict[str, Any]] | None = None
    #: when set, the handler waits on it before answering (a hung server)
    hang: threading.Event | None = None
    issued: list[Issued] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    server: http.server.ThreadingHTTPServer | None = None
    scheme: str = "http"

    @property
    def endpoint(self) -> str:
        assert self.server is not None
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def start(self, tls: tuple[Path, Path] | None = None) -> FakeRolesAnywhere:
        """Serve on 127.0.0.1; over HTTPS when ``tls`` = (certificate, key)."""
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if fake.hang is not None:
                    fake.hang.wait(30)
                try:
                    cert = verify_x509_request("POST", self.path, list(self.headers.items()), body)
                except (AssertionError, InvalidSignature, KeyError, ValueError) as exc:
                    fake.errors.append(repr(exc))
                    self._answer(403, {"__type": "AccessDeniedException", "message": "bad sig"})
                    return
                url = urlsplit(self.path)
                doc = json.loads(body)
                fake.requests.append(
                    {"path": url.path, "query": dict(parse_qsl(url.query)), "body": doc}
                )
                if fake.fail_with is not None:
                    self._answer(*fake.fail_with)
                    return
                issued = Issued(
                    "ASIA" + secrets.token_hex(8).upper(),
                    secrets.token_urlsafe(30),
                    "FQoG" + secrets.token_urlsafe(60),
                    (datetime.now(UTC) + fake.lifetime).replace(microsecond=0),
                    cert.serial_number,
                )
                fake.issued.append(issued)
                self._answer(
                    201,
                    {
                        "credentialSet": [
                            {
                                "assumedRoleUser": {
                                    "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/web-role/"
                                    f"{cert.serial_number:x}",
                                    "assumedRoleId": "AROAEXAMPLE:x",
                                },
                                "credentials": {
                                    "accessKeyId": issued.access_key_id,
                                    "secretAccessKey": issued.secret_access_key,
                                    "sessionToken": issued.session_token,
                                    "expiration": issued.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                },
                                "packedPolicySize": 0,
                                "roleArn": doc.get("roleArn", ROLE_ARN),
                                "sourceIdentity": "CN=web-1",
                            }
                        ],
                        "subjectArn": f"arn:aws:rolesanywhere:{REGION}:{ACCOUNT}:subject/x",
                    },
                )

            def _answer(self, status: int, doc: dict[str, Any]) -> None:
                data = json.dumps(doc).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout tests)
                    pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.hang is not None:
            self.hang.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def agent_args(pki: Pki, endpoint: str) -> list[str]:
    return [
        "--endpoint",
        endpoint,
        "--certificate",
        str(pki.cert_path),
        "--private-key",
        str(pki.key_path),
        "--trust-anchor-arn",
        ANCHOR_ARN,
        "--profile-arn",
        PROFILE_ARN,
        "--role-arn",
        ROLE_ARN,
    ]


# --- the agent's endpoints in-process ---------------------------------------------


@dataclass
class RunningAgent:
    """An IMDS and a container endpoint on ephemeral loopback ports, serving
    made-up credentials from a cache driven by ``clock``."""

    clock: Any
    cache: Any
    imds: Any
    container: Any
    token_file: Path
    token: str
    creds: Any

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        *,
        port: int | None = None,
        host: str | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One raw request; ``host`` overrides the Host header (None: the right one)."""
        import http.client

        port = port or self.imds.port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", host if host is not None else f"127.0.0.1:{port}")
            for name, value in (headers or {}).items():
                conn.putheader(name, value)
            conn.endheaders()
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def token_for(self, ttl: int = 21600) -> str:
        status, _, body = self.request(
            "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)}
        )
        assert status == 200, status
        return body.decode()

    def stop(self) -> None:
        self.imds.stop()
        self.container.stop()


def start_agent(directory: Path, *, clock: Any = None, fetch: Any = None) -> RunningAgent:
    from tessera.agent.cache import CredentialCache
    from tessera.agent.client import RoleCredentials
    from tessera.agent.container import ContainerEndpoint
    from tessera.agent.httpd import LoopbackServer
    from tessera.agent.imds import ImdsEndpoint
    from tessera.clock import SystemClock
    from tessera.sensitive import Secret

    clock = clock or SystemClock()
    creds = RoleCredentials(
        "ASIAAGENTTEST0001",
        Secret("agent-test-secret-" + secrets.token_hex(8)),
        Secret("agent-test-token-" + secrets.token_hex(16)),
        (clock.now() + timedelta(hours=1)).replace(microsecond=0),
        ROLE_ARN,
    )
    cache = CredentialCache(fetch or (lambda: creds), clock=clock)
    cache.run_once()
    token = secrets.token_urlsafe(24)
    token_file = directory / "container-token"
    token_file.write_text(token)
    imds = LoopbackServer(ImdsEndpoint(cache, ROLE_ARN, clock=clock), 0)
    container = LoopbackServer(ContainerEndpoint(cache, token_file), 0)
    imds.start()
    container.start()
    return RunningAgent(clock, cache, imds, container, token_file, token, creds)
