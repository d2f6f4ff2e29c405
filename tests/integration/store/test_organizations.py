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


# ---------------------------------------------------------------- the API (migration 13)


def test_member_details_and_settings(store: SqlStore) -> None:
    from tessera.iam.org_model import OrgAccount

    store.create_organization(ORG)
    details = OrgAccount(MGMT, "mgmt", "m@example.com", "ACTIVE", "CREATED", NOW)
    store.put_org_account(details)
    store.put_org_account(OrgAccount(MEMBER, "member", "x@example.com", "ACTIVE", "INVITED", NOW))
    assert store.get_org_account(MGMT) == details
    assert store.list_org_accounts(ORG.org_id) == [details]  # MEMBER is not placed yet
    store.set_account_org(MEMBER, ORG.org_id, f"{ORG.org_id}/{ORG.root_id}/")
    assert [d.account_id for d in store.list_org_accounts(ORG.org_id)] == [MGMT, MEMBER]
    store.put_org_account(OrgAccount(MEMBER, "renamed", "x@example.com", "ACTIVE", "INVITED", NOW))
    store.set_org_account_status(MEMBER, "SUSPENDED")
    got = store.get_org_account(MEMBER)
    assert got is not None and (got.name, got.status) == ("renamed", "SUSPENDED")
    with pytest.raises(NotFound):
        store.set_org_account_status("333333333333", "SUSPENDED")

    assert store.enable_org_setting(ORG.org_id, "PolicyType/SERVICE_CONTROL_POLICY", NOW)
    assert not store.enable_org_setting(ORG.org_id, "PolicyType/SERVICE_CONTROL_POLICY", NOW)
    assert store.enable_org_setting(ORG.org_id, "ServiceAccess/iam.amazonaws.com", NOW)
    assert store.org_settings(ORG.org_id) == [
        "PolicyType/SERVICE_CONTROL_POLICY",
        "ServiceAccess/iam.amazonaws.com",
    ]
    assert store.org_setting_dates(ORG.org_id)[0] == ("PolicyType/SERVICE_CONTROL_POLICY", NOW)
    assert store.disable_org_setting(ORG.org_id, "ServiceAccess/iam.amazonaws.com")
    assert not store.disable_org_setting(ORG.org_id, "ServiceAccess/iam.amazonaws.com")
    assert store.org_settings(ORG.org_id) == ["PolicyType/SERVICE_CONTROL_POLICY"]


def test_requests_handshakes_admins_and_tags(store: SqlStore) -> None:
    from dataclasses import replace

    from tessera.iam.model import Tag
    from tessera.iam.org_model import CreateAccountRequest, DelegatedAdmin, Handshake

    store.create_organization(ORG)
    request = CreateAccountRequest(
        "car-12345678", ORG.org_id, "new", "n@example.com", "Role", "IN_PROGRESS", NOW
    )
    store.put_create_account_request(request)
    done = replace(request, state="SUCCEEDED", account_id=MEMBER, completed_at=NOW)
    store.put_create_account_request(done)
    assert store.get_create_account_request("car-12345678") == done
    assert store.get_create_account_request("car-nothere1") is None
    assert store.list_create_account_requests(ORG.org_id) == [done]

    invite = Handshake("h-12345678", ORG.org_id, MEMBER, "INVITE", "OPEN", NOW, NOW, "hi")
    store.put_handshake(invite)
    store.put_handshake(replace(invite, state="ACCEPTED"))
    got = store.get_handshake("h-12345678")
    assert got is not None and got.state == "ACCEPTED" and got.notes == "hi"
    assert store.list_handshakes(org_id=ORG.org_id) == [got]
    assert store.list_handshakes(target_account_id=MEMBER) == [got]
    assert store.list_handshakes(target_account_id=MGMT) == []

    admin = DelegatedAdmin(ORG.org_id, MEMBER, "iam.amazonaws.com", NOW)
    store.add_delegated_admin(admin)
    with pytest.raises(AlreadyExists):
        store.add_delegated_admin(admin)
    assert store.list_delegated_admins(ORG.org_id) == [admin]
    store.remove_delegated_admin(MEMBER, "iam.amazonaws.com")
    with pytest.raises(NotFound):
        store.remove_delegated_admin(MEMBER, "iam.amazonaws.com")

    store.put_org_tags(ORG.root_id, [Tag("a", "1"), Tag("b", "2")])
    store.put_org_tags(ORG.root_id, [Tag("a", "3")])
    assert store.get_org_tags(ORG.root_id) == [Tag("a", "3"), Tag("b", "2")]
    store.remove_org_tags(ORG.root_id, ["b", "zzz"])
    assert store.get_org_tags(ORG.root_id) == [Tag("a", "3")]


def test_rename_delete_unit_update_policy_and_delete_organization(store: SqlStore) -> None:
    store.create_organization(ORG)
    ou = OrgUnit("ou-abcd-11111111", ORG.org_id, ORG.root_id, "prod", NOW)
    store.create_org_unit(ou)
    store.create_org_unit(OrgUnit("ou-abcd-22222222", ORG.org_id, ORG.root_id, "dev", NOW))
    store.rename_org_unit(ou.ou_id, "production")
    assert store.get_org_unit(ou.ou_id) == OrgUnit(
        ou.ou_id, ORG.org_id, ORG.root_id, "production", NOW
    )
    with pytest.raises(AlreadyExists):
        store.rename_org_unit(ou.ou_id, "dev")
    with pytest.raises(NotFound):
        store.rename_org_unit("ou-abcd-99999999", "x")
    store.create_org_policy(_policy("p-11111111"))
    store.create_org_policy(_policy("p-22222222"))
    store.attach_org_policy("p-11111111", ou.ou_id)
    store.delete_org_unit(ou.ou_id)
    assert store.get_org_unit(ou.ou_id) is None
    assert store.targets_of_org_policy("p-11111111") == []
    with pytest.raises(NotFound):
        store.delete_org_unit(ou.ou_id)
    store.update_org_policy(
        OrgPolicy("p-11111111", ORG.org_id, SCP, "renamed", "d", '{"x":1}', False, NOW)
    )
    got = store.get_org_policy("p-11111111")
    assert got is not None and (got.name, got.description, got.content) == (
        "renamed",
        "d",
        '{"x":1}',
    )
    with pytest.raises(AlreadyExists):
        store.update_org_policy(replace_name(got, "p-22222222"))
    with pytest.raises(NotFound):
        store.update_org_policy(replace_name(got, "new", "p-nothere1"))

    store.set_account_org(MEMBER, ORG.org_id, f"{ORG.org_id}/{ORG.root_id}/")
    from tessera.iam.model import Tag

    store.put_org_tags(MEMBER, [Tag("k", "v")])
    store.delete_organization(ORG.org_id)
    assert store.get_org_tags(MEMBER) == []
    assert store.get_organization(ORG.org_id) is None
    member = store.get_account(MEMBER)
    assert member is not None and member.org_id is None and member.ou_path is None
    assert store.get_org_policy("p-11111111") is None
    with pytest.raises(NotFound):
        store.delete_organization(ORG.org_id)


def replace_name(policy: OrgPolicy, name: str, policy_id: str | None = None) -> OrgPolicy:
    from dataclasses import replace

    return replace(policy, name=name, policy_id=policy_id or policy.policy_id)
