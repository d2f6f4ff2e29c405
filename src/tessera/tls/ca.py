"""The local certificate authority behind ``--tls auto`` and ``tessera tls init``.

This module owns

* the **local CA** that ``tessera`` creates in ``<data-dir>/tls`` so a fresh
  install serves HTTPS without any external PKI (:func:`init_local_ca`), and the
  human instructions for making clients trust it (:func:`instructions`).

The server TLS policy lives in :mod:`tessera.tls.server`, the client policy in
:mod:`tessera.tls.client`.

Choices (see also ``docs``/DESIGN):

* Keys are **EC P-256** (ECDSA with SHA-256) for both the CA and the server
  certificate: small, fast, and accepted by every TLS stack the AWS SDKs use.
* The CA is valid for **5 years**, has ``BasicConstraints CA:true, pathlen:0``
  and ``KeyUsage keyCertSign, cRLSign``. Its key is never overwritten: to start
  over, move the ``tls`` directory away.
* Server certificates are valid for **397 days** (inside the CA/Browser Forum
  398-day ceiling that Apple and browsers enforce), never beyond the CA's own
  expiry, and are re-issued automatically when fewer than **30 days** remain,
  when a requested hostname is not covered, or on ``force``.
* Private keys are written as unencrypted PKCS#8 PEM into files *created* with
  mode 0600 (written to a fresh temporary file, then renamed into place), inside
  a directory with mode 0700. Certificates are 0644.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tessera.tls.errors import TlsConfigError

__all__ = [
    "CA_LIFETIME",
    "RENEW_BEFORE",
    "SERVER_LIFETIME",
    "TlsConfigError",
    "TlsPaths",
    "default_paths",
    "init_local_ca",
    "instructions",
]

#: Lifetime of the local CA certificate.
CA_LIFETIME = timedelta(days=5 * 365 + 1)
#: Lifetime of a server certificate (CA/Browser Forum ceiling is 398 days).
SERVER_LIFETIME = timedelta(days=397)
#: A server certificate with less than this left is re-issued.
RENEW_BEFORE = timedelta(days=30)
#: Certificates are back-dated by this much to tolerate client clock skew.
BACKDATE = timedelta(minutes=5)

#: Hostnames always present in a server certificate issued by the local CA.
DEFAULT_DNS_NAMES: tuple[str, ...] = ("localhost",)
DEFAULT_IP_ADDRESSES: tuple[str, ...] = ("127.0.0.1", "::1")

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


@dataclass(frozen=True, slots=True)
class TlsPaths:
    """Where the local CA and the server certificate live."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


def default_paths(data_dir: Path) -> TlsPaths:
    """``<data_dir>/tls/{ca.pem, ca-key.pem, server.pem, server-key.pem}``."""
    tls_dir = Path(data_dir) / "tls"
    return TlsPaths(
        ca_cert=tls_dir / "ca.pem",
        ca_key=tls_dir / "ca-key.pem",
        server_cert=tls_dir / "server.pem",
        server_key=tls_dir / "server-key.pem",
    )


# --- hostnames ----------------------------------------------------------------------


_IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _normalize_dns(name: str) -> str:
    """Lower-case A-label form of a DNS name; a leading ``*.`` label is allowed."""
    original = name
    name = name.strip().rstrip(".").lower()
    wildcard = name.startswith("*.")
    if wildcard:
        name = name[2:]
    try:
        ascii_name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError as exc:
        raise ValueError(f"invalid hostname {original!r}: {exc}") from None
    labels = ascii_name.split(".")
    if not ascii_name or len(ascii_name) > 253 or not all(_LABEL.match(lb) for lb in labels):
        raise ValueError(f"invalid hostname {original!r}")
    return ("*." if wildcard else "") + ascii_name


def _parse_hostnames(hostnames: Sequence[str]) -> tuple[frozenset[str], frozenset[_IpAddress]]:
    if isinstance(hostnames, str):
        raise TypeError("hostnames must be a sequence of strings, not a single string")
    dns: set[str] = set()
    ips: set[_IpAddress] = set()
    for raw in hostnames:
        candidate = raw.strip()
        if candidate.startswith("[") and candidate.endswith("]"):
            candidate = candidate[1:-1]
        try:
            ips.add(ipaddress.ip_address(candidate))
        except ValueError:
            dns.add(_normalize_dns(raw))
    return frozenset(dns), frozenset(ips)


# --- file handling ------------------------------------------------------------------


def _ensure_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o777 != 0o700:
        path.chmod(0o700)


def _write_atomic(path: Path, data: bytes, mode: int, *, overwrite: bool) -> None:
    """Write ``data`` to ``path`` through a temporary file created with ``mode``.

    The file is created with its final permissions (never chmod-ed after the
    secret is in it). With ``overwrite=False`` an existing ``path`` is never
    replaced (hard-link, which fails atomically if the name exists)."""
    fd, tmp_name = -1, ""
    for _ in range(100):
        tmp_name = str(path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            break
        except FileExistsError:
            continue
    if fd < 0:
        raise TlsConfigError(f"cannot create a temporary file next to {path}")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp_name, path)
        else:
            try:
                os.link(tmp_name, path)
            except FileExistsError:
                raise TlsConfigError(f"refusing to overwrite existing {path}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise concurrent ``init_local_ca`` calls (several replicas, one data dir)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise TlsConfigError(f"cannot read certificate {path}: {exc}") from exc


def _load_ca_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise TlsConfigError(f"cannot read CA key {path}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TlsConfigError(f"CA key {path} is not an EC key")
    return key


# --- certificates -------------------------------------------------------------------


def _ca_name() -> x509.Name:
    host = socket.gethostname() or "localhost"
    common_name = f"Tessera local CA ({host})"
    if len(common_name) > 64:  # X.520 ub-common-name
        common_name = common_name[:63] + ")"
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tessera"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


_SHA256: Final = hashes.SHA256()


def _new_ca(now: datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = self_signed_ca(key, _ca_name(), now - BACKDATE, now - BACKDATE + CA_LIFETIME)
    return key, cert


def self_signed_ca(
    key: ec.EllipticCurvePrivateKey,
    name: x509.Name,
    not_before: datetime,
    not_after: datetime,
    algorithm: hashes.SHA256 | hashes.SHA384 = _SHA256,
) -> x509.Certificate:
    """A self-signed CA certificate that may sign leaves only (path length 0, key
    usage keyCertSign + cRLSign, a subject key identifier): the local TLS CA and
    the instance CA (``tessera.instances.ca``)."""
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, algorithm)
    )


def _new_server_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    dns: frozenset[str],
    ips: frozenset[_IpAddress],
    now: datetime,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    not_before = now - BACKDATE
    not_after = min(not_before + SERVER_LIFETIME, ca_cert.not_valid_after_utc)
    extra_dns = sorted(dns - set(DEFAULT_DNS_NAMES))
    common_name = extra_dns[0] if extra_dns and len(extra_dns[0]) <= 64 else "localhost"
    ordered_dns = [*DEFAULT_DNS_NAMES, *extra_dns]
    ordered_ips = sorted(ips, key=lambda ip: (ip.version, int(ip)))
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in ordered_dns]
    sans += [x509.IPAddress(ip) for ip in ordered_ips]
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tessera"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,  # EC keys: no RSA key transport
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _server_cert_usable(
    paths: TlsPaths,
    ca_cert: x509.Certificate,
    dns: frozenset[str],
    ips: frozenset[_IpAddress],
    now: datetime,
) -> bool:
    """Whether the existing server certificate can be kept as it is."""
    if not (paths.server_cert.is_file() and paths.server_key.is_file()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
        key = serialization.load_pem_private_key(paths.server_key.read_bytes(), password=None)
        cert.verify_directly_issued_by(ca_cert)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return False
    if key.public_key() != cert.public_key():
        return False
    not_after = cert.not_valid_after_utc
    if cert.not_valid_before_utc > now or not_after <= now:
        return False
    # Renew when close to expiry -- unless the CA itself caps the lifetime (then
    # re-issuing would not help; the certificate is kept while it is valid).
    if not_after - now < RENEW_BEFORE and not_after < ca_cert.not_valid_after_utc:
        return False
    have_dns = {d.lower() for d in san.get_values_for_type(x509.DNSName)}
    have_ips = set(san.get_values_for_type(x509.IPAddress))
    return dns <= have_dns and ips <= have_ips


def init_local_ca(
    data_dir: Path,
    hostnames: Sequence[str] = (),
    *,
    now: datetime | None = None,
    force: bool = False,
) -> TlsPaths:
    """Create (or reuse) the local CA and make sure a fitting server certificate exists.

    The server certificate always covers ``localhost``, ``127.0.0.1`` and ``::1``
    plus each of ``hostnames`` (IP literals become IP SANs, anything else a DNS SAN;
    ``*.tokens.localhost``-style wildcards are allowed). An existing CA is reused
    and its key is never overwritten. The server certificate is (re-)issued when it
    is missing, unreadable, not issued by the CA, expires within 30 days, does not
    cover every requested name, or when ``force`` is true; a re-issued certificate
    covers the defaults plus exactly the names requested in this call.

    Raises ``ValueError`` for a junk hostname and :class:`TlsConfigError` when the
    existing files are unusable (e.g. a CA certificate without its key, or an
    expired CA)."""
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    extra_dns, extra_ips = _parse_hostnames(hostnames)
    dns = extra_dns | set(DEFAULT_DNS_NAMES)
    ips = extra_ips | {ipaddress.ip_address(a) for a in DEFAULT_IP_ADDRESSES}

    paths = default_paths(data_dir)
    tls_dir = paths.ca_cert.parent
    _ensure_dir(tls_dir)
    with _locked(tls_dir):
        have_cert, have_key = paths.ca_cert.exists(), paths.ca_key.exists()
        if not have_cert and have_key:
            raise TlsConfigError(
                f"{paths.ca_key} exists without {paths.ca_cert}; refusing to replace the CA key "
                f"(move {tls_dir} away to create a new CA)"
            )
        ca_key: ec.EllipticCurvePrivateKey | None
        if not have_cert:
            ca_key, ca_cert = _new_ca(now)
            _write_atomic(paths.ca_key, _key_pem(ca_key), 0o600, overwrite=False)
            _write_atomic(
                paths.ca_cert,
                ca_cert.public_bytes(serialization.Encoding.PEM),
                0o644,
                overwrite=False,
            )
        else:
            ca_cert = _load_cert(paths.ca_cert)
            ca_key = None
        if ca_cert.not_valid_after_utc <= now:
            raise TlsConfigError(
                f"the local CA {paths.ca_cert} expired on {ca_cert.not_valid_after_utc:%Y-%m-%d}; "
                f"move {tls_dir} away to create a new one (and re-distribute ca.pem)"
            )
        if not force and _server_cert_usable(paths, ca_cert, dns, ips, now):
            return paths
        if ca_key is None:
            if not have_key:
                raise TlsConfigError(
                    f"a server certificate is needed but the CA key {paths.ca_key} is missing"
                )
            ca_key = _load_ca_key(paths.ca_key)
            if ca_key.public_key() != ca_cert.public_key():
                raise TlsConfigError(f"{paths.ca_key} does not belong to {paths.ca_cert}")
        server_key, server_cert = _new_server_cert(ca_key, ca_cert, dns, ips, now)
        _write_atomic(paths.server_key, _key_pem(server_key), 0o600, overwrite=True)
        _write_atomic(
            paths.server_cert,
            server_cert.public_bytes(serialization.Encoding.PEM),
            0o644,
            overwrite=True,
        )
    return paths


def instructions(paths: TlsPaths, endpoint: str) -> str:
    """Human text explaining how to make clients trust the local CA (absolute
    paths, so the commands still work after a ``cd``)."""
    ca = str(paths.ca_cert.resolve())
    url = endpoint.rstrip("/")
    return "\n".join(
        [
            f"Tessera serves HTTPS at {url} with a certificate from its local CA:",
            f"    {ca}",
            "",
            "Clients must trust that CA (it is NOT added to the system trust store):",
            "",
            "  boto3 / botocore and other AWS SDKs:",
            f"    export AWS_CA_BUNDLE={ca}",
            f"    export AWS_ENDPOINT_URL_STS={url} AWS_ENDPOINT_URL_IAM={url}",
            f"    (or in code: boto3.client('sts', endpoint_url='{url}', verify='{ca}'))",
            "",
            "  AWS CLI:",
            f"    aws --ca-bundle {ca} --endpoint-url {url} sts get-caller-identity",
            "",
            "  OIDC relying parties / token verifiers (requests, httpx, curl, OpenSSL):",
            f"    export REQUESTS_CA_BUNDLE={ca}",
            f"    export SSL_CERT_FILE={ca}",
            f"    curl --cacert {ca} {url}/health",
            "    # an account's issuer documents, once outbound federation is enabled",
            "    # (ISSUER from 'aws iam get-outbound-web-identity-federation-info'):",
            f"    curl --cacert {ca} $ISSUER/.well-known/openid-configuration",
            "",
            "  Tessera's own verifier:",
            f"    tessera token verify --ca-bundle {ca} ...",
            "",
            "Note: SSL_CERT_FILE replaces the default trust store for OpenSSL-based",
            "clients; to keep public CAs too, point it at a bundle that also contains",
            f"the system roots plus {ca}.",
        ]
    )
