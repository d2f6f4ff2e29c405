"""SAML 2.0 IdP metadata (the document uploaded with CreateSAMLProvider /
UpdateSAMLProvider): the entity ID (the Issuer every response must carry), the
signing certificates from the ``IDPSSODescriptor``'s ``KeyDescriptor``s and the
optional ``validUntil``.

Accepted: a root ``md:EntityDescriptor`` with a non-empty ``entityID`` and an
``md:IDPSSODescriptor`` whose ``KeyDescriptor``s (``use="signing"`` or no ``use``)
carry at least one X.509 certificate with an RSA key of ≥ 1024 bits (AWS's documented
minimum) or an EC key. Anything else is ``MetadataError`` ("Could not parse
metadata."). The metadata's own signature, if any, is not checked [I]: the document
is trusted because an IAM administrator uploaded it. Certificate validity dates are
not checked either: the certificate is only a carrier for the IdP's public key [I].
Parsing is cached per document text."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tessera.federation.saml.xml import (
    SAML_METADATA,
    SAML_PROTOCOL,
    XMLDSIG,
    XmlRejected,
    parse_instant,
    parse_xml,
    q,
    text_of,
)

MIN_RSA_BITS: Final = 1024
MAX_ENTITY_ID: Final = 1024


class MetadataError(Exception):
    """The metadata document cannot be used (reason for logs, never for clients)."""


@dataclass(frozen=True, slots=True)
class IdpMetadata:
    entity_id: str
    certificates: tuple[x509.Certificate, ...]  # signing certificates, document order
    valid_until: datetime | None


def _certificate(text: str) -> x509.Certificate:
    try:
        der = base64.b64decode("".join(text.split()), validate=True)
        cert = x509.load_der_x509_certificate(der)
        key = cert.public_key()
    except (binascii.Error, ValueError, TypeError) as exc:
        raise MetadataError("unreadable X509Certificate") from exc
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise MetadataError("RSA key shorter than 1024 bits")
    elif not isinstance(key, ec.EllipticCurvePublicKey):
        raise MetadataError("unsupported key type")
    return cert


@lru_cache(maxsize=256)
def parse_metadata(document: str) -> IdpMetadata:
    try:
        root = parse_xml(document.encode("utf-8"))
    except XmlRejected as exc:
        raise MetadataError(exc.reason) from exc
    except UnicodeEncodeError as exc:
        raise MetadataError("not UTF-8 encodable") from exc
    if root.tag != q(SAML_METADATA, "EntityDescriptor"):
        raise MetadataError("root element is not md:EntityDescriptor")
    entity_id = (root.get("entityID") or "").strip()
    if not entity_id or len(entity_id) > MAX_ENTITY_ID:
        raise MetadataError("missing entityID")
    valid_until_text = root.get("validUntil")
    valid_until = parse_instant(valid_until_text)
    if valid_until_text is not None and valid_until is None:
        raise MetadataError("unreadable validUntil")
    idps = root.findall(q(SAML_METADATA, "IDPSSODescriptor"))
    if not idps:
        raise MetadataError("no IDPSSODescriptor")
    certificates: list[x509.Certificate] = []
    for idp in idps:
        protocols = (idp.get("protocolSupportEnumeration") or "").split()
        if SAML_PROTOCOL not in protocols:
            continue
        for key_descriptor in idp.findall(q(SAML_METADATA, "KeyDescriptor")):
            if key_descriptor.get("use", "signing") != "signing":
                continue
            for element in key_descriptor.iterfind(
                f"{q(XMLDSIG, 'KeyInfo')}/{q(XMLDSIG, 'X509Data')}/{q(XMLDSIG, 'X509Certificate')}"
            ):
                text = text_of(element)
                if text:
                    certificates.append(_certificate(text))
    if not certificates:
        raise MetadataError("no signing certificate for SAML 2.0")
    return IdpMetadata(entity_id, tuple(certificates), valid_until)
