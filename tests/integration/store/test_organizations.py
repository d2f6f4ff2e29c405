"""Organizations on every storage engine (SQLite and PostgreSQL): creating an
organization places its management account, OU names are unique per parent,
policy attachments are per target and looked up in one query, attached policies
cannot be deleted, accounts move and leave."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tessera.iam.org_model import RCP, SCP, Organization, OrgPolicy, OrgUnit
from tessera.store.base import AlreadyExists, NotFound
from tessera.store.sql import SqlStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MGMT, MEMBER = "111111111111", "222222222222"
ORG = Organization("o-abcdefghij", "r-abcd", MGMT, NOW)


@pytest.fixture()
def store(store: SqlStore) -> SqlStore:
    """The engine store from conftest, seeded."""
    store.create_account(MGMT, NOW)
    store.create_account(MEMBER, NOW)
    return store


def _policy(pid: str, ptype: str = SCP, name: str | None = None) -> OrgPolicy:
    return OrgPolicy(pid, ORG.org_id, ptype, name or pid, "", "{}", False, NOW)  # type: ignore[arg-type]


def test_create_places_the_management_account_once(store: SqlStore) -> None:
    store.create_organization(ORG)
    assert store.get_organization(ORG.org_id) == ORG
    account = store.get_account(MGMT)
    assert account is not None and account.org_id == ORG.org_id
    assert account.ou_path == "o-abcdefghij/r-abcd/"
    with pytest.raises(AlreadyExists):
        store.create_organization(ORG)
    with pytest.raises(AlreadyExists):  # the management account is taken
        store.create_organization(Organization("o-zzzzzzzzzz", "r-zzzz", MGMT, NOW))
    assert [o.org_id for o in store.list_organizations()] == [ORG.org_id]


def test_units_policies_and_attachments(store: SqlStore) -> None:
    store.create_organization(ORG)
    store.create_org_unit(OrgUnit("ou-abcd-11111111", ORG.org_id, ORG.root_id, "prod", NOW))
    with pytest.raises(AlreadyExists):
        store.create_org_unit(OrgUnit("ou-abcd-22222222", ORG.org_id, ORG.root_id, "prod", NOW))
    store.create_org_unit(
        OrgUnit("ou-abcd-22222222", ORG.org_id, "ou-abcd-11111111", "prod", NOW)
    )  # the same name under another parent is fine
    assert [u.ou_id for u in store.list_org_units(ORG.org_id)] == [
        "ou-abcd-11111111",
        "ou-abcd-22222222",
    ]
    store.create_org_policy(_policy("p-aaaaaaaa"))
    store.create_org_policy(_policy("p-bbbbbbbb", RCP))
    with pytest.raises(AlreadyExists):
        store.create_org_policy(_policy("p-cccccccc", SCP, name="p-aaaaaaaa"))
    store.attach_org_policy("p-aaaaaaaa", ORG.root_id)
    store.attach_org_policy("p-aaaaaaaa", "ou-abcd-11111111")
    store.attach_org_policy("p-bbbbbbbb", "ou-abcd-11111111")
    with pytest.raises(AlreadyExists):
        store.attach_org_policy("p-aaaaaaaa", ORG.root_id)
    targets = [ORG.root_id, "ou-abcd-11111111", MEMBER]
    scps = store.org_policies_for_targets(targets, SCP)
    assert {k: [p.policy_id for p in v] for k, v in scps.items()} == {
        ORG.root_id: ["p-aaaaaaaa"],
        "ou-abcd-11111111": ["p-aaaaaaaa"],
        MEMBER: [],
    }
    rcps = store.org_policies_for_targets(targets, RCP)
    assert [p.policy_id for p in rcps["ou-abcd-11111111"]] == ["p-bbbbbbbb"]
    assert store.targets_of_org_policy("p-aaaaaaaa") == sorted([ORG.root_id, "ou-abcd-11111111"])

    with pytest.raises(AlreadyExists):  # still attached
        store.delete_org_policy("p-aaaaaaaa")
    store.detach_org_policy("p-aaaaaaaa", ORG.root_id)
    store.detach_org_policy("p-aaaaaaaa", "ou-abcd-11111111")
    with pytest.raises(NotFound):
        store.detach_org_policy("p-aaaaaaaa", "ou-abcd-11111111")
    store.update_org_policy_content("p-aaaaaaaa", '{"changed":true}')
    found = store.get_org_policy("p-aaaaaaaa")
    assert found is not None and found.content == '{"changed":true}'
    store.delete_org_policy("p-aaaaaaaa")
    assert store.get_org_policy("p-aaaaaaaa") is None
    with pytest.raises(NotFound):
        store.delete_org_policy("p-aaaaaaaa")


def test_accounts_join_move_and_leave(store: SqlStore) -> None:
    store.create_organization(ORG)
    store.set_account_org(MEMBER, ORG.org_id, "o-abcdefghij/r-abcd/ou-abcd-11111111/")
    account = store.get_account(MEMBER)
    assert account is not None and account.ou_path == "o-abcdefghij/r-abcd/ou-abcd-11111111/"
    store.set_account_org(MEMBER, None, None)
    account = store.get_account(MEMBER)
    assert account is not None and account.org_id is None and account.ou_path is None
    with pytest.raises(NotFound):
        store.set_account_org("999999999999", ORG.org_id, "x/")


def test_unit_and_policy_lookups(store: SqlStore) -> None:
    store.create_organization(ORG)
    ou = OrgUnit("ou-abcd-33333333", ORG.org_id, ORG.root_id, "dev", NOW)
    store.create_org_unit(ou)
    assert store.get_org_unit(ou.ou_id) == ou
    assert store.get_org_unit("ou-abcd-99999999") is None
    store.create_org_policy(_policy("p-bbbbbbbb", RCP, name="b"))
    store.create_org_policy(_policy("p-aaaaaaaa", SCP, name="z"))
    store.create_org_policy(_policy("p-cccccccc", SCP, name="a"))
    # ordered by type, then name
    assert [p.policy_id for p in store.list_org_policies(ORG.org_id)] == [
        "p-bbbbbbbb",
        "p-cccccccc",
        "p-aaaaaaaa",
    ]
    assert store.list_org_policies("o-zzzzzzzzzz") == []
