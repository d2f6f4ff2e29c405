"""Inbound SAML federation end to end against a real server process: IAM SAML
providers (boto3 and the AWS CLI), AssumeRoleWithSAML with SAML responses signed at
test time by ``tests.saml_fixtures.make_saml`` (signed assertion, signed response,
both, encrypted assertions), the trust decision with ``saml:*`` keys, durations,
session tags, and the security set: wrong key, unsigned, tampered, six signature
wrapping variants, XXE, billion laughs, replay, expiry, wrong recipient/audience,
role not in the Role attribute, provider mismatch — each refused with AWS's code,
HTTP status and message, never a 500."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.e2e.server import Creds, TesseraServer
from tests.saml_fixtures import make_saml as ms
from tests.saml_fixtures.make_saml import AWS_SIGNIN, ResponseSpec, SamlIdP

pytestmark = pytest.mark.e2e

ATTR = ms.ATTR


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TesseraServer]:
    base: Path = tmp_path_factory.mktemp("saml")
    server = TesseraServer(data_dir=base / "data")
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def _trust(provider_arn: str, actions: tuple[str, ...], **cond: Any) -> str:
    stmt: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": list(actions),
    }
    if cond:
        stmt["Condition"] = cond
    return json.dumps({"Version": "2012-10-17", "Statement": [stmt]})


ALL_ACTIONS = ("sts:AssumeRoleWithSAML", "sts:TagSession", "sts:SetSourceIdentity")


@dataclass
class Fed:
    srv: TesseraServer
    idp: SamlIdP
    account: str
    provider_arn: str
    role_arn: str
    iam: Any
    sts: Any  # unsigned STS client

    def spec(self, role_arn: str | None = None, **kw: Any) -> ResponseSpec:
        role = role_arn or self.role_arn
        return ResponseSpec(roles=[f"{role},{self.provider_arn}"], **kw)

    def assume(
        self,
        assertion: str,
        role_arn: str | None = None,
        principal_arn: str | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        out: dict[str, Any] = self.sts.assume_role_with_saml(
            RoleArn=role_arn or self.role_arn,
            PrincipalArn=principal_arn or self.provider_arn,
            SAMLAssertion=assertion,
            **kw,
        )
        return out

    def refused(self, assertion: str, **kw: Any) -> tuple[str, int, str]:
        with pytest.raises(ClientError) as exc:
            self.assume(assertion, **kw)
        return _err(exc)

    def role(self, name: str, trust: str, **kw: Any) -> str:
        arn: str = self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, **kw)[
            "Role"
        ]["Arn"]
        return arn


def _unsigned_sts(srv: TesseraServer) -> Any:
    return boto3.client(
        "sts",
        endpoint_url=srv.endpoint,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}),
    )


def _unvalidated_iam(srv: TesseraServer) -> Any:
    """An IAM client that leaves validation to the server."""
    assert srv.root is not None
    return boto3.client(
        "iam",
        endpoint_url=srv.endpoint,
        region_name="us-east-1",
        aws_access_key_id=srv.root.access_key_id,
        aws_secret_access_key=srv.root.secret_access_key,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def fed(srv: TesseraServer) -> Fed:
    assert srv.root is not None
    iam = srv.client("iam")
    idp = SamlIdP()
    provider_arn = iam.create_saml_provider(Name="corp-idp", SAMLMetadataDocument=idp.metadata())[
        "SAMLProviderArn"
    ]
    f = Fed(srv, idp, srv.root.account_id, provider_arn, "", iam, _unsigned_sts(srv))
    f.role_arn = f.role(
        "saml-dev",
        _trust(
            provider_arn,
            ALL_ACTIONS,
            StringEquals={"SAML:aud": AWS_SIGNIN, "saml:iss": idp.entity_id},
        ),
    )
    return f


# --- IAM SAML providers ---------------------------------------------------------------------


def test_provider_lifecycle(srv: TesseraServer) -> None:
    iam = srv.client("iam")
    idp = SamlIdP("https://lifecycle.example.test/idp")
    until = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    created = iam.create_saml_provider(
        Name="Life.Cycle_1",
        SAMLMetadataDocument=idp.metadata(valid_until=until),
        Tags=[{"Key": "team", "Value": "sec"}],
    )
    arn = created["SAMLProviderArn"]
    assert arn == f"arn:aws:iam::{srv.root.account_id}:saml-provider/Life.Cycle_1"  # type: ignore[union-attr]
    assert created["Tags"] == [{"Key": "team", "Value": "sec"}]

    got = iam.get_saml_provider(SAMLProviderArn=arn)
    assert got["SAMLMetadataDocument"] == idp.metadata(valid_until=until)
    assert got["ValidUntil"] == until
    assert got["AssertionEncryptionMode"] == "Allowed"
    assert got["PrivateKeyList"] == []
    assert got["Tags"] == [{"Key": "team", "Value": "sec"}]
    uuid = got["SAMLProviderUUID"]
    assert uuid.isalnum() and uuid.isupper() and 22 <= len(uuid) <= 64

    listed = {p["Arn"]: p for p in iam.list_saml_providers()["SAMLProviderList"]}
    assert listed[arn]["ValidUntil"] == until
    assert listed[arn]["CreateDate"] == got["CreateDate"]

    other = SamlIdP("https://rotated.example.test/idp")
    assert (
        iam.update_saml_provider(SAMLProviderArn=arn, SAMLMetadataDocument=other.metadata())[
            "SAMLProviderArn"
        ]
        == arn
    )
    got2 = iam.get_saml_provider(SAMLProviderArn=arn)
    assert "rotated.example.test" in got2["SAMLMetadataDocument"]
    # no validUntil in the new metadata: 100 years after creation
    assert got2["ValidUntil"].year == got["CreateDate"].year + 100
    assert got2["SAMLProviderUUID"] == uuid

    iam.tag_saml_provider(SAMLProviderArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
    assert iam.list_saml_provider_tags(SAMLProviderArn=arn)["Tags"] == [
        {"Key": "team", "Value": "sec"},
        {"Key": "env", "Value": "prod"},
    ]
    iam.untag_saml_provider(SAMLProviderArn=arn, TagKeys=["TEAM"])
    assert iam.list_saml_provider_tags(SAMLProviderArn=arn)["Tags"] == [
        {"Key": "env", "Value": "prod"}
    ]
    iam.delete_saml_provider(SAMLProviderArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.get_saml_provider(SAMLProviderArn=arn)
    assert _err(exc) == ("NoSuchEntity", 404, f"Manifest not found for arn {arn}")
    with pytest.raises(ClientError) as exc:
        iam.delete_saml_provider(SAMLProviderArn=arn)
    assert _err(exc)[:2] == ("NoSuchEntity", 404)


def test_provider_errors(srv: TesseraServer) -> None:
    iam = srv.client("iam")
    idp = SamlIdP("https://errors.example.test/idp")
    iam.create_saml_provider(Name="dup", SAMLMetadataDocument=idp.metadata())
    with pytest.raises(ClientError) as exc:
        iam.create_saml_provider(Name="DUP", SAMLMetadataDocument=idp.metadata())
    assert _err(exc)[:2] == ("EntityAlreadyExists", 409)

    not_metadata = "<html>" + "x" * 1200 + "</html>"
    with pytest.raises(ClientError) as exc:
        iam.create_saml_provider(Name="bad", SAMLMetadataDocument=not_metadata)
    assert _err(exc) == ("InvalidInput", 400, "Could not parse metadata.")

    # metadata with an external entity: refused, never resolved
    xxe = (
        '<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + idp.metadata().split("?>", 1)[1]
    )
    with pytest.raises(ClientError) as exc:
        iam.create_saml_provider(Name="xxe", SAMLMetadataDocument=xxe)
    assert _err(exc) == ("InvalidInput", 400, "Could not parse metadata.")

    raw = _unvalidated_iam(srv)
    with pytest.raises(ClientError) as exc:
        raw.create_saml_provider(Name="short", SAMLMetadataDocument="<x/>" * 10)
    code, status, message = _err(exc)
    assert (code, status) == ("ValidationError", 400)
    assert "'sAMLMetadataDocument'" in message and "length greater than or equal to 1000" in message

    with pytest.raises(ClientError) as exc:
        raw.create_saml_provider(Name="no spaces", SAMLMetadataDocument=idp.metadata())
    assert _err(exc)[:2] == ("ValidationError", 400)

    arn = f"arn:aws:iam::{srv.root.account_id}:saml-provider/dup"  # type: ignore[union-attr]
    with pytest.raises(ClientError) as exc:
        iam.update_saml_provider(SAMLProviderArn=arn)
    assert _err(exc) == (
        "InvalidInput",
        400,
        "Unable to update identity provider. No updates are defined for metadata or "
        "encryption assertion.",
    )
    with pytest.raises(ClientError) as exc:
        iam.update_saml_provider(SAMLProviderArn=arn, AssertionEncryptionMode="Required")
    assert _err(exc) == (
        "InvalidInput",
        400,
        "Unable to set assertion encryption mode to Required because no private key is provided.",
    )
    with pytest.raises(ClientError) as exc:
        iam.update_saml_provider(SAMLProviderArn=arn, AddPrivateKey="not a key")
    assert _err(exc) == ("InvalidInput", 400, "Invalid private key.")
    with pytest.raises(ClientError) as exc:
        iam.update_saml_provider(SAMLProviderArn=arn, RemovePrivateKey="A" * 26)
    assert _err(exc) == (
        "InvalidInput",
        400,
        "Failed to remove private key because the Key ID does not match a private key.",
    )


def test_provider_with_the_aws_cli(srv: TesseraServer, tmp_path: Path) -> None:
    idp = SamlIdP("https://cli.example.test/idp")
    doc = tmp_path / "metadata.xml"
    doc.write_text(idp.metadata())
    out = srv.aws_cli(
        "iam",
        "create-saml-provider",
        "--name",
        "cli-idp",
        "--saml-metadata-document",
        f"file://{doc}",
    )
    assert out.returncode == 0, out.stderr
    arn = json.loads(out.stdout)["SAMLProviderArn"]
    out = srv.aws_cli("iam", "list-saml-providers")
    assert arn in [p["Arn"] for p in json.loads(out.stdout)["SAMLProviderList"]]
    out = srv.aws_cli("iam", "delete-saml-provider", "--saml-provider-arn", arn)
    assert out.returncode == 0, out.stderr


# --- AssumeRoleWithSAML: the happy paths ----------------------------------------------------


def test_assume_role_with_saml(fed: Fed) -> None:
    out = fed.assume(fed.idp.response(fed.spec()))
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert out["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{fed.account}:assumed-role/saml-dev/alice"
    )
    assert out["AssumedRoleUser"]["AssumedRoleId"].endswith(":alice")
    assert out["Subject"] == "alice@example.test"
    assert out["SubjectType"] == "persistent"
    assert out["Issuer"] == fed.idp.entity_id
    assert out["Audience"] == AWS_SIGNIN
    expected = base64.b64encode(
        hashlib.sha1(f"{fed.idp.entity_id}{fed.account}/corp-idp".encode()).digest()
    ).decode()
    assert out["NameQualifier"] == expected
    assert "PackedPolicySize" not in out and "SourceIdentity" not in out
    lifetime = creds["Expiration"] - datetime.now(UTC)
    assert timedelta(minutes=58) < lifetime <= timedelta(hours=1)

    session = Creds(
        fed.account, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
    )
    ident = fed.srv.client("sts", session).get_caller_identity()
    assert ident["Arn"] == out["AssumedRoleUser"]["Arn"]


@pytest.mark.parametrize("sign", ["response", "both"])
def test_response_signatures_are_accepted(fed: Fed, sign: ms.Sign) -> None:
    out = fed.assume(fed.idp.response(fed.spec(), sign=sign))
    assert out["Subject"] == "alice@example.test"


def test_role_attribute_pairs_in_either_order(fed: Fed) -> None:
    other = f"arn:aws:iam::{fed.account}:role/other"
    spec = ResponseSpec(
        roles=[f"{other},{fed.provider_arn}", f"{fed.provider_arn}, {fed.role_arn}"],
        name_id="t-123",
        name_id_format=ms.TRANSIENT,
    )
    out = fed.assume(fed.idp.response(spec))
    assert out["SubjectType"] == "transient"
    assert out["AssumedRoleUser"]["Arn"].endswith(":assumed-role/saml-dev/alice")


def test_session_tags_source_identity_and_duration(fed: Fed) -> None:
    spec = fed.spec(
        attributes={
            ATTR + "PrincipalTag:Team": ["blue"],
            ATTR + "PrincipalTag:CostCenter": ["42"],
            ATTR + "TransitiveTagKeys": ["Team"],
            ATTR + "SourceIdentity": ["alice.admin"],
            ATTR + "SessionDuration": ["1800"],
        }
    )
    out = fed.assume(fed.idp.response(spec))
    assert out["SourceIdentity"] == "alice.admin"
    assert 0 <= out["PackedPolicySize"] <= 100
    lifetime = out["Credentials"]["Expiration"] - datetime.now(UTC)
    assert timedelta(minutes=28) < lifetime <= timedelta(minutes=30)


def test_duration_capped_by_session_not_on_or_after(fed: Fed) -> None:
    until = datetime.now(UTC) + timedelta(minutes=20)
    out = fed.assume(
        fed.idp.response(fed.spec(session_not_on_or_after=until)), DurationSeconds=7200 // 2
    )
    gap = (until - out["Credentials"]["Expiration"]).total_seconds()
    assert 0 <= gap < 2


def test_duration_over_role_max(fed: Fed) -> None:
    code, status, message = fed.refused(fed.idp.response(fed.spec()), DurationSeconds=7200)
    assert (code, status, message) == (
        "ValidationError",
        400,
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
    )


def test_trust_policy_conditions_on_saml_keys(fed: Fed) -> None:
    role = fed.role(
        "saml-sub-only",
        _trust(
            fed.provider_arn,
            ("sts:AssumeRoleWithSAML",),
            StringEquals={
                "saml:sub": "bob@example.test",
                "saml:sub_type": "persistent",
                "saml:doc": f"{fed.account}/corp-idp",
            },
            **{"ForAnyValue:StringEquals": {"saml:edupersonaffiliation": ["staff"]}},
        ),
    )
    staff = {"urn:oid:1.3.6.1.4.1.5923.1.1.1.1": ["member", "staff"]}
    ok = fed.spec(role, name_id="bob@example.test", attributes=staff)
    assert fed.assume(fed.idp.response(ok), role_arn=role)["Subject"] == "bob@example.test"
    for bad in (
        fed.spec(role, name_id="alice@example.test", attributes=staff),
        fed.spec(role, name_id="bob@example.test", attributes={}),
    ):
        assert fed.refused(fed.idp.response(bad), role_arn=role) == (
            "AccessDenied",
            403,
            "Not authorized to perform sts:AssumeRoleWithSAML",
        )


def test_tags_need_tag_session(fed: Fed) -> None:
    role = fed.role("saml-no-tags", _trust(fed.provider_arn, ("sts:AssumeRoleWithSAML",)))
    plain = fed.spec(role)
    assert fed.assume(fed.idp.response(plain), role_arn=role)
    tagged = fed.spec(role, attributes={ATTR + "PrincipalTag:Team": ["blue"]})
    assert fed.refused(fed.idp.response(tagged), role_arn=role) == (
        "AccessDenied",
        403,
        "Not authorized to perform sts:AssumeRoleWithSAML",
    )


def test_own_public_url_is_an_accepted_recipient(fed: Fed) -> None:
    role = fed.role("saml-own-url", _trust(fed.provider_arn, ("sts:AssumeRoleWithSAML",)))
    own = fed.srv.endpoint + "/saml"
    out = fed.assume(
        fed.idp.response(fed.spec(role, recipient=own, audiences=[own])), role_arn=role
    )
    assert out["Audience"] == own


def test_encrypted_assertions(fed: Fed) -> None:
    sp_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = sp_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    idp = SamlIdP("https://encrypting.example.test/idp")
    arn = fed.iam.create_saml_provider(
        Name="enc-idp",
        SAMLMetadataDocument=idp.metadata(),
        AssertionEncryptionMode="Required",
        AddPrivateKey=pem,
    )["SAMLProviderArn"]
    got = fed.iam.get_saml_provider(SAMLProviderArn=arn)
    assert got["AssertionEncryptionMode"] == "Required"
    assert len(got["PrivateKeyList"]) == 1
    assert "PRIVATE KEY" not in json.dumps(got, default=str)
    role = fed.role("saml-enc", _trust(arn, ("sts:AssumeRoleWithSAML",)))
    spec = ResponseSpec(roles=[f"{role},{arn}"])
    for sign, algorithm in (("assertion", "aes256-gcm"), ("response", "aes128-cbc")):
        enc = idp.encrypted_response(
            replace(spec, assertion_id=ms.new_id()),
            sp_key.public_key(),
            sign=sign,  # type: ignore[arg-type]
            algorithm=algorithm,
        )
        out = fed.assume(enc, role_arn=role, principal_arn=arn)
        assert out["Subject"] == "alice@example.test"
    # Required: a plain assertion is refused; a wrong key cannot decrypt
    code, status, _ = fed.refused(idp.response(spec), role_arn=role, principal_arn=arn)
    assert (code, status) == ("InvalidIdentityToken", 400)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    enc = idp.encrypted_response(spec, stranger.public_key())
    code, status, message = fed.refused(enc, role_arn=role, principal_arn=arn)
    assert (code, status) == ("InvalidIdentityToken", 400) and "decrypt" in message


# --- the security set ------------------------------------------------------------------------

SIGNATURE_INVALID = ("InvalidIdentityToken", 400, "Response signature invalid")
ONE_ASSERTION = (
    "InvalidIdentityToken",
    400,
    "Invalid SAML response: a response must contain exactly one assertion.",
)
FORBIDDEN = (
    "InvalidIdentityToken",
    400,
    "Invalid SAML response: DTDs, entity declarations and external references are not allowed.",
)


def _evil(fed: Fed) -> ResponseSpec:
    admin = f"arn:aws:iam::{fed.account}:role/saml-dev"
    return ResponseSpec(
        roles=[f"{admin},{fed.provider_arn}"], name_id="mallory", session_name="mallory"
    )


def test_wrong_key_is_refused(fed: Fed) -> None:
    impostor = SamlIdP(fed.idp.entity_id)  # same entity ID, different key
    assert fed.refused(impostor.response(fed.spec())) == SIGNATURE_INVALID
    assert fed.refused(impostor.response(fed.spec(), sign="both")) == SIGNATURE_INVALID


def test_unsigned_response_is_refused(fed: Fed) -> None:
    assert fed.refused(fed.idp.response(fed.spec(), sign="none")) == SIGNATURE_INVALID
    signed = fed.idp.response_xml(fed.spec())
    assert fed.refused(ms.strip_signatures(signed)) == SIGNATURE_INVALID


def test_tampered_response_is_refused(fed: Fed) -> None:
    signed = fed.idp.response_xml(fed.spec())
    assert fed.refused(ms.tamper(signed, ">alice<", ">admin<")) == SIGNATURE_INVALID
    signed = fed.idp.response_xml(fed.spec(), sign="response")
    assert fed.refused(ms.tamper(signed, ">alice@example.test<", ">root<")) == SIGNATURE_INVALID


@pytest.mark.parametrize(
    "variant",
    [
        ms.xsw_response_wrapper,
        ms.xsw_response_sibling,
        ms.xsw_assertion_before,
        ms.xsw_assertion_wrapped,
        ms.xsw_signature_moved,
        ms.xsw_extensions,
    ],
)
def test_signature_wrapping_is_refused(
    fed: Fed, variant: Callable[[SamlIdP, ResponseSpec, ResponseSpec], str]
) -> None:
    code, status, message = fed.refused(variant(fed.idp, fed.spec(), _evil(fed)))
    assert (code, status) == ("InvalidIdentityToken", 400)
    assert (code, status, message) in (SIGNATURE_INVALID, ONE_ASSERTION)


def test_signature_not_on_its_element_is_refused(fed: Fed) -> None:
    assert fed.refused(ms.signature_at_response_level(fed.idp, fed.spec())) == SIGNATURE_INVALID


def test_comment_injection_reads_the_signed_value(fed: Fed) -> None:
    forged = ms.comment_injection(fed.idp, fed.spec(), "admin@example.test.evil.example", 18)
    out = fed.assume(forged)
    assert out["Subject"] == "admin@example.test.evil.example"


def test_xxe_is_refused(fed: Fed) -> None:
    forged = ms.with_doctype(fed.idp, fed.spec(), ms.XXE_DOCTYPE, "&xxe;")
    assert fed.refused(forged) == FORBIDDEN


def test_billion_laughs_is_refused(fed: Fed) -> None:
    forged = ms.with_doctype(fed.idp, fed.spec(), ms.BILLION_LAUGHS, "&lol9;")
    assert fed.refused(forged) == FORBIDDEN


def test_replay_is_refused(fed: Fed) -> None:
    assertion = fed.idp.response(fed.spec())
    fed.assume(assertion)
    assert fed.refused(assertion) == (
        "InvalidIdentityToken",
        400,
        "The SAML assertion has already been used",
    )


def test_expired_responses_are_refused(fed: Fed) -> None:
    old = fed.spec(issue_offset=timedelta(minutes=-3), lifetime=timedelta(minutes=2))
    assert fed.refused(fed.idp.response(old)) == (
        "ExpiredTokenException",
        400,
        "Response has expired",
    )
    stale = fed.spec(issue_offset=timedelta(minutes=-6), lifetime=timedelta(hours=1))
    assert fed.refused(fed.idp.response(stale)) == (
        "ExpiredTokenException",
        400,
        "Token must be redeemed within 5 minutes of issuance",
    )
    future = fed.spec(issue_offset=timedelta(minutes=10))
    assert fed.refused(fed.idp.response(future)) == (
        "InvalidIdentityToken",
        400,
        "Response is not yet valid",
    )


def test_wrong_recipient_or_audience_is_refused(fed: Fed) -> None:
    assert fed.refused(fed.idp.response(fed.spec(recipient="https://evil.example/saml"))) == (
        "InvalidIdentityToken",
        400,
        "Response does not contain a valid recipient.",
    )
    assert fed.refused(fed.idp.response(fed.spec(recipient=None))) == (
        "InvalidIdentityToken",
        400,
        "Responses must contain SubjectConfirmatonData with a Recipient and NotOnOrAfter",
    )
    for audiences in (["https://evil.example/saml"], []):
        assert fed.refused(fed.idp.response(fed.spec(audiences=audiences))) == (
            "InvalidIdentityToken",
            400,
            "Response does not contain the required audience.",
        )


def test_role_not_in_the_role_attribute_is_refused(fed: Fed) -> None:
    other = f"arn:aws:iam::{fed.account}:role/other"
    assert fed.refused(fed.idp.response(fed.spec(other))) == (
        "InvalidIdentityToken",
        400,
        "SAML Assertion doesn't contain the requested Role and Metadata in the attributes",
    )
    no_roles = ResponseSpec(roles=[])
    assert fed.refused(fed.idp.response(no_roles))[2] == (
        "SAML Assertion doesn't contain the requested Role and Metadata in the attributes"
    )


def test_provider_mismatch_is_refused(fed: Fed) -> None:
    other = SamlIdP("https://other.example.test/idp")
    other_arn = fed.iam.create_saml_provider(
        Name="other-idp", SAMLMetadataDocument=other.metadata()
    )["SAMLProviderArn"]
    # an assertion from corp-idp presented as other-idp's
    spec = ResponseSpec(roles=[f"{fed.role_arn},{other_arn}"])
    assert fed.refused(fed.idp.response(spec), principal_arn=other_arn) == (
        "InvalidIdentityToken",
        400,
        "Issuer not present in specified provider",
    )
    # an assertion signed by other-idp's key claiming corp-idp's issuer
    forged = other.response(replace(fed.spec(), issuer=fed.idp.entity_id))
    assert fed.refused(forged) == SIGNATURE_INVALID
    missing = f"arn:aws:iam::{fed.account}:saml-provider/nope"
    assert fed.refused(fed.idp.response(fed.spec()), principal_arn=missing) == (
        "InvalidIdentityToken",
        400,
        "Specified provider doesn't exist",
    )


def test_bad_inputs_never_500(fed: Fed) -> None:
    assert fed.refused("!!!not base64!!!") == (
        "InvalidIdentityToken",
        400,
        "Invalid base64 SAMLResponse",
    )
    assert fed.refused(base64.b64encode(b"<not-xml").decode()) == (
        "InvalidIdentityToken",
        400,
        "Invalid SAML response: the document is not well-formed XML.",
    )
    assert fed.refused(base64.b64encode(b"<a/>").decode())[:2] == ("InvalidIdentityToken", 400)
    failed = fed.spec(status="urn:oasis:names:tc:SAML:2.0:status:Responder")
    assert fed.refused(fed.idp.response(failed))[:2] == ("IDPRejectedClaim", 403)
    no_session = fed.spec(session_name=None)
    assert fed.refused(fed.idp.response(no_session)) == (
        "InvalidIdentityToken",
        400,
        "RoleSessionName is required in AuthnResponse",
    )
    bad_session = fed.spec(session_name="alice smith")
    assert fed.refused(fed.idp.response(bad_session)) == (
        "InvalidIdentityToken",
        400,
        "RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}",
    )
    no_name = fed.spec(name_id=None)
    assert fed.refused(fed.idp.response(no_name)) == (
        "AccessDenied",
        403,
        "Not authorized to perform sts:AssumeRoleWithSAML",
    )
    missing_role = f"arn:aws:iam::{fed.account}:role/ghost"
    assert fed.refused(fed.idp.response(fed.spec(missing_role)), role_arn=missing_role) == (
        "AccessDenied",
        403,
        "Not authorized to perform sts:AssumeRoleWithSAML",
    )
    assert fed.refused(fed.idp.response(fed.spec()), Policy="{not json")[:2] == (
        "MalformedPolicyDocument",
        400,
    )


def test_session_remembers_provider_and_saml_keys(fed: Fed) -> None:
    """Permission policies see ``saml:sub`` / ``saml:namequalifier`` and
    ``aws:FederatedProvider``; outbound tokens carry ``federated_provider``."""
    role = fed.role("saml-perms", _trust(fed.provider_arn, ("sts:AssumeRoleWithSAML",)))
    qualifier = base64.b64encode(
        hashlib.sha1(f"{fed.idp.entity_id}{fed.account}/corp-idp".encode()).digest()
    ).decode()
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["iam:ListRoles", "sts:GetWebIdentityToken"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "saml:sub": "alice@example.test",
                        "saml:namequalifier": qualifier,
                        "saml:sub_type": "persistent",
                        "aws:FederatedProvider": fed.provider_arn,
                    }
                },
            }
        ],
    }
    fed.iam.put_role_policy(
        RoleName="saml-perms", PolicyName="by-subject", PolicyDocument=json.dumps(policy)
    )

    def session_for(name_id: str) -> Creds:
        c = fed.assume(fed.idp.response(fed.spec(role, name_id=name_id)), role_arn=role)[
            "Credentials"
        ]
        return Creds(fed.account, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])

    alice = session_for("alice@example.test")
    assert fed.srv.client("iam", alice).list_roles()["Roles"]
    with pytest.raises(ClientError) as exc:
        fed.srv.client("iam", session_for("bob@example.test")).list_roles()
    assert _err(exc)[:2] == ("AccessDenied", 403)

    fed.iam.enable_outbound_web_identity_federation()
    token = fed.srv.client("sts", alice).get_web_identity_token(
        Audience=["https://api.example.test"], SigningAlgorithm="ES384"
    )["WebIdentityToken"]
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["https://sts.amazonaws.com/"]["federated_provider"] == fed.provider_arn
