"""X.509 validation for Roles Anywhere: parsing CA bundles, CRLs and request
certificates (bounded sizes and counts), and validating an end-entity certificate
(plus the ``X-Amz-X509-Chain`` intermediates) against a trust anchor's CA
certificates: a path built from the leaf to an anchor certificate with the issuer's
signature verified at each step, validity dates against ``now`` at every level,
``CA:false`` and digitalSignature on the leaf, ``CA:true`` (and keyCertSign when
key usage is present, and path-length limits) on every issuer, a SHA-256-or-stronger
signature hash on every certificate (SHA-1 and MD5 refused), and no certificate of
the path revoked by an enabled CRL of its issuer (the CRL's own signature verified
against that issuer; a CRL that claims the issuer's name but does not verify fails
closed). Pure: no I/O, ``cryptography`` only."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

#: one certificate, DER (AWS documents 16 KB for the client certificate)
MAX_CERTIFICATE_BYTES: Final = 16 * 1024
#: intermediates a request may carry in X-Amz-X509-Chain
MAX_INTERMEDIATES: Final = 4
#: CA certificates in one trust anchor's bundle
MAX_ANCHOR_CERTIFICATES: Final = 10
#: CRL size (the model's ImportCrl limit)
MAX_CRL_BYTES: Final = 300_000
MIN_RSA_BITS: Final = 2048
MAX_RSA_BITS: Final = 8192
_STRONG_HASHES: Final = (
    hashes.SHA256,
    hashes.SHA384,
    hashes.SHA512,
    hashes.SHA3_256,
    hashes.SHA3_384,
    hashes.SHA3_512,
)


class CertificateRejected(Exception):
    """A certificate (or bundle, or CRL) Roles Anywhere refuses. ``anchored`` is
    true when the leaf was proven to chain to the anchor (so the refusal is worth
    recording in the subject's history), false when it is simply untrusted."""

    def __init__(self, message: str, *, anchored: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.anchored = anchored


# --- parsing -----------------------------------------------------------------------


def load_der_certificate(data: bytes, what: str = "certificate") -> x509.Certificate:
    if len(data) > MAX_CERTIFICATE_BYTES:
        raise CertificateRejected(f"The {what} exceeds {MAX_CERTIFICATE_BYTES} bytes.")
    try:
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise CertificateRejected(f"The {what} is not a DER X.509 certificate.") from None


def load_ca_bundle(pem: str) -> list[x509.Certificate]:
    """The CA certificates of a ``CERTIFICATE_BUNDLE`` trust anchor: 1–10 PEM
    certificates, each a v3 CA certificate (basicConstraints CA:true, keyCertSign
    when key usage is present) signed with SHA-256 or stronger, with an RSA
    (2,048–8,192 bits) or EC key."""
    try:
        certs = x509.load_pem_x509_certificates(pem.encode("utf-8", "surrogatepass"))
    except ValueError:
        raise CertificateRejected(
            "The x509CertificateData is not a valid PEM certificate bundle."
        ) from None
    if len(certs) > MAX_ANCHOR_CERTIFICATES:
        raise CertificateRejected(
            f"A trust anchor holds at most {MAX_ANCHOR_CERTIFICATES} CA certificates."
        )
    for cert in certs:
        if len(cert.public_bytes(serialization.Encoding.DER)) > MAX_CERTIFICATE_BYTES:
            raise CertificateRejected(
                f"A CA certificate of the bundle exceeds {MAX_CERTIFICATE_BYTES} bytes."
            )
        name = cert.subject.rfc4514_string()
        if not _is_ca(cert):
            raise CertificateRejected(
                f"The certificate {name} is not a CA certificate (basicConstraints CA:true "
                "and keyCertSign are required)."
            )
        _check_hash(cert, f"the CA certificate {name}")
        _check_key(cert, f"the CA certificate {name}")
    return certs


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL in PEM or DER (ImportCrl's ``crlData``)."""
    if len(data) > MAX_CRL_BYTES:
        raise CertificateRejected(f"The CRL exceeds {MAX_CRL_BYTES} bytes.")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError:
        raise CertificateRejected("The crlData is not a valid X.509 CRL (PEM or DER).") from None


def crl_der(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.DER)


def certificate_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


# --- checks --------------------------------------------------------------------------


def _basic(cert: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _is_ca(cert: x509.Certificate) -> bool:
    basic = _basic(cert)
    if basic is None or not basic.ca:
        return False
    usage = _key_usage(cert)
    return usage is None or usage.key_cert_sign


def _check_hash(cert: x509.Certificate, what: str) -> None:
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        raise CertificateRejected(f"The signature algorithm of {what} is not supported.") from None
    if algorithm is None:  # Ed25519 / Ed448 sign without a separate hash
        if isinstance(cert.public_key(), (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            return
        raise CertificateRejected(f"The signature algorithm of {what} is not supported.")
    if not isinstance(algorithm, _STRONG_HASHES):
        raise CertificateRejected(
            f"The signature of {what} uses {algorithm.name.upper()}; "
            "SHA-256 or stronger is required."
        )


def _check_key(cert: x509.Certificate, what: str) -> None:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
            raise CertificateRejected(
                f"The RSA key of {what} has {key.key_size} bits; "
                f"{MIN_RSA_BITS}-{MAX_RSA_BITS} are accepted."
            )
        return
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)):
            raise CertificateRejected(f"The EC curve of {what} is not supported.")
        return
    raise CertificateRejected(f"The key type of {what} is not supported (RSA or EC only).")


def _check_dates(cert: x509.Certificate, now: datetime, what: str, anchored: bool) -> None:
    if now < cert.not_valid_before_utc:
        raise CertificateRejected(f"{what} is not yet valid.", anchored=anchored)
    if now > cert.not_valid_after_utc:
        raise CertificateRejected(f"{what} has expired.", anchored=anchored)


def check_leaf(leaf: x509.Certificate) -> None:
    """The end-entity rules: X.509 v3, CA:false, digitalSignature, SHA-256+, RSA/EC."""
    if leaf.version is not x509.Version.v3:
        raise CertificateRejected("The end-entity certificate must be an X.509 v3 certificate.")
    basic = _basic(leaf)
    if basic is None or basic.ca:
        raise CertificateRejected("The end-entity certificate must have basicConstraints CA:false.")
    usage = _key_usage(leaf)
    if usage is None or not usage.digital_signature:
        raise CertificateRejected(
            "The end-entity certificate must have the digitalSignature key usage."
        )
    _check_hash(leaf, "the end-entity certificate")
    _check_key(leaf, "the end-entity certificate")


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


@dataclass(frozen=True, slots=True)
class ValidatedPath:
    """The certificates from the leaf to (and including) the anchor's CA certificate."""

    certificates: tuple[x509.Certificate, ...]

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[0]

    @property
    def anchor(self) -> x509.Certificate:
        return self.certificates[-1]


def build_path(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
) -> tuple[x509.Certificate, ...] | None:
    """A path leaf → … → anchor certificate whose every signature verifies, or None.
    Depth-first over candidates whose subject is the current issuer; each
    intermediate used at most once, so the search is bounded by the (bounded) inputs."""

    def extend(
        path: tuple[x509.Certificate, ...], unused: tuple[int, ...]
    ) -> tuple[x509.Certificate, ...] | None:
        current = path[-1]
        for anchor in anchors:
            if anchor.subject == current.issuer and _signed_by(current, anchor):
                return (*path, anchor)
        for i in unused:
            candidate = intermediates[i]
            if candidate.subject == current.issuer and _signed_by(current, candidate):
                found = extend((*path, candidate), tuple(j for j in unused if j != i))
                if found is not None:
                    return found
        return None

    return extend((leaf,), tuple(range(len(intermediates))))


def validate(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList],
    now: datetime,
) -> ValidatedPath:
    """Validate ``leaf`` for CreateSession; raise ``CertificateRejected`` otherwise."""
    if len(intermediates) > MAX_INTERMEDIATES:
        raise CertificateRejected(
            f"The certificate chain carries more than {MAX_INTERMEDIATES} intermediates."
        )
    check_leaf(leaf)
    path = build_path(leaf, intermediates, anchors)
    if path is None:
        raise CertificateRejected("Untrusted certificate: it does not chain to the trust anchor.")
    # the path is cryptographically sound: from here a refusal is an anchored failure
    _check_dates(leaf, now, "The end-entity certificate", anchored=True)
    for depth, issuer in enumerate(path[1:], start=1):
        what = f"The CA certificate {issuer.subject.rfc4514_string()}"
        _check_dates(issuer, now, what, anchored=True)
        if not _is_ca(issuer):
            raise CertificateRejected(f"{what} is not a CA certificate.", anchored=True)
        try:
            _check_hash(issuer, what.lower())
        except CertificateRejected as exc:
            raise CertificateRejected(exc.message, anchored=True) from None
        basic = _basic(issuer)
        # path length: the number of intermediates below this CA (leaf excluded)
        below = depth - 1
        if basic is not None and basic.path_length is not None and below > basic.path_length:
            raise CertificateRejected(f"{what} exceeds its path length limit.", anchored=True)
    _check_revocation(path, crls)
    return ValidatedPath(path)


def _check_revocation(
    path: Sequence[x509.Certificate], crls: Sequence[x509.CertificateRevocationList]
) -> None:
    for cert, issuer in itertools.pairwise(path):
        for crl in crls:
            if crl.issuer != issuer.subject:
                continue
            key = issuer.public_key()
            try:
                valid = crl.is_signature_valid(key)  # type: ignore[arg-type]
            except (TypeError, ValueError, UnsupportedAlgorithm):
                valid = False
            if not valid:
                raise CertificateRejected(
                    "A CRL imported for this trust anchor names the issuer "
                    f"{issuer.subject.rfc4514_string()} but its signature does not verify; "
                    "revocation cannot be checked.",
                    anchored=True,
                )
            if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
                raise CertificateRejected("The certificate has been revoked.", anchored=True)
