"""SAML 2.0 Response verification for AssumeRoleWithSAML.

A response arrives as base64 text (an unverified ``SAMLAssertion`` parameter); only
:func:`verify_response` turns it into a :class:`VerifiedAssertion`, and every value a
``VerifiedAssertion`` holds comes from XML that signxml returned *as signed*
(``verify(...).signed_xml``, re-parsed from its canonical form, so comments an
attacker slipped into a value are gone). Elements are never re-found in the
received tree to read data; the received tree is only used to *refuse* (Status,
a pre-check of the Issuer, counting assertions and signatures).

Order of checks (each failure raises the STS error AWS uses):

1. base64 → "Invalid base64 SAMLResponse" [C]; hardened XML (``tessera.federation.saml.xml``:
   no DTD, no entities, no network) → InvalidIdentityToken.
2. The root is a ``samlp:Response`` whose StatusCode is Success (else
   ``IDPRejectedClaim``) holding **exactly one** ``saml:Assertion`` anywhere in the
   document, as a direct child of the Response (signature-wrapping variants all need
   a second assertion). Encrypted assertions are decrypted first when the provider
   has private keys (``tessera.federation.saml.encryption``).
3. Issuer (pre-check on the received tree) equals the metadata ``entityID`` →
   "Issuer not present in specified provider" [C].
4. Signatures: at most one ``ds:Signature`` directly under the Response and at most one
   directly under the Assertion, at least one of them present; every present one must
   verify against one of the metadata's signing certificates (signxml, SHA-1
   refused) and its single Reference must resolve to the element that holds it
   (same ``ID``). The assertion is then taken from the signed XML (the Assertion's own
   signed form when it is signed, else the one Assertion inside the signed
   Response). Failure: "Response signature invalid" [C].
5. On the signed assertion: Version 2.0, Issuer again; IssueInstant at most 5 minutes
   old ("Token must be redeemed within 5 minutes of issuance" [C],
   ``ExpiredTokenException``); Conditions NotBefore / NotOnOrAfter ("Response has
   expired" [C]); every AudienceRestriction names an accepted audience; exactly one
   bearer SubjectConfirmation whose SubjectConfirmationData has a Recipient and
   NotOnOrAfter ("Responses must contain SubjectConfirmatonData with a Recipient and
   NotOnOrAfter" [C], AWS's spelling) with an accepted Recipient, not expired.

Clock skew: NotBefore and IssueInstant may be up to 5 minutes in the future [I];
NotOnOrAfter limits are applied exactly [I]. The replay check (assertion ID) is the
caller's, after the trust decision (``tessera.sts.saml``)."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509
from lxml import etree
from signxml.verifier import SignatureConfiguration, VerifyResult, XMLVerifier

from tessera.errors import ExpiredTokenException, IDPRejectedClaim, InvalidIdentityToken
from tessera.federation.saml.metadata import IdpMetadata
from tessera.federation.saml.xml import (
    SAML_ASSERTION,
    SAML_PROTOCOL,
    XMLDSIG,
    XmlRejected,
    parse_instant,
    parse_xml,
    q,
    text_of,
)

log = logging.getLogger("tessera.federation.saml")

CLOCK_SKEW: Final = timedelta(minutes=5)
REDEEM_WITHIN: Final = timedelta(minutes=5)
MAX_ID_LENGTH: Final = 256
MAX_RESPONSE_BYTES: Final = 1_000_000

BEARER: Final = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
STATUS_SUCCESS: Final = "urn:oasis:names:tc:SAML:2.0:status:Success"

_RESPONSE: Final = q(SAML_PROTOCOL, "Response")
_ASSERTION: Final = q(SAML_ASSERTION, "Assertion")
_ENCRYPTED_ASSERTION: Final = q(SAML_ASSERTION, "EncryptedAssertion")
_SIGNATURE: Final = q(XMLDSIG, "Signature")

# --- AWS's texts ------------------------------------------------------------------------
# [C] (real STS answers quoted in public threads and AWS's troubleshooting guide; AWS
# appends an internal-service suffix "(Service: AWSOpenIdDiscoveryService; …)" to some
# of them, which Tessera leaves out)
INVALID_BASE64: Final = "Invalid base64 SAMLResponse"
SIGNATURE_INVALID: Final = "Response signature invalid"
ISSUER_MISMATCH: Final = "Issuer not present in specified provider"
REDEEM_TOO_LATE: Final = "Token must be redeemed within 5 minutes of issuance"
EXPIRED: Final = "Response has expired"
CONFIRMATION_REQUIRED: Final = (
    "Responses must contain SubjectConfirmatonData with a Recipient and NotOnOrAfter"
)
# [C] heading of AWS's troubleshooting guide; the code (InvalidIdentityToken) is [I]
AUDIENCE_MISSING: Final = "Response does not contain the required audience."
# [I]
NOT_WELL_FORMED: Final = "Invalid SAML response: the document is not well-formed XML."
FORBIDDEN_XML: Final = (
    "Invalid SAML response: DTDs, entity declarations and external references are not allowed."
)
NOT_A_RESPONSE: Final = "Invalid SAML response: the document is not a SAML 2.0 Response."
ONE_ASSERTION: Final = "Invalid SAML response: a response must contain exactly one assertion."
INVALID_ASSERTION: Final = "Invalid SAML response: the assertion is malformed."
NOT_YET_VALID: Final = "Response is not yet valid"
RECIPIENT_INVALID: Final = "Response does not contain a valid recipient."
IDP_REJECTED: Final = "The identity provider did not authenticate the user (status {status})."


@dataclass(frozen=True, slots=True)
class SamlAttribute:
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    """The facts of a signed, current assertion for this relying party."""

    assertion_id: str
    issuer: str
    issue_instant: datetime
    name_id: str | None
    name_id_format: str | None
    recipient: str
    audiences: tuple[str, ...]
    not_on_or_after: datetime  # the earliest NotOnOrAfter of Conditions / confirmation
    session_not_on_or_after: datetime | None  # AuthnStatement SessionNotOnOrAfter
    attributes: tuple[SamlAttribute, ...]
    signed: frozenset[str]  # "Response" and/or "Assertion"
    encrypted: bool = False

    def values(self, name: str) -> tuple[str, ...] | None:
        """All values of the attributes called ``name`` (case-sensitive, as AWS reads
        them); None when the assertion has no such attribute."""
        found = [a for a in self.attributes if a.name == name]
        if not found:
            return None
        return tuple(v for a in found for v in a.values)

    @property
    def replay_expires_at(self) -> datetime:
        """After this instant the assertion fails verification anyway."""
        return min(self.not_on_or_after, self.issue_instant + REDEEM_WITHIN)


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """What Tessera accepts: Recipient / Audience predicates and the current time."""

    now: datetime
    accept_recipient: Callable[[str], bool]
    accept_audience: Callable[[str], bool]


Decryptor = Callable[[etree._Element], bytes]


def _invalid(message: str) -> InvalidIdentityToken:
    return InvalidIdentityToken(message)


def decode_response(encoded: str) -> bytes:
    compact = "".join(encoded.split())
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _invalid(INVALID_BASE64) from exc
    if not data:
        raise _invalid(INVALID_BASE64)
    return data


def _parse(data: bytes) -> etree._Element:
    try:
        return parse_xml(data, max_bytes=MAX_RESPONSE_BYTES)
    except XmlRejected as exc:
        log.info("SAML response refused by the XML parser: %s", exc.reason)
        raise _invalid(FORBIDDEN_XML if exc.forbidden else NOT_WELL_FORMED) from exc


def _check_status(root: etree._Element) -> None:
    code = root.find(f"{q(SAML_PROTOCOL, 'Status')}/{q(SAML_PROTOCOL, 'StatusCode')}")
    value = code.get("Value") if code is not None else None
    if value is None:
        raise _invalid(NOT_A_RESPONSE)
    if value != STATUS_SUCCESS:
        raise IDPRejectedClaim(IDP_REJECTED.format(status=value.rsplit(":", 1)[-1]))


def _verification_time(cert: x509.Certificate, now: datetime) -> datetime:
    """``now`` clamped into the certificate's validity window: metadata certificates
    are key carriers and their dates are not enforced [I]."""
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return min(max(now, start), end)


def _verify_signature(
    data: bytes, location: str, certificates: Sequence[x509.Certificate], now: datetime
) -> etree._Element:
    """The XML signed by the ``ds:Signature`` at ``location`` (relative to the root),
    verified against one of ``certificates``; ``InvalidIdentityToken`` otherwise."""
    for cert in certificates:
        config = SignatureConfiguration(
            location=location,
            expect_references=1,
            verification_time=_verification_time(cert, now),
        )
        try:
            result = XMLVerifier().verify(data, x509_cert=cert, expect_config=config)
        except Exception as exc:  # fail closed on anything signxml or lxml raises
            # the type only: signxml's messages quote reference URIs (assertion IDs)
            log.debug("a signature was not verified with a metadata key: %s", type(exc).__name__)
            continue
        if isinstance(result, VerifyResult) and result.signed_xml is not None:
            return result.signed_xml
    raise _invalid(SIGNATURE_INVALID)


def _same_id(signed: etree._Element, holder: etree._Element) -> bool:
    signed_id = signed.get("ID")
    return bool(signed_id) and signed_id == holder.get("ID")


def _signed_assertion(
    data: bytes,
    root: etree._Element,
    original: etree._Element,
    certificates: Sequence[x509.Certificate],
    now: datetime,
) -> tuple[etree._Element, frozenset[str]]:
    response_signatures = root.findall(_SIGNATURE)
    assertion_signatures = original.findall(_SIGNATURE)
    if len(response_signatures) > 1 or len(assertion_signatures) > 1:
        raise _invalid(SIGNATURE_INVALID)
    if not response_signatures and not assertion_signatures:
        raise _invalid(SIGNATURE_INVALID)  # unsigned
    signed_parts: set[str] = set()
    assertion: etree._Element | None = None
    if response_signatures:
        signed = _verify_signature(data, "./", certificates, now)
        if signed.tag != _RESPONSE or not _same_id(signed, root):
            raise _invalid(SIGNATURE_INVALID)  # the Reference does not name this Response
        inner = [child for child in signed if child.tag == _ASSERTION]
        if len(inner) != 1 or sum(1 for _ in signed.iter(_ASSERTION)) != 1:
            raise _invalid(ONE_ASSERTION)
        assertion = inner[0]
        signed_parts.add("Response")
    if assertion_signatures:
        location = f"./{_ASSERTION}/"
        signed = _verify_signature(data, location, certificates, now)
        if signed.tag != _ASSERTION or not _same_id(signed, original):
            raise _invalid(SIGNATURE_INVALID)  # the Reference does not name this Assertion
        assertion = signed
        signed_parts.add("Assertion")
    assert assertion is not None
    return assertion, frozenset(signed_parts)


def _instant(value: str | None, *, required: bool) -> datetime | None:
    if value is None:
        if required:
            raise _invalid(INVALID_ASSERTION)
        return None
    parsed = parse_instant(value)
    if parsed is None:
        raise _invalid(INVALID_ASSERTION)
    return parsed


def _read_assertion(
    assertion: etree._Element,
    metadata: IdpMetadata,
    rp: RelyingParty,
    signed: frozenset[str],
    encrypted: bool,
) -> VerifiedAssertion:
    a = SAML_ASSERTION
    now = rp.now
    if assertion.get("Version") != "2.0":
        raise _invalid(INVALID_ASSERTION)
    assertion_id = assertion.get("ID") or ""
    if not assertion_id or len(assertion_id) > MAX_ID_LENGTH:
        raise _invalid(INVALID_ASSERTION)
    issuer = text_of(assertion.find(q(a, "Issuer")))
    if issuer != metadata.entity_id:
        raise _invalid(ISSUER_MISMATCH)
    issue_instant = _instant(assertion.get("IssueInstant"), required=True)
    assert issue_instant is not None
    if issue_instant > now + CLOCK_SKEW:
        raise _invalid(NOT_YET_VALID)
    if now - issue_instant > REDEEM_WITHIN:
        raise ExpiredTokenException(REDEEM_TOO_LATE)

    # --- Conditions ---------------------------------------------------------------
    limits: list[datetime] = []
    conditions = assertion.findall(q(a, "Conditions"))
    if len(conditions) > 1:
        raise _invalid(INVALID_ASSERTION)
    audiences: list[str] = []
    restrictions = 0
    if conditions:
        cond = conditions[0]
        not_before = _instant(cond.get("NotBefore"), required=False)
        not_after = _instant(cond.get("NotOnOrAfter"), required=False)
        if not_before is not None and now + CLOCK_SKEW < not_before:
            raise _invalid(NOT_YET_VALID)
        if not_after is not None:
            if now >= not_after:
                raise ExpiredTokenException(EXPIRED)
            limits.append(not_after)
        for restriction in cond.findall(q(a, "AudienceRestriction")):
            restrictions += 1
            named = [text_of(e) or "" for e in restriction.findall(q(a, "Audience"))]
            if not any(rp.accept_audience(v) for v in named):
                raise _invalid(AUDIENCE_MISSING)
            audiences.extend(named)
    if restrictions == 0:
        raise _invalid(AUDIENCE_MISSING)

    # --- Subject ------------------------------------------------------------------
    subjects = assertion.findall(q(a, "Subject"))
    if len(subjects) > 1:
        raise _invalid(INVALID_ASSERTION)
    name_id: str | None = None
    name_format: str | None = None
    confirmations: list[etree._Element] = []
    if subjects:
        name_el = subjects[0].find(q(a, "NameID"))
        if name_el is not None:
            name_id = text_of(name_el) or None
            name_format = name_el.get("Format")
        confirmations = subjects[0].findall(q(a, "SubjectConfirmation"))
    if len(confirmations) != 1 or confirmations[0].get("Method") != BEARER:
        raise _invalid(CONFIRMATION_REQUIRED)
    data_el = confirmations[0].find(q(a, "SubjectConfirmationData"))
    recipient = data_el.get("Recipient") if data_el is not None else None
    confirm_after = _instant(
        data_el.get("NotOnOrAfter") if data_el is not None else None, required=False
    )
    if data_el is None or not recipient or confirm_after is None:
        raise _invalid(CONFIRMATION_REQUIRED)
    if not rp.accept_recipient(recipient):
        raise _invalid(RECIPIENT_INVALID)
    confirm_before = _instant(data_el.get("NotBefore"), required=False)
    if confirm_before is not None and now + CLOCK_SKEW < confirm_before:
        raise _invalid(NOT_YET_VALID)
    if now >= confirm_after:
        raise ExpiredTokenException(EXPIRED)
    limits.append(confirm_after)

    # --- statements ---------------------------------------------------------------
    session_not_after: datetime | None = None
    for statement in assertion.findall(q(a, "AuthnStatement")):
        value = _instant(statement.get("SessionNotOnOrAfter"), required=False)
        if value is not None and (session_not_after is None or value < session_not_after):
            session_not_after = value
    attributes: list[SamlAttribute] = []
    for statement in assertion.findall(q(a, "AttributeStatement")):
        for attribute in statement.findall(q(a, "Attribute")):
            name = attribute.get("Name")
            if not name:
                raise _invalid(INVALID_ASSERTION)
            values = tuple(text_of(v) or "" for v in attribute.findall(q(a, "AttributeValue")))
            attributes.append(SamlAttribute(name, values))

    return VerifiedAssertion(
        assertion_id=assertion_id,
        issuer=issuer,
        issue_instant=issue_instant,
        name_id=name_id,
        name_id_format=name_format,
        recipient=recipient,
        audiences=tuple(audiences),
        not_on_or_after=min(limits),
        session_not_on_or_after=session_not_after,
        attributes=tuple(attributes),
        signed=signed,
        encrypted=encrypted,
    )


def _signed_encrypted_assertion(
    data: bytes,
    root: etree._Element,
    holder: etree._Element,
    metadata: IdpMetadata,
    now: datetime,
    decrypt: Decryptor,
) -> tuple[etree._Element, frozenset[str]]:
    """An ``EncryptedAssertion``: the Response signature (if any) is verified over the
    ciphertext, the assertion decrypted from the *signed* copy, and a signature inside
    the decrypted assertion verified on its own. One of the two must be present."""
    if len(root.findall(_SIGNATURE)) > 1:
        raise _invalid(SIGNATURE_INVALID)
    signed_parts: set[str] = set()
    source = holder
    if root.find(_SIGNATURE) is not None:
        signed = _verify_signature(data, "./", metadata.certificates, now)
        if signed.tag != _RESPONSE or not _same_id(signed, root):
            raise _invalid(SIGNATURE_INVALID)
        inner = [child for child in signed if child.tag == _ENCRYPTED_ASSERTION]
        total = sum(1 for _ in signed.iter(_ASSERTION, _ENCRYPTED_ASSERTION))
        if len(inner) != 1 or total != 1:
            raise _invalid(ONE_ASSERTION)
        source = inner[0]
        signed_parts.add("Response")
    plaintext = decrypt(source)
    assertion_root = _parse(plaintext)
    if assertion_root.tag != _ASSERTION:
        raise _invalid(INVALID_ASSERTION)
    if sum(1 for _ in assertion_root.iter(_ASSERTION, _ENCRYPTED_ASSERTION)) != 1:
        raise _invalid(ONE_ASSERTION)
    if text_of(assertion_root.find(q(SAML_ASSERTION, "Issuer"))) != metadata.entity_id:
        raise _invalid(ISSUER_MISMATCH)
    signatures = assertion_root.findall(_SIGNATURE)
    if len(signatures) > 1:
        raise _invalid(SIGNATURE_INVALID)
    if signatures:
        signed = _verify_signature(plaintext, "./", metadata.certificates, now)
        if signed.tag != _ASSERTION or not _same_id(signed, assertion_root):
            raise _invalid(SIGNATURE_INVALID)
        signed_parts.add("Assertion")
        return signed, frozenset(signed_parts)
    if not signed_parts:
        raise _invalid(SIGNATURE_INVALID)  # neither the Response nor the assertion is signed
    # covered by the Response signature (over the ciphertext); canonicalise to drop comments
    canonical = etree.tostring(assertion_root, method="c14n")
    return _parse(canonical), frozenset(signed_parts)


def verify_response(
    encoded: str,
    metadata: IdpMetadata,
    rp: RelyingParty,
    *,
    decrypt: Decryptor | None = None,
    require_encryption: bool = False,
) -> VerifiedAssertion:
    """Verify a base64 SAML Response for ``metadata``'s IdP; see the module docstring.
    ``decrypt`` turns an ``EncryptedAssertion`` into the assertion's XML (None: the
    provider has no private key, so encrypted assertions are refused);
    ``require_encryption`` refuses plain assertions (AssertionEncryptionMode
    Required)."""
    data = decode_response(encoded)
    root = _parse(data)
    if root.tag != _RESPONSE or root.get("Version") != "2.0":
        raise _invalid(NOT_A_RESPONSE)
    _check_status(root)
    holders = list(root.iter(_ASSERTION, _ENCRYPTED_ASSERTION))
    if len(holders) != 1 or holders[0].getparent() is not root:
        raise _invalid(ONE_ASSERTION)
    holder = holders[0]
    if holder.tag == _ENCRYPTED_ASSERTION:
        if decrypt is None:
            raise _invalid(ENCRYPTED_NOT_CONFIGURED)
        assertion, signed = _signed_encrypted_assertion(
            data, root, holder, metadata, rp.now, decrypt
        )
        return _read_assertion(assertion, metadata, rp, signed, True)
    if require_encryption:
        raise _invalid(ENCRYPTION_REQUIRED)
    if text_of(holder.find(q(SAML_ASSERTION, "Issuer"))) != metadata.entity_id:
        raise _invalid(ISSUER_MISMATCH)
    assertion, signed = _signed_assertion(data, root, holder, metadata.certificates, rp.now)
    return _read_assertion(assertion, metadata, rp, signed, False)


# [I]
ENCRYPTION_REQUIRED: Final = (
    "Invalid SAML response: this provider requires encrypted assertions "
    "(AssertionEncryptionMode is Required)."
)
ENCRYPTED_NOT_CONFIGURED: Final = (
    "Invalid SAML response: the assertion is encrypted but the SAML provider has no "
    "private key to decrypt it."
)
