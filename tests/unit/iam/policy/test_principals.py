"""Principal binding (``PrincipalSpec.bind`` / ``Policy.bind_principals``): a stored
policy's user and role ARNs match by the unique id they were bound to, never by
name; session ARNs and unbound specs keep matching by ARN."""

from __future__ import annotations

import dataclasses
import json

import pytest
from tests.unit.iam.policy.policy_helpers import ACCT, ALICE, FED_USER, ROLE_ARN, SESSION

from tessera.iam.policy import PolicyKind, PrincipalInfo, parse_policy
from tessera.iam.policy.principals import (
    EntityRef,
    MatchKind,
    entity_ref,
    named_entity_arns,
)

ALICE_ARN = ALICE.arn
ALICE_ID = "AIDAALICE0000000000"
DEV_ID = "AROADEV000000000000"
FED = dataclasses.replace(FED_USER, source_user_id=ALICE_ID)


def _spec(*aws: str, not_principal: bool = False) -> object:
    element = "NotPrincipal" if not_principal else "Principal"
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny" if not_principal else "Allow",
                element: {"AWS": list(aws)},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    if not_principal:  # NotPrincipal is for resource policies, not trust policies
        doc["Statement"][0]["Resource"] = "*"
    return parse_policy(json.dumps(doc), PolicyKind.RESOURCE if not_principal else PolicyKind.TRUST)


def _principal(policy: object, ids: dict[str, str] | None):
    bound = policy.bind_principals(ids) if ids is not None else policy  # type: ignore[attr-defined]
    spec = bound.statements[0].principal
    assert spec is not None
    return spec


def test_bound_user_matches_only_its_id() -> None:
    spec = _principal(_spec(ALICE_ARN), {ALICE_ARN: ALICE_ID})
    assert spec.match(ALICE) is MatchKind.USER
    successor = dataclasses.replace(ALICE, unique_id="AIDANEWALICE0000000")
    assert spec.match(successor) is MatchKind.NONE
    renamed = dataclasses.replace(ALICE, arn=f"arn:aws:iam::{ACCT}:user/carol")
    assert spec.match(renamed) is MatchKind.USER
    assert spec.match(FED) is MatchKind.INDIRECT  # her federated sessions
    assert spec.match(dataclasses.replace(FED, source_user_id="AIDAOTHER00000000")) is (
        MatchKind.NONE
    )


def test_bound_role_matches_its_sessions_by_role_id() -> None:
    spec = _principal(_spec(ROLE_ARN), {ROLE_ARN: DEV_ID})
    assert spec.match(SESSION) is MatchKind.INDIRECT
    recreated = dataclasses.replace(SESSION, unique_id="AROANEWDEV000000000")
    assert spec.match(recreated) is MatchKind.NONE


def test_arn_without_binding_matches_nobody() -> None:
    spec = _principal(_spec(ALICE_ARN, ROLE_ARN), {})
    assert spec.match(ALICE) is MatchKind.NONE
    assert spec.match(SESSION) is MatchKind.NONE


def test_unbound_spec_matches_by_arn() -> None:
    spec = _principal(_spec(ALICE_ARN), None)
    assert spec.match(dataclasses.replace(ALICE, unique_id="AIDAANY000000000000")) is (
        MatchKind.USER
    )


def test_session_arns_are_not_bound() -> None:
    spec = _principal(_spec(SESSION.arn), {})
    assert spec.match(SESSION) is MatchKind.SESSION


def test_not_principal_checks_bound_ids() -> None:
    spec = _principal(
        _spec(ALICE_ARN, f"arn:aws:iam::{ACCT}:root", not_principal=True), {ALICE_ARN: ALICE_ID}
    )
    assert spec.lists_every_identity_of(ALICE)
    successor = dataclasses.replace(ALICE, unique_id="AIDANEWALICE0000000")
    assert not spec.lists_every_identity_of(successor)


@pytest.mark.parametrize(
    ("arn", "ref"),
    [
        (f"arn:aws:iam::{ACCT}:user/bob", EntityRef("user", ACCT, "/", "bob")),
        (f"arn:aws:iam::{ACCT}:role/a/b/r", EntityRef("role", ACCT, "/a/b/", "r")),
        (f"arn:aws:iam::{ACCT}:root", None),
        (f"arn:aws:sts::{ACCT}:assumed-role/r/s", None),
        (f"arn:aws:iam::{ACCT}:group/g", None),
        ("AIDAALICE0000000000", None),
    ],
)
def test_entity_ref(arn: str, ref: EntityRef | None) -> None:
    assert entity_ref(arn) == ref


def test_named_entity_arns_reads_principal_and_not_principal() -> None:
    role = f"arn:aws:iam::{ACCT}:role/x"
    doc = {
        "Statement": [
            {"Principal": {"AWS": [ALICE_ARN, SESSION.arn, ACCT]}},
            {"NotPrincipal": {"AWS": role}},
            {"Principal": {"AWS": ALICE_ARN}},
            {"Principal": "*"},
        ]
    }
    assert named_entity_arns(doc) == [ALICE_ARN, role]


def test_principal_info_default_has_no_source_user_id() -> None:
    assert PrincipalInfo("x", None, "anonymous").source_user_id is None
