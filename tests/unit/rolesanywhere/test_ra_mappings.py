"""Attribute mapping (``tessera.rolesanywhere.mappings``): which certificate attributes
become session tags under AWS's default mappings and under narrowed ones, values a
session tag cannot hold left out, and specifier normalisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from tests.e2e.x509_signer import Issued, make_ca, make_leaf, new_key
from tests.pki import build_certificate

from tessera.iam.model import Tag
from tessera.rolesanywhere.mappings import certificate_tags, normalise_specifier, subject_cn
from tessera.rolesanywhere.model import DEFAULT_MAPPINGS, AttributeMapping


@pytest.fixture(scope="module")
def ca() -> Issued:
    return make_ca("Mapping Root", "ec")


def _cert(ca: Issued, subject: x509.Name, san: list[x509.GeneralName]) -> x509.Certificate:
    now = datetime.now(UTC)
    return build_certificate(
        subject,
        new_key("ec").public_key(),
        ca.cert.subject,
        ca.key,
        not_before=now - timedelta(hours=1),
        not_after=now + timedelta(days=1),
        ca=None,
        san=san,
    )


def test_default_mappings(ca: Issued) -> None:
    leaf = make_leaf(ca, cn="web-1", ou="payments")
    tags = {t.key: t.value for t in certificate_tags(leaf.cert, DEFAULT_MAPPINGS)}
    assert tags == {
        "x509Issuer/CN": "Mapping Root",
        "x509SAN/DNS": "workload-1.example.com",
        "x509SAN/URI": "spiffe://example.org/workload-1",
        "x509Subject/CN": "web-1",
        "x509Subject/OU": "payments",
    }
    assert subject_cn(leaf.cert) == "web-1"


def test_narrowed_mappings_take_only_what_they_name(ca: Issued) -> None:
    leaf = make_leaf(ca, cn="web-2", ou="payments")
    mappings = (
        AttributeMapping("x509Subject", ("CN",)),
        AttributeMapping("x509SAN", ("URI",)),
    )
    assert certificate_tags(leaf.cert, mappings) == [
        Tag("x509Subject/CN", "web-2"),
        Tag("x509SAN/URI", "spiffe://example.org/workload-1"),
    ]
    assert certificate_tags(leaf.cert, ()) == []


def test_san_directory_name_and_first_values(ca: Issued) -> None:
    directory = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "dir-cn"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Org"),
        ]
    )
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "first"),
            x509.NameAttribute(NameOID.COMMON_NAME, "second"),
        ]
    )
    cert = _cert(
        ca,
        subject,
        [
            x509.DNSName("a.example.com"),
            x509.DNSName("b.example.com"),
            x509.DirectoryName(directory),
        ],
    )
    tags = {t.key: t.value for t in certificate_tags(cert, DEFAULT_MAPPINGS)}
    assert tags["x509Subject/CN"] == "first"  # only the first value of an RDN
    assert tags["x509SAN/DNS"] == "a.example.com"  # the first SAN of that type
    assert tags["x509SAN/Name/CN"] == "dir-cn"
    assert tags["x509SAN/Name/O"] == "Example Org"
    only_o = (AttributeMapping("x509SAN", ("Name/O",)),)
    assert certificate_tags(cert, only_o) == [Tag("x509SAN/Name/O", "Example Org")]


def test_values_a_tag_cannot_hold_are_left_out(ca: Issued) -> None:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "ok-name"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme, Inc."),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "x" * 257),
        ]
    )
    cert = _cert(ca, subject, [])
    tags = {t.key: t.value for t in certificate_tags(cert, DEFAULT_MAPPINGS)}
    assert tags["x509Subject/CN"] == "ok-name"
    assert "x509Subject/O" not in tags  # a comma is outside STS's tag alphabet
    assert "x509Subject/OU" not in tags  # over 256 characters
    assert not any(k.startswith("x509SAN/") for k in tags)  # no SAN extension


def test_subject_without_cn(ca: Issued) -> None:
    cert = _cert(ca, x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "NoCN")]), [])
    assert subject_cn(cert) is None


@pytest.mark.parametrize(
    ("field", "specifier", "stored"),
    [
        ("x509Subject", "*", "*"),
        ("x509Subject", "CN", "CN"),
        ("x509Issuer", "DC", "DC"),
        ("x509Subject", "DNS", None),
        ("x509Subject", "emailAddress", None),
        ("x509SAN", "DNS", "DNS"),
        ("x509SAN", "URI", "URI"),
        ("x509SAN", "Name", "Name/*"),
        ("x509SAN", "Name/", "Name/*"),
        ("x509SAN", "Name/CN", "Name/CN"),
        ("x509SAN", "Name/XX", None),
        ("x509SAN", "IP", None),
    ],
)
def test_normalise_specifier(field: str, specifier: str, stored: str | None) -> None:
    assert normalise_specifier(field, specifier) == stored
