"""Hardened XML for everything SAML. A document is parsed twice and must pass both:

1. ``defusedxml`` (expat) with DTDs, entity declarations and external references
   forbidden — whatever the document's encoding, a ``<!DOCTYPE``/``<!ENTITY`` is
   refused before anything is expanded (XXE, billion laughs, quadratic blowup);
2. ``lxml`` with ``resolve_entities=False``, ``no_network=True``, ``load_dtd=False``
   and ``huge_tree=False``, and the result is checked again for a DTD or entity
   nodes. This is the tree the SAML code (and signxml, which re-parses with the same
   restrictions) works on.

Also: a size limit, xs:dateTime parsing (``parse_instant``) and small helpers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring
from lxml import etree

SAML_ASSERTION: Final = "urn:oasis:names:tc:SAML:2.0:assertion"
SAML_PROTOCOL: Final = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML_METADATA: Final = "urn:oasis:names:tc:SAML:2.0:metadata"
XMLDSIG: Final = "http://www.w3.org/2000/09/xmldsig#"
XMLENC: Final = "http://www.w3.org/2001/04/xmlenc#"

MAX_DOCUMENT_BYTES: Final = 10_000_000


class XmlRejected(Exception):
    """The document is not acceptable XML (malformed, too large, DTD/entities)."""

    def __init__(self, reason: str, *, forbidden: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.forbidden = forbidden  # a DTD / entity / external reference was refused


def q(namespace: str, local: str) -> str:
    """Clark notation ``{namespace}local``."""
    return f"{{{namespace}}}{local}"


def parse_xml(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> etree._Element:
    """The document's root element, or ``XmlRejected``."""
    if len(data) > max_bytes:
        raise XmlRejected("document too large")
    try:
        defused_fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise XmlRejected(f"forbidden XML construct: {type(exc).__name__}", forbidden=True) from exc
    except (ParseError, ValueError, TypeError, RecursionError) as exc:
        raise XmlRejected("not well-formed XML") from exc
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )
    try:
        root = etree.fromstring(data, parser=parser)
    except (etree.LxmlError, ValueError, TypeError) as exc:
        raise XmlRejected("not well-formed XML") from exc
    if root is None:
        raise XmlRejected("empty document")
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
        raise XmlRejected("DTDs are not allowed", forbidden=True)
    for _entity in root.iter(etree.Entity):
        raise XmlRejected("entities are not allowed", forbidden=True)
    return root


def text_of(element: etree._Element | None) -> str | None:
    """The element's text content (all descendant text), stripped; None if absent."""
    if element is None:
        return None
    return "".join(element.itertext()).strip()


_INSTANT = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$", re.ASCII
)


def parse_instant(value: str | None) -> datetime | None:
    """An xs:dateTime as SAML uses it (UTC, optional fraction of any length, ``Z`` or an
    offset; no zone is read as UTC). None when absent or unparseable."""
    if value is None:
        return None
    m = _INSTANT.match(value.strip())
    if m is None:
        return None
    base, fraction, zone = m.groups()
    text = base
    if fraction:
        text += "." + (fraction + "000000")[:6]
    text += "+00:00" if zone in (None, "Z") else zone
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return None
