"""One conformance suite for every storage engine: SQLite (file, WAL) and
PostgreSQL. The PostgreSQL run is required in CI (see tests/conftest.py)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tessera import ids
from tessera.iam.model import Group, ManagedPolicy, Role, Tag, User
from tessera.kek import KekError, KeyEncryptionKey
from tessera.store.base import AlreadyExists, InvalidMarker
from tessera.store.records import Owner
from tessera.store.sql import SqlStore, open_sql_store, schema

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _user(account: str, name: str, path: str = "/") -> User:
    return User(account, name, path, ids.new_unique_id(ids.USER_PREFIX), NOW)


def test_migrations_are_recorded_and_idempotent(store: SqlStore) -> None:
    version = store.migrate()
    assert version == max(v for v, _d, _r in schema.MIGRATIONS)
    assert store.migrate() == version
    with store.engine.connect() as conn:
        versions = [r[0] for r in conn.execute(select(schema.schema_migrations.c.version))]
    assert sorted(versions) == [v for v, _d, _r in schema.MIGRATIONS]


def test_accounts_are_isolated(store: SqlStore) -> None:
    store.create_account("111111111111", NOW)
    store.create_account("222222222222", NOW)
    with pytest.raises(AlreadyExists):
        store.create_account("111111111111", NOW)
    store.create_user(_user("111111111111", "alice"))
    assert store.get_user("111111111111", "alice") is not None
    assert store.get_user("222222222222", "alice") is None
    store.create_user(_user("222222222222", "alice"))
    assert [a.account_id for a in store.list_accounts()] == ["111111111111", "222222222222"]


def test_secret_keys_are_sealed_at_rest(store: SqlStore) -> None:
    store.create_account("111111111111", NOW)
    akid = ids.new_access_key_id("111111111111")
    secret = ids.new_secret_access_key()
    store.create_access_key("111111111111", None, akid, secret, NOW)
    with store.engine.connect() as conn:
        raw = conn.execute(select(schema.access_keys.c.secret_sealed)).scalar_one()
    assert secret.encode() not in bytes(raw)
    found = store.get_access_key_with_secret(akid)
    assert found is not None and found[1] == secret
    assert found[0].user_name is None and found[0].status == "Active"


def test_wrong_kek_is_detected(store: SqlStore) -> None:
    other = SqlStore(store.url, KeyEncryptionKey(os.urandom(32)))
    try:
        with pytest.raises(KekError):
            other.check_kek()
    finally:
        other.close()


def test_user_names_are_case_insensitive_and_paginate(store: SqlStore) -> None:
    store.create_account("111111111111", NOW)
    for i in range(5):
        store.create_user(_user("111111111111", f"user{i}", "/team/" if i % 2 else "/"))
    with pytest.raises(AlreadyExists):
        store.create_user(_user("111111111111", "USER1"))
    assert store.get_user("111111111111", "USER3") is not None
    page = store.list_users("111111111111", "/", None, 2)
    assert [u.name for u in page.items] == ["user0", "user1"] and page.marker
    page2 = store.list_users("111111111111", "/", page.marker, 2)
    assert [u.name for u in page2.items] == ["user2", "user3"]
    page3 = store.list_users("111111111111", "/", page2.marker, 2)
    assert [u.name for u in page3.items] == ["user4"] and page3.marker is None
    team = store.list_users("111111111111", "/team/", None, 100)
    assert [u.name for u in team.items] == ["user1", "user3"]
    with pytest.raises(InvalidMarker):
        store.list_users("111111111111", "/", "!!not-base64!!", 2)


def test_rename_user_carries_everything(store: SqlStore) -> None:
    acct = "111111111111"
    store.create_account(acct, NOW)
    store.create_user(_user(acct, "alice"))
    store.create_group(Group(acct, "devs", "/", ids.new_unique_id(ids.GROUP_PREFIX), NOW))
    store.add_user_to_group(acct, "devs", "alice")
    akid = ids.new_access_key_id(acct)
    store.create_access_key(acct, "alice", akid, "s" * 40, NOW)
    owner = Owner(acct, "user", "alice")
    store.put_inline_policy(owner, "p1", "{}")
    store.set_tags(acct, "user", "alice", [Tag("team", "a")])
    store.update_user(acct, "alice", "alicia", "/x/")
    assert store.get_user(acct, "alice") is None
    renamed = store.get_user(acct, "alicia")
    assert renamed is not None and renamed.path == "/x/"
    new_owner = Owner(acct, "user", "alicia")
    assert [p.name for p in store.list_inline_policies(new_owner)] == ["p1"]
    assert [g.name for g in store.groups_for_user(acct, "alicia")] == ["devs"]
    assert [k.access_key_id for k in store.list_access_keys(acct, "alicia")] == [akid]
    assert store.get_tags(acct, "user", "alicia") == [Tag("team", "a")]


def test_managed_policy_versions_and_attachments(store: SqlStore) -> None:
    acct = "111111111111"
    store.create_account(acct, NOW)
    pol = ManagedPolicy(acct, "p", "/", ids.new_unique_id(ids.POLICY_PREFIX), "v1", NOW, NOW)
    store.create_managed_policy(pol, '{"v":1}')
    v2 = store.create_policy_version(pol.arn, '{"v":2}', True, NOW)
    assert v2.version_id == "v2"
    assert store.get_default_policy_document(pol.arn) == '{"v":2}'
    assert [v.version_id for v in store.list_policy_versions(pol.arn)] == ["v2", "v1"]
    role = Role(acct, "r", "/", ids.new_unique_id(ids.ROLE_PREFIX), NOW, "{}")
    store.create_role(role)
    store.attach_policy(Owner(acct, "role", "r"), pol.arn)
    store.attach_policy(Owner(acct, "role", "R"), pol.arn)  # idempotent, case-insensitive
    got = store.get_managed_policy(pol.arn)
    assert got is not None and got.attachment_count == 1
    docs = store.attached_policy_documents([Owner(acct, "role", "r")])
    assert docs == [(pol.arn, '{"v":2}')]
    assert store.entities_for_policy(pol.arn) == [("role", "r", role.role_id)]
    assert store.detach_policy(Owner(acct, "role", "r"), pol.arn)
    assert not store.detach_policy(Owner(acct, "role", "r"), pol.arn)


def test_tags_overwrite_case_insensitively(store: SqlStore) -> None:
    acct = "111111111111"
    store.create_account(acct, NOW)
    store.set_tags(acct, "role", "r", [Tag("Team", "a"), Tag("env", "dev")])
    store.set_tags(acct, "role", "r", [Tag("team", "b")])
    assert store.get_tags(acct, "role", "r") == [Tag("team", "b"), Tag("env", "dev")]
    store.remove_tags(acct, "role", "r", ["ENV"])
    assert store.get_tags(acct, "role", "r") == [Tag("team", "b")]


def test_meta_blobs(store: SqlStore) -> None:
    assert store.get_meta("x") is None
    store.put_meta("x", b"1")
    store.put_meta("x", b"2")
    assert store.get_meta("x") == b"2"


def test_data_survives_reopen(tmp_path: Path) -> None:
    kek = KeyEncryptionKey(os.urandom(32))
    st = open_sql_store(kek, data_dir=tmp_path)
    st.create_account("111111111111", NOW)
    st.close()
    st2 = open_sql_store(kek, data_dir=tmp_path)
    try:
        assert st2.get_account("111111111111") is not None
    finally:
        st2.close()
