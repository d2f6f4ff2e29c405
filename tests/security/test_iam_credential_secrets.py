"""Secrets of the IAM credentials of other kinds, attacked through a real server
started with ``--log-level debug``:

- a server certificate's private key is never returned (Upload, Get, List), never
  logged, and sealed at rest: no part of it is in the database file;
- a service-specific password / API key is returned once (Create, then Reset
  returns a new one); no list returns it; the database holds neither it nor its
  text, only a salted hash;
- an instance profile holds its role by unique id: a role deleted behind the API's
  back (as a crash or an older tool could) and created again under the same name
  is NOT in the old profile, and no listing of the new role shows the profile."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tessera.kek import load_kek
from tessera.store.sql import open_sql_store
from tests.e2e.server import TesseraServer, running_debug_server
from tests.unit.iam.certs import self_signed

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


@pytest.fixture(scope="module")
def debug_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TesseraServer]:
    with running_debug_server(tmp_path_factory.mktemp("cred-secrets")) as srv:
        yield srv


def _db_bytes(srv: TesseraServer) -> bytes:
    """Every byte the SQLite store holds (the database and its write-ahead log)."""
    return b"".join(p.read_bytes() for p in srv.data_dir.glob("tessera.db*"))


def _key_lines(pem: str) -> list[str]:
    """The base64 lines of a PEM body: any one of them would leak key material."""
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def test_server_certificate_private_key_never_leaves(debug_server: TesseraServer) -> None:
    iam = debug_server.client("iam")
    body, key = self_signed("secret.example.com")
    answers: list[Any] = [
        iam.upload_server_certificate(
            ServerCertificateName="tls", CertificateBody=body, PrivateKey=key
        ),
        iam.get_server_certificate(ServerCertificateName="tls"),
        iam.list_server_certificates(),
    ]
    # a failing upload (the key of another certificate) echoes nothing either
    _, other_key = self_signed("other.example.com")
    with pytest.raises(ClientError) as exc:
        iam.upload_server_certificate(
            ServerCertificateName="tls2", CertificateBody=body, PrivateKey=other_key
        )
    answers.append(exc.value.response)
    cli = debug_server.aws_cli("iam", "get-server-certificate", "--server-certificate-name", "tls")
    assert cli.returncode == 0, cli.stderr
    texts = [json.dumps(a, default=str) for a in answers] + [cli.stdout]
    log = debug_server.log_text()
    database = _db_bytes(debug_server)
    assert body.splitlines()[1] in texts[1]  # the certificate itself is returned
    for secret in (key, other_key):
        for line in _key_lines(secret):
            assert all(line not in t for t in texts), "a private key was returned"
            assert line not in log, "a private key was logged"
            assert line.encode() not in database, "a private key is in clear at rest"
    assert b"PRIVATE KEY" not in database


def test_service_password_is_returned_once(debug_server: TesseraServer) -> None:
    iam = debug_server.client("iam")
    iam.create_user(UserName="coder")
    made = iam.create_service_specific_credential(
        UserName="coder", ServiceName="codecommit.amazonaws.com"
    )["ServiceSpecificCredential"]
    api = iam.create_service_specific_credential(
        UserName="coder", ServiceName="bedrock.amazonaws.com"
    )["ServiceSpecificCredential"]
    cid = made["ServiceSpecificCredentialId"]
    reset = iam.reset_service_specific_credential(
        UserName="coder", ServiceSpecificCredentialId=cid
    )["ServiceSpecificCredential"]
    secrets = [made["ServicePassword"], api["ServiceCredentialSecret"], reset["ServicePassword"]]
    assert len(set(secrets)) == 3  # reset makes a new password
    later = [
        iam.list_service_specific_credentials(UserName="coder"),
        iam.list_service_specific_credentials(AllUsers=True),
        iam.list_service_specific_credentials(
            UserName="coder", ServiceName="codecommit.amazonaws.com"
        ),
    ]
    iam.update_service_specific_credential(
        UserName="coder", ServiceSpecificCredentialId=cid, Status="Inactive"
    )
    texts = [json.dumps(a, default=str) for a in later]
    log = debug_server.log_text()
    database = _db_bytes(debug_server)
    for secret in secrets:
        assert all(secret not in t for t in texts), "a secret was returned again"
        assert secret not in log, "a secret was logged"
        assert secret.encode() not in database, "a secret is stored in clear"
    assert all("ServicePassword" not in t and "ServiceCredentialSecret" not in t for t in texts)


def test_recreated_role_is_not_in_the_old_profile(debug_server: TesseraServer) -> None:
    iam = debug_server.client("iam")
    account = debug_server.root.account_id
    old_id = iam.create_role(RoleName="app", AssumeRolePolicyDocument=TRUST)["Role"]["RoleId"]
    iam.create_instance_profile(InstanceProfileName="app-ip")
    iam.add_role_to_instance_profile(InstanceProfileName="app-ip", RoleName="app")
    # the API refuses to delete it (DeleteConflict); remove it behind the API's back
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName="app")
    assert exc.value.response["Error"]["Code"] == "DeleteConflict"
    store = open_sql_store(load_kek(debug_server.data_dir), data_dir=debug_server.data_dir)
    try:
        store.delete_role(account, "app")
    finally:
        store.close()
    new_id = iam.create_role(RoleName="app", AssumeRolePolicyDocument=TRUST)["Role"]["RoleId"]
    assert new_id != old_id
    assert iam.get_instance_profile(InstanceProfileName="app-ip")["InstanceProfile"]["Roles"] == []
    assert iam.list_instance_profiles_for_role(RoleName="app")["InstanceProfiles"] == []
    listed = iam.list_instance_profiles()["InstanceProfiles"]
    assert [p["Roles"] for p in listed if p["InstanceProfileName"] == "app-ip"] == [[]]
    iam.delete_role(RoleName="app")  # the new role is in no profile
    # the stale binding does not block the profile: a role can be added, it can go
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=TRUST)
    iam.add_role_to_instance_profile(InstanceProfileName="app-ip", RoleName="app")
    roles = iam.get_instance_profile(InstanceProfileName="app-ip")["InstanceProfile"]["Roles"]
    assert [r["RoleName"] for r in roles] == ["app"] and roles[0]["RoleId"] != old_id
