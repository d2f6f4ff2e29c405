"""Instance profiles, server certificates, signing certificates, SSH public keys and
service-specific credentials on every storage engine: create / get / list (paging,
path prefixes), the compare-and-set of a profile's role, renames, uniqueness
(names, certificates per account, SSH keys per user) and binding to unique ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tessera.iam.credential_model import (
    ServerCertificate,
    ServiceSpecificCredential,
    SigningCertificate,
    SshPublicKey,
)
from tessera.iam.instance_profile_model import InstanceProfile
from tessera.iam.model import Tag
from tessera.store.base import AlreadyExists
from tessera.store.sql import SqlStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACCT = "111111111111"
OTHER = "222222222222"


@pytest.fixture()
def store(store: SqlStore) -> SqlStore:
    store.create_account(ACCT, NOW)
    store.create_account(OTHER, NOW)
    return store


def _profile(name: str, path: str = "/", account: str = ACCT) -> InstanceProfile:
    return InstanceProfile(account, name, path, f"AIPA{account[:1]}{name.upper():0<16}"[:21], NOW)


def test_instance_profiles(store: SqlStore) -> None:
    a, b, c = _profile("a"), _profile("b", "/ops/"), _profile("c", "/ops/")
    for p in (a, b, c, _profile("a", account=OTHER)):
        store.create_instance_profile(p)
    with pytest.raises(AlreadyExists):
        store.create_instance_profile(_profile("A"))  # names are case-insensitive
    assert store.get_instance_profile(ACCT, "A") == a
    assert store.get_instance_profile(ACCT, "zz") is None
    assert store.get_instance_profile_by_arn(b.arn) == b
    assert store.get_instance_profile_by_arn(f"arn:aws:iam::{ACCT}:instance-profile/b") is None
    assert store.get_instance_profile_by_arn(f"arn:aws:iam::{ACCT}:role/a") is None
    assert store.get_instance_profile_by_arn("not an arn") is None

    page = store.list_instance_profiles(ACCT, "/", None, 2)
    assert [p.name for p in page.items] == ["a", "b"] and page.marker is not None
    rest = store.list_instance_profiles(ACCT, "/", page.marker, 2)
    assert [p.name for p in rest.items] == ["c"] and rest.marker is None
    assert [p.name for p in store.list_instance_profiles(ACCT, "/ops/", None, 10).items] == [
        "b",
        "c",
    ]

    # one role, compare-and-set
    assert store.set_instance_profile_role(ACCT, "b", "AROAROLE1", expected=None)
    assert not store.set_instance_profile_role(ACCT, "b", "AROAROLE2", expected=None)
    assert store.set_instance_profile_role(ACCT, "c", "AROAROLE1", expected=None)
    assert [p.name for p in store.list_instance_profiles_for_role(ACCT, "AROAROLE1")] == ["b", "c"]
    assert store.list_instance_profiles_for_role(OTHER, "AROAROLE1") == []
    got = store.get_instance_profile(ACCT, "b")
    assert got is not None and got.role_id == "AROAROLE1"

    # deleting needs the role it expects; tags go with the profile
    store.set_tags(ACCT, "instance-profile", "b", [Tag("k", "v")])
    assert not store.delete_instance_profile(ACCT, "b", expected=None)
    assert store.set_instance_profile_role(ACCT, "b", None, expected="AROAROLE1")
    assert store.delete_instance_profile(ACCT, "b", expected=None)
    assert store.get_instance_profile(ACCT, "b") is None
    assert store.get_tags(ACCT, "instance-profile", "b") == []
    assert not store.delete_instance_profile(ACCT, "b", expected=None)


def _server(name: str, path: str = "/", cid: str = "ASCA1") -> ServerCertificate:
    return ServerCertificate(
        ACCT, name, path, cid, "BODY", None, b"sealed", NOW, NOW + timedelta(days=90)
    )


def test_server_certificates(store: SqlStore) -> None:
    one, two = _server("one", cid="ASCA1"), _server("two", "/cdn/", cid="ASCA2")
    store.create_server_certificate(one)
    store.create_server_certificate(two)
    with pytest.raises(AlreadyExists):
        store.create_server_certificate(_server("ONE", cid="ASCA3"))
    assert store.get_server_certificate(ACCT, "One") == one
    assert store.get_server_certificate(OTHER, "one") is None
    page = store.list_server_certificates(ACCT, "/", None, 1)
    assert [c.name for c in page.items] == ["one"] and page.marker
    assert [c.name for c in store.list_server_certificates(ACCT, "/cdn/", None, 5).items] == ["two"]

    store.update_server_certificate(ACCT, "one", new_name="uno", new_path="/web/")
    moved = store.get_server_certificate(ACCT, "uno")
    assert moved is not None and (moved.path, moved.certificate_id) == ("/web/", "ASCA1")
    assert store.get_server_certificate(ACCT, "one") is None
    with pytest.raises(AlreadyExists):
        store.update_server_certificate(ACCT, "uno", new_name="two", new_path="/")

    store.set_tags(ACCT, "server-cert", "ASCA2", [Tag("k", "v")])
    store.delete_server_certificate(ACCT, "two")
    assert store.get_server_certificate(ACCT, "two") is None
    assert store.get_tags(ACCT, "server-cert", "ASCA2") == []
    store.delete_server_certificate(ACCT, "two")  # gone: nothing happens


def test_signing_certificates(store: SqlStore) -> None:
    def cert(cid: str, fp: str, user_id: str = "AIDAU1", account: str = ACCT) -> SigningCertificate:
        return SigningCertificate(account, user_id, "u1", cid, "PEM", fp, "Active", NOW)

    store.create_signing_certificate(cert("C1", "f1"))
    store.create_signing_certificate(cert("C2", "f2"))
    with pytest.raises(AlreadyExists):  # the same certificate, another user
        store.create_signing_certificate(cert("C3", "f1", user_id="AIDAU2"))
    store.create_signing_certificate(cert("C4", "f1", account=OTHER))  # another account
    assert [c.certificate_id for c in store.list_signing_certificates(ACCT, "AIDAU1")] == [
        "C1",
        "C2",
    ]
    assert store.list_signing_certificates(ACCT, "AIDAU2") == []
    assert store.set_signing_certificate_status(ACCT, "AIDAU1", "C1", "Inactive")
    assert not store.set_signing_certificate_status(ACCT, "AIDAU2", "C1", "Inactive")
    assert store.list_signing_certificates(ACCT, "AIDAU1")[0].status == "Inactive"
    assert not store.delete_signing_certificate(ACCT, "AIDAU2", "C1")
    assert store.delete_signing_certificate(ACCT, "AIDAU1", "C1")
    assert [c.certificate_id for c in store.list_signing_certificates(ACCT, "AIDAU1")] == ["C2"]


def test_ssh_public_keys(store: SqlStore) -> None:
    def key(kid: str, fp: str, user_id: str = "AIDAU1") -> SshPublicKey:
        return SshPublicKey(ACCT, user_id, "u1", kid, "ssh-ed25519 AAAA", fp, "Active", NOW)

    store.create_ssh_public_key(key("APKA1", "aa"))
    with pytest.raises(AlreadyExists):
        store.create_ssh_public_key(key("APKA2", "aa"))
    store.create_ssh_public_key(key("APKA3", "aa", user_id="AIDAU2"))  # per user
    assert store.get_ssh_public_key(ACCT, "AIDAU1", "APKA1") == key("APKA1", "aa")
    assert store.get_ssh_public_key(ACCT, "AIDAU2", "APKA1") is None
    assert [k.key_id for k in store.list_ssh_public_keys(ACCT, "AIDAU2")] == ["APKA3"]
    assert store.set_ssh_public_key_status(ACCT, "AIDAU1", "APKA1", "Inactive")
    assert not store.set_ssh_public_key_status(ACCT, "AIDAU1", "APKA3", "Inactive")
    got = store.get_ssh_public_key(ACCT, "AIDAU1", "APKA1")
    assert got is not None and got.status == "Inactive"
    assert store.delete_ssh_public_key(ACCT, "AIDAU1", "APKA1")
    assert not store.delete_ssh_public_key(ACCT, "AIDAU1", "APKA1")


def test_service_specific_credentials(store: SqlStore) -> None:
    def cred(cid: str, service: str, user_id: str = "AIDAU1") -> ServiceSpecificCredential:
        return ServiceSpecificCredential(
            ACCT,
            user_id,
            "u1",
            cid,
            service,
            "u1-at-111111111111",
            None,
            "h0",
            "Active",
            NOW,
            NOW + timedelta(days=1) if service.startswith("bedrock") else None,
        )

    store.create_service_specific_credential(cred("ACCA1", "codecommit.amazonaws.com"))
    store.create_service_specific_credential(cred("ACCA2", "bedrock.amazonaws.com"))
    store.create_service_specific_credential(cred("ACCA3", "codecommit.amazonaws.com", "AIDAU2"))
    with pytest.raises(AlreadyExists):
        store.create_service_specific_credential(cred("ACCA1", "codecommit.amazonaws.com"))
    assert store.get_service_specific_credential(ACCT, "ACCA2") == cred(
        "ACCA2", "bedrock.amazonaws.com"
    )
    assert store.get_service_specific_credential(OTHER, "ACCA2") is None
    ids = lambda items: [c.credential_id for c in items]  # noqa: E731
    assert ids(store.list_service_specific_credentials(ACCT)) == ["ACCA1", "ACCA2", "ACCA3"]
    assert ids(store.list_service_specific_credentials(ACCT, user_id="AIDAU1")) == [
        "ACCA1",
        "ACCA2",
    ]
    assert ids(
        store.list_service_specific_credentials(
            ACCT, user_id="AIDAU1", service_name="codecommit.amazonaws.com"
        )
    ) == ["ACCA1"]
    assert store.update_service_specific_credential(ACCT, "ACCA1", status="Inactive")
    assert store.update_service_specific_credential(ACCT, "ACCA1", secret_hash="h1")
    assert store.update_service_specific_credential(ACCT, "ACCA1")  # nothing to change
    assert not store.update_service_specific_credential(ACCT, "nope", status="Inactive")
    got = store.get_service_specific_credential(ACCT, "ACCA1")
    assert got is not None and (got.status, got.secret_hash) == ("Inactive", "h1")
    assert store.delete_service_specific_credential(ACCT, "ACCA1")
    assert not store.delete_service_specific_credential(ACCT, "ACCA1")
