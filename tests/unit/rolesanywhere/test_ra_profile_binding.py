"""CreateSession's profile and role check (``tessera.rolesanywhere.session``): the
profile must be enabled, in the anchor's account and region, and list the role —
bound by the role's unique id when the profile was written, so a role deleted and
re-created under the same name (a new id) is not the role the profile named."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from tessera.iam.model import Role
from tessera.rolesanywhere.errors import AccessDeniedException, ValidationException
from tessera.rolesanywhere.model import DEFAULT_MAPPINGS, Profile
from tessera.rolesanywhere.session import (
    PROFILE_DISABLED,
    ROLE_NOT_IN_PROFILE,
    _profile_and_role,
)

ACCT = "123456789012"
NOW = datetime(2026, 5, 4, tzinfo=UTC)
ROLE = Role(ACCT, "workload", "/", "AROAEXAMPLEROLEID0001", NOW, "{}")
ROLE_ARN = f"arn:aws:iam::{ACCT}:role/workload"
PROFILE = Profile(
    account_id=ACCT,
    region="us-east-1",
    profile_id="22222222-2222-4222-8222-222222222222",
    name="p",
    enabled=True,
    roles=((ROLE_ARN, ROLE.role_id),),
    managed_policy_arns=(),
    session_policy=None,
    duration_seconds=3600,
    accept_role_session_name=False,
    attribute_mappings=DEFAULT_MAPPINGS,
    created_by="test",
    created_at=NOW,
    updated_at=NOW,
)
ANCHOR: Any = SimpleNamespace(account_id=ACCT, region="us-east-1")


class _Store:
    def __init__(self, profile: Profile | None, role: Role | None) -> None:
        self.profile, self.role = profile, role

    def get_ra_profile(self, account: str, region: str, profile_id: str) -> Profile | None:
        p = self.profile
        if p is None or (account, region, profile_id) != (p.account_id, p.region, p.profile_id):
            return None
        return p

    def get_role(self, account: str, name: str) -> Role | None:
        r = self.role
        return r if r is not None and (account, name) == (r.account_id, r.name) else None


def _check(profile: Profile | None, role: Role | None, role_arn: str = ROLE_ARN) -> Any:
    ctx: Any = SimpleNamespace(store=_Store(profile, role))
    return _profile_and_role(ctx, ANCHOR, PROFILE.arn, role_arn)


def test_the_bound_role_is_accepted() -> None:
    assert _check(PROFILE, ROLE) == (PROFILE, ROLE)


def test_a_recreated_role_with_a_new_unique_id_is_refused() -> None:
    recreated = replace(ROLE, role_id="AROAEXAMPLEROLEID0002")
    with pytest.raises(AccessDeniedException, match=ROLE_NOT_IN_PROFILE):
        _check(PROFILE, recreated)


def test_a_role_that_did_not_exist_when_the_profile_was_written_is_refused() -> None:
    unbound = replace(PROFILE, roles=((ROLE_ARN, ""),))
    with pytest.raises(AccessDeniedException, match=ROLE_NOT_IN_PROFILE):
        _check(unbound, ROLE)


def test_a_deleted_role_is_refused() -> None:
    with pytest.raises(AccessDeniedException, match=ROLE_NOT_IN_PROFILE):
        _check(PROFILE, None)


def test_a_role_with_another_path_is_refused() -> None:
    moved = replace(ROLE, path="/team/")
    with pytest.raises(AccessDeniedException, match=ROLE_NOT_IN_PROFILE):
        _check(PROFILE, moved)


def test_a_role_not_listed_is_refused() -> None:
    other = replace(ROLE, name="other")
    with pytest.raises(AccessDeniedException, match=ROLE_NOT_IN_PROFILE):
        _check(PROFILE, other, f"arn:aws:iam::{ACCT}:role/other")
    with pytest.raises(AccessDeniedException, match=ROLE_NOT_IN_PROFILE):
        _check(PROFILE, ROLE, "not-an-arn")


def test_disabled_missing_or_foreign_profile_is_refused() -> None:
    with pytest.raises(AccessDeniedException, match=PROFILE_DISABLED):
        _check(replace(PROFILE, enabled=False), ROLE)
    with pytest.raises(AccessDeniedException, match=PROFILE_DISABLED):
        _check(None, ROLE)
    elsewhere = replace(PROFILE, region="eu-west-1")
    ctx: Any = SimpleNamespace(store=_Store(elsewhere, ROLE))
    with pytest.raises(AccessDeniedException, match=PROFILE_DISABLED):
        _profile_and_role(ctx, ANCHOR, elsewhere.arn, ROLE_ARN)


def test_a_malformed_profile_arn_is_a_validation_error() -> None:
    ctx: Any = SimpleNamespace(store=_Store(PROFILE, ROLE))
    with pytest.raises(ValidationException, match="Invalid profileArn"):
        _profile_and_role(ctx, ANCHOR, "arn:aws:iam::123456789012:role/workload", ROLE_ARN)
