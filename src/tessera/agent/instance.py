"""The agent on an enrolled instance (#16): joining with a one-time token, keeping
the instance certificate renewed, getting the instance profile role's credentials,
and the instance's metadata as EC2's IMDS shows it.

State directory (``--state-dir``, created ``0700``; an existing one must not be
readable by group or others):

* ``key.pem`` — the instance's private key (EC P-256), made here, ``0600``, never
  sent anywhere (only a CSR signed with it is);
* ``cert.pem`` — the current instance certificate (24 h, renewed at half-life);
* ``ca.pem`` — the server's instance CA certificate (pinned at join);
* ``instance.json`` — the endpoint and what the server said about the instance.

``join`` sends ``{"joinToken", "csr"}`` to ``POST <endpoint>/tessera/instances/join``
and checks the answer: the certificate is for our key and is signed by the CA it
came with, and that CA's SHA-256 fingerprint equals ``--ca-fingerprint`` when
given (the token travels before the fingerprint can be checked: use https with
``--ca-bundle`` where the network is not trusted). Renewal and credentials are
``AWS4-X509-*``-signed with the current certificate (``agent.signer``), over
``agent.transport``. Files are replaced atomically (write, fsync, rename)."""

from __future__ import annotations

import json
import logging
import os
import platform
import stat
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tessera.agent.client import RoleCredentials, parse_credential_set
from tessera.agent.errors import AgentError, one_line
from tessera.agent.formats import iso
from tessera.agent.signer import X509Identity, load_identity, sign_request
from tessera.agent.transport import Transport
from tessera.clock import Clock

__all__ = ["InstanceAgent", "InstanceMetadata", "InstanceState", "fingerprint", "join"]

log = logging.getLogger("tessera.agent")

KEY_FILE = "key.pem"
CERT_FILE = "cert.pem"
CA_FILE = "ca.pem"
STATE_FILE = "instance.json"
JOIN_PATH = "/tessera/instances/join"
RENEW_PATH = "/tessera/instances/certificate"
SESSION_PATH = "/tessera/instances/session"
MAX_TOKEN_CHARS = 128
#: the longest the renewal thread sleeps before it looks at the clock again
MAX_SLEEP = 60.0
RETRY = timedelta(minutes=1)


@dataclass(frozen=True)
class InstanceState:
    """What ``instance.json`` holds (no secrets)."""

    endpoint: str
    instance_id: str
    account_id: str
    region: str
    availability_zone: str
    instance_arn: str
    instance_profile_id: str
    ca_fingerprint: str
    created: str
    instance_profile_arn: str | None = None
    private_ipv4: str | None = None
    network: str | None = None

    @classmethod
    def from_json(cls, doc: Any) -> InstanceState:
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        fields: dict[str, Any] = {k: doc.get(k) for k in cls.__dataclass_fields__}
        state = cls(**fields)
        for name in (
            "endpoint",
            "instance_id",
            "account_id",
            "region",
            "availability_zone",
            "instance_arn",
            "instance_profile_id",
            "ca_fingerprint",
            "created",
        ):
            if not isinstance(getattr(state, name), str):
                raise ValueError(f"{name} missing")
        return state


def fingerprint(cert: x509.Certificate) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _prepare_state_dir(state_dir: Path) -> None:
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(state_dir.stat().st_mode)
    if mode & 0o077:
        raise AgentError(
            f"state directory {state_dir} is accessible by group or others (mode {mode:04o}); "
            f"run 'chmod 700 {state_dir}'"
        )
    if (state_dir / STATE_FILE).exists():
        raise AgentError(f"{state_dir} already holds an enrolled instance; use a new --state-dir")


def _csr(key: ec.EllipticCurvePrivateKey, instance_hint: str) -> str:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, instance_hint)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _check_issued(
    answer: dict[str, Any], key: ec.EllipticCurvePrivateKey | Any, ca_pem: bytes | None
) -> tuple[x509.Certificate, x509.Certificate]:
    """The certificate and CA of a join/renew answer, checked: for ``key``,
    signed by the CA (the pinned one ``ca_pem`` when renewing)."""
    try:
        cert = x509.load_pem_x509_certificate(str(answer["certificate"]).encode("ascii"))
        ca = x509.load_pem_x509_certificate(str(answer["caCertificate"]).encode("ascii"))
    except (KeyError, ValueError, UnicodeEncodeError):
        raise AgentError("the server answered without a usable certificate") from None
    if ca_pem is not None and ca.public_bytes(serialization.Encoding.PEM) != ca_pem:
        raise AgentError("the server's instance CA changed; enrol the instance again")
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        raise AgentError("the server's certificate is not for this instance's key")
    try:
        cert.verify_directly_issued_by(ca)
    except Exception:
        raise AgentError("the server's certificate is not signed by its instance CA") from None
    return cert, ca


def join(
    endpoint: str,
    token: str,
    state_dir: Path,
    *,
    clock: Clock,
    ca_fingerprint: str | None = None,
    ca_bundle: Path | None = None,
    timeout: float = 10.0,
) -> InstanceState:
    """Enrol this machine: make a key, send a CSR with the join token, keep the
    certificate. Raises :class:`AgentError`."""
    if not token or len(token) > MAX_TOKEN_CHARS or not token.isprintable():
        raise AgentError("--token is not a join token")
    if ca_fingerprint is not None:
        ca_fingerprint = ca_fingerprint.strip().lower()
        hexpart = ca_fingerprint.removeprefix("sha256:")
        if (
            not ca_fingerprint.startswith("sha256:")
            or len(hexpart) != 64
            or not all(c in "0123456789abcdef" for c in hexpart)
        ):
            raise AgentError("--ca-fingerprint must be sha256: and 64 hex digits")
    transport = Transport(endpoint, ca_bundle=ca_bundle, timeout=timeout)
    _prepare_state_dir(state_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    body = json.dumps({"joinToken": token, "csr": _csr(key, "tessera-instance")}).encode()
    _, data = transport.exchange(
        "JoinInstance",
        "POST",
        transport.base_path + JOIN_PATH,
        body,
        [
            ("Host", transport.host_header),
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
            ("User-Agent", "tessera-agent"),
        ],
    )
    try:
        answer = json.loads(data)
        if not isinstance(answer, dict):
            raise ValueError
        cert, ca = _check_issued(answer, key, None)
        got = fingerprint(ca)
        if ca_fingerprint is not None and got != ca_fingerprint:
            raise AgentError(
                f"the server's instance CA has fingerprint {got}, not the expected "
                f"{ca_fingerprint}; nothing was saved"
            )
        state = InstanceState(
            endpoint=endpoint,
            instance_id=str(answer["instanceId"]),
            account_id=str(answer["accountId"]),
            region=str(answer["region"]),
            availability_zone=str(answer["availabilityZone"]),
            instance_arn=str(answer["instanceArn"]),
            instance_profile_id=str(answer["instanceProfileId"]),
            ca_fingerprint=got,
            created=str(answer["created"]),
            instance_profile_arn=answer.get("instanceProfileArn"),
            private_ipv4=answer.get("privateIpv4"),
            network=answer.get("network"),
        )
    except (ValueError, KeyError, TypeError):
        raise AgentError("JoinInstance answered without usable instance data") from None
    pem = serialization.Encoding.PEM
    _write_atomic(
        state_dir / KEY_FILE,
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        0o600,
    )
    _write_atomic(state_dir / CA_FILE, ca.public_bytes(pem), 0o644)
    _write_atomic(state_dir / CERT_FILE, cert.public_bytes(pem), 0o644)
    _write_atomic(
        state_dir / STATE_FILE, json.dumps(asdict(state), indent=2).encode() + b"\n", 0o600
    )
    return state


def load_state(state_dir: Path) -> InstanceState:
    try:
        mode = stat.S_IMODE(state_dir.stat().st_mode)
        doc = json.loads((state_dir / STATE_FILE).read_text("utf-8"))
        state = InstanceState.from_json(doc)
    except OSError as exc:
        raise AgentError(
            f"no enrolled instance in {state_dir} ({exc.strerror or exc}); run "
            "'tessera agent join' first"
        ) from None
    except ValueError as exc:
        raise AgentError(f"{state_dir / STATE_FILE} is damaged: {one_line(str(exc))}") from None
    if mode & 0o077:
        raise AgentError(
            f"state directory {state_dir} is accessible by group or others (mode {mode:04o})"
        )
    return state


class InstanceAgent:
    """Renewal and credentials for the instance enrolled in ``state_dir``."""

    def __init__(
        self,
        state_dir: Path,
        *,
        clock: Clock,
        endpoint: str | None = None,
        ca_bundle: Path | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.state_dir = state_dir
        self.state = load_state(state_dir)
        self._clock = clock
        self._transport = Transport(
            endpoint or self.state.endpoint, ca_bundle=ca_bundle, timeout=timeout
        )
        self._lock = threading.Lock()
        self._retry_at: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: (InstanceProfileArn, InstanceProfileId) as the last session answer named them
        self.profile: tuple[str, str] | None = None
        if self.state.instance_profile_arn is not None:
            self.profile = (self.state.instance_profile_arn, self.state.instance_profile_id)
        self.identity()  # fail fast: files present, key matches, certificate current

    # --- the certificate --------------------------------------------------------

    def identity(self) -> X509Identity:
        return load_identity(
            self.state_dir / CERT_FILE, self.state_dir / KEY_FILE, now=self._clock.now()
        )

    def renewal_due(self) -> datetime:
        cert = self.identity().certificate
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
        return start + (end - start) / 2

    def _signed_post(self, what: str, path: str, doc: dict[str, object]) -> bytes:
        identity = self.identity()
        body = json.dumps(doc).encode()
        full = self._transport.base_path + path
        headers = sign_request(
            identity,
            method="POST",
            host=self._transport.host_header,
            path=full,
            query_string="",
            body=body,
            region=self.state.region,
            now=self._clock.now(),
        )
        headers += [("Accept", "application/json"), ("User-Agent", "tessera-agent")]
        _, data = self._transport.exchange(what, "POST", full, body, headers)
        return data

    def renew(self) -> x509.Certificate:
        """A new certificate for the same key, signed by the current one."""
        with self._lock:
            identity = self.identity()
            key = identity.private_key
            if not isinstance(key, ec.EllipticCurvePrivateKey):  # pragma: no cover - join made it
                raise AgentError("the instance key is not an EC key")
            data = self._signed_post(
                "RenewInstanceCertificate", RENEW_PATH, {"csr": _csr(key, self.state.instance_id)}
            )
            try:
                answer = json.loads(data)
                if not isinstance(answer, dict):
                    raise ValueError
            except ValueError:
                raise AgentError("RenewInstanceCertificate answered without JSON") from None
            cert, _ = _check_issued(answer, key, (self.state_dir / CA_FILE).read_bytes())
            _write_atomic(
                self.state_dir / CERT_FILE, cert.public_bytes(serialization.Encoding.PEM), 0o644
            )
            log.info(
                "instance certificate renewed (serial %x, valid until %s)",
                cert.serial_number,
                iso(cert.not_valid_after_utc),
            )
            return cert

    def renew_if_due(self) -> bool:
        """Renew when the certificate is past half its life (retrying failures a
        minute later); whether a renewal was made."""
        now = self._clock.now()
        if now < self.renewal_due() or (self._retry_at is not None and now < self._retry_at):
            return False
        try:
            self.renew()
        except AgentError as exc:
            self._retry_at = now + RETRY
            log.warning("renewing the instance certificate failed: %s", exc.reason)
            return False
        self._retry_at = None
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="tessera-agent-renew", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.renew_if_due()
                wait = (self.renewal_due() - self._clock.now()).total_seconds()
            except AgentError as exc:  # the certificate expired: only re-enrolment helps
                log.error("%s", exc.reason)
                wait = MAX_SLEEP
            self._stop.wait(min(max(wait, 1.0), MAX_SLEEP))

    # --- credentials ------------------------------------------------------------

    def create_session(self) -> RoleCredentials:
        """The instance profile role's credentials (CreateInstanceSession)."""
        data = self._signed_post("CreateInstanceSession", SESSION_PATH, {})
        creds = parse_credential_set(data, "CreateInstanceSession", None, self._clock)
        try:
            doc = json.loads(data)
            arn, pid = doc.get("instanceProfileArn"), doc.get("instanceProfileId")
        except (ValueError, AttributeError):
            arn = pid = None
        if isinstance(arn, str) and isinstance(pid, str):
            self.profile = (arn, pid)
        return creds


_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


class InstanceMetadata:
    """The instance's own IMDS paths (everything but the credentials, which
    ``agent.imds`` serves): ``meta-data/instance-id``, ``local-ipv4``,
    ``placement/region``, ``placement/availability-zone``, ``iam/info`` and
    ``dynamic/instance-identity/document``. Tessera has no AMIs or instance
    types: the document's ``imageId``, ``instanceType`` and the other fields EC2
    fills from them are ``null``."""

    def __init__(
        self,
        state: InstanceState,
        profile: Callable[[], tuple[str, str] | None],
        last_updated: Callable[[], datetime | None],
    ) -> None:
        self._state = state
        self._profile = profile
        self._last_updated = last_updated

    def __call__(self, path: str) -> str | None:
        s = self._state
        if path.endswith("/") and path.count("/") > 2:
            path = path[:-1]
        static = {
            "/latest/meta-data/instance-id": s.instance_id,
            "/latest/meta-data/local-ipv4": s.private_ipv4,
            "/latest/meta-data/placement/region": s.region,
            "/latest/meta-data/placement/availability-zone": s.availability_zone,
        }
        if path in static:
            return static[path]
        if path == "/latest/meta-data/iam/info":
            return self._iam_info()
        if path == "/latest/dynamic/instance-identity/document":
            return self._document()
        return None

    def _iam_info(self) -> str | None:
        profile = self._profile()
        updated = self._last_updated()
        if profile is None or updated is None:
            return None
        return json.dumps(
            {
                "Code": "Success",
                "LastUpdated": iso(updated),
                "InstanceProfileArn": profile[0],
                "InstanceProfileId": profile[1],
            },
            indent=2,
        )

    def _document(self) -> str:
        s = self._state
        return json.dumps(
            {
                "accountId": s.account_id,
                "architecture": _ARCH.get(platform.machine().lower(), platform.machine()),
                "availabilityZone": s.availability_zone,
                "billingProducts": None,
                "devpayProductCodes": None,
                "marketplaceProductCodes": None,
                "imageId": None,
                "instanceId": s.instance_id,
                "instanceType": None,
                "kernelId": None,
                "pendingTime": s.created,
                "privateIp": s.private_ipv4,
                "ramdiskId": None,
                "region": s.region,
                "version": "2017-09-30",
            },
            indent=2,
        )
