"""Certificate path validation for Roles Anywhere (``tessera.rolesanywhere.x509chain``)
with RSA and EC CAs made here: a valid chain with and without an intermediate, and
each refusal — dates, wrong CA, CA:true or no digitalSignature on the leaf, weak
hashes (a real SHA-1 signature and SHA-224), an intermediate without keyCertSign or
beyond its issuer's path length, too many intermediates, and revocation by a CRL
(whose own signature must verify)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from tests.e2e.x509_signer import (
    Issued,
    make_ca,
    make_crl,
    make_leaf,
    make_sha1_leaf,
    new_key,
)
from tests.pki import build_certificate, cn_name, key_usage

from tessera.rolesanywhere.x509chain import (
    MAX_INTERMEDIATES,
    CertificateRejected,
    load_ca_bundle,
    load_crl,
    validate,
)

NOW = datetime.now(UTC)


@pytest.fixture(scope="module", params=["rsa", "ec"])
def ca(request: pytest.FixtureRequest) -> Issued:
    return make_ca(f"Unit {request.param} Root", request.param)


def _rejected(
    leaf: Issued,
    anchors: list[Issued],
    *,
    chain: list[Issued] | None = None,
    crls: list[bytes] | None = None,
) -> CertificateRejected:
    with pytest.raises(CertificateRejected) as exc:
        _validate(leaf, anchors, chain=chain, crls=crls)
    return exc.value


def _validate(
    leaf: Issued,
    anchors: list[Issued],
    *,
    chain: list[Issued] | None = None,
    crls: list[bytes] | None = None,
) -> tuple[x509.Certificate, ...]:
    bundle = load_ca_bundle("".join(a.pem for a in anchors))
    path = validate(
        leaf.cert,
        [c.cert for c in chain or []],
        bundle,
        [load_crl(c) for c in crls or []],
        NOW,
    )
    return path.certificates


def _intermediate_without_key_cert_sign(parent: Issued) -> Issued:
    key = new_key("ec")
    cert = build_certificate(
        cn_name("No keyCertSign CA"),
        key.public_key(),
        parent.cert.subject,
        parent.key,
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=30),
        ca=True,
        usage=key_usage(digital_signature=True, crl_sign=True),
    )
    return Issued(cert, key)


@pytest.mark.parametrize("leaf_kind", ["rsa", "ec"])
def test_leaf_issued_by_the_anchor_is_accepted(ca: Issued, leaf_kind: str) -> None:
    leaf = make_leaf(ca, kind=leaf_kind)
    assert _validate(leaf, [ca]) == (leaf.cert, ca.cert)


def test_leaf_through_an_intermediate_is_accepted(ca: Issued) -> None:
    mid = make_ca("Unit Intermediate", "ec", parent=ca)
    leaf = make_leaf(mid)
    assert _validate(leaf, [ca], chain=[mid]) == (leaf.cert, mid.cert, ca.cert)
    # without the intermediate the leaf does not chain to the anchor
    assert "does not chain" in _rejected(leaf, [ca]).message


def test_expired_and_not_yet_valid(ca: Issued) -> None:
    expired = make_leaf(
        ca, not_before=NOW - timedelta(days=10), not_after=NOW - timedelta(seconds=1)
    )
    exc = _rejected(expired, [ca])
    assert exc.message == "The end-entity certificate has expired."
    assert exc.anchored  # it chained: worth recording on the subject
    future = make_leaf(ca, not_before=NOW + timedelta(hours=1))
    assert _rejected(future, [ca]).message == "The end-entity certificate is not yet valid."


def test_expired_intermediate(ca: Issued) -> None:
    mid = make_ca(
        "Old Intermediate",
        "ec",
        parent=ca,
        not_before=NOW - timedelta(days=10),
        not_after=NOW - timedelta(days=1),
    )
    exc = _rejected(make_leaf(mid), [ca], chain=[mid])
    assert exc.message == "The CA certificate CN=Old Intermediate has expired."


def test_wrong_ca(ca: Issued) -> None:
    other = make_ca(ca.cert.subject.rfc4514_string().split("=", 1)[1], "rsa")
    # same issuer name, different key: the signature does not verify
    exc = _rejected(make_leaf(other), [ca])
    assert exc.message == "Untrusted certificate: it does not chain to the trust anchor."
    assert not exc.anchored


def test_leaf_with_ca_true(ca: Issued) -> None:
    exc = _rejected(make_leaf(ca, ca_flag=True), [ca])
    assert exc.message == "The end-entity certificate must have basicConstraints CA:false."


def test_leaf_without_digital_signature(ca: Issued) -> None:
    exc = _rejected(make_leaf(ca, kind="rsa", digital_signature=False), [ca])
    assert "digitalSignature" in exc.message


def test_sha1_leaf_is_refused() -> None:
    rsa_ca = make_ca("SHA-1 Issuing Root", "rsa")
    leaf = make_sha1_leaf(rsa_ca)
    # really SHA-1: the CA's key verifies the SHA-1 signature over the TBSCertificate
    assert isinstance(leaf.cert.signature_hash_algorithm, hashes.SHA1)
    assert isinstance(rsa_ca.key, rsa.RSAPrivateKey)
    rsa_ca.key.public_key().verify(
        leaf.cert.signature, leaf.cert.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA1()
    )
    exc = _rejected(leaf, [rsa_ca])
    assert exc.message == (
        "The signature of the end-entity certificate uses SHA1; SHA-256 or stronger is required."
    )


def test_sha224_leaf_is_refused(ca: Issued) -> None:
    exc = _rejected(make_leaf(ca, algorithm=hashes.SHA224()), [ca])
    assert "SHA224" in exc.message and "SHA-256 or stronger" in exc.message


def test_weak_hash_on_an_intermediate(ca: Issued) -> None:
    mid = make_ca("SHA-224 Intermediate", "ec", parent=ca, algorithm=hashes.SHA224())
    exc = _rejected(make_leaf(mid), [ca], chain=[mid])
    assert "SHA224" in exc.message and exc.anchored


def test_weak_hash_ca_bundle_is_refused() -> None:
    weak = make_ca("Weak Root", "ec", algorithm=hashes.SHA224())
    with pytest.raises(CertificateRejected, match="SHA-256 or stronger"):
        load_ca_bundle(weak.pem)


def test_intermediate_without_key_cert_sign(ca: Issued) -> None:
    mid = _intermediate_without_key_cert_sign(ca)
    exc = _rejected(make_leaf(mid), [ca], chain=[mid])
    assert exc.message == "The CA certificate CN=No keyCertSign CA is not a CA certificate."


def test_path_length_exceeded(ca: Issued) -> None:
    root = make_ca("Path Zero Root", "ec", path_length=0)
    mid = make_ca("Below Path Zero", "ec", parent=root)
    exc = _rejected(make_leaf(mid), [root], chain=[mid])
    assert exc.message == "The CA certificate CN=Path Zero Root exceeds its path length limit."
    # path length 1 allows the one intermediate
    root1 = make_ca("Path One Root", "ec", path_length=1)
    mid1 = make_ca("Below Path One", "ec", parent=root1)
    leaf = make_leaf(mid1)
    assert len(_validate(leaf, [root1], chain=[mid1])) == 3


def test_oversize_chain(ca: Issued) -> None:
    chain = [make_ca(f"Extra {i}", "ec", parent=ca) for i in range(MAX_INTERMEDIATES + 1)]
    exc = _rejected(make_leaf(chain[0]), [ca], chain=chain)
    assert exc.message == (
        f"The certificate chain carries more than {MAX_INTERMEDIATES} intermediates."
    )
    # the limit itself is accepted
    assert len(_validate(make_leaf(chain[0]), [ca], chain=chain[:MAX_INTERMEDIATES])) == 3


def test_revoked_leaf_and_revoked_intermediate(ca: Issued) -> None:
    leaf = make_leaf(ca)
    other = make_leaf(ca, cn="not-revoked")
    crl = make_crl(ca, [leaf.cert])
    exc = _rejected(leaf, [ca], crls=[crl])
    assert exc.message == "The certificate has been revoked." and exc.anchored
    assert len(_validate(other, [ca], crls=[crl])) == 2
    mid = make_ca("Revoked Intermediate", "ec", parent=ca)
    revoked_mid = make_crl(ca, [mid.cert])
    exc = _rejected(make_leaf(mid), [ca], chain=[mid], crls=[revoked_mid])
    assert exc.message == "The certificate has been revoked."


def test_crl_with_a_bad_signature_fails_closed(ca: Issued) -> None:
    leaf = make_leaf(ca)
    forged = make_crl(ca, [], signer=new_key("rsa"))  # the issuer's name, another key
    exc = _rejected(leaf, [ca], crls=[forged])
    assert "signature does not verify" in exc.message
    # a CRL of another issuer is not consulted
    stranger = make_ca("Stranger CA", "ec")
    assert len(_validate(leaf, [ca], crls=[make_crl(stranger, [leaf.cert])])) == 2


def test_bundle_and_crl_parsing() -> None:
    with pytest.raises(CertificateRejected, match="not a valid PEM"):
        load_ca_bundle("not a pem")
    leaf_ca = make_ca("Issuer", "ec")
    leaf = make_leaf(leaf_ca)
    with pytest.raises(CertificateRejected, match="is not a CA certificate"):
        load_ca_bundle(leaf.pem)
    with pytest.raises(CertificateRejected, match=r"not a valid X\.509 CRL"):
        load_crl(b"garbage")
    der = load_crl(make_crl(leaf_ca, [])).public_bytes(serialization.Encoding.DER)
    assert load_crl(der).issuer == leaf_ca.cert.subject
