"""Hardened XML parsing: DTDs, entities and external references are refused in any
encoding before anything is expanded; size limits; xs:dateTime parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tessera.federation.saml.xml import XmlRejected, parse_instant, parse_xml, text_of

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%s;" % (str(i - 1).encode() if i > 1 else b"")) * 10)
        for i in range(1, 10)
    )
    + b"]><lolz>&lol9;</lolz>"
)


def test_plain_documents_parse() -> None:
    root = parse_xml(b'<a xmlns="urn:x"><b>hi <!-- c --> there</b></a>')
    assert root.tag == "{urn:x}a"
    assert text_of(root.find("{urn:x}b")) == "hi  there"
    assert text_of(None) is None


@pytest.mark.parametrize(
    "doc",
    [
        BILLION_LAUGHS,
        b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
        b'<!DOCTYPE r SYSTEM "http://127.0.0.1:1/evil.dtd"><r/>',
        b'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:1/p">%p;]><r/>',
        b"<!DOCTYPE r><r/>",
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>'.encode(
            "utf-16"
        ),
    ],
)
def test_dtds_and_entities_are_refused(doc: bytes) -> None:
    with pytest.raises(XmlRejected) as info:
        parse_xml(doc)
    assert info.value.forbidden


@pytest.mark.parametrize("doc", [b"", b"<a>", b"not xml", b"<a></b>", b"\xff\xfe\x00"])
def test_malformed_documents_are_refused(doc: bytes) -> None:
    with pytest.raises(XmlRejected) as info:
        parse_xml(doc)
    assert not info.value.forbidden


def test_size_limit() -> None:
    with pytest.raises(XmlRejected):
        parse_xml(b"<a>" + b"x" * 100 + b"</a>", max_bytes=50)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T12:00:00Z", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("2026-03-01T12:00:00.5Z", datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2026-03-01T12:00:00.1234567Z", datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2026-03-01T14:00:00+02:00", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("2026-03-01T12:00:00", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        (" 2026-03-01T12:00:00Z ", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("2026-13-01T12:00:00Z", None),
        ("yesterday", None),
        (None, None),
    ],
)
def test_parse_instant(text: str | None, expected: datetime | None) -> None:
    assert parse_instant(text) == expected
