"""Test material for the certificate and SSH-key operations: self-signed and
CA-issued X.509 certificates with their keys (PEM, built with ``tests.pki``), and
SSH public keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from tests.pki import Key, build_certificate, cert_pem, cn_name, key_pem

NOW = datetime.now(UTC)


def issue(
    cn: str,
    key: Key,
    issuer_key: Key | None = None,
    issuer_cn: str | None = None,
    *,
    ca: bool = False,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> x509.Certificate:
    return build_certificate(
        cn_name(cn),
        key.public_key(),
        cn_name(issuer_cn or cn),
        issuer_key or key,
        not_before=not_before or NOW - timedelta(days=1),
        not_after=not_after or NOW + timedelta(days=90),
        ca=ca,
    )


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def self_signed(cn: str) -> tuple[str, str]:
    key = ec_key()
    return cert_pem(issue(cn, key)), key_pem(key)


def ssh_ed25519() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


def ssh_rsa(bits: int = 2048) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    return key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
