"""IAM Roles Anywhere end to end: a real server, boto3's ``rolesanywhere`` client
for the API (CRUD, errors, pagination, tags, attribute mappings, CRLs, subjects)
and CreateSession signed by the tests' own signer (tests/e2e/x509_signer.py) with
RSA and EC certificates, whose credentials then reach
``assumed-role/<role>/<serial hex>`` through boto3, chain into AssumeRole and get
a web identity token carrying the x509 principal tags."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from botocore.exceptions import ClientError

from tests.e2e.server import Creds, TesseraServer
from tests.e2e.x509_signer import Issued, create_session, make_ca, make_crl, make_leaf

pytestmark = pytest.mark.e2e


def _trust(account: str, *, source_arn: str | None) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": "rolesanywhere.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
    }
    if source_arn is not None:
        statement["Condition"] = {
            "ArnEquals": {"aws:SourceArn": source_arn},
            "StringEquals": {"aws:PrincipalTag/x509Subject/OU": "payments"},
        }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


@dataclass
class World:
    srv: TesseraServer
    account: str
    ra: Any
    ca_rsa: Issued
    ca_ec: Issued
    anchor_arn: str
    anchor_id: str
    profile_arn: str
    profile_id: str
    role_arn: str
    other_role_arn: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    srv = TesseraServer(data_dir=tmp_path_factory.mktemp("ra") / "data")
    root = srv.init()
    srv.start()
    try:
        account = root.account_id
        iam = srv.client("iam", root)
        ra = srv.client("rolesanywhere", root)
        ca_rsa = make_ca("Test RSA Root", "rsa")
        ca_ec = make_ca("Test EC Root", "ec")
        anchor = ra.create_trust_anchor(
            name="lab",
            source={
                "sourceType": "CERTIFICATE_BUNDLE",
                "sourceData": {"x509CertificateData": ca_rsa.pem + ca_ec.pem},
            },
            enabled=True,
        )["trustAnchor"]
        role = iam.create_role(
            RoleName="workload",
            AssumeRolePolicyDocument=_trust(account, source_arn=anchor["trustAnchorArn"]),
        )["Role"]
        iam.put_role_policy(
            RoleName="workload",
            PolicyName="p",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["sts:*", "iam:ListRoles"],
                            "Resource": "*",
                        }
                    ],
                }
            ),
        )
        other = iam.create_role(
            RoleName="other", AssumeRolePolicyDocument=_trust(account, source_arn=None)
        )["Role"]
        profile = ra.create_profile(
            name="lab-profile",
            roleArns=[role["Arn"]],
            enabled=True,
            durationSeconds=3600,
        )["profile"]
        iam.enable_outbound_web_identity_federation()
        yield World(
            srv,
            account,
            ra,
            ca_rsa,
            ca_ec,
            anchor["trustAnchorArn"],
            anchor["trustAnchorId"],
            profile["profileArn"],
            profile["profileId"],
            role["Arn"],
            other["Arn"],
        )
    finally:
        srv.stop()


def _session(w: World, leaf: Issued, **kw: Any) -> Any:
    args: dict[str, Any] = dict(
        trust_anchor_arn=w.anchor_arn, profile_arn=w.profile_arn, role_arn=w.role_arn
    )
    args.update(kw)
    return create_session(w.srv.endpoint, leaf, **args)


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_create_session_reaches_assumed_role(world: World, kind: str) -> None:
    ca = world.ca_rsa if kind == "rsa" else world.ca_ec
    leaf = make_leaf(ca, cn=f"{kind}-workload", kind=kind)
    resp = _session(world, leaf)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    entry = body["credentialSet"][0]
    serial_hex = format(leaf.cert.serial_number, "x")
    assert entry["roleArn"] == world.role_arn
    assert entry["sourceIdentity"] == f"{kind}-workload"
    assert entry["assumedRoleUser"]["arn"] == (
        f"arn:aws:sts::{world.account}:assumed-role/workload/{serial_hex}"
    )
    assert body["subjectArn"].startswith(
        f"arn:aws:rolesanywhere:us-east-1:{world.account}:subject/"
    )
    c = entry["credentials"]
    assert c["expiration"].endswith("Z")
    creds = Creds(world.account, c["accessKeyId"], c["secretAccessKey"], c["sessionToken"])
    sts = world.srv.client("sts", creds)
    assert sts.get_caller_identity()["Arn"] == (
        f"arn:aws:sts::{world.account}:assumed-role/workload/{serial_hex}"
    )
    # a web identity token from this session carries the x509 principal tags
    token = sts.get_web_identity_token(Audience=["a"], SigningAlgorithm="RS256")
    claims = jwt.decode(token["WebIdentityToken"], options={"verify_signature": False})
    tags = claims["https://sts.amazonaws.com/"]["principal_tags"]
    assert tags["x509Subject/CN"] == f"{kind}-workload"
    assert tags["x509Subject/OU"] == "payments"
    assert tags["x509SAN/DNS"] == "workload-1.example.com"
    assert tags["x509Issuer/CN"] == ca.cert.subject.rfc4514_string().split("=", 1)[1]


def test_subjects_record_successes_and_failures(world: World) -> None:
    leaf = make_leaf(world.ca_ec, cn="audited")
    assert _session(world, leaf).status_code == 201
    denied = _session(world, leaf, role_arn=world.other_role_arn)
    assert denied.status_code == 403
    assert denied.json()["__type"] == "AccessDeniedException"
    subjects = world.ra.list_subjects()["subjects"]
    mine = [s for s in subjects if "CN=audited" in s["x509Subject"]]
    assert len(mine) == 1
    detail = world.ra.get_subject(subjectId=mine[0]["subjectId"])["subject"]
    assert [c["failed"] for c in detail["credentials"]] == [True, False]
    assert detail["credentials"][0]["serialNumber"] == str(leaf.cert.serial_number)


def test_chaining_from_a_roles_anywhere_session(world: World) -> None:
    leaf = make_leaf(world.ca_rsa, cn="chainer", kind="rsa")
    c = _session(world, leaf).json()["credentialSet"][0]["credentials"]
    creds = Creds(world.account, c["accessKeyId"], c["secretAccessKey"], c["sessionToken"])
    iam = world.srv.client("iam", world.srv.root)
    iam.create_role(
        RoleName="next",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": world.role_arn},
                        "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
                    }
                ],
            }
        ),
    )
    sts = world.srv.client("sts", creds)
    out = sts.assume_role(RoleArn=f"arn:aws:iam::{world.account}:role/next", RoleSessionName="hop")
    assert out["AssumedRoleUser"]["Arn"].endswith(":assumed-role/next/hop")
    assert out["SourceIdentity"] == "chainer"


def test_crud_errors_pagination_and_tags(world: World) -> None:
    ra = world.ra
    got = ra.get_trust_anchor(trustAnchorId=world.anchor_id)["trustAnchor"]
    assert got["source"]["sourceType"] == "CERTIFICATE_BUNDLE"
    assert got["enabled"] is True
    with pytest.raises(ClientError) as exc:
        ra.get_trust_anchor(trustAnchorId="00000000-0000-4000-8000-000000000000")
    assert _err(exc) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as exc:
        ra.create_trust_anchor(
            name="pca",
            source={"sourceType": "AWS_ACM_PCA", "sourceData": {"acmPcaArn": "arn:x"}},
        )
    assert _err(exc) == ("ValidationException", 400)
    assert "AWS Private CA" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        ra.create_trust_anchor(
            name="bad",
            source={
                "sourceType": "CERTIFICATE_BUNDLE",
                "sourceData": {"x509CertificateData": "not a pem"},
            },
        )
    assert _err(exc) == ("ValidationException", 400)
    ids = []
    for i in range(3):
        p = ra.create_profile(name=f"p{i}", roleArns=[world.role_arn])["profile"]
        assert p["enabled"] is False
        assert p["durationSeconds"] == 3600
        ids.append(p["profileId"])
    seen: list[str] = []
    kwargs: dict[str, Any] = {"pageSize": 2}
    while True:
        page = ra.list_profiles(**kwargs)
        seen += [p["profileId"] for p in page["profiles"]]
        if "nextToken" not in page:
            break
        kwargs["nextToken"] = page["nextToken"]
    assert set(ids) <= set(seen)
    assert len(seen) == len(set(seen))
    arn = ra.get_profile(profileId=ids[0])["profile"]["profileArn"]
    ra.tag_resource(resourceArn=arn, tags=[{"key": "team", "value": "blue"}])
    assert ra.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "blue"}]
    ra.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert ra.list_tags_for_resource(resourceArn=arn)["tags"] == []
    with pytest.raises(ClientError) as exc:
        ra.tag_resource(resourceArn=arn, tags=[{"key": f"k{i}", "value": "v"} for i in range(51)])
    assert _err(exc)[0] == "TooManyTagsException"
    mapped = ra.put_attribute_mapping(
        profileId=ids[0], certificateField="x509Subject", mappingRules=[{"specifier": "CN"}]
    )["profile"]
    subject_rules = [
        r["specifier"]
        for m in mapped["attributeMappings"]
        if m["certificateField"] == "x509Subject"
        for r in m["mappingRules"]
    ]
    assert "CN" in subject_rules
    after = ra.delete_attribute_mapping(profileId=ids[0], certificateField="x509SAN")["profile"]
    assert all(m["certificateField"] != "x509SAN" for m in after["attributeMappings"])
    for pid in ids:
        ra.delete_profile(profileId=pid)
    with pytest.raises(ClientError) as exc:
        ra.get_profile(profileId=ids[0])
    assert _err(exc) == ("ResourceNotFoundException", 404)


def test_revoked_certificate_is_refused(world: World) -> None:
    leaf = make_leaf(world.ca_ec, cn="revoked-one")
    assert _session(world, leaf).status_code == 201
    crl = world.ra.import_crl(
        name="ec-crl",
        crlData=make_crl(world.ca_ec, [leaf.cert]),
        trustAnchorArn=world.anchor_arn,
        enabled=True,
    )["crl"]
    try:
        resp = _session(world, leaf)
        assert resp.status_code == 403
        assert resp.json() == {
            "__type": "AccessDeniedException",
            "message": "The certificate has been revoked.",
        }
        got = world.ra.get_crl(crlId=crl["crlId"])["crl"]
        assert base64.b64encode(got["crlData"]) and got["enabled"] is True
        world.ra.disable_crl(crlId=crl["crlId"])
        assert _session(world, leaf).status_code == 201
    finally:
        world.ra.delete_crl(crlId=crl["crlId"])
