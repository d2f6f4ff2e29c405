"""Principal binding in the store, on both engines: access keys remember their
user's unique id, roles the ids their trust policy was bound to, users and roles
are found by id, and migration 7 binds what older stores held by name."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import delete, text

from tessera import ids
from tessera.iam.model import Role, User
from tessera.store.sql import SqlStore, schema

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACCT = "111111111111"


def _seed(store: SqlStore) -> tuple[User, Role]:
    store.create_account(ACCT, NOW)
    bob = User(ACCT, "bob", "/team/", ids.new_unique_id(ids.USER_PREFIX), NOW)
    store.create_user(bob)
    jump = Role(ACCT, "jump", "/", ids.new_unique_id(ids.ROLE_PREFIX), NOW, "{}")
    store.create_role(jump)
    return bob, jump


def test_keys_and_entities_by_unique_id(store: SqlStore) -> None:
    bob, jump = _seed(store)
    key = store.create_access_key(ACCT, "bob", "AKIABOB0000000000001", "s" * 40, NOW)
    assert key.user_id == bob.user_id
    found = store.get_access_key("AKIABOB0000000000001")
    assert found is not None and found.user_id == bob.user_id
    orphan = store.create_access_key(ACCT, "nobody", "AKIANOBODY0000000001", "s" * 40, NOW)
    assert orphan.user_id is None
    assert store.get_user_by_id(bob.user_id) == bob
    assert store.get_role_by_id(jump.role_id) == jump
    assert store.get_user_by_id("AIDANOSUCHUSER000000") is None
    assert store.get_role_by_id("AROANOSUCHROLE000000") is None


def test_trust_policy_and_its_bindings_are_stored_together(store: SqlStore) -> None:
    bob, _jump = _seed(store)
    pairs = ((f"arn:aws:iam::{ACCT}:user/team/bob", bob.user_id),)
    store.set_trust_policy(ACCT, "jump", '{"Statement":[]}', pairs)
    got = store.get_role(ACCT, "jump")
    assert got is not None
    assert got.trust_policy == '{"Statement":[]}' and got.trust_principal_ids == pairs
    assert got.trust.principal_ids == pairs


def test_migration_7_binds_an_older_store(store: SqlStore) -> None:
    bob, jump = _seed(store)
    bob_arn = f"arn:aws:iam::{ACCT}:user/team/bob"
    jump_arn = f"arn:aws:iam::{ACCT}:role/jump"
    ghost = f"arn:aws:iam::{ACCT}:user/ghost"
    wrong_path = f"arn:aws:iam::{ACCT}:user/bob"
    trust = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": [bob_arn, ghost, wrong_path]}},
            {"Effect": "Allow", "Principal": {"AWS": jump_arn}},
        ]
    }
    store.create_role(
        Role(ACCT, "target", "/", ids.new_unique_id(ids.ROLE_PREFIX), NOW, json.dumps(trust))
    )
    store.create_access_key(ACCT, "bob", "AKIABOB0000000000001", "s" * 40, NOW)
    # make it the store as migration 6 left it: no id columns, version 7 not applied
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE access_keys DROP COLUMN user_id"))
        conn.execute(text("ALTER TABLE roles DROP COLUMN trust_principal_ids"))
        conn.execute(
            delete(schema.schema_migrations).where(schema.schema_migrations.c.version == 7)
        )
    assert store.migrate() == max(v for v, _d, _r in schema.MIGRATIONS)
    role = store.get_role(ACCT, "target")
    assert role is not None
    # the ghost and the ARN with the wrong path name nobody now: they stay unbound
    assert role.trust_principal_ids == ((bob_arn, bob.user_id), (jump_arn, jump.role_id))
    key = store.get_access_key("AKIABOB0000000000001")
    assert key is not None and key.user_id == bob.user_id
