"""SAML Response verification with a fixed clock: what a VerifiedAssertion holds,
which signatures count, time windows and skew, certificate rotation, SHA-1, and —
independently of the one-assertion rule — that the signature logic alone refuses
every signature-wrapping variant (defence in depth)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from tests.saml_fixtures import make_saml as ms
from tests.saml_fixtures.make_saml import AWS_SIGNIN, ResponseSpec, SamlIdP

from tessera.errors import ExpiredTokenException, IDPRejectedClaim, InvalidIdentityToken
from tessera.federation.saml import response as r
from tessera.federation.saml.encryption import decryptor_for
from tessera.federation.saml.metadata import IdpMetadata, parse_metadata

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def idp() -> SamlIdP:
    return SamlIdP("https://idp.example.test/unit")


@pytest.fixture(scope="module")
def meta(idp: SamlIdP) -> IdpMetadata:
    return parse_metadata(idp.metadata())


def rp(now: datetime = NOW) -> r.RelyingParty:
    return r.RelyingParty(
        now=now,
        accept_recipient=lambda v: v == AWS_SIGNIN,
        accept_audience=lambda v: v in (AWS_SIGNIN, "urn:amazon:webservices"),
    )


def spec(**kw: object) -> ResponseSpec:
    base = ResponseSpec(
        roles=["arn:aws:iam::111111111111:role/r,arn:aws:iam::111111111111:saml-provider/p"],
        now=NOW,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def verify(encoded: str, meta: IdpMetadata, now: datetime = NOW) -> r.VerifiedAssertion:
    return r.verify_response(encoded, meta, rp(now))


def refused(encoded: str, meta: IdpMetadata, now: datetime = NOW, **kw: object) -> Exception:
    with pytest.raises((InvalidIdentityToken, ExpiredTokenException, IDPRejectedClaim)) as info:
        r.verify_response(encoded, meta, rp(now), **kw)  # type: ignore[arg-type]
    return info.value


def test_verified_assertion(idp: SamlIdP, meta: IdpMetadata) -> None:
    session_end = NOW + timedelta(hours=2)
    s = spec(
        session_not_on_or_after=session_end,
        attributes={"urn:x": ["1", "2"], "urn:empty": []},
        lifetime=timedelta(minutes=10),
    )
    v = verify(idp.response(s), meta)
    assert v.assertion_id == s.assertion_id
    assert v.issuer == idp.entity_id
    assert v.issue_instant == NOW
    assert (v.name_id, v.name_id_format) == ("alice@example.test", ms.PERSISTENT)
    assert v.recipient == AWS_SIGNIN and v.audiences == (AWS_SIGNIN,)
    assert v.not_on_or_after == NOW + timedelta(minutes=10)
    assert v.session_not_on_or_after == session_end
    assert v.values("urn:x") == ("1", "2")
    assert v.values("urn:empty") == ()
    assert v.values("urn:missing") is None
    assert v.values(ms.SESSION_NAME_ATTR) == ("alice",)
    assert v.signed == frozenset({"Assertion"}) and not v.encrypted
    # the replay cache keeps the ID until the 5-minute redemption window closes
    assert v.replay_expires_at == NOW + timedelta(minutes=5)


def test_signed_response_and_both(idp: SamlIdP, meta: IdpMetadata) -> None:
    assert verify(idp.response(spec(), sign="response"), meta).signed == {"Response"}
    assert verify(idp.response(spec(), sign="both"), meta).signed == {"Response", "Assertion"}


def test_certificate_rotation_and_expired_certificates(idp: SamlIdP) -> None:
    new = SamlIdP(idp.entity_id, cert_days=1, cert_start=NOW - timedelta(days=400))
    meta = parse_metadata(idp.metadata(extra_certs=[new.cert]))
    # signed with the second (rotated-in) key, whose certificate expired long ago
    assert verify(new.response(spec()), meta).issuer == idp.entity_id


def test_sha1_signatures_are_refused(meta: IdpMetadata) -> None:
    weak = SamlIdP("https://idp.example.test/unit")
    weak.signature_method = SignatureMethod.RSA_SHA1
    weak.digest_algorithm = DigestAlgorithm.SHA1
    weak_meta = parse_metadata(weak.metadata())
    assert refused(weak.response(spec()), weak_meta).args[0] == r.SIGNATURE_INVALID


def test_times(idp: SamlIdP, meta: IdpMetadata) -> None:
    # IdP clock up to 5 minutes ahead is tolerated, 10 minutes is not
    assert verify(idp.response(spec(issue_offset=timedelta(minutes=4))), meta)
    err = refused(idp.response(spec(issue_offset=timedelta(minutes=10))), meta)
    assert err.args[0] == r.NOT_YET_VALID
    # NotOnOrAfter is exact
    s = spec(lifetime=timedelta(minutes=2))
    encoded = idp.response(s)
    assert verify(encoded, meta, NOW + timedelta(minutes=2) - timedelta(microseconds=1))
    err = refused(encoded, meta, NOW + timedelta(minutes=2))
    assert isinstance(err, ExpiredTokenException) and err.args[0] == r.EXPIRED
    # redemption window: 5 minutes after IssueInstant, whatever NotOnOrAfter says
    long = idp.response(spec(lifetime=timedelta(hours=1)))
    assert verify(long, meta, NOW + timedelta(minutes=5))
    err = refused(long, meta, NOW + timedelta(minutes=5, seconds=1))
    assert isinstance(err, ExpiredTokenException) and err.args[0] == r.REDEEM_TOO_LATE


def test_audience_and_recipient(idp: SamlIdP, meta: IdpMetadata) -> None:
    assert verify(idp.response(spec(audiences=["urn:x", "urn:amazon:webservices"])), meta)
    assert refused(idp.response(spec(audiences=["urn:x"])), meta).args[0] == r.AUDIENCE_MISSING
    assert refused(idp.response(spec(conditions=False)), meta).args[0] == r.AUDIENCE_MISSING
    err = refused(idp.response(spec(recipient="https://evil.example/")), meta)
    assert err.args[0] == r.RECIPIENT_INVALID


def test_status_and_shape(idp: SamlIdP, meta: IdpMetadata) -> None:
    err = refused(idp.response(spec(status="urn:oasis:names:tc:SAML:2.0:status:Requester")), meta)
    assert isinstance(err, IDPRejectedClaim) and "Requester" in err.args[0]
    xml = idp.response_xml(spec()).decode()
    no_status = xml.replace("<samlp:Status>", "<samlp:Gone>").replace(
        "</samlp:Status>", "</samlp:Gone>"
    )
    assert refused(ms.encode(no_status.encode()), meta).args[0] == r.NOT_A_RESPONSE
    v1 = xml.replace('Version="2.0"', 'Version="1.1"', 1)
    assert refused(ms.encode(v1.encode()), meta).args[0] == r.NOT_A_RESPONSE
    assertion_only = etree.tostring(idp.sign_element(idp.assertion_element(spec())))
    assert refused(ms.encode(assertion_only), meta).args[0] == r.NOT_A_RESPONSE
    assert refused("%%%", meta).args[0] == r.INVALID_BASE64
    assert refused("", meta).args[0] == r.INVALID_BASE64
    # whitespace and line breaks in the base64 text are fine
    encoded = idp.response(spec())
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    assert verify(wrapped, meta)


def test_two_signatures_in_one_place_are_refused(idp: SamlIdP, meta: IdpMetadata) -> None:
    root = etree.fromstring(idp.response_xml(spec(), sign="response"))
    sig = root.find(f"{{{ms.DS}}}Signature")
    assert sig is not None
    sig.addnext(etree.fromstring(etree.tostring(sig)))
    assert refused(ms.encode(etree.tostring(root)), meta).args[0] == r.SIGNATURE_INVALID


VARIANTS = [
    ms.xsw_response_wrapper,
    ms.xsw_response_sibling,
    ms.xsw_assertion_before,
    ms.xsw_assertion_wrapped,
    ms.xsw_signature_moved,
    ms.xsw_extensions,
]


@pytest.mark.parametrize("variant", VARIANTS)
def test_wrapping_refused_by_the_signature_logic_alone(
    idp: SamlIdP,
    meta: IdpMetadata,
    variant: Callable[[SamlIdP, ResponseSpec, ResponseSpec], str],
) -> None:
    encoded = variant(idp, spec(), spec(name_id="mallory", assertion_id=ms.new_id()))
    err = refused(encoded, meta)
    assert err.args[0] in (r.ONE_ASSERTION, r.SIGNATURE_INVALID)
    # without the one-assertion rule, the signature checks still refuse it
    data = r.decode_response(encoded)
    root = r._parse(data)
    first = root.find(f"{{{ms.A}}}Assertion")
    assert first is not None
    with pytest.raises(InvalidIdentityToken) as info:
        r._signed_assertion(data, root, first, meta.certificates, NOW)
    assert info.value.args[0] == r.SIGNATURE_INVALID


def test_comments_are_not_data(idp: SamlIdP, meta: IdpMetadata) -> None:
    encoded = ms.comment_injection(idp, spec(), "admin@example.test.evil.example", 18)
    assert verify(encoded, meta).name_id == "admin@example.test.evil.example"


def test_only_the_signed_issuer_counts(idp: SamlIdP, meta: IdpMetadata) -> None:
    other = parse_metadata(SamlIdP("https://someone.else").metadata())
    assert refused(idp.response(spec()), other).args[0] == r.ISSUER_MISMATCH
    xml = idp.response_xml(spec())
    tampered = ms.tamper(
        xml, f">{idp.entity_id}</saml:Issuer><ds:Signature", ">x</saml:Issuer><ds:Signature"
    )
    assert refused(tampered, meta).args[0] == r.ISSUER_MISMATCH


# --- encrypted assertions ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sp_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("algorithm", ["aes256-gcm", "aes128-cbc"])
@pytest.mark.parametrize("sign", ["assertion", "response", "both"])
def test_encrypted_assertions(
    idp: SamlIdP, meta: IdpMetadata, sp_key: rsa.RSAPrivateKey, algorithm: str, sign: ms.Sign
) -> None:
    encoded = idp.encrypted_response(spec(), sp_key.public_key(), sign=sign, algorithm=algorithm)
    v = r.verify_response(encoded, meta, rp(), decrypt=decryptor_for([sp_key]))
    assert v.encrypted and v.name_id == "alice@example.test"
    expected = {
        "assertion": {"Assertion"},
        "response": {"Response"},
        "both": {"Response", "Assertion"},
    }
    assert v.signed == expected[sign]


def test_encrypted_assertion_failures(
    idp: SamlIdP, meta: IdpMetadata, sp_key: rsa.RSAPrivateKey
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encoded = idp.encrypted_response(spec(), sp_key.public_key())
    # no key configured / wrong key / unsigned inside and out
    assert refused(encoded, meta).args[0] == r.ENCRYPTED_NOT_CONFIGURED
    err = refused(encoded, meta, decrypt=decryptor_for([other]))
    assert "could not be decrypted" in err.args[0]
    assert r.verify_response(encoded, meta, rp(), decrypt=decryptor_for([other, sp_key]))
    unsigned = idp.encrypted_response(spec(), sp_key.public_key(), sign="none")
    err = refused(unsigned, meta, decrypt=decryptor_for([sp_key]))
    assert err.args[0] == r.SIGNATURE_INVALID
    # a flipped ciphertext byte (GCM) is a decryption failure, not a crash
    root = ms.decode(encoded)
    values = list(root.iter(f"{{{ms.XENC}}}CipherValue"))
    blob = bytearray(base64.b64decode(values[-1].text or ""))
    blob[-1] ^= 1
    values[-1].text = base64.b64encode(bytes(blob)).decode()
    err = refused(ms.encode(etree.tostring(root)), meta, decrypt=decryptor_for([sp_key]))
    assert "could not be decrypted" in err.args[0]
    # RSA PKCS#1 v1.5 key transport is refused
    v15 = etree.tostring(ms.decode(encoded)).replace(b"rsa-oaep-mgf1p", b"rsa-1_5")
    err = refused(ms.encode(v15), meta, decrypt=decryptor_for([sp_key]))
    assert "could not be decrypted" in err.args[0]
    # Required: plain assertions are refused
    err = refused(
        idp.response(spec()), meta, decrypt=decryptor_for([sp_key]), require_encryption=True
    )
    assert err.args[0] == r.ENCRYPTION_REQUIRED
    assert decryptor_for([]) is None
