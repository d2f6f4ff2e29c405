"""OrganizationsApi (the service behind the Organizations API): who may act,
policy types switching SCP/RCP evaluation on and off, CreateAccount's outcome and
access role, handshake states and expiry, AWS ids for AWS-managed policies, tags,
and the paging tokens."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tessera.errors import AccessDenied
from tessera.iam.authz import compiled
from tessera.iam.model import Tag
from tessera.iam.org_model import RCP, SCP
from tessera.iam.organizations import org_levels
from tessera.kek import KeyEncryptionKey
from tessera.organizations import errors as e
from tessera.organizations.common import Pager
from tessera.organizations.service import OrganizationsApi
from tessera.protocol.model import service_spec
from tessera.protocol.query import params_for
from tessera.store.records import Owner
from tessera.store.sql import SqlStore, open_sql_store

NOW = datetime(2026, 11, 24, tzinfo=UTC)
MGMT, MEMBER, OTHER = "111111111111", "222222222222", "333333333333"


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[SqlStore]:
    st = open_sql_store(KeyEncryptionKey(os.urandom(32)), data_dir=tmp_path)
    st.initialise()
    for acct in (MGMT, MEMBER, OTHER):
        st.create_account(acct, NOW)
    try:
        yield st
    finally:
        st.close()


def test_roles_and_policy_types(store: SqlStore) -> None:
    api = OrganizationsApi(store)
    with pytest.raises(e.NotInUse):
        api.org_of(MGMT)
    org = api.create_organization(MGMT, NOW)
    with pytest.raises(e.AlreadyInOrganization):
        api.create_organization(MGMT, NOW)
    assert api.orgs.enabled_types(org) == []  # as on AWS
    api.orgs.place_account(org.org_id, MEMBER, None, NOW)
    assert api.managed_by(MGMT) == org
    with pytest.raises(AccessDenied):
        api.managed_by(MEMBER)
    with pytest.raises(AccessDenied):
        api.readable_by(MEMBER)

    deny = api.orgs.create_policy(
        org.org_id,
        SCP,
        "deny",
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}],
            }
        ),
        NOW,
    )
    with pytest.raises(e.PolicyTypeNotEnabled):
        api.orgs.attach(deny.policy_id, MEMBER)
    member = store.get_account(MEMBER)
    assert org_levels(store, member, SCP, compiled) == []  # disabled: nothing restricts
    api.enable_type(org, org.root_id, SCP, NOW)
    with pytest.raises(e.PolicyTypeAlreadyEnabled):
        api.enable_type(org, org.root_id, SCP, NOW)
    with pytest.raises(e.RootNotFound):
        api.enable_type(org, "r-zzzz", RCP, NOW)
    with pytest.raises(e.PolicyTypeNotAvailable):
        api.enable_type(org, org.root_id, "TAG_POLICY", NOW)
    # enabling attached FullAWSAccess everywhere
    assert [len(level) for level in org_levels(store, member, SCP, compiled)] == [1, 1]
    api.orgs.attach(deny.policy_id, MEMBER)
    assert [len(level) for level in org_levels(store, member, SCP, compiled)] == [1, 2]
    # disabling detaches every SCP; enabling again attaches only FullAWSAccess
    api.disable_type(org, org.root_id, SCP)
    assert org_levels(store, member, SCP, compiled) == []
    assert store.targets_of_org_policy(deny.policy_id) == []
    api.enable_type(org, org.root_id, SCP, NOW)
    assert [len(level) for level in org_levels(store, member, SCP, compiled)] == [1, 1]
    # RCPFullAWSAccess is attached, shown with AWS's id, and cannot be detached
    api.enable_type(org, org.root_id, RCP, NOW)
    rcp_full = api.policy(org, "p-RCPFullAWSAccess")
    assert api.public_id(rcp_full) == "p-RCPFullAWSAccess"
    with pytest.raises(e.PolicyNotFound):  # the per-organization row id is no AWS id
        api.policy(org, rcp_full.policy_id)
    with pytest.raises(e.InvalidInput) as exc:
        api.orgs.detach(rcp_full.policy_id, MEMBER)
    assert exc.value.fields == {"Reason": "NON_DETACHABLE_POLICY"}


def test_create_account_and_its_role(store: SqlStore) -> None:
    api = OrganizationsApi(store)
    org = api.create_organization(MGMT, NOW)
    request = api.create_account(org, "app", "app@example.com", None, [Tag("k", "v")], NOW)
    assert request.state == "IN_PROGRESS" and request.request_id.startswith("car-")
    done = api.create_account_request(org, request.request_id)
    assert done.state == "SUCCEEDED" and done.account_id is not None
    details = api.member(org, done.account_id)
    assert (details.name, details.joined_method) == ("app", "CREATED")
    assert store.get_org_tags(done.account_id) == [Tag("k", "v")]
    role = store.get_role(done.account_id, "OrganizationAccountAccessRole")
    assert role is not None
    trust = json.loads(role.trust_policy)["Statement"][0]
    assert trust["Principal"] == {"AWS": f"arn:aws:iam::{MGMT}:root"}
    attached = store.attached_policies(
        Owner(done.account_id, "role", "OrganizationAccountAccessRole")
    )
    assert [p.arn for p in attached] == ["arn:aws:iam::aws:policy/AdministratorAccess"]
    # the same e-mail address again: FAILED, as AWS reports it
    again = api.create_account(org, "dup", "APP@example.com", "Custom", [], NOW)
    failed = api.create_account_request(org, again.request_id)
    assert (failed.state, failed.failure_reason) == ("FAILED", "EMAIL_ALREADY_EXISTS")
    with pytest.raises(e.CreateAccountStatusNotFound):
        api.create_account_request(org, "car-nothere1")


def test_handshakes(store: SqlStore) -> None:
    api = OrganizationsApi(store)
    org = api.create_organization(MGMT, NOW)
    invite = api.invite(org, MEMBER, "welcome", [], NOW)
    with pytest.raises(e.DuplicateHandshake):
        api.invite(org, MEMBER, None, [], NOW)
    with pytest.raises(e.HandshakeNotFound):  # not a party
        api.handshake_for(invite.handshake_id, OTHER, NOW)
    with pytest.raises(AccessDenied):  # only the invited account accepts
        api.accept(invite.handshake_id, MGMT, NOW)
    cancelled = api.cancel(invite.handshake_id, MGMT, NOW)
    assert cancelled.state == "CANCELED"
    with pytest.raises(e.InvalidHandshakeTransition):
        api.accept(invite.handshake_id, MEMBER, NOW)
    late = api.invite(org, MEMBER, None, [], NOW)
    expired = api.handshake_for(late.handshake_id, MEMBER, NOW + timedelta(days=16))
    assert expired.state == "EXPIRED"
    with pytest.raises(e.InvalidHandshakeTransition):
        api.accept(late.handshake_id, MEMBER, NOW + timedelta(days=16))
    fresh = api.invite(org, MEMBER, None, [Tag("team", "x")], NOW)
    assert api.accept(fresh.handshake_id, MEMBER, NOW).state == "ACCEPTED"
    assert api.member(org, MEMBER).joined_method == "INVITED"
    assert store.get_org_tags(MEMBER) == [Tag("team", "x")]
    with pytest.raises(e.HandshakeConstraintViolation) as exc:
        api.invite(org, MEMBER, None, [], NOW)
    assert exc.value.fields == {"Reason": "ALREADY_IN_AN_ORGANIZATION"}


def test_tags_and_structure_rules(store: SqlStore) -> None:
    api = OrganizationsApi(store)
    org = api.create_organization(MGMT, NOW)
    ou = api.orgs.create_org_unit(org.org_id, org.root_id, "a", NOW)
    api.tag(org, ou.ou_id, [Tag(f"k{i}", "v") for i in range(50)])
    with pytest.raises(e.ConstraintViolation) as exc:
        api.tag(org, ou.ou_id, [Tag("one-more", "v")])
    assert exc.value.fields == {"Reason": "MAX_TAG_LIMIT_EXCEEDED"}
    with pytest.raises(e.TargetNotFound):
        api.tag(org, OTHER, [Tag("k", "v")])
    api.untag(org, ou.ou_id, [f"k{i}" for i in range(49)])
    assert api.tags_of(org, ou.ou_id) == [Tag("k49", "v")]
    api.orgs.place_account(org.org_id, MEMBER, ou.ou_id, NOW)
    with pytest.raises(e.OuNotEmpty):
        api.delete_ou(org, ou.ou_id)
    with pytest.raises(e.DuplicateAccount):
        api.move_account(org, MEMBER, ou.ou_id, ou.ou_id)
    with pytest.raises(e.SourceParentNotFound):
        api.move_account(org, MEMBER, "ou-zzzz-zzzzzzzz", org.root_id)
    api.move_account(org, MEMBER, ou.ou_id, org.root_id)
    api.delete_ou(org, ou.ou_id)
    with pytest.raises(e.OrganizationNotEmpty):
        api.delete_organization(org)
    api.tag(org, MEMBER, [Tag("owner", "team")])
    api.remove_account(org, MEMBER)
    assert store.get_org_tags(MEMBER) == []  # its tags belonged to the organization
    api.delete_organization(org)
    with pytest.raises(e.NotInUse):
        api.org_of(MGMT)


def _params(**members: Any) -> Any:
    return params_for(service_spec("organizations"), "ListAccounts", members)


def test_pager() -> None:
    items = list(range(45))
    first, token = Pager(_params()).page(items)
    assert first == list(range(20)) and token is not None
    second, token2 = Pager(_params(NextToken=token, MaxResults=20)).page(items)
    assert second == list(range(20, 40))
    last, end = Pager(_params(NextToken=token2)).page(items)
    assert last == list(range(40, 45)) and end is None
    with pytest.raises(e.InvalidInput) as exc:
        Pager(_params(NextToken="bm90LWEtdG9rZW4=")).page(items)
    assert exc.value.fields == {"Reason": "INVALID_NEXT_TOKEN"}
