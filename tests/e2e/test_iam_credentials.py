"""IAM instance profiles and credentials of other kinds end to end, with boto3 (and
the AWS CLI for a few calls) against a real server: each group's happy path, its
pagination and AWS's errors (codes and HTTP statuses)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pyotp
import pytest
from botocore.exceptions import ClientError

from tests.e2e.server import Creds, TesseraServer
from tests.unit.iam.certs import (
    NOW,
    cert_pem,
    ec_key,
    issue,
    key_pem,
    self_signed,
    ssh_ed25519,
    ssh_rsa,
)

pytestmark = pytest.mark.e2e

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


@pytest.fixture(scope="module")
def iam(server: TesseraServer) -> Iterator[Any]:
    yield server.client("iam")


def test_instance_profiles(iam: Any, server: TesseraServer) -> None:
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=TRUST)
    iam.create_role(RoleName="batch", AssumeRolePolicyDocument=TRUST)
    made = iam.create_instance_profile(
        InstanceProfileName="web-ip", Path="/apps/", Tags=[{"Key": "team", "Value": "a"}]
    )["InstanceProfile"]
    assert made["InstanceProfileId"].startswith("AIPA") and len(made["InstanceProfileId"]) == 21
    assert made["Arn"].endswith(":instance-profile/apps/web-ip") and made["Roles"] == []
    assert made["Tags"] == [{"Key": "team", "Value": "a"}]
    with pytest.raises(ClientError) as exc:
        iam.create_instance_profile(InstanceProfileName="WEB-ip")
    assert error(exc) == ("EntityAlreadyExists", 409, "Instance Profile WEB-ip already exists.")

    iam.add_role_to_instance_profile(InstanceProfileName="web-ip", RoleName="web")
    got = iam.get_instance_profile(InstanceProfileName="web-ip")["InstanceProfile"]
    assert [r["RoleName"] for r in got["Roles"]] == ["web"]
    assert got["Roles"][0]["AssumeRolePolicyDocument"]["Statement"][0]["Action"] == (
        "sts:AssumeRole"
    )
    with pytest.raises(ClientError) as exc:
        iam.add_role_to_instance_profile(InstanceProfileName="web-ip", RoleName="batch")
    assert error(exc) == (
        "LimitExceeded",
        409,
        "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1",
    )
    with pytest.raises(ClientError) as exc:
        iam.add_role_to_instance_profile(InstanceProfileName="nope", RoleName="web")
    assert error(exc) == ("NoSuchEntity", 404, "Instance Profile nope cannot be found.")

    # DeleteRole / DeleteInstanceProfile refuse while the role is in the profile
    msg = "Cannot delete entity, must remove roles from instance profile first."
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName="web")
    assert error(exc) == ("DeleteConflict", 409, msg)
    with pytest.raises(ClientError) as exc:
        iam.delete_instance_profile(InstanceProfileName="web-ip")
    assert error(exc) == ("DeleteConflict", 409, msg)

    # GetRole / ListRoles are unchanged
    assert "InstanceProfileList" not in iam.get_role(RoleName="web")["Role"]
    for i in range(3):
        iam.create_instance_profile(InstanceProfileName=f"p{i}")
    iam.add_role_to_instance_profile(InstanceProfileName="p1", RoleName="web")
    for_role = iam.list_instance_profiles_for_role(RoleName="web")["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in for_role] == ["p1", "web-ip"]

    pages = iam.get_paginator("list_instance_profiles").paginate(PaginationConfig={"PageSize": 2})
    names = [p["InstanceProfileName"] for page in pages for p in page["InstanceProfiles"]]
    assert names == ["p0", "p1", "p2", "web-ip"]
    apps = iam.list_instance_profiles(PathPrefix="/apps/")["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in apps] == ["web-ip"] and "Tags" not in apps[0]

    iam.tag_instance_profile(InstanceProfileName="web-ip", Tags=[{"Key": "env", "Value": "p"}])
    iam.untag_instance_profile(InstanceProfileName="web-ip", TagKeys=["team"])
    assert iam.list_instance_profile_tags(InstanceProfileName="web-ip")["Tags"] == [
        {"Key": "env", "Value": "p"}
    ]

    with pytest.raises(ClientError) as exc:
        iam.remove_role_from_instance_profile(InstanceProfileName="p0", RoleName="web")
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    for p in ("web-ip", "p1"):
        iam.remove_role_from_instance_profile(InstanceProfileName=p, RoleName="web")
    iam.delete_role(RoleName="web")
    iam.delete_instance_profile(InstanceProfileName="web-ip")
    with pytest.raises(ClientError) as exc:
        iam.get_instance_profile(InstanceProfileName="web-ip")
    assert error(exc)[:2] == ("NoSuchEntity", 404)

    # the AWS CLI
    done = server.aws_cli("iam", "get-instance-profile", "--instance-profile-name", "p2")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["InstanceProfile"]["InstanceProfileName"] == "p2"


def test_add_role_needs_pass_role(iam: Any, server: TesseraServer) -> None:
    iam.create_role(RoleName="secret-role", AssumeRolePolicyDocument=TRUST)
    iam.create_instance_profile(InstanceProfileName="pr")
    iam.create_user(UserName="operator")
    iam.put_user_policy(
        UserName="operator",
        PolicyName="profiles",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "iam:*InstanceProfile*", "Resource": "*"}
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName="operator")["AccessKey"]
    operator = server.client(
        "iam", Creds(server.root.account_id, key["AccessKeyId"], key["SecretAccessKey"])
    )
    with pytest.raises(ClientError) as exc:
        operator.add_role_to_instance_profile(InstanceProfileName="pr", RoleName="secret-role")
    code, status, message = error(exc)
    assert (code, status) == ("AccessDenied", 403) and "iam:PassRole" in message
    assert iam.get_instance_profile(InstanceProfileName="pr")["InstanceProfile"]["Roles"] == []


def test_server_certificates(iam: Any) -> None:
    ca_key, leaf_key = ec_key(), ec_key()
    ca = issue("Example CA", ca_key, ca=True)
    leaf = issue("www.example.com", leaf_key, ca_key, "Example CA")
    body, key, chain = cert_pem(leaf), key_pem(leaf_key), cert_pem(ca)
    up = iam.upload_server_certificate(
        ServerCertificateName="www",
        Path="/cloudfront/",
        CertificateBody=body,
        PrivateKey=key,
        CertificateChain=chain,
        Tags=[{"Key": "k", "Value": "v"}],
    )
    meta = up["ServerCertificateMetadata"]
    assert meta["ServerCertificateId"].startswith("ASCA")
    assert meta["Arn"].endswith(":server-certificate/cloudfront/www")
    assert meta["Expiration"] == leaf.not_valid_after_utc
    assert up["Tags"] == [{"Key": "k", "Value": "v"}]
    got = iam.get_server_certificate(ServerCertificateName="www")["ServerCertificate"]
    assert (got["CertificateBody"], got["CertificateChain"]) == (body, chain)
    assert "PrivateKey" not in json.dumps(got, default=str)

    other_body, _ = self_signed("other.example.com")
    cases: list[tuple[dict[str, str], str, str]] = [
        ({"CertificateBody": "not a certificate"}, "MalformedCertificate", "Unable to parse"),
        ({"PrivateKey": "not a key"}, "MalformedCertificate", "private key"),
        ({"PrivateKey": key_pem(ec_key())}, "KeyPairMismatch", ""),
        ({"CertificateChain": other_body}, "MalformedCertificate", "is: 0"),
    ]
    for change, code, text in cases:
        request = {
            "ServerCertificateName": "bad",
            "CertificateBody": body,
            "PrivateKey": key,
        } | change
        with pytest.raises(ClientError) as exc:
            iam.upload_server_certificate(**request)
        got_code, status, message = error(exc)
        assert (got_code, status) == (code, 400) and text in message, message
    with pytest.raises(ClientError) as exc:
        iam.upload_server_certificate(
            ServerCertificateName="WWW", CertificateBody=body, PrivateKey=key
        )
    assert error(exc)[:2] == ("EntityAlreadyExists", 409)

    iam.update_server_certificate(
        ServerCertificateName="www", NewServerCertificateName="web", NewPath="/"
    )
    listed = iam.list_server_certificates()["ServerCertificateMetadataList"]
    assert [(m["ServerCertificateName"], m["Path"]) for m in listed] == [("web", "/")]
    assert (
        iam.list_server_certificates(PathPrefix="/cloudfront/")["ServerCertificateMetadataList"]
        == []
    )
    # tags follow the certificate through the rename
    assert iam.list_server_certificate_tags(ServerCertificateName="web")["Tags"] == [
        {"Key": "k", "Value": "v"}
    ]
    iam.untag_server_certificate(ServerCertificateName="web", TagKeys=["k"])
    iam.tag_server_certificate(ServerCertificateName="web", Tags=[{"Key": "a", "Value": "b"}])
    assert iam.list_server_certificate_tags(ServerCertificateName="web")["Tags"] == [
        {"Key": "a", "Value": "b"}
    ]
    iam.delete_server_certificate(ServerCertificateName="web")
    with pytest.raises(ClientError) as exc:
        iam.get_server_certificate(ServerCertificateName="web")
    assert error(exc) == (
        "NoSuchEntity",
        404,
        "The Server Certificate with name web cannot be found.",
    )


def test_signing_certificates(iam: Any) -> None:
    iam.create_user(UserName="signer")
    bodies = [self_signed(f"s{i}.example.com")[0] for i in range(3)]
    first = iam.upload_signing_certificate(UserName="signer", CertificateBody=bodies[0])
    cert = first["Certificate"]
    assert (cert["UserName"], cert["Status"]) == ("signer", "Active")
    assert len(cert["CertificateId"]) >= 24
    with pytest.raises(ClientError) as exc:
        iam.upload_signing_certificate(UserName="signer", CertificateBody=bodies[0])
    assert error(exc)[:2] == ("DuplicateCertificate", 409)
    iam.upload_signing_certificate(UserName="signer", CertificateBody=bodies[1])
    with pytest.raises(ClientError) as exc:
        iam.upload_signing_certificate(UserName="signer", CertificateBody=bodies[2])
    assert error(exc) == (
        "LimitExceeded",
        409,
        "Cannot exceed quota for SigningCertificatesPerUser: 2",
    )
    with pytest.raises(ClientError) as exc:
        iam.upload_signing_certificate(UserName="signer", CertificateBody="garbage")
    assert error(exc)[:2] == ("MalformedCertificate", 400)
    expired_key = ec_key()
    expired = cert_pem(
        issue(
            "old", expired_key, not_before=NOW.replace(year=2020), not_after=NOW.replace(year=2021)
        )
    )
    with pytest.raises(ClientError) as exc:
        iam.upload_signing_certificate(UserName="signer", CertificateBody=expired)
    assert error(exc)[:2] == ("InvalidCertificate", 400)

    iam.update_signing_certificate(
        UserName="signer", CertificateId=cert["CertificateId"], Status="Inactive"
    )
    listed = iam.list_signing_certificates(UserName="signer")["Certificates"]
    assert [c["Status"] for c in listed] == ["Inactive", "Active"]
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="signer")
    assert error(exc) == (
        "DeleteConflict",
        409,
        "Cannot delete entity, must delete signing certificates first.",
    )
    for c in listed:
        iam.delete_signing_certificate(UserName="signer", CertificateId=c["CertificateId"])
    with pytest.raises(ClientError) as exc:
        iam.delete_signing_certificate(UserName="signer", CertificateId=cert["CertificateId"])
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    iam.delete_user(UserName="signer")


def test_ssh_public_keys(iam: Any) -> None:
    iam.create_user(UserName="git")
    rsa_key = ssh_rsa()
    up = iam.upload_ssh_public_key(UserName="git", SSHPublicKeyBody=rsa_key + " me@host")
    key = up["SSHPublicKey"]
    assert key["SSHPublicKeyId"].startswith("APKA") and key["Status"] == "Active"
    assert len(key["Fingerprint"].split(":")) == 16
    assert key["SSHPublicKeyBody"] == rsa_key
    pem = iam.get_ssh_public_key(
        UserName="git", SSHPublicKeyId=key["SSHPublicKeyId"], Encoding="PEM"
    )["SSHPublicKey"]["SSHPublicKeyBody"]
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(ClientError) as exc:
        iam.upload_ssh_public_key(UserName="git", SSHPublicKeyBody=pem)  # same key, PEM
    assert error(exc)[:2] == ("DuplicateSSHPublicKey", 400)
    for body, code in (
        ("hello world", "UnrecognizedPublicKeyEncoding"),
        ("ssh-rsa AAAAnotbase64!!", "InvalidPublicKey"),
        (ssh_rsa(1024), "InvalidPublicKey"),
    ):
        with pytest.raises(ClientError) as exc:
            iam.upload_ssh_public_key(UserName="git", SSHPublicKeyBody=body)
        assert error(exc)[:2] == (code, 400)
    for _ in range(4):
        iam.upload_ssh_public_key(UserName="git", SSHPublicKeyBody=ssh_ed25519())
    with pytest.raises(ClientError) as exc:
        iam.upload_ssh_public_key(UserName="git", SSHPublicKeyBody=ssh_ed25519())
    assert error(exc)[:2] == ("LimitExceeded", 409)
    listed = iam.list_ssh_public_keys(UserName="git", MaxItems=3)
    assert len(listed["SSHPublicKeys"]) == 3 and listed["IsTruncated"]
    iam.update_ssh_public_key(
        UserName="git", SSHPublicKeyId=key["SSHPublicKeyId"], Status="Inactive"
    )
    got = iam.get_ssh_public_key(
        UserName="git", SSHPublicKeyId=key["SSHPublicKeyId"], Encoding="SSH"
    )["SSHPublicKey"]
    assert (got["Status"], got["SSHPublicKeyBody"]) == ("Inactive", rsa_key)
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="git")
    assert error(exc)[:2] == ("DeleteConflict", 409)
    for k in iam.list_ssh_public_keys(UserName="git")["SSHPublicKeys"]:
        iam.delete_ssh_public_key(UserName="git", SSHPublicKeyId=k["SSHPublicKeyId"])
    with pytest.raises(ClientError) as exc:
        iam.get_ssh_public_key(UserName="git", SSHPublicKeyId=key["SSHPublicKeyId"], Encoding="SSH")
    assert error(exc)[:2] == ("NoSuchEntity", 404)


def test_service_specific_credentials(iam: Any, server: TesseraServer) -> None:
    iam.create_user(UserName="dev")
    made = iam.create_service_specific_credential(
        UserName="dev", ServiceName="codecommit.amazonaws.com"
    )["ServiceSpecificCredential"]
    account = server.root.account_id
    assert made["ServiceUserName"] == f"dev-at-{account}" and len(made["ServicePassword"]) >= 40
    assert made["ServiceSpecificCredentialId"].startswith("ACCA")
    cid = made["ServiceSpecificCredentialId"]
    iam.create_service_specific_credential(UserName="dev", ServiceName="codecommit.amazonaws.com")
    with pytest.raises(ClientError) as exc:
        iam.create_service_specific_credential(
            UserName="dev", ServiceName="codecommit.amazonaws.com"
        )
    assert error(exc)[:2] == ("LimitExceeded", 409)
    with pytest.raises(ClientError) as exc:
        iam.create_service_specific_credential(UserName="dev", ServiceName="s3.amazonaws.com")
    assert error(exc)[:2] == ("NotSupportedService", 404)
    with pytest.raises(ClientError) as exc:
        iam.create_service_specific_credential(
            UserName="dev", ServiceName="cassandra.amazonaws.com", CredentialAgeDays=5
        )
    assert error(exc)[:2] == ("InvalidInput", 400)

    bedrock = iam.create_service_specific_credential(
        UserName="dev", ServiceName="bedrock.amazonaws.com", CredentialAgeDays=30
    )["ServiceSpecificCredential"]
    assert bedrock["ServiceCredentialSecret"].startswith("ABSK")
    assert bedrock["ServiceCredentialAlias"].startswith(f"dev-at-{account}")
    assert (bedrock["ExpirationDate"] - bedrock["CreateDate"]).days == 30

    listed = iam.list_service_specific_credentials(UserName="dev")["ServiceSpecificCredentials"]
    assert len(listed) == 3
    assert all("ServicePassword" not in c and "ServiceCredentialSecret" not in c for c in listed)
    only = iam.list_service_specific_credentials(
        UserName="dev", ServiceName="bedrock.amazonaws.com"
    )["ServiceSpecificCredentials"]
    assert [c["ServiceName"] for c in only] == ["bedrock.amazonaws.com"]
    everyone = iam.list_service_specific_credentials(AllUsers=True)["ServiceSpecificCredentials"]
    assert {c["UserName"] for c in everyone} == {"dev"}

    reset = iam.reset_service_specific_credential(UserName="dev", ServiceSpecificCredentialId=cid)
    assert reset["ServiceSpecificCredential"]["ServicePassword"] != made["ServicePassword"]
    iam.update_service_specific_credential(
        UserName="dev", ServiceSpecificCredentialId=cid, Status="Inactive"
    )
    status = {
        c["ServiceSpecificCredentialId"]: c["Status"]
        for c in iam.list_service_specific_credentials(UserName="dev")["ServiceSpecificCredentials"]
    }
    assert status[cid] == "Inactive"
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="dev")
    assert error(exc)[:2] == ("DeleteConflict", 409)
    for c in listed:
        iam.delete_service_specific_credential(
            UserName="dev", ServiceSpecificCredentialId=c["ServiceSpecificCredentialId"]
        )
    with pytest.raises(ClientError) as exc:
        iam.reset_service_specific_credential(UserName="dev", ServiceSpecificCredentialId=cid)
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    iam.delete_user(UserName="dev")


def test_mfa_device_get_and_tags(iam: Any) -> None:
    iam.create_user(UserName="mfa-user")
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="dev1")["VirtualMFADevice"][
        "SerialNumber"
    ]
    iam.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "a", "Value": "1"}])
    iam.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "b", "Value": "2"}])
    iam.untag_mfa_device(SerialNumber=serial, TagKeys=["a"])
    assert iam.list_mfa_device_tags(SerialNumber=serial)["Tags"] == [{"Key": "b", "Value": "2"}]
    missing = serial + "x"
    with pytest.raises(ClientError) as exc:
        iam.list_mfa_device_tags(SerialNumber=missing)
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    # not assigned to the user: no such device for GetMFADevice
    with pytest.raises(ClientError) as exc:
        iam.get_mfa_device(SerialNumber=serial, UserName="mfa-user")
    assert error(exc)[:2] == ("NoSuchEntity", 404)
    seed = iam.create_virtual_mfa_device(VirtualMFADeviceName="dev2")["VirtualMFADevice"]
    totp = pyotp.TOTP(seed["Base32StringSeed"].decode())
    now = datetime.now(UTC).timestamp()
    iam.enable_mfa_device(
        UserName="mfa-user",
        SerialNumber=seed["SerialNumber"],
        AuthenticationCode1=totp.at(now - 30),
        AuthenticationCode2=totp.at(now),
    )
    got = iam.get_mfa_device(SerialNumber=seed["SerialNumber"], UserName="mfa-user")
    assert (got["UserName"], got["SerialNumber"]) == ("mfa-user", seed["SerialNumber"])
    assert got["EnableDate"] is not None and "Certifications" not in got
