"""X.509 checks of uploaded certificates (pure, no I/O): a server certificate's
body, private key and chain (UploadServerCertificate) and a signing certificate
(UploadSigningCertificate), with AWS's error codes.

Texts: **[C]** seen verbatim in real AWS answers quoted in public threads,
**[I]** inferred (same family as a confirmed text)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tessera.errors import InvalidCertificate, KeyPairMismatch, MalformedCertificate

# [C] UploadServerCertificate with a body that is not PEM (openshift-ansible#11214)
BAD_CERTIFICATE: Final = (
    "Unable to parse certificate. Please ensure the certificate is in PEM format."
)
# [I] same family
BAD_KEY: Final = "Unable to parse private key. Please ensure the private key is in PEM format."
BAD_CHAIN_PEM: Final = (
    "Unable to parse certificate chain. Please ensure the certificate chain is in PEM format."
)
# [C] aws-cli#715, go-acme/lego#304 (the index is that of the invalid certificate)
BAD_CHAIN: Final = (
    "Unable to validate certificate chain. The certificate chain must start with the "
    "immediate signing certificate, followed by any intermediaries in order. The index "
    "within the chain of the invalid certificate is: {index}"
)
# [I]
KEY_MISMATCH: Final = "The private key did not match the public key provided."
EXPIRED: Final = "The certificate is expired or not yet valid."
UNSUPPORTED_KEY: Final = "The certificate's public key type or size is not supported."
#: certificates in one chain (the model bounds its size at 2 MiB; this bounds the work)
MAX_CHAIN_LENGTH: Final = 16

_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\s+[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----")


def _certificates(text: str) -> list[x509.Certificate] | None:
    """Every CERTIFICATE block of ``text``; None when there is none or one fails."""
    blocks = _PEM_CERT.findall(text)
    if not blocks:
        return None
    try:
        return [x509.load_pem_x509_certificate(b.encode("ascii")) for b in blocks]
    except (ValueError, UnicodeEncodeError):
        return None


def _one_certificate(text: str) -> x509.Certificate:
    certificates = _certificates(text)
    if certificates is None or len(certificates) != 1:
        raise MalformedCertificate(BAD_CERTIFICATE)
    return certificates[0]


def _supported_key(certificate: x509.Certificate) -> bool:
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return key.key_size >= 1024
    if isinstance(key, ec.EllipticCurvePublicKey):
        return isinstance(key.curve, ec.SECP256R1 | ec.SECP384R1 | ec.SECP521R1)
    return False


def _valid_at(certificate: x509.Certificate, now: datetime) -> bool:
    return certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER: equal for the same certificate however it was encoded."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass(frozen=True, slots=True)
class ServerCertificateUpload:
    """A checked upload: the PEM texts to keep and the certificate's expiry."""

    body: str
    private_key: str
    chain: str | None
    expires_at: datetime


def check_server_certificate(
    body: str, private_key: str, chain: str | None, now: datetime
) -> ServerCertificateUpload:
    """Parse and check an UploadServerCertificate request: one PEM certificate, valid
    now, with an RSA or EC key; a PEM private key (unencrypted) that matches it; a
    chain whose first certificate issued the body and each next one the previous.
    Raises MalformedCertificate / KeyPairMismatch with AWS's texts."""
    certificate = _one_certificate(body)
    if not _supported_key(certificate):
        raise MalformedCertificate(UNSUPPORTED_KEY)
    if not _valid_at(certificate, now):
        raise MalformedCertificate(EXPIRED)
    try:
        key = serialization.load_pem_private_key(private_key.encode("latin-1"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        # TypeError: an encrypted key (no password given); AWS wants it unencrypted
        raise MalformedCertificate(BAD_KEY) from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise MalformedCertificate(BAD_KEY)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != certificate.public_key().public_bytes(der, spki):
        raise KeyPairMismatch(KEY_MISMATCH)
    if chain is not None:
        members = _certificates(chain)
        if members is None:
            raise MalformedCertificate(BAD_CHAIN_PEM)
        if len(members) > MAX_CHAIN_LENGTH:
            raise MalformedCertificate(BAD_CHAIN.format(index=MAX_CHAIN_LENGTH))
        child = certificate
        for index, parent in enumerate(members):
            try:
                child.verify_directly_issued_by(parent)
            except (ValueError, TypeError, InvalidSignature) as exc:
                raise MalformedCertificate(BAD_CHAIN.format(index=index)) from exc
            child = parent
    return ServerCertificateUpload(body, private_key, chain, certificate.not_valid_after_utc)


@dataclass(frozen=True, slots=True)
class SigningCertificateUpload:
    body: str
    fingerprint: str


def check_signing_certificate(body: str, now: datetime) -> SigningCertificateUpload:
    """One PEM X.509 certificate (MalformedCertificate otherwise), valid now and with
    an RSA or EC key (InvalidCertificate otherwise)."""
    certificate = _one_certificate(body)
    if not _supported_key(certificate) or not _valid_at(certificate, now):
        raise InvalidCertificate(f"{EXPIRED[:-1]}, or its key is not supported.")  # [I]
    return SigningCertificateUpload(body, fingerprint(certificate))
