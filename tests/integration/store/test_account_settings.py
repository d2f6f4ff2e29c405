"""Login profiles, password history, password policy, account alias, STS token
version, credential reports and GetAccountSummary's counts on every storage engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tessera.iam.account_model import AccountCounts, LoginProfile, PasswordPolicy
from tessera.iam.model import User
from tessera.store.base import AlreadyExists
from tessera.store.sql import SqlStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACCT = "111111111111"
OTHER = "222222222222"


@pytest.fixture()
def store(store: SqlStore) -> SqlStore:
    store.create_account(ACCT, NOW)
    store.create_account(OTHER, NOW)
    store.create_user(User(ACCT, "alice", "/", "AIDAALICE0000000001", NOW))
    return store


def _profile(user_id: str = "AIDAALICE0000000001") -> LoginProfile:
    return LoginProfile(ACCT, user_id, b"sealed-1", NOW, NOW, reset_required=True)


def test_login_profile_lifecycle(store: SqlStore) -> None:
    uid = "AIDAALICE0000000001"
    assert store.get_login_profile(uid) is None
    store.create_login_profile(_profile())
    with pytest.raises(AlreadyExists):
        store.create_login_profile(_profile())
    got = store.get_login_profile(uid)
    assert got is not None and got.password_sealed == b"sealed-1" and got.reset_required
    assert "sealed" not in repr(got)
    assert [p.user_id for p in store.list_login_profiles(ACCT)] == [uid]
    assert store.list_login_profiles(OTHER) == []
    later = NOW + timedelta(days=1)
    for i in range(2, 6):
        assert store.set_login_password(uid, f"sealed-{i}".encode(), later, False, 2)
    # the last two replaced hashes are kept, newest first
    assert store.password_history(uid) == [b"sealed-4", b"sealed-3"]
    got = store.get_login_profile(uid)
    assert got is not None and got.password_sealed == b"sealed-5"
    assert got.password_changed_at == later and not got.reset_required
    assert store.update_login_profile(uid, reset_required=True, max_signin_session_duration=7200)
    got = store.get_login_profile(uid)
    assert got is not None and got.reset_required and got.max_signin_session_duration == 7200
    assert store.update_login_profile(uid, clear_max_signin_session_duration=True)
    assert store.update_login_profile(uid)  # nothing to change: still found
    got = store.get_login_profile(uid)
    assert got is not None and got.max_signin_session_duration is None
    store.record_password_use(uid, later)
    got = store.get_login_profile(uid)
    assert got is not None and got.password_last_used == later
    assert store.delete_login_profile(uid)
    assert store.password_history(uid) == []
    assert not store.delete_login_profile(uid)
    assert not store.update_login_profile(uid, reset_required=False)
    assert not store.set_login_password(uid, b"x", later, False, 3)


def test_password_policy(store: SqlStore) -> None:
    assert store.get_password_policy(ACCT) is None
    assert not store.delete_password_policy(ACCT)
    policy = PasswordPolicy(
        minimum_password_length=12, require_symbols=True, max_password_age=90, hard_expiry=True
    )
    store.put_password_policy(ACCT, policy)
    assert store.get_password_policy(ACCT) == policy
    assert store.get_password_policy(OTHER) is None
    store.put_password_policy(ACCT, PasswordPolicy())
    assert store.get_password_policy(ACCT) == PasswordPolicy()
    assert store.delete_password_policy(ACCT)
    assert store.get_password_policy(ACCT) is None


def test_alias_unique_across_accounts(store: SqlStore) -> None:
    assert store.get_account_alias(ACCT) is None
    store.set_account_alias(ACCT, "acme")
    assert store.get_account_alias(ACCT) == "acme"
    with pytest.raises(AlreadyExists):
        store.set_account_alias(OTHER, "acme")
    store.set_account_alias(ACCT, "acme-2")  # replaces
    store.set_account_alias(OTHER, "acme")
    assert not store.delete_account_alias(ACCT, "acme")
    assert store.delete_account_alias(ACCT, "acme-2")
    assert store.get_account_alias(ACCT) is None


def test_sts_token_version(store: SqlStore) -> None:
    assert store.get_sts_token_version(ACCT) is None
    store.set_sts_token_version(ACCT, "v2Token")
    store.set_account_alias(ACCT, "keeps-alias")
    assert store.get_sts_token_version(ACCT) == "v2Token"
    assert store.get_account_alias(ACCT) == "keeps-alias"


def test_credential_report(store: SqlStore) -> None:
    assert store.get_credential_report(ACCT) is None
    store.start_credential_report(ACCT, NOW)
    report = store.get_credential_report(ACCT)
    assert report is not None and report.content is None and report.generated_at is None
    store.finish_credential_report(ACCT, b"user,arn", NOW)
    report = store.get_credential_report(ACCT)
    assert report is not None and report.content == b"user,arn" and report.generated_at == NOW
    store.start_credential_report(ACCT, NOW + timedelta(hours=5))
    report = store.get_credential_report(ACCT)
    assert report is not None and report.content is None
    assert store.get_credential_report(OTHER) is None


def test_account_counts(store: SqlStore) -> None:
    counts = store.account_counts(ACCT)
    assert counts == AccountCounts(users=1)
    assert store.account_counts(OTHER) == AccountCounts()
    store.create_access_key(OTHER, None, "AKIAROOTKEY000000001", "secret", NOW)
    assert store.account_counts(OTHER).root_access_keys == 1
