"""Nothing logs SAML responses or assertions (issue #13), at any level, third-party
loggers included: signxml prints every canonicalised element it verifies at
DEBUG. A server started with ``--log-level debug`` runs AssumeRoleWithSAML
(accepted, tampered, replayed, signed at both levels) and its log holds no part
of any response: no IDs, NameID, attribute values, digest or signature values,
no SAML XML at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from lxml import etree

from tests.e2e.server import TesseraServer, running_debug_server
from tests.saml_fixtures import make_saml as ms
from tests.saml_fixtures.make_saml import ResponseSpec, SamlIdP

pytestmark = pytest.mark.e2e

DS = "http://www.w3.org/2000/09/xmldsig#"
NAME_ID = "nameid-7f3c9e1a-only-in-the-assertion@example.test"
ATTRIBUTE_VALUE = "attr-value-5b2d8c04-only-in-the-assertion"


@pytest.fixture(scope="module")
def debug_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TesseraServer]:
    with running_debug_server(tmp_path_factory.mktemp("saml-logs")) as srv:
        yield srv


def _secrets_of(xml: bytes, spec: ResponseSpec) -> list[str]:
    """Strings that only a log line quoting the response could contain."""
    root = etree.fromstring(xml)
    values = [
        v.text.strip()
        for tag in ("SignatureValue", "DigestValue")
        for v in root.iter(f"{{{DS}}}{tag}")
        if v.text and v.text.strip()
    ]
    assert values, "the response should be signed"
    # a signature or digest value is distinctive well before its end
    return [
        spec.assertion_id,
        spec.response_id,
        NAME_ID,
        ATTRIBUTE_VALUE,
        *(v.replace("\n", "")[:24] for v in values),
    ]


def test_saml_never_reaches_the_debug_log(debug_server: TesseraServer) -> None:
    srv = debug_server
    iam = srv.client("iam")
    idp = SamlIdP()
    provider = iam.create_saml_provider(Name="log-idp", SAMLMetadataDocument=idp.metadata())[
        "SAMLProviderArn"
    ]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
            }
        ],
    }
    role = iam.create_role(RoleName="saml-logs", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]
    sts: Any = boto3.client(
        "sts",
        endpoint_url=srv.endpoint,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}),
    )
    needles: list[str] = []

    def spec() -> ResponseSpec:
        return ResponseSpec(
            roles=[f"{role},{provider}"],
            name_id=NAME_ID,
            attributes={ms.ATTR + "PrincipalTag:team": [ATTRIBUTE_VALUE]},
        )

    # accepted (assertion signed; then response and assertion signed)
    for sign in ("assertion", "both"):
        good = spec()
        xml = idp.response_xml(good, sign=sign)  # type: ignore[arg-type]
        needles += _secrets_of(xml, good)
        encoded = ms.encode(xml)
        out = sts.assume_role_with_saml(RoleArn=role, PrincipalArn=provider, SAMLAssertion=encoded)
        assert out["Subject"] == NAME_ID
        needles.append(encoded[40:100])
        # replayed: refused
        with pytest.raises(ClientError):
            sts.assume_role_with_saml(RoleArn=role, PrincipalArn=provider, SAMLAssertion=encoded)
    # tampered after signing: the signature check fails (signxml still canonicalises it)
    bad = spec()
    xml = idp.response_xml(bad)
    needles += _secrets_of(xml, bad)
    with pytest.raises(ClientError) as exc:
        sts.assume_role_with_saml(
            RoleArn=role,
            PrincipalArn=provider,
            SAMLAssertion=ms.tamper(xml, NAME_ID, "mallory@example.test"),
        )
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    srv.stop()  # flush and close the log
    log = srv.log_text()
    assert " DEBUG " in log  # the server really logged at DEBUG
    leaked = [n for n in needles if n in log]
    assert not leaked, f"SAML content in the server log: {leaked}"
    for marker in ("urn:oasis:names:tc:SAML", "SignatureValue", "<ds:", "<saml", "Assertion ID"):
        assert marker not in log, marker
    srv.start("--log-level", "debug")  # the fixture stops it again
