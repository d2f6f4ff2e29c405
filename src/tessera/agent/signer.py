"""The X.509 request signer of IAM Roles Anywhere (``AWS4-X509-RSA-SHA256`` and
``AWS4-X509-ECDSA-SHA256``), and loading the workload's certificate, key and
intermediates from PEM files.

The scheme is SigV4 with the HMAC key chain replaced by the certificate's key:

* the canonical request is SigV4's (reused from :mod:`tessera.auth.sigv4`, which is
  pure), signed headers ``content-type;host;x-amz-date;x-amz-x509[;x-amz-x509-chain]``;
* string to sign = ``<algorithm>\\n<X-Amz-Date>\\n<date>/<region>/rolesanywhere/
  aws4_request\\n<hex SHA-256 of the canonical request>``;
* signature = hex of the private key's signature over the string to sign with
  SHA-256 (RSA PKCS#1 v1.5; ECDSA as DER ``(r, s)``);
* ``Authorization: <algorithm> Credential=<certificate serial in decimal>/<scope>,
  SignedHeaders=…, Signature=…``; ``X-Amz-X509`` is the base64 DER of the leaf and
  ``X-Amz-X509-Chain`` the comma-separated base64 DER intermediates.

Private key files are treated as ssh treats them: a key file that its group or
other users can read or write (mode & 0o077) is refused, because anyone who can
read it can become the workload. ``insecure_key_file_mode=True`` (the CLI's
``--insecure-key-file-mode``) accepts it with a warning. Encrypted keys, PKCS#11
and TPM keys are not supported.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tessera.agent.errors import AgentError
from tessera.auth.sigv4 import HttpRequest, SignatureInfo, canonical_request

__all__ = [
    "ECDSA_ALGORITHM",
    "RSA_ALGORITHM",
    "SERVICE",
    "X509Identity",
    "load_identity",
    "sign_request",
    "string_to_sign",
]

RSA_ALGORITHM = "AWS4-X509-RSA-SHA256"
ECDSA_ALGORITHM = "AWS4-X509-ECDSA-SHA256"
SERVICE = "rolesanywhere"
TERMINATOR = "aws4_request"

#: the largest PEM file we read (a certificate is ≤ 16 KB at Roles Anywhere)
MAX_PEM_BYTES = 256 * 1024
#: the most intermediates we send
MAX_INTERMEDIATES = 8

log = logging.getLogger("tessera.agent")

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class X509Identity:
    """A leaf certificate, its private key and the intermediates to send."""

    certificate: x509.Certificate
    private_key: PrivateKey
    intermediates: tuple[x509.Certificate, ...] = ()

    def __repr__(self) -> str:  # never show the key
        return f"X509Identity(serial={self.certificate.serial_number}, key=<hidden>)"

    @property
    def algorithm(self) -> str:
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            return RSA_ALGORITHM
        return ECDSA_ALGORITHM

    def sign(self, data: bytes) -> bytes:
        """The key's signature over ``data`` with SHA-256."""
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            return self.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return self.private_key.sign(data, ec.ECDSA(hashes.SHA256()))


def _read_bounded(path: Path, what: str) -> bytes:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_PEM_BYTES + 1)
    except OSError as exc:
        raise AgentError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_PEM_BYTES:
        raise AgentError(f"{what} {path} is larger than {MAX_PEM_BYTES} bytes")
    return data


def _load_certificates(path: Path, what: str) -> list[x509.Certificate]:
    data = _read_bounded(path, what)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise AgentError(f"{what} {path} holds no PEM certificate") from None
    return certs


def check_key_file_mode(path: Path, *, insecure_key_file_mode: bool) -> None:
    """Refuse a private key file others can read or write (as ssh does)."""
    if os.name != "posix":  # pragma: no cover - POSIX modes only
        return
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise AgentError(f"cannot read private key {path}: {exc.strerror or exc}") from None
    if mode & 0o077:
        if not insecure_key_file_mode:
            raise AgentError(
                f"private key {path} is accessible by group or others (mode {mode:04o}); "
                f"run 'chmod 600 {path}' (or pass --insecure-key-file-mode)"
            )
        log.warning("private key %s is accessible by group or others (mode %04o)", path, mode)


def load_identity(
    certificate: Path,
    private_key: Path,
    intermediates: Path | None = None,
    *,
    insecure_key_file_mode: bool = False,
    now: datetime | None = None,
) -> X509Identity:
    """Load and check a certificate, its key and optional intermediates (PEM).

    Extra certificates after the first in ``certificate`` (a "fullchain" file) are
    sent as intermediates, before those from ``intermediates``. Raises
    :class:`AgentError` with a one-line reason."""
    certs = _load_certificates(certificate, "certificate")
    leaf, chain = certs[0], list(certs[1:])
    if intermediates is not None:
        chain.extend(_load_certificates(intermediates, "intermediates"))
    if len(chain) > MAX_INTERMEDIATES:
        raise AgentError(f"more than {MAX_INTERMEDIATES} intermediate certificates")
    check_key_file_mode(private_key, insecure_key_file_mode=insecure_key_file_mode)
    key_data = _read_bounded(private_key, "private key")
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
    except TypeError:
        raise AgentError(f"private key {private_key} is encrypted (not supported)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise AgentError(f"private key {private_key} is not a PEM RSA or EC private key") from None
    finally:
        del key_data
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise AgentError(f"private key {private_key} is neither RSA nor EC")
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, pub) != leaf.public_key().public_bytes(der, pub):
        raise AgentError(f"private key {private_key} does not match certificate {certificate}")
    when = now if now is not None else datetime.now(UTC)
    if when >= leaf.not_valid_after_utc:
        raise AgentError(
            f"certificate {certificate} expired at {leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
        )
    if when < leaf.not_valid_before_utc:
        raise AgentError(
            f"certificate {certificate} is not valid before "
            f"{leaf.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}"
        )
    return X509Identity(leaf, key, tuple(chain))


def _b64_der(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


def string_to_sign(algorithm: str, amz_date: str, scope: str, canonical: str) -> str:
    """The X.509 variant of SigV4's string to sign."""
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{algorithm}\n{amz_date}\n{scope}\n{digest}"


def sign_request(
    identity: X509Identity,
    *,
    method: str,
    host: str,
    path: str,
    query_string: str,
    body: bytes,
    region: str,
    now: datetime,
    content_type: str = "application/json",
) -> list[tuple[str, str]]:
    """The headers that sign a request (``Host``, ``Content-Type``, ``X-Amz-Date``,
    ``X-Amz-X509``, ``X-Amz-X509-Chain`` if there are intermediates, and
    ``Authorization``).

    ``path`` and ``query_string`` are sent exactly as given (already
    percent-encoded); ``host`` is the ``Host`` header value."""
    when = now.astimezone(UTC)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    headers: list[tuple[str, str]] = [
        ("Content-Type", content_type),
        ("Host", host),
        ("X-Amz-Date", amz_date),
        ("X-Amz-X509", _b64_der(identity.certificate)),
    ]
    if identity.intermediates:
        headers.append(("X-Amz-X509-Chain", ",".join(_b64_der(c) for c in identity.intermediates)))
    signed: Sequence[str] = sorted(name.lower() for name, _ in headers)
    info = SignatureInfo(
        access_key_id=str(identity.certificate.serial_number),
        date=date,
        region=region,
        service=SERVICE,
        signed_headers=tuple(signed),
        signature="",
        request_time=when,
        amz_date=amz_date,
        security_token=None,
        presigned=False,
        expires=None,
    )
    request = HttpRequest(method, path, query_string, tuple(headers), body)
    canonical = canonical_request(request, info)
    scope = f"{date}/{region}/{SERVICE}/{TERMINATOR}"
    algorithm = identity.algorithm
    signature = identity.sign(string_to_sign(algorithm, amz_date, scope, canonical).encode()).hex()
    headers.append(
        (
            "Authorization",
            f"{algorithm} Credential={identity.certificate.serial_number}/{scope}, "
            f"SignedHeaders={';'.join(signed)}, Signature={signature}",
        )
    )
    return headers
