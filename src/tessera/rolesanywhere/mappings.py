"""Attribute mappings: which certificate attributes become a Roles Anywhere
session's principal tags (``x509Subject/CN``, ``x509Issuer/O``, ``x509SAN/DNS``,
``x509SAN/URI``, ``x509SAN/Name/CN`` …), the specifiers a mapping rule may use, and
the subject CN (the session's source identity).

Rules: ``*`` maps every supported RDN of the subject / issuer (and of the SAN's
first directory name for ``Name/*``); ``DNS`` and ``URI`` map the first SAN of that
type; ``Name`` and ``Name/`` mean ``Name/*``. Only the first value of an RDN is
mapped. A value a session tag cannot hold (over 256 characters, or a character
outside STS's tag alphabet, e.g. a comma) is left out of the tags — the certificate
still authenticates; trust policies that test that tag then see it absent."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from cryptography import x509
from cryptography.x509.oid import NameOID

from tessera.iam.model import Tag
from tessera.rolesanywhere.model import AttributeMapping

#: the RDNs Tessera maps, by the short name used in tag keys and specifiers
RDN_NAMES: Final = {
    "CN": NameOID.COMMON_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "C": NameOID.COUNTRY_NAME,
    "L": NameOID.LOCALITY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "DC": NameOID.DOMAIN_COMPONENT,
}
SAN_SPECIFIERS: Final = ("DNS", "URI")
MAX_TAGS: Final = 50
_TAG_VALUE_RE = re.compile(r"[\w _.:/=+\-@]{0,256}")


def normalise_specifier(field: str, specifier: str) -> str | None:
    """The specifier as stored (``Name`` → ``Name/*``), or None when unsupported."""
    if field in ("x509Subject", "x509Issuer"):
        return specifier if specifier == "*" or specifier in RDN_NAMES else None
    if specifier in SAN_SPECIFIERS:
        return specifier
    if specifier in ("Name", "Name/", "Name/*"):
        return "Name/*"
    if specifier.startswith("Name/") and specifier[5:] in RDN_NAMES:
        return specifier
    return None


def _first(name: x509.Name, short: str) -> str | None:
    attrs = name.get_attributes_for_oid(RDN_NAMES[short])
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else None


def _name_values(name: x509.Name, specifier: str) -> list[tuple[str, str]]:
    shorts = list(RDN_NAMES) if specifier == "*" else [specifier]
    out = []
    for short in shorts:
        value = _first(name, short)
        if value is not None:
            out.append((short, value))
    return out


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def certificate_tags(cert: x509.Certificate, mappings: Sequence[AttributeMapping]) -> list[Tag]:
    """The principal tags ``mappings`` take from ``cert`` (in mapping order)."""
    found: dict[str, str] = {}
    for mapping in mappings:
        field = mapping.certificate_field
        for specifier in mapping.specifiers:
            if field in ("x509Subject", "x509Issuer"):
                name = cert.subject if field == "x509Subject" else cert.issuer
                for short, value in _name_values(name, specifier):
                    found.setdefault(f"{field}/{short}", value)
                continue
            san = _san(cert)
            if san is None:
                continue
            if specifier == "DNS":
                dns = san.get_values_for_type(x509.DNSName)
                if dns:
                    found.setdefault("x509SAN/DNS", dns[0])
            elif specifier == "URI":
                uris = san.get_values_for_type(x509.UniformResourceIdentifier)
                if uris:
                    found.setdefault("x509SAN/URI", uris[0])
            else:
                names = san.get_values_for_type(x509.DirectoryName)
                if names:
                    rest = specifier[len("Name/") :]
                    for short, value in _name_values(names[0], rest):
                        found.setdefault(f"x509SAN/Name/{short}", value)
    tags = [Tag(k, v) for k, v in found.items() if _TAG_VALUE_RE.fullmatch(v)]
    return tags[:MAX_TAGS]


def subject_cn(cert: x509.Certificate) -> str | None:
    return _first(cert.subject, "CN")
