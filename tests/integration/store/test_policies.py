"""Managed policies, versions, inline policies and attachments on every storage
engine: listing (path prefix, only attached, paging), version lifecycle, inline
policy lookup and delete, attached policies and policy usage (attachments and
permissions boundaries)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tessera import ids
from tessera.iam.model import Group, ManagedPolicy, Role, Tag, User
from tessera.store.records import Owner
from tessera.store.sql import SqlStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACCT = "111111111111"


@pytest.fixture()
def store(store: SqlStore) -> SqlStore:
    store.create_account(ACCT, NOW)
    return store


def _policy(name: str, path: str = "/") -> ManagedPolicy:
    return ManagedPolicy(ACCT, name, path, ids.new_unique_id(ids.POLICY_PREFIX), "v1", NOW, NOW)


def _doc(action: str) -> str:
    return (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        f'"Action":"{action}","Resource":"*"}}]}}'
    )


def test_list_managed_policies_and_delete(store: SqlStore) -> None:
    for name, path in (("alpha", "/a/"), ("beta", "/"), ("gamma", "/a/")):
        store.create_managed_policy(_policy(name, path), _doc("s3:*"))
    page = store.list_managed_policies(ACCT, "/", False, None, 2)
    assert [p.name for p in page.items] == ["alpha", "beta"] and page.marker
    rest = store.list_managed_policies(ACCT, "/", False, page.marker, 2)
    assert [p.name for p in rest.items] == ["gamma"] and rest.marker is None
    assert [p.name for p in store.list_managed_policies(ACCT, "/a/", False, None, 9).items] == [
        "alpha",
        "gamma",
    ]
    beta = _policy("beta").arn
    store.create_role(Role(ACCT, "app", "/", ids.new_unique_id(ids.ROLE_PREFIX), NOW, "{}"))
    store.attach_policy(Owner(ACCT, "role", "app"), beta)
    attached = store.list_managed_policies(ACCT, "/", True, None, 9).items
    assert [(p.name, p.attachment_count) for p in attached] == [("beta", 1)]

    gamma = _policy("gamma", "/a/").arn
    store.set_tags(ACCT, "policy", gamma, [Tag("k", "v")])
    store.delete_managed_policy(gamma)
    assert store.get_managed_policy(gamma) is None
    assert store.get_policy_version(gamma, "v1") is None
    assert store.list_policy_versions(gamma) == []
    assert store.get_tags(ACCT, "policy", gamma) == []


def test_policy_version_lifecycle(store: SqlStore) -> None:
    policy = _policy("p")
    store.create_managed_policy(policy, _doc("s3:GetObject"))
    later = NOW + timedelta(minutes=5)
    v2 = store.create_policy_version(policy.arn, _doc("s3:PutObject"), False, later)
    assert (v2.version_id, v2.is_default) == ("v2", False)
    got = store.get_policy_version(policy.arn, "v2")
    assert got is not None and got.document == _doc("s3:PutObject") and not got.is_default
    assert store.get_policy_version(policy.arn, "v9") is None
    assert store.get_default_policy_document(policy.arn) == _doc("s3:GetObject")

    store.set_default_policy_version(policy.arn, "v2", later)
    assert store.get_default_policy_document(policy.arn) == _doc("s3:PutObject")
    current = store.get_managed_policy(policy.arn)
    assert current is not None and current.default_version_id == "v2"
    assert current.updated_at == later
    v1 = store.get_policy_version(policy.arn, "v1")
    assert v1 is not None and not v1.is_default

    store.delete_policy_version(policy.arn, "v1")
    assert [v.version_id for v in store.list_policy_versions(policy.arn)] == ["v2"]
    v3 = store.create_policy_version(policy.arn, _doc("s3:*"), True, later)
    assert v3.version_id == "v3"  # numbers are never reused
    assert [v.version_id for v in store.list_policy_versions(policy.arn)] == ["v3", "v2"]


def test_inline_policies(store: SqlStore) -> None:
    store.create_user(User(ACCT, "alice", "/", ids.new_unique_id(ids.USER_PREFIX), NOW))
    owner = Owner(ACCT, "user", "alice")
    store.put_inline_policy(owner, "Read", _doc("s3:GetObject"))
    store.put_inline_policy(Owner(ACCT, "user", "ALICE"), "read", _doc("s3:*"))  # overwrite
    found = store.get_inline_policy(owner, "READ")
    assert found is not None and found.name == "read" and found.document == _doc("s3:*")
    assert store.get_inline_policy(Owner(ACCT, "group", "alice"), "read") is None
    assert [p.name for p in store.list_inline_policies(owner)] == ["read"]
    assert store.delete_inline_policy(owner, "Read") is True
    assert store.delete_inline_policy(owner, "Read") is False
    assert store.get_inline_policy(owner, "read") is None
    assert store.list_inline_policies(owner) == []


def test_attached_policies_and_usage(store: SqlStore) -> None:
    user = User(ACCT, "alice", "/u/", ids.new_unique_id(ids.USER_PREFIX), NOW)
    group = Group(ACCT, "devs", "/", ids.new_unique_id(ids.GROUP_PREFIX), NOW)
    role = Role(ACCT, "app", "/", ids.new_unique_id(ids.ROLE_PREFIX), NOW, "{}")
    store.create_user(user)
    store.create_group(group)
    store.create_role(role)
    first, second = _policy("first"), _policy("second")
    store.create_managed_policy(first, _doc("s3:*"))
    store.create_managed_policy(second, _doc("ec2:*"))
    for kind, name in (("user", "alice"), ("group", "devs"), ("role", "app")):
        store.attach_policy(Owner(ACCT, kind, name), first.arn)
    store.attach_policy(Owner(ACCT, "user", "alice"), second.arn)
    store.attach_policy(Owner(ACCT, "user", "alice"), second.arn)  # twice: a no-op
    store.set_permissions_boundary(Owner(ACCT, "role", "app"), second.arn)

    attached = store.attached_policies(Owner(ACCT, "user", "alice"))
    assert [p.name for p in attached] == ["first", "second"]
    assert store.attached_policies(Owner(ACCT, "group", "nobody")) == []

    assert store.entities_using_policy(ACCT, first.arn) == [
        ("policy", "group", "devs", group.group_id, "/"),
        ("policy", "user", "alice", user.user_id, "/u/"),
        ("policy", "role", "app", role.role_id, "/"),
    ]
    assert store.entities_using_policy(ACCT, second.arn) == [
        ("policy", "user", "alice", user.user_id, "/u/"),
        ("boundary", "role", "app", role.role_id, "/"),
    ]
    assert store.entities_using_policy("222222222222", first.arn) == []
    usage = store.get_managed_policy(second.arn)
    assert usage is not None
    assert (usage.attachment_count, usage.boundary_usage_count) == (1, 1)
