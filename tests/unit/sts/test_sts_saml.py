"""AssumeRoleWithSAML's pure parts: NameQualifier (AWS's documented formula),
SubjectType, Role attribute pairs, the accepted Recipient/Audience values and the
``saml:*`` attribute keys."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest

from tessera.federation.saml.response import SamlAttribute, VerifiedAssertion
from tessera.sts import saml

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_name_qualifier_matches_the_documented_formula() -> None:
    # AWS: BASE64 ( SHA1 ( "https://example.com/saml" + "123456789012" + "/MySAMLIdP" ) )
    expected = base64.b64encode(
        hashlib.sha1(b"https://example.com/saml123456789012/MySAMLIdP").digest()
    ).decode()
    assert saml.name_qualifier("https://example.com/saml", "123456789012", "MySAMLIdP") == expected


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent", "persistent"),
        ("urn:oasis:names:tc:SAML:2.0:nameid-format:transient", "transient"),
        (
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
        ),
        (None, "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"),
    ],
)
def test_subject_type(fmt: str | None, expected: str) -> None:
    assert saml.subject_type(fmt) == expected


def test_role_pairs_either_order() -> None:
    role = "arn:aws:iam::111111111111:role/a"
    provider = "arn:aws:iam::111111111111:saml-provider/p"
    assert saml.role_pairs(
        [f"{role},{provider}", f" {provider} , {role} ", "garbage", f"{role},{role}", "a,b,c"]
    ) == [(role, provider), (role, provider)]


@pytest.mark.parametrize(
    ("value", "recipient", "audience"),
    [
        ("https://signin.aws.amazon.com/saml", True, True),
        ("https://eu-west-1.signin.aws.amazon.com/saml", True, True),
        ("https://us-gov-west-1.signin.aws.amazon.com/static/saml", True, True),
        ("https://sts.example.test/saml", True, True),
        ("urn:amazon:webservices", False, True),
        ("https://signin.aws.amazon.com/saml/", False, False),
        ("https://evil.signin.aws.amazon.com.example/saml", False, False),
        ("http://signin.aws.amazon.com/saml", False, False),
        ("https://sts.example.test/", False, False),
    ],
)
def test_accepted_endpoints(value: str, recipient: bool, audience: bool) -> None:
    class Cfg:
        effective_public_url = "https://sts.example.test/"

    class Ctx:
        config = Cfg()
        now = NOW

    rp = saml.relying_party(Ctx())  # type: ignore[arg-type]
    assert (rp.accept_recipient(value), rp.accept_audience(value)) == (recipient, audience)


def test_attribute_keys() -> None:
    assertion = VerifiedAssertion(
        assertion_id="_a",
        issuer="urn:idp",
        issue_instant=NOW,
        name_id="alice",
        name_id_format=None,
        recipient="https://signin.aws.amazon.com/saml",
        audiences=(),
        not_on_or_after=NOW,
        session_not_on_or_after=None,
        attributes=(
            SamlAttribute("urn:oid:1.3.6.1.4.1.5923.1.1.1.1", ("staff", "member")),
            SamlAttribute("urn:oid:0.9.2342.19200300.100.1.3", ("alice@example.test",)),
            SamlAttribute("urn:oid:2.5.4.3", ("Alice",)),
            SamlAttribute("urn:oid:2.5.4.42", ()),
            SamlAttribute("urn:unknown", ("x",)),
        ),
        signed=frozenset({"Assertion"}),
    )
    assert saml.attribute_keys(assertion) == {
        "saml:edupersonaffiliation": ("staff", "member"),
        "saml:mail": "alice@example.test",
        "saml:cn": "Alice",
        "saml:commonName": "Alice",
    }
