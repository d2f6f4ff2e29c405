"""The instance CA: one per server (``ca_id`` ``default``), an EC P-384 key and a
self-signed certificate created on first use and stored with the key sealed under
the KEK (``InstanceStore.create_instance_ca``; two replicas creating it at once
keep the first). It is a trust anchor the server manages itself: it signs only
instance certificates, and only ``tessera.instances.ops`` verifies against it.

Why one CA per server rather than per account: the registry (not the CA) binds an
instance to its account, every certificate's URI SAN names the account and is
checked against the registry on every call, and one fingerprint is simpler to pin
(``tessera agent join --ca-fingerprint``).

Instance certificates: subject CN = the instance id, URI SAN
``tessera://<account>/instance/<id>``, IP SAN = the registered private IPv4 (if
any), ``CA:false``, key usage digitalSignature only, extended key usage
clientAuth, 24 h validity (not before: five minutes ago, for clock skew). CSRs
must carry an EC P-256/P-384 or RSA 2048-8192 key and a valid self-signature;
their subject and extensions are ignored (the server decides the names)."""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tessera.instances.model import instance_uri
from tessera.store.instances import InstanceCaRecord, InstanceRecord, InstanceStore
from tessera.tls.ca import self_signed_ca

CA_ID: Final = "default"
CA_VALIDITY: Final = timedelta(days=3650)
CERT_VALIDITY: Final = timedelta(hours=24)
BACKDATE: Final = timedelta(minutes=5)
MAX_CSR_BYTES: Final = 16 * 1024
_EC_CURVES: Final = (ec.SECP256R1, ec.SECP384R1)


class CsrRejected(ValueError):
    """The CSR is malformed, badly signed or has an unacceptable key."""


@dataclass(frozen=True)
class InstanceCa:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def __repr__(self) -> str:
        return f"InstanceCa(subject={self.certificate.subject.rfc4514_string()!r})"

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.certificate)


def fingerprint(cert: x509.Certificate) -> str:
    """``sha256:<hex>`` of the certificate's DER."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def _new_ca(now: datetime) -> InstanceCaRecord:
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tessera"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Tessera instance CA"),
        ]
    )
    cert = self_signed_ca(key, name, now - BACKDATE, now + CA_VALIDITY, hashes.SHA384())
    return InstanceCaRecord(
        ca_id=CA_ID,
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM),
        private_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        created_at=now,
    )


def _load(record: InstanceCaRecord) -> InstanceCa:
    cert = x509.load_pem_x509_certificate(record.certificate_pem)
    key = serialization.load_pem_private_key(record.private_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):  # pragma: no cover - we made it
        raise ValueError("the stored instance CA key is not an EC key")
    return InstanceCa(cert, key)


def existing_ca(store: InstanceStore) -> InstanceCa | None:
    record = store.get_instance_ca(CA_ID)
    return None if record is None else _load(record)


def ensure_ca(store: InstanceStore, now: datetime) -> InstanceCa:
    """The server's instance CA, created (and stored sealed) on first use."""
    record = store.get_instance_ca(CA_ID)
    if record is None:
        record = store.create_instance_ca(_new_ca(now))
    return _load(record)


def load_csr(pem: str) -> x509.CertificateSigningRequest:
    """A PEM CSR with a valid signature and an acceptable key."""
    data = pem.encode("utf-8", "surrogateescape")
    if len(data) > MAX_CSR_BYTES:
        raise CsrRejected(f"The CSR exceeds {MAX_CSR_BYTES} bytes.")
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError:
        raise CsrRejected("The CSR is not a PEM certificate signing request.") from None
    key = csr.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _EC_CURVES):
            raise CsrRejected("The CSR's EC key must be on P-256 or P-384.")
    elif isinstance(key, rsa.RSAPublicKey):
        if not 2048 <= key.key_size <= 8192:
            raise CsrRejected("The CSR's RSA key must have 2048 to 8192 bits.")
    else:
        raise CsrRejected("The CSR's key must be EC (P-256, P-384) or RSA (2048 bits or more).")
    try:
        valid = csr.is_signature_valid
    except Exception:  # an unsupported signature algorithm
        valid = False
    if not valid:
        raise CsrRejected("The CSR's signature is not valid.")
    return csr


def issue_certificate(
    ca: InstanceCa,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    instance: InstanceRecord,
    now: datetime,
) -> x509.Certificate:
    """A 24 h certificate naming ``instance`` for ``public_key``."""
    names: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(instance_uri(instance.account_id, instance.instance_id))
    ]
    if instance.private_ipv4:
        names.append(x509.IPAddress(ipaddress.IPv4Address(instance.private_ipv4)))
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, instance.instance_id)]))
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CERT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski.value),
            critical=False,
        )
        .sign(ca.key, hashes.SHA384())
    )


def certificate_instance(cert: x509.Certificate) -> tuple[str, str] | None:
    """(account, instance id) a certificate names: its one URI SAN, which its CN
    must repeat; None when it names none or they disagree."""
    from tessera.instances.model import parse_instance_uri

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) != 1:
        return None
    parsed = parse_instance_uri(uris[0])
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if parsed is None or len(cns) != 1 or cns[0].value != parsed[1]:
        return None
    return parsed
