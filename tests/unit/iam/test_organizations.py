"""OrganizationService: structure rules, policy validation, attachment rules, and
the per-level policy lists the authoriser evaluates."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tessera.iam.authz import compiled
from tessera.iam.org_model import RCP, SCP
from tessera.iam.organizations import OrganizationService, OrgError, org_levels, place_of
from tessera.kek import KeyEncryptionKey
from tessera.store.sql import open_sql_store

NOW = datetime(2026, 11, 24, tzinfo=UTC)
MGMT, MEMBER, OTHER = "111111111111", "222222222222", "333333333333"


def _doc(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture()
def svc(tmp_path: Path) -> Iterator[OrganizationService]:
    store = open_sql_store(KeyEncryptionKey(os.urandom(32)), data_dir=tmp_path)
    store.initialise()
    for acct in (MGMT, MEMBER, OTHER):
        store.create_account(acct, NOW)
    try:
        yield OrganizationService(store)
    finally:
        store.close()


def test_structure_and_levels(svc: OrganizationService) -> None:
    org = svc.create_organization(MGMT, NOW)
    with pytest.raises(OrgError, match="already in"):
        svc.create_organization(MGMT, NOW)
    parent = org.root_id
    chain = []
    for depth in range(5):
        ou = svc.create_org_unit(org.org_id, parent, f"level{depth}", NOW)
        chain.append(ou.ou_id)
        parent = ou.ou_id
    with pytest.raises(OrgError, match="five levels"):
        svc.create_org_unit(org.org_id, parent, "too-deep", NOW)
    with pytest.raises(OrgError, match="already exists"):
        svc.create_org_unit(org.org_id, org.root_id, "level0", NOW)
    path = svc.place_account(org.org_id, MEMBER, chain[1])
    assert path == f"{org.org_id}/{org.root_id}/{chain[0]}/{chain[1]}/"
    member = svc.store.get_account(MEMBER)
    assert member is not None
    assert place_of(member) == (org.root_id, chain[0], chain[1], MEMBER)

    deny = svc.create_policy(
        org.org_id, SCP, "deny", _doc({"Effect": "Deny", "Action": "s3:*", "Resource": "*"}), NOW
    )
    svc.attach(deny.policy_id, chain[1])
    levels = org_levels(svc.store, member, SCP, compiled)
    assert [len(level) for level in levels] == [1, 1, 2, 1]  # FullAWSAccess everywhere
    # RCP levels always carry the implicit RCPFullAWSAccess
    assert [len(level) for level in org_levels(svc.store, member, RCP, compiled)] == [1] * 4
    # the management account and accounts outside the organization get no levels
    assert org_levels(svc.store, svc.store.get_account(MGMT), SCP, compiled) == []
    assert org_levels(svc.store, svc.store.get_account(OTHER), SCP, compiled) == []

    with pytest.raises(OrgError, match="not in"):
        svc.attach(deny.policy_id, OTHER)
    with pytest.raises(OrgError, match="already attached"):
        svc.attach(deny.policy_id, chain[1])
    with pytest.raises(OrgError, match="still attached"):
        svc.delete_policy(deny.policy_id)
    svc.detach(deny.policy_id, chain[1])
    svc.delete_policy(deny.policy_id)
    with pytest.raises(OrgError, match="last service control policy"):
        svc.detach(svc.full_access_id(org), chain[0])
    with pytest.raises(OrgError, match="AWS-managed"):
        svc.delete_policy(svc.full_access_id(org))
    with pytest.raises(OrgError, match="cannot leave"):
        svc.remove_account(org.org_id, MGMT)
    svc.remove_account(org.org_id, MEMBER)
    assert org_levels(svc.store, svc.store.get_account(MEMBER), SCP, compiled) == []


def test_policy_validation(svc: OrganizationService) -> None:
    org = svc.create_organization(MGMT, NOW)
    with pytest.raises(OrgError, match="MalformedPolicyDocument"):
        svc.create_policy(org.org_id, SCP, "bad", "{not json", NOW)
    # RCPs must name Principal "*"; SCPs may not name a Principal
    with pytest.raises(OrgError, match="MalformedPolicyDocument"):
        svc.create_policy(
            org.org_id,
            RCP,
            "no-principal",
            _doc({"Effect": "Deny", "Action": "s3:*", "Resource": "*"}),
            NOW,
        )
    with pytest.raises(OrgError, match="MalformedPolicyDocument"):
        svc.create_policy(
            org.org_id,
            SCP,
            "principal",
            _doc({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}),
            NOW,
        )
    big = _doc(
        *({"Effect": "Deny", "Action": f"s3:Get{i:04}", "Resource": "*"} for i in range(120))
    )
    with pytest.raises(OrgError, match="limit is 5120"):
        svc.create_policy(org.org_id, SCP, "big", big, NOW)
    ok = svc.create_policy(
        org.org_id,
        RCP,
        "ok",
        _doc({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}),
        NOW,
    )
    with pytest.raises(OrgError, match="already exists"):
        svc.create_policy(org.org_id, RCP, "ok", ok.content, NOW)
    svc.update_policy(
        ok.policy_id, _doc({"Effect": "Deny", "Principal": "*", "Action": "sts:*", "Resource": "*"})
    )
    assert "sts:*" in svc.policy(ok.policy_id).content
