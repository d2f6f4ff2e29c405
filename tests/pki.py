"""The tests' X.509 building blocks, shared by every helper that makes a throw-away
PKI (``tests.agent_support``, ``tests.e2e.x509_signer``, ``tests.unit.iam.certs``
and the Roles Anywhere unit tests): a name with a common name, a KeyUsage with only
the named bits set, one certificate built and signed, and PEM encodings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def cn_name(cn: str) -> x509.Name:
    """``CN=<cn>``, nothing else."""
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def key_usage(
    *,
    digital_signature: bool = False,
    key_encipherment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    """A KeyUsage with the named bits set and every other bit clear."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def build_certificate(
    subject: x509.Name,
    public_key: Any,
    issuer: x509.Name,
    signer: Key,
    *,
    not_before: datetime,
    not_after: datetime,
    ca: bool | None,
    path_length: int | None = None,
    usage: x509.KeyUsage | None = None,
    san: list[x509.GeneralName] | None = None,
    algorithm: hashes.HashAlgorithm | None = None,
) -> x509.Certificate:
    """A certificate for ``public_key`` signed by ``signer`` (SHA-256 unless
    ``algorithm``), with a random serial and, in this order, a critical
    BasicConstraints (none when ``ca`` is None), a critical KeyUsage (``usage``)
    and a non-critical SubjectAlternativeName (``san``, when not empty)."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length), critical=True
        )
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(signer, algorithm or hashes.SHA256())


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: Key) -> str:
    """The private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
