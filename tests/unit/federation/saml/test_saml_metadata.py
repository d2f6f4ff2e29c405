"""IdP metadata: entity ID, signing certificates (rotation, encryption-only keys
ignored), validUntil, and everything that makes CreateSAMLProvider say
"Could not parse metadata."."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from tests.saml_fixtures.make_saml import MD, SamlIdP, self_signed

from tessera.federation.saml.metadata import MetadataError, parse_metadata


@pytest.fixture(scope="module")
def idp() -> SamlIdP:
    return SamlIdP("https://idp.example.test/md")


def test_metadata_is_read(idp: SamlIdP) -> None:
    until = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    other = SamlIdP("https://other.example.test")
    meta = parse_metadata(idp.metadata(valid_until=until, extra_certs=[other.cert]))
    assert meta.entity_id == "https://idp.example.test/md"
    assert meta.certificates == (idp.cert, other.cert)
    assert meta.valid_until == until
    assert parse_metadata(idp.metadata()).valid_until is None


def test_ec_certificates_are_accepted(idp: SamlIdP) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = self_signed(key, "ec")  # type: ignore[arg-type]
    meta = parse_metadata(idp.metadata(extra_certs=[cert], include_own_cert=False))
    assert meta.certificates == (cert,)


def test_encryption_keys_are_not_signing_keys(idp: SamlIdP) -> None:
    doc = idp.metadata().replace('use="signing"', 'use="encryption"')
    with pytest.raises(MetadataError):
        parse_metadata(doc)
    # no use attribute: usable for signing
    assert parse_metadata(idp.metadata().replace(' use="signing"', "")).certificates


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.replace("md:EntityDescriptor", "md:EntitiesDescriptor"),
        lambda d: d.replace('entityID="https://idp.example.test/md"', ""),
        lambda d: d.replace("IDPSSODescriptor", "SPSSODescriptor"),
        lambda d: d.replace(
            "urn:oasis:names:tc:SAML:2.0:protocol", "urn:oasis:names:tc:SAML:1.1:protocol"
        ),
        lambda d: d.replace("<ds:X509Certificate>", "<ds:X509Certificate>!!"),
        lambda d: d.replace("<ds:X509Certificate>", "<ds:X509Certificate>AAAA"),
        lambda d: d.replace('">', '" validUntil="soon">', 1),
        lambda d: d.replace(f'xmlns:md="{MD}"', 'xmlns:md="urn:wrong"'),
        lambda d: '<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + d.split("?>", 1)[1],
        lambda d: d[:-20],
    ],
)
def test_unusable_metadata(idp: SamlIdP, mutate: object) -> None:
    doc = mutate(idp.metadata())  # type: ignore[operator]
    with pytest.raises(MetadataError):
        parse_metadata(doc)
