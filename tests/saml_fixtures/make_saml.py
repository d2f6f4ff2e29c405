"""Test SAML identity provider: builds IdP metadata and SAML 2.0 Responses signed with
a certificate made at test time (cryptography for the key and certificate, signxml
for the XML signatures), plus the hostile variants the security tests need (signature
wrapping, XXE, entity expansion, tampering, encryption).

No private key is checked in: every ``SamlIdP()`` generates its own RSA key and
self-signed certificate (or is given them). Run it to write a metadata document and
a signed response for manual experiments (``--help`` lists every option)::

    python -m tests.saml_fixtures.make_saml \\
        --role arn:aws:iam::123456789012:role/dev --provider corp-idp
    # -> idp-metadata.xml, saml-response.b64 (valid 5 minutes), and saml-idp.pem: the
    #    IdP's key and certificate, reused by later runs so the metadata stays valid
"""

from __future__ import annotations

import argparse
import base64
import copy
import os
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner

A = "urn:oasis:names:tc:SAML:2.0:assertion"
P = "urn:oasis:names:tc:SAML:2.0:protocol"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"
XENC11 = "http://www.w3.org/2009/xmlenc11#"

AWS_SIGNIN = "https://signin.aws.amazon.com/saml"
ATTR = "https://aws.amazon.com/SAML/Attributes/"
ROLE_ATTR = ATTR + "Role"
SESSION_NAME_ATTR = ATTR + "RoleSessionName"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

Sign = Literal["assertion", "response", "both", "none"]


class _AnySigner(XMLSigner):
    """signxml's signer without its SHA-1 refusal: old IdPs still sign with
    RSA-SHA1, and the tests check that Tessera refuses such signatures."""

    def check_deprecated_methods(self) -> None:
        return None


def _q(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


def instant(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def new_id() -> str:
    return "_" + uuid.uuid4().hex


def self_signed(
    key: rsa.RSAPrivateKey, common_name: str, *, days: int = 3650, start: datetime | None = None
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    begin = start or datetime.now(UTC) - timedelta(days=1)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(begin)
        .not_valid_after(begin + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )


@dataclass
class ResponseSpec:
    """Everything a test may want to vary in a SAML Response."""

    roles: Sequence[str] = ()  # values of the Role attribute ("role-arn,provider-arn")
    session_name: str | None = "alice"
    name_id: str | None = "alice@example.test"
    name_id_format: str | None = PERSISTENT
    issuer: str | None = None  # default: the IdP's entity ID
    now: datetime | None = None  # default: the real current time
    issue_offset: timedelta = timedelta(0)  # IssueInstant = now + offset
    lifetime: timedelta = timedelta(minutes=5)  # Conditions / confirmation NotOnOrAfter
    recipient: str | None = AWS_SIGNIN
    audiences: Sequence[str] = (AWS_SIGNIN,)
    conditions: bool = True
    session_not_on_or_after: datetime | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    status: str = SUCCESS
    assertion_id: str = field(default_factory=new_id)
    response_id: str = field(default_factory=new_id)


class SamlIdP:
    """An identity provider with a fresh RSA-2048 key and a self-signed certificate."""

    def __init__(
        self,
        entity_id: str = "https://idp.example.test/saml",
        *,
        key_size: int = 2048,
        cert_days: int = 3650,
        cert_start: datetime | None = None,
        key: rsa.RSAPrivateKey | None = None,
        cert: x509.Certificate | None = None,
    ) -> None:
        self.entity_id = entity_id
        self.signature_method = SignatureMethod.RSA_SHA256
        self.digest_algorithm = DigestAlgorithm.SHA256
        self.key = key or rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        self.cert = cert or self_signed(
            self.key, "Tessera test IdP", days=cert_days, start=cert_start
        )

    # --- key material ---------------------------------------------------------------

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_b64(self) -> str:
        return base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()

    # --- metadata -------------------------------------------------------------------

    def metadata(
        self,
        *,
        valid_until: datetime | None = None,
        extra_certs: Sequence[x509.Certificate] = (),
        include_own_cert: bool = True,
    ) -> str:
        certs = ([self.cert] if include_own_cert else []) + list(extra_certs)
        keys = "".join(
            '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
            + base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
            + "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            for c in certs
        )
        until = f' validUntil="{instant(valid_until)}"' if valid_until else ""
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<md:EntityDescriptor xmlns:md="{MD}" xmlns:ds="{DS}" '
            f'entityID="{self.entity_id}"{until}>'
            '<md:IDPSSODescriptor WantAuthnRequestsSigned="false" '
            f'protocolSupportEnumeration="{P}">{keys}'
            "<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
            "</md:NameIDFormat>"
            '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
            'Location="https://idp.example.test/saml/sso"/>'
            "</md:IDPSSODescriptor></md:EntityDescriptor>"
        )

    # --- responses ------------------------------------------------------------------

    def assertion_element(self, spec: ResponseSpec) -> etree._Element:
        now = spec.now or datetime.now(UTC)
        issued = now + spec.issue_offset
        until = issued + spec.lifetime
        nsmap = {"saml": A}
        assertion = etree.Element(_q(A, "Assertion"), nsmap=nsmap)
        assertion.set("ID", spec.assertion_id)
        assertion.set("IssueInstant", instant(issued))
        assertion.set("Version", "2.0")
        etree.SubElement(assertion, _q(A, "Issuer")).text = spec.issuer or self.entity_id
        subject = etree.SubElement(assertion, _q(A, "Subject"))
        if spec.name_id is not None:
            name = etree.SubElement(subject, _q(A, "NameID"))
            name.text = spec.name_id
            if spec.name_id_format is not None:
                name.set("Format", spec.name_id_format)
        confirmation = etree.SubElement(subject, _q(A, "SubjectConfirmation"), Method=BEARER)
        data = etree.SubElement(confirmation, _q(A, "SubjectConfirmationData"))
        data.set("NotOnOrAfter", instant(until))
        if spec.recipient is not None:
            data.set("Recipient", spec.recipient)
        if spec.conditions:
            cond = etree.SubElement(assertion, _q(A, "Conditions"))
            cond.set("NotBefore", instant(issued - timedelta(seconds=30)))
            cond.set("NotOnOrAfter", instant(until))
            if spec.audiences:
                restriction = etree.SubElement(cond, _q(A, "AudienceRestriction"))
                for aud in spec.audiences:
                    etree.SubElement(restriction, _q(A, "Audience")).text = aud
        authn = etree.SubElement(assertion, _q(A, "AuthnStatement"))
        authn.set("AuthnInstant", instant(issued))
        authn.set("SessionIndex", spec.assertion_id)
        if spec.session_not_on_or_after is not None:
            authn.set("SessionNotOnOrAfter", instant(spec.session_not_on_or_after))
        ctx = etree.SubElement(authn, _q(A, "AuthnContext"))
        etree.SubElement(
            ctx, _q(A, "AuthnContextClassRef")
        ).text = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
        attributes: dict[str, list[str]] = {}
        if spec.roles:
            attributes[ROLE_ATTR] = list(spec.roles)
        if spec.session_name is not None:
            attributes[SESSION_NAME_ATTR] = [spec.session_name]
        attributes.update(spec.attributes)
        if attributes:
            statement = etree.SubElement(assertion, _q(A, "AttributeStatement"))
            for attr_name, values in attributes.items():
                attr = etree.SubElement(statement, _q(A, "Attribute"), Name=attr_name)
                for value in values:
                    etree.SubElement(attr, _q(A, "AttributeValue")).text = value
        return assertion

    def response_element(
        self, spec: ResponseSpec, assertion: etree._Element | None = None
    ) -> etree._Element:
        now = spec.now or datetime.now(UTC)
        response = etree.Element(_q(P, "Response"), nsmap={"samlp": P, "saml": A})
        response.set("ID", spec.response_id)
        response.set("Version", "2.0")
        response.set("IssueInstant", instant(now + spec.issue_offset))
        if spec.recipient is not None:
            response.set("Destination", spec.recipient)
        etree.SubElement(response, _q(A, "Issuer")).text = spec.issuer or self.entity_id
        status = etree.SubElement(response, _q(P, "Status"))
        etree.SubElement(status, _q(P, "StatusCode"), Value=spec.status)
        response.append(assertion if assertion is not None else self.assertion_element(spec))
        return response

    def sign_element(self, element: etree._Element) -> etree._Element:
        """Enveloped signature (RSA-SHA256 unless ``signature_method`` says otherwise)
        placed right after the element's Issuer, where the SAML schema wants it;
        returns the signed copy."""
        element = copy.deepcopy(element)
        placeholder = etree.Element(_q(DS, "Signature"), nsmap={"ds": DS}, Id="placeholder")
        issuer = element.find(_q(A, "Issuer"))
        if issuer is not None:
            issuer.addnext(placeholder)
        else:
            element.insert(0, placeholder)
        signer = _AnySigner(
            signature_algorithm=self.signature_method,
            digest_algorithm=self.digest_algorithm,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        )
        signed: etree._Element = signer.sign(
            element, key=self.key, cert=[self.cert], reference_uri=element.get("ID")
        )
        return signed

    def response_xml(self, spec: ResponseSpec, sign: Sign = "assertion") -> bytes:
        assertion = self.assertion_element(spec)
        if sign in ("assertion", "both"):
            assertion = self.sign_element(assertion)
        response = self.response_element(spec, assertion)
        if sign in ("response", "both"):
            response = self.sign_element(response)
        return etree.tostring(response)

    def response(self, spec: ResponseSpec, sign: Sign = "assertion") -> str:
        """The base64 SAMLResponse, as a browser would POST it."""
        return encode(self.response_xml(spec, sign))

    def encrypted_response(
        self,
        spec: ResponseSpec,
        sp_cert_or_key: rsa.RSAPublicKey,
        *,
        sign: Sign = "assertion",
        algorithm: str = "aes256-gcm",
    ) -> str:
        """A response whose assertion is an EncryptedAssertion for ``sp_cert_or_key``
        (the SAML provider's private key's public half). ``sign="assertion"`` signs
        the assertion before encrypting it, ``"response"`` signs the Response after."""
        assertion = self.assertion_element(spec)
        if sign in ("assertion", "both"):
            assertion = self.sign_element(assertion)
        encrypted = encrypt_assertion(assertion, sp_cert_or_key, algorithm=algorithm)
        response = self.response_element(spec, encrypted)
        if sign in ("response", "both"):
            response = self.sign_element(response)
        return encode(etree.tostring(response))


def encode(xml: bytes) -> str:
    return base64.b64encode(xml).decode()


def decode(encoded: str) -> etree._Element:
    return etree.fromstring(base64.b64decode(encoded))


# --- XML encryption (what an IdP does when the SP has an encryption key) ---------------


def encrypt_assertion(
    assertion: etree._Element, public_key: rsa.RSAPublicKey, *, algorithm: str = "aes256-gcm"
) -> etree._Element:
    plaintext = etree.tostring(assertion)
    if algorithm == "aes256-gcm":
        key = os.urandom(32)
        iv = os.urandom(12)
        blob = iv + AESGCM(key).encrypt(iv, plaintext, None)
        data_alg = XENC11 + "aes256-gcm"
    elif algorithm == "aes128-cbc":
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        key = os.urandom(16)
        iv = os.urandom(16)
        pad = 16 - len(plaintext) % 16
        padded = plaintext + os.urandom(pad - 1) + bytes([pad])
        enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        blob = iv + enc.update(padded) + enc.finalize()
        data_alg = XENC + "aes128-cbc"
    else:
        raise ValueError(algorithm)
    wrapped = public_key.encrypt(
        key,
        padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
    )
    holder = etree.Element(_q(A, "EncryptedAssertion"), nsmap={"saml": A})
    data = etree.SubElement(
        holder, _q(XENC, "EncryptedData"), nsmap={"xenc": XENC, "ds": DS}, Type=XENC + "Element"
    )
    etree.SubElement(data, _q(XENC, "EncryptionMethod"), Algorithm=data_alg)
    key_info = etree.SubElement(data, _q(DS, "KeyInfo"))
    encrypted_key = etree.SubElement(key_info, _q(XENC, "EncryptedKey"))
    method = etree.SubElement(
        encrypted_key, _q(XENC, "EncryptionMethod"), Algorithm=XENC + "rsa-oaep-mgf1p"
    )
    etree.SubElement(method, _q(DS, "DigestMethod"), Algorithm=DS + "sha1")
    cipher = etree.SubElement(encrypted_key, _q(XENC, "CipherData"))
    etree.SubElement(cipher, _q(XENC, "CipherValue")).text = base64.b64encode(wrapped).decode()
    cipher = etree.SubElement(data, _q(XENC, "CipherData"))
    etree.SubElement(cipher, _q(XENC, "CipherValue")).text = base64.b64encode(blob).decode()
    return holder


# --- hostile variants -------------------------------------------------------------------


def tamper(signed_xml: bytes, old: str, new: str) -> str:
    """Edit signed XML after signing (the signature no longer matches)."""
    text = signed_xml.decode()
    assert old in text, old
    return encode(text.replace(old, new).encode())


def strip_signatures(signed_xml: bytes) -> str:
    root = etree.fromstring(signed_xml)
    for sig in root.iter(_q(DS, "Signature")):
        sig.getparent().remove(sig)
    return encode(etree.tostring(root))


def xsw_response_wrapper(idp: SamlIdP, good: ResponseSpec, evil: ResponseSpec) -> str:
    """XSW #1 (response signature): a forged Response carries the original Response's
    signature; the original, still-valid signed Response is hidden inside that
    ``ds:Signature`` (as a ``ds:Object``), so the reference still resolves to it."""
    original = etree.fromstring(idp.response_xml(good, sign="response"))
    signature = original.find(_q(DS, "Signature"))
    assert signature is not None
    original.remove(signature)
    forged = idp.response_element(evil)
    obj = etree.SubElement(signature, _q(DS, "Object"))
    obj.append(original)
    forged.find(_q(A, "Issuer")).addnext(signature)  # type: ignore[union-attr]
    return encode(etree.tostring(forged))


def xsw_response_sibling(idp: SamlIdP, good: ResponseSpec, evil: ResponseSpec) -> str:
    """XSW #2: like #1 but the original Response sits next to the signature (detached)."""
    original = etree.fromstring(idp.response_xml(good, sign="response"))
    signature = original.find(_q(DS, "Signature"))
    assert signature is not None
    original.remove(signature)
    forged = idp.response_element(evil)
    issuer = forged.find(_q(A, "Issuer"))
    assert issuer is not None
    issuer.addnext(signature)
    signature.addprevious(original)
    return encode(etree.tostring(forged))


def xsw_assertion_before(idp: SamlIdP, good: ResponseSpec, evil: ResponseSpec) -> str:
    """XSW #3 (assertion signature): a forged, unsigned assertion is inserted before the
    original signed one; naive code reads the first assertion."""
    response = etree.fromstring(idp.response_xml(good, sign="assertion"))
    original = response.find(_q(A, "Assertion"))
    assert original is not None
    forged = idp.assertion_element(replace(evil, assertion_id=new_id()))
    original.addprevious(forged)
    return encode(etree.tostring(response))


def xsw_assertion_wrapped(idp: SamlIdP, good: ResponseSpec, evil: ResponseSpec) -> str:
    """XSW #4: the original signed assertion becomes a child of the forged one."""
    response = etree.fromstring(idp.response_xml(good, sign="assertion"))
    original = response.find(_q(A, "Assertion"))
    assert original is not None
    forged = idp.assertion_element(replace(evil, assertion_id=new_id()))
    response.replace(original, forged)
    forged.append(original)
    return encode(etree.tostring(response))


def xsw_signature_moved(idp: SamlIdP, good: ResponseSpec, evil: ResponseSpec) -> str:
    """XSW #5/#8: the forged assertion carries the original assertion's signature; the
    original assertion is hidden in a ``ds:Object`` inside that signature."""
    response = etree.fromstring(idp.response_xml(good, sign="assertion"))
    original = response.find(_q(A, "Assertion"))
    assert original is not None
    signature = original.find(_q(DS, "Signature"))
    assert signature is not None
    original.remove(signature)
    forged = idp.assertion_element(replace(evil, assertion_id=new_id()))
    forged.find(_q(A, "Issuer")).addnext(signature)  # type: ignore[union-attr]
    response.replace(original, forged)
    etree.SubElement(signature, _q(DS, "Object")).append(original)
    return encode(etree.tostring(response))


def xsw_extensions(idp: SamlIdP, good: ResponseSpec, evil: ResponseSpec) -> str:
    """XSW #7: the original signed assertion is moved into a ``samlp:Extensions``
    element and a forged assertion takes its place."""
    response = etree.fromstring(idp.response_xml(good, sign="assertion"))
    original = response.find(_q(A, "Assertion"))
    assert original is not None
    forged = idp.assertion_element(replace(evil, assertion_id=new_id()))
    response.replace(original, forged)
    extensions = etree.Element(_q(P, "Extensions"))
    extensions.append(original)
    response.find(_q(A, "Issuer")).addnext(extensions)  # type: ignore[union-attr]
    return encode(etree.tostring(response))


def signature_at_response_level(idp: SamlIdP, good: ResponseSpec) -> str:
    """An assertion signature moved up to the Response: the reference names the
    assertion, not the element that holds the signature."""
    response = etree.fromstring(idp.response_xml(good, sign="assertion"))
    original = response.find(_q(A, "Assertion"))
    assert original is not None
    signature = original.find(_q(DS, "Signature"))
    assert signature is not None
    original.remove(signature)
    response.find(_q(A, "Issuer")).addnext(signature)  # type: ignore[union-attr]
    return encode(etree.tostring(response))


def comment_injection(idp: SamlIdP, spec: ResponseSpec, value: str, cut: int) -> str:
    """Sign ``value`` as NameID, then insert an XML comment into it at ``cut``:
    exclusive C14N ignores comments, so the signature still verifies (CVE-2017-11427)."""
    xml = idp.response_xml(replace(spec, name_id=value), sign="assertion").decode()
    injected = value[:cut] + "<!---->" + value[cut:]
    assert xml.count(f">{value}<") == 1
    return encode(xml.replace(f">{value}<", f">{injected}<").encode())


def with_doctype(idp: SamlIdP, spec: ResponseSpec, doctype: str, entity_ref: str) -> str:
    """A signed response with a DOCTYPE prepended and ``entity_ref`` placed in the
    RoleSessionName (XXE / entity expansion)."""
    xml = idp.response_xml(spec, sign="assertion").decode()
    assert spec.session_name is not None
    xml = xml.replace(f">{spec.session_name}<", f">{entity_ref}<", 1)
    return encode((doctype + xml).encode())


XXE_DOCTYPE = '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + "]>"
)


# --- CLI ----------------------------------------------------------------------------------


def load_or_create_idp(path: Path, entity_id: str) -> tuple[SamlIdP, bool]:
    """The IdP whose key and certificate are in ``path`` (PEM, key first), or a new
    one saved there (mode 0600); and whether it was created."""
    if path.exists():
        data = path.read_bytes()
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise SystemExit(f"make_saml: {path} does not hold an RSA private key")
        return SamlIdP(entity_id, key=key, cert=x509.load_pem_x509_certificate(data)), False
    idp = SamlIdP(entity_id)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(idp.key_pem + idp.cert_pem)
    return idp, True


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.saml_fixtures.make_saml",
        description="Write a test SAML IdP's metadata document and a signed SAML Response "
        "for AssumeRoleWithSAML, for trying Tessera's SAML federation by hand. The IdP's "
        "key and certificate are kept in --idp-file, so a provider created from the "
        "metadata keeps accepting the responses of later runs.",
        epilog="Then: aws iam create-saml-provider --name PROVIDER --saml-metadata-document "
        "file://idp-metadata.xml; aws sts assume-role-with-saml --role-arn ROLE "
        "--principal-arn arn:aws:iam::ACCOUNT:saml-provider/PROVIDER --saml-assertion "
        "file://saml-response.b64 (each with --endpoint-url).",
    )
    parser.add_argument(
        "--role",
        required=True,
        metavar="ARN",
        help="the role to assume, e.g. arn:aws:iam::123456789012:role/dev (its account is "
        "the provider's account)",
    )
    parser.add_argument(
        "--provider", required=True, metavar="NAME", help="the IAM SAML provider's name"
    )
    parser.add_argument(
        "--account",
        metavar="ID",
        help="the provider's account (default: the role ARN's account)",
    )
    parser.add_argument(
        "--session-name", default="alice", help="the RoleSessionName attribute (default alice)"
    )
    parser.add_argument(
        "--entity-id",
        default="https://idp.example.test/saml",
        help="the IdP's entityID, the Issuer of its responses "
        "(default https://idp.example.test/saml)",
    )
    parser.add_argument(
        "--metadata-out",
        type=Path,
        default=Path("idp-metadata.xml"),
        metavar="FILE",
        help="where the metadata document goes (default idp-metadata.xml; - for stdout)",
    )
    parser.add_argument(
        "--response-out",
        type=Path,
        default=Path("saml-response.b64"),
        metavar="FILE",
        help="where the base64 SAMLResponse goes, valid for 5 minutes (default "
        "saml-response.b64; - for stdout)",
    )
    parser.add_argument(
        "--idp-file",
        type=Path,
        default=Path("saml-idp.pem"),
        metavar="FILE",
        help="the IdP's private key and certificate (PEM): reused when it exists, else "
        "created with mode 0600 (default saml-idp.pem)",
    )
    args = parser.parse_args(argv)
    parts = args.role.split(":")
    account = args.account or (parts[4] if len(parts) > 5 else None)
    if not account:
        parser.error(f"--role: not a role ARN: {args.role!r}")
    idp, created = load_or_create_idp(args.idp_file, args.entity_id)
    provider_arn = f"arn:aws:iam::{account}:saml-provider/{args.provider}"
    spec = ResponseSpec(roles=[f"{args.role},{provider_arn}"], session_name=args.session_name)
    for target, text, what in (
        (args.metadata_out, idp.metadata(), "metadata document"),
        (args.response_out, idp.response(spec), "SAMLResponse (valid for 5 minutes)"),
    ):
        if str(target) == "-":
            print(text)
        else:
            target.write_text(text + "\n", encoding="utf-8")
            print(f"wrote the {what} to {target}", file=sys.stderr)
    state = "created" if created else "reused"
    print(f"{state} the IdP key and certificate in {args.idp_file}", file=sys.stderr)


if __name__ == "__main__":
    main()
