"""The instance CA and the registry's values: certificates name the instance (CN,
URI SAN, IP SAN), are end-entity, digitalSignature-only and last 24 h; CSRs with
weak or unsupported keys or bad signatures are refused; ids, tokens and URIs."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tessera.instances import model
from tessera.instances.ca import (
    CsrRejected,
    InstanceCa,
    _load,
    _new_ca,
    certificate_instance,
    fingerprint,
    issue_certificate,
    load_csr,
)
from tessera.rolesanywhere import x509chain
from tessera.store.instances import InstanceRecord

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACCT = "123456789012"


@pytest.fixture(scope="module")
def ca() -> InstanceCa:
    return _load(_new_ca(NOW))


def _inst(ip: str | None = "10.0.1.10") -> InstanceRecord:
    return InstanceRecord(
        "i-0123456789abcdef0", ACCT, "web", "AIPAX", "us-east-1", "enabled", NOW, private_ipv4=ip
    )


def _csr(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "i-fffffffffffffffff")]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def test_certificate_names_the_instance(ca: InstanceCa) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue_certificate(ca, key.public_key(), _inst(), NOW)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == _inst().instance_id
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"tessera://{ACCT}/instance/i-0123456789abcdef0"
    ]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.IPv4Address("10.0.1.10")]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    assert cert.not_valid_after_utc - NOW == timedelta(hours=24)
    assert certificate_instance(cert) == (ACCT, "i-0123456789abcdef0")
    # it validates against the CA as Roles Anywhere's path validation sees it
    x509chain.validate(cert, [], [ca.certificate], [], NOW)
    with pytest.raises(x509chain.CertificateRejected):
        x509chain.validate(cert, [], [ca.certificate], [], NOW + timedelta(hours=25))


def test_no_ip_san_without_a_registered_address(ca: InstanceCa) -> None:
    cert = issue_certificate(
        ca, ec.generate_private_key(ec.SECP384R1()).public_key(), _inst(None), NOW
    )
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == []


def test_ca_is_a_ca_and_its_fingerprint_is_the_der_sha256(ca: InstanceCa) -> None:
    basic = ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca and basic.path_length == 0
    assert fingerprint(ca.certificate).startswith("sha256:") and len(ca.fingerprint) == 71


def test_csr_rules() -> None:
    assert load_csr(_csr(ec.generate_private_key(ec.SECP256R1())))
    assert load_csr(_csr(ec.generate_private_key(ec.SECP384R1())))
    assert load_csr(_csr(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    for bad in (
        _csr(ec.generate_private_key(ec.SECP521R1())),
        _csr(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
        "garbage",
        "x" * 20_000,
    ):
        with pytest.raises(CsrRejected):
            load_csr(bad)


def test_certificate_instance_needs_matching_cn_and_uri(ca: InstanceCa) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "i-0000000000000000a")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(f"tessera://{ACCT}/instance/i-0000000000000000b")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    assert certificate_instance(cert) is None


def test_model_values() -> None:
    iid = model.new_instance_id()
    assert model.check_instance_id(iid) == iid and len(iid) == 19
    token = model.new_join_token()
    assert len(token) >= 43 and model.token_hash(token) != token
    assert model.parse_instance_uri(model.instance_uri(ACCT, iid)) == (ACCT, iid)
    assert model.parse_instance_uri(f"tessera://{ACCT}/instance/{iid}/x") is None
    assert model.check_private_ipv4("10.0.0.1") == "10.0.0.1"
    for check, value in (
        (model.check_private_ipv4, "10.0.0.256"),
        (model.check_network, "bad label!"),
        (model.check_region, "US-EAST-1"),
        (model.check_name, "x" * 129),
        (model.check_instance_id, "i-123"),
    ):
        with pytest.raises(model.InstanceError):
            check(value)
    with pytest.raises(model.InstanceError):
        model.check_ttl(10)
