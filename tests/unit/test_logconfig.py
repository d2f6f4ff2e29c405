"""tessera.logconfig: after logging is configured — even at DEBUG — signxml and the
other third-party loggers that can print SAML, URLs or tokens stay at WARNING."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml import XMLSigner, XMLVerifier
from tests.saml_fixtures.make_saml import self_signed

from tessera import logconfig


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    filters = {h: list(h.filters) for h in handlers}
    levels = {n: logging.getLogger(n).level for n in logconfig.QUIET_LOGGERS}
    try:
        yield
    finally:
        root.setLevel(level)
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
        for h, fs in filters.items():
            h.filters[:] = fs
        for n, lv in levels.items():
            logging.getLogger(n).setLevel(lv)


def test_signxml_is_silenced_after_configure(caplog: pytest.LogCaptureFixture) -> None:
    logconfig.configure_logging("debug")
    assert logging.getLogger().isEnabledFor(logging.DEBUG)
    for name in ("signxml", "signxml.processor", "httpx", "httpcore.http11", "urllib3"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    assert all(
        any(isinstance(f, logconfig.ThirdPartyFloor) for f in h.filters)
        for h in logging.getLogger().handlers
    )
    # a real signature round trip: signxml canonicalises (and used to log) the XML
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = self_signed(key, "log-test")
    doc = etree.fromstring(
        b"<Assertion ID='a1'><NameID>secret-subject@example.test</NameID></Assertion>"
    )
    with caplog.at_level(logging.DEBUG):
        signed = XMLSigner().sign(doc, key=key, cert=[cert])
        XMLVerifier().verify(signed, x509_cert=cert)
    assert not [r for r in caplog.records if r.name.startswith("signxml")]
    assert "secret-subject" not in caplog.text


def test_floor_filter_holds_even_if_a_level_is_lowered_again() -> None:
    floor = logconfig.ThirdPartyFloor()

    def record(name: str, level: int) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, "m", None, None)

    assert not floor.filter(record("signxml.processor", logging.DEBUG))
    assert not floor.filter(record("httpx", logging.INFO))
    assert floor.filter(record("signxml", logging.WARNING))
    assert floor.filter(record("tessera.sts.saml", logging.DEBUG))
    assert floor.filter(record("signxmlish", logging.DEBUG))  # not a child of signxml


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError):
        logconfig.configure_logging("loud")
