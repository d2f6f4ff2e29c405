"""Users, groups and roles on every storage engine: groups and membership,
renames carrying members, role listing and updates, deletes taking tags along,
permissions boundaries of users and roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tessera import ids
from tessera.iam.model import Group, Role, Tag, User
from tessera.store.base import AlreadyExists
from tessera.store.records import Owner
from tessera.store.sql import SqlStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACCT = "111111111111"
BOUNDARY = f"arn:aws:iam::{ACCT}:policy/boundary"


@pytest.fixture()
def store(store: SqlStore) -> SqlStore:
    store.create_account(ACCT, NOW)
    return store


def _user(name: str) -> User:
    return User(ACCT, name, "/", ids.new_unique_id(ids.USER_PREFIX), NOW)


def _group(name: str, path: str = "/") -> Group:
    return Group(ACCT, name, path, ids.new_unique_id(ids.GROUP_PREFIX), NOW)


def _role(name: str, path: str = "/") -> Role:
    return Role(ACCT, name, path, ids.new_unique_id(ids.ROLE_PREFIX), NOW, trust_policy="{}")


def test_groups_membership_and_rename(store: SqlStore) -> None:
    store.create_user(_user("alice"))
    store.create_user(_user("bob"))
    for name, path in (("devs", "/eng/"), ("ops", "/"), ("qa", "/eng/")):
        store.create_group(_group(name, path))
    with pytest.raises(AlreadyExists):
        store.create_group(_group("DEVS"))
    found = store.get_group(ACCT, "Devs")
    assert found is not None and found.name == "devs" and found.path == "/eng/"
    assert store.get_group("222222222222", "devs") is None

    page = store.list_groups(ACCT, "/", None, 2)
    assert [g.name for g in page.items] == ["devs", "ops"] and page.marker
    rest = store.list_groups(ACCT, "/", page.marker, 2)
    assert [g.name for g in rest.items] == ["qa"] and rest.marker is None
    assert [g.name for g in store.list_groups(ACCT, "/eng/", None, 10).items] == ["devs", "qa"]

    store.add_user_to_group(ACCT, "devs", "alice")
    store.add_user_to_group(ACCT, "devs", "ALICE")  # twice: a no-op
    store.add_user_to_group(ACCT, "devs", "bob")
    assert [u.name for u in store.users_in_group(ACCT, "devs")] == ["alice", "bob"]
    assert store.remove_user_from_group(ACCT, "devs", "bob") is True
    assert store.remove_user_from_group(ACCT, "devs", "bob") is False
    assert [u.name for u in store.users_in_group(ACCT, "DEVS")] == ["alice"]

    store.update_group(ACCT, "devs", "builders", "/b/")
    assert store.get_group(ACCT, "devs") is None
    renamed = store.get_group(ACCT, "builders")
    assert renamed is not None and renamed.path == "/b/"
    assert [g.name for g in store.groups_for_user(ACCT, "alice")] == ["builders"]
    with pytest.raises(AlreadyExists):
        store.update_group(ACCT, "builders", "ops", None)

    store.set_tags(ACCT, "group", "builders", [Tag("k", "v")])
    store.delete_group(ACCT, "builders")
    assert store.get_group(ACCT, "builders") is None
    assert store.get_tags(ACCT, "group", "builders") == []


def test_roles_list_update_and_delete(store: SqlStore) -> None:
    for name, path in (("app", "/svc/"), ("batch", "/"), ("ci", "/svc/")):
        store.create_role(_role(name, path))
    page = store.list_roles(ACCT, "/", None, 2)
    assert [r.name for r in page.items] == ["app", "batch"] and page.marker
    assert [r.name for r in store.list_roles(ACCT, "/", page.marker, 2).items] == ["ci"]
    assert [r.name for r in store.list_roles(ACCT, "/svc/", None, 10).items] == ["app", "ci"]

    used = NOW + timedelta(hours=1)
    store.update_role(
        ACCT,
        "APP",
        description="the app",
        max_session_duration=7200,
        last_used_at=used,
        last_used_region="eu-west-1",
    )
    role = store.get_role(ACCT, "app")
    assert role is not None
    assert (role.description, role.max_session_duration) == ("the app", 7200)
    assert (role.last_used_at, role.last_used_region) == (used, "eu-west-1")
    assert store.get_role_by_id(role.role_id) == role

    store.set_tags(ACCT, "role", "app", [Tag("team", "red")])
    store.delete_role(ACCT, "app")
    assert store.get_role(ACCT, "app") is None
    assert store.get_role_by_id(role.role_id) is None
    assert store.get_tags(ACCT, "role", "app") == []


def test_delete_user_and_permissions_boundaries(store: SqlStore) -> None:
    alice = _user("alice")
    store.create_user(alice)
    store.create_role(_role("app"))
    store.set_permissions_boundary(Owner(ACCT, "user", "ALICE"), BOUNDARY)
    store.set_permissions_boundary(Owner(ACCT, "role", "app"), BOUNDARY)
    user = store.get_user(ACCT, "alice")
    role = store.get_role(ACCT, "app")
    assert user is not None and user.permissions_boundary == BOUNDARY
    assert role is not None and role.permissions_boundary == BOUNDARY
    store.set_permissions_boundary(Owner(ACCT, "user", "alice"), None)
    user = store.get_user(ACCT, "alice")
    assert user is not None and user.permissions_boundary is None

    store.set_tags(ACCT, "user", "alice", [Tag("k", "v")])
    store.delete_user(ACCT, "alice")
    assert store.get_user(ACCT, "alice") is None
    assert store.get_user_by_id(alice.user_id) is None
    assert store.get_tags(ACCT, "user", "alice") == []
