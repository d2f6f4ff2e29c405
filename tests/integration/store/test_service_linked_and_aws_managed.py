"""AWS managed policies in the store (attached by ARN only, resolved from the
packaged data, usage counted per account) and service-linked roles (created with
their policy in one step, marked by unique id, deleted with everything they hold,
deletion tasks kept) on every storage engine."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tessera import ids
from tessera.iam import aws_managed
from tessera.iam.model import Role, User
from tessera.iam.service_linked import DeletionTask, deletion_task_id, linked_service
from tessera.store.base import AlreadyExists
from tessera.store.records import Owner
from tessera.store.sql import SqlStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACCT = "111111111111"
OTHER = "222222222222"
RO = "arn:aws:iam::aws:policy/ReadOnlyAccess"
VIEW = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"


@pytest.fixture()
def store(store: SqlStore) -> SqlStore:
    store.create_account(ACCT, NOW)
    store.create_account(OTHER, NOW)
    return store


def test_aws_managed_attachments_and_usage(store: SqlStore) -> None:
    store.create_user(User(ACCT, "alice", "/", ids.new_unique_id(ids.USER_PREFIX), NOW))
    store.create_role(Role(ACCT, "app", "/", ids.new_unique_id(ids.ROLE_PREFIX), NOW, "{}"))
    store.create_role(Role(OTHER, "app", "/", ids.new_unique_id(ids.ROLE_PREFIX), NOW, "{}"))
    alice = Owner(ACCT, "user", "alice")
    store.attach_policy(alice, VIEW)
    store.attach_policy(alice, RO)
    store.attach_policy(Owner(ACCT, "role", "app"), RO)
    store.attach_policy(Owner(OTHER, "role", "app"), RO)
    store.set_permissions_boundary(Owner(ACCT, "role", "app"), VIEW)

    assert [p.arn for p in store.attached_policies(alice)] == [RO, VIEW]
    assert all(p.account_id == "aws" for p in store.attached_policies(alice))
    documents = dict(store.attached_policy_documents([alice]))
    assert documents[RO] == aws_managed.default_document(RO)
    assert documents[VIEW] == aws_managed.default_document(VIEW)
    assert store.get_default_policy_document(RO) == aws_managed.default_document(RO)
    assert store.get_default_policy_document("arn:aws:iam::aws:policy/NoSuch") is None
    assert store.policy_usage(ACCT) == {RO: (2, 0), VIEW: (1, 1)}
    assert store.policy_usage(OTHER) == {RO: (1, 0)}
    assert store.policy_usage("333333333333") == {}
    # nothing of the AWS policies is copied into the account's tables
    assert store.get_managed_policy(RO) is None


def test_service_linked_role_lifecycle(store: SqlStore) -> None:
    service = linked_service("ecs.amazonaws.com")
    assert service is not None
    role = Role(
        ACCT,
        service.role_name,
        service.path,
        ids.new_unique_id(ids.ROLE_PREFIX),
        NOW,
        service.trust_policy(),
    )
    store.create_service_linked_role(role, service.principal, [service.policy_arn])
    assert store.get_role(ACCT, service.role_name) == role
    assert store.service_linked_role_service(ACCT, role.role_id) == service.principal
    assert store.service_linked_role_service(OTHER, role.role_id) is None
    owner = Owner(ACCT, "role", role.name)
    assert [p.arn for p in store.attached_policies(owner)] == [service.policy_arn]
    with pytest.raises(AlreadyExists):
        store.create_service_linked_role(
            Role(ACCT, role.name.upper(), service.path, "AROAOTHER", NOW, "{}"),
            service.principal,
            [],
        )
    store.put_inline_policy(owner, "p", "{}")
    task = DeletionTask(
        ACCT, deletion_task_id(service.principal, role.name, ids.uuid4_text()), role.name,
        "SUCCEEDED", NOW,
    )  # fmt: skip
    store.delete_service_linked_role(ACCT, role, task)
    assert store.get_role(ACCT, role.name) is None
    assert store.service_linked_role_service(ACCT, role.role_id) is None
    assert store.attached_policies(owner) == []
    assert store.list_inline_policies(owner) == []
    assert store.get_deletion_task(ACCT, task.task_id) == task
    assert store.get_deletion_task(OTHER, task.task_id) is None
    failed = DeletionTask(ACCT, "task/x", role.name, "FAILED", NOW, reason="in use")
    store.put_deletion_task(failed)
    assert store.get_deletion_task(ACCT, "task/x") == failed
