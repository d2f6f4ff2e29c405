"""The ``AWS4-X509-RSA-SHA256`` / ``AWS4-X509-ECDSA-SHA256`` request signature of
CreateSession: SigV4's canonical request and string to sign (``tessera.auth.sigv4``,
not a copy), scope ``<date>/<region>/rolesanywhere/aws4_request``, ``Credential=``
starting with the certificate serial in decimal, and a signature that is the
certificate key's signature over the string to sign (RSA PKCS#1 v1.5 with SHA-256,
or DER ECDSA with SHA-256), hex-encoded. ``X-Amz-Date`` within ±15 minutes; the
``X-Amz-X509`` header (base64 DER) must be signed, as must ``X-Amz-X509-Chain``
(comma-separated base64 DER intermediates) when present."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tessera.auth import sigv4
from tessera.rolesanywhere.x509chain import (
    MAX_CERTIFICATE_BYTES,
    MAX_INTERMEDIATES,
    CertificateRejected,
    load_der_certificate,
)

RSA_ALGORITHM: Final = "AWS4-X509-RSA-SHA256"
ECDSA_ALGORITHM: Final = "AWS4-X509-ECDSA-SHA256"
ALGORITHMS: Final = (RSA_ALGORITHM, ECDSA_ALGORITHM)
SERVICE: Final = "rolesanywhere"
#: hex characters of a signature (an RSA-8192 signature is 2,048)
_MAX_SIGNATURE_HEX: Final = 2048
# base64 of MAX_CERTIFICATE_BYTES, rounded up
_MAX_HEADER_CERT: Final = (MAX_CERTIFICATE_BYTES + 2) // 3 * 4


class SignatureRejected(Exception):
    """The request's X.509 signature is missing, malformed or wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A CreateSession request whose signature verified with ``leaf``'s key."""

    leaf: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]
    region: str
    signature: str  # lower-case hex, for the replay cache
    request_time: datetime


def _b64_der(value: str, what: str) -> x509.Certificate:
    text = value.strip()
    if len(text) > _MAX_HEADER_CERT:
        raise CertificateRejected(f"The {what} exceeds {MAX_CERTIFICATE_BYTES} bytes.")
    try:
        der = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CertificateRejected(f"The {what} is not base64-encoded DER.") from None
    return load_der_certificate(der, what)


def verify_request(request: sigv4.HttpRequest, now: datetime) -> SignedRequest:
    """Check the X.509 signature of ``request``. Raises ``SignatureRejected`` or
    ``CertificateRejected`` (and sigv4's ``IncompleteSignature`` /
    ``SignatureDoesNotMatch`` for malformed or stale SigV4 data)."""
    info = sigv4.extract(request, algorithms=ALGORITHMS)
    if info is None or info.presigned:
        raise SignatureRejected(
            "CreateSession must be signed with AWS4-X509-RSA-SHA256 or AWS4-X509-ECDSA-SHA256."
        )
    sigv4.check_time(info, now)
    sigv4.check_scope(info, service=SERVICE)
    headers = request.header_map or {n.lower(): v for n, v in reversed(request.headers)}
    signed = {h.lower() for h in info.signed_headers}
    raw_leaf = headers.get("x-amz-x509")
    if raw_leaf is None:
        raise SignatureRejected("The X-Amz-X509 header (the signing certificate) is missing.")
    if "x-amz-x509" not in signed:
        raise SignatureRejected("The X-Amz-X509 header must be a signed header.")
    leaf = _b64_der(raw_leaf, "X-Amz-X509 certificate")
    intermediates: list[x509.Certificate] = []
    raw_chain = headers.get("x-amz-x509-chain")
    if raw_chain is not None:
        if "x-amz-x509-chain" not in signed:
            raise SignatureRejected("The X-Amz-X509-Chain header must be a signed header.")
        parts = [p for p in raw_chain.split(",") if p.strip()]
        if len(parts) > MAX_INTERMEDIATES:
            raise CertificateRejected(
                f"The certificate chain carries more than {MAX_INTERMEDIATES} intermediates."
            )
        intermediates = [_b64_der(p, "X-Amz-X509-Chain certificate") for p in parts]
    if info.access_key_id != str(leaf.serial_number):
        raise SignatureRejected(
            "The Credential of the signature must start with the serial number of the "
            "X-Amz-X509 certificate (in decimal)."
        )
    signature_hex = info.signature.lower()
    if len(signature_hex) > _MAX_SIGNATURE_HEX:
        raise SignatureRejected("The signature is too long.")
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        raise SignatureRejected("The signature is not hex-encoded.") from None
    message = sigv4.string_to_sign(info, sigv4.canonical_request(request, info)).encode(
        "utf-8", "surrogatepass"
    )
    key = leaf.public_key()
    try:
        if info.algorithm == RSA_ALGORITHM and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        elif info.algorithm == ECDSA_ALGORITHM and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        else:
            raise SignatureRejected(
                f"The {info.algorithm} signature does not match the certificate's key type."
            )
    except (InvalidSignature, ValueError):
        raise SignatureRejected(
            "The request signature does not verify with the X-Amz-X509 certificate's key."
        ) from None
    return SignedRequest(
        leaf=leaf,
        intermediates=tuple(intermediates),
        region=info.region,
        signature=signature_hex,
        request_time=info.request_time,
    )
