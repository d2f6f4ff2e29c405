"""Roles Anywhere storage conformance (SQLite and PostgreSQL): trust anchors,
profiles and CRLs put (insert or replace), read, paged by id within their account
and region, deleted with their tags; subjects created on their first credential
record, found again by subject DN, with a bounded newest-first history."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tessera.iam.model import Tag
from tessera.rolesanywhere.model import (
    DEFAULT_MAPPINGS,
    MAX_SUBJECT_CREDENTIALS,
    TAG_TYPES,
    CredentialRecord,
    Crl,
    Profile,
    TrustAnchor,
)
from tessera.store.sql import SqlStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACCT = "111111111111"
OTHER = "222222222222"


def _uuid(n: int) -> str:
    return f"{n:08x}-0000-4000-8000-000000000000"


def _anchor(n: int, account: str = ACCT, region: str = "us-east-1") -> TrustAnchor:
    return TrustAnchor(account, region, _uuid(n), f"a{n}", "PEM", True, NOW, NOW)


def test_trust_anchors_put_get_page_delete(store: SqlStore) -> None:
    for n in range(5):
        store.put_ra_trust_anchor(_anchor(n))
    store.put_ra_trust_anchor(_anchor(9, account=OTHER))
    store.put_ra_trust_anchor(_anchor(8, region="eu-west-1"))
    got = store.get_ra_trust_anchor(ACCT, "us-east-1", _uuid(2))
    assert got == _anchor(2)
    assert store.get_ra_trust_anchor(OTHER, "us-east-1", _uuid(2)) is None
    assert store.get_ra_trust_anchor(ACCT, "eu-west-1", _uuid(2)) is None
    first = store.list_ra_trust_anchors(ACCT, "us-east-1", after=None, limit=3)
    rest = store.list_ra_trust_anchors(ACCT, "us-east-1", after=first[-1].anchor_id, limit=3)
    assert [a.anchor_id for a in first + rest] == [_uuid(n) for n in range(5)]
    disabled = replace(_anchor(2), enabled=False, name="renamed", updated_at=NOW + timedelta(1))
    store.put_ra_trust_anchor(disabled)
    assert store.get_ra_trust_anchor(ACCT, "us-east-1", _uuid(2)) == disabled
    store.set_tags(ACCT, TAG_TYPES["trust-anchor"], _uuid(2), [Tag("k", "v")])
    assert store.delete_ra_trust_anchor(ACCT, "us-east-1", _uuid(2))
    assert not store.delete_ra_trust_anchor(ACCT, "us-east-1", _uuid(2))
    assert store.get_tags(ACCT, TAG_TYPES["trust-anchor"], _uuid(2)) == []


def test_profiles_and_crls(store: SqlStore) -> None:
    profile = Profile(
        account_id=ACCT,
        region="us-east-1",
        profile_id=_uuid(1),
        name="p",
        enabled=True,
        roles=((f"arn:aws:iam::{ACCT}:role/r", "AROAEXAMPLE"),),
        managed_policy_arns=(f"arn:aws:iam::{ACCT}:policy/m",),
        session_policy='{"Version":"2012-10-17"}',
        duration_seconds=1800,
        accept_role_session_name=True,
        attribute_mappings=DEFAULT_MAPPINGS,
        created_by=f"arn:aws:iam::{ACCT}:root",
        created_at=NOW,
        updated_at=NOW,
    )
    store.put_ra_profile(profile)
    assert store.get_ra_profile(ACCT, "us-east-1", _uuid(1)) == profile
    assert store.list_ra_profiles(ACCT, "us-east-1", after=None, limit=10) == [profile]
    assert store.delete_ra_profile(ACCT, "us-east-1", _uuid(1))
    assert store.get_ra_profile(ACCT, "us-east-1", _uuid(1)) is None
    crl = Crl(ACCT, "us-east-1", _uuid(3), "c", b"\x30\x00der", "arn:anchor", True, NOW, NOW)
    store.put_ra_crl(crl)
    assert store.get_ra_crl(ACCT, "us-east-1", _uuid(3)) == crl
    assert store.list_ra_crls(ACCT, "us-east-1", after=None, limit=10) == [crl]
    assert store.list_ra_crls(ACCT, "us-east-1", after=_uuid(3), limit=10) == []
    assert store.delete_ra_crl(ACCT, "us-east-1", _uuid(3))


def test_subjects_keep_a_bounded_history(store: SqlStore) -> None:
    dn = "CN=workload,OU=payments"
    subject = None
    for i in range(MAX_SUBJECT_CREDENTIALS + 3):
        record = CredentialRecord(NOW + timedelta(seconds=i), str(i), "CN=CA", i % 2 == 0, "PEM")
        subject = store.record_ra_credential(
            ACCT, "us-east-1", dn, record, new_subject_id=_uuid(100 + i)
        )
    assert subject is not None
    assert subject.subject_id == _uuid(100)  # created once, found again by its DN
    got = store.get_ra_subject(ACCT, "us-east-1", _uuid(100))
    assert got is not None and got.x509_subject == dn
    assert len(got.credentials) == MAX_SUBJECT_CREDENTIALS
    assert got.credentials[0].serial_number == str(MAX_SUBJECT_CREDENTIALS + 2)
    assert got.last_seen_at == NOW + timedelta(seconds=MAX_SUBJECT_CREDENTIALS + 2)
    other = store.record_ra_credential(
        ACCT,
        "us-east-1",
        "CN=other",
        CredentialRecord(NOW, "1", "CN=CA", False, "PEM"),
        new_subject_id=_uuid(999),
    )
    listed = store.list_ra_subjects(ACCT, "us-east-1", after=None, limit=10)
    assert [s.subject_id for s in listed] == [_uuid(100), other.subject_id]
    assert store.list_ra_subjects(OTHER, "us-east-1", after=None, limit=10) == []
    assert store.get_ra_subject(OTHER, "us-east-1", _uuid(100)) is None
