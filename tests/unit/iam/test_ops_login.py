"""Login profiles, ChangePassword and the account password policy through the real
decode → handler → render → botocore-parse path; ``verify_console_password``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_service_support import ACCOUNT_A, ACCOUNT_B, AllowAll, Harness, assert_error, root

from tessera.iam import password_hash
from tessera.iam.ops_login import SignInState, verify_console_password

GOOD = "Correct-Horse-7"
OTHER = "Battery-Staple-8"


@pytest.fixture(autouse=True)
def _cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lowest scrypt cost the verifier accepts: these tests are about the
    operations (tests/unit/iam/test_password_hash.py covers the real parameters)."""
    monkeypatch.setattr(password_hash, "LOG2_N", 10)


@pytest.fixture
def h() -> Harness:
    h = Harness.create()
    h.call("CreateUser", UserName="alice")
    return h


def test_create_get_login_profile(h: Harness) -> None:
    out = h.call(
        "CreateLoginProfile",
        UserName="alice",
        Password=GOOD,
        PasswordResetRequired=True,
        MaxSigninSessionDuration=7200,
    )
    profile = out["LoginProfile"]
    assert profile["UserName"] == "alice"
    assert profile["PasswordResetRequired"] is True
    assert profile["MaxSigninSessionDuration"] == 7200
    assert "Password" not in profile
    got = h.call("GetLoginProfile", UserName="ALICE")["LoginProfile"]
    assert got == profile


def test_create_twice_and_missing_user(h: Harness) -> None:
    h.call("CreateLoginProfile", UserName="alice", Password=GOOD)
    err = h.error("CreateLoginProfile", UserName="alice", Password=GOOD)
    assert_error(err, "EntityAlreadyExists", "Login Profile for user alice already exists.", 409)
    err = h.error("CreateLoginProfile", UserName="bob", Password=GOOD)
    assert_error(err, "NoSuchEntity", "The user with name bob cannot be found.", 404)


def test_create_without_password_or_name(h: Harness) -> None:
    err = h.error("CreateLoginProfile", UserName="alice")
    assert_error(err, "ValidationError", "Password is required.", 400)
    err = h.error("CreateLoginProfile", Password=GOOD)  # the root caller names nobody
    assert err["Code"] == "ValidationError"


def test_default_policy_applies_without_a_custom_one(h: Harness) -> None:
    err = h.error("CreateLoginProfile", UserName="alice", Password="alllowercase")
    assert err["Code"] == "PasswordPolicyViolation" and err["Status"] == 400


@pytest.mark.parametrize(
    ("policy", "password", "message"),
    [
        ({"MinimumPasswordLength": 12}, "Short-1aA", "minimum length of 12"),
        ({"RequireUppercaseCharacters": True}, "lower-1234", "at least one uppercase letter"),
        ({"RequireLowercaseCharacters": True}, "UPPER-1234", "at least one lowercase letter"),
        ({"RequireNumbers": True}, "NoNumbers-x", "at least one number"),
        ({"RequireSymbols": True}, "NoSymbols1x", "at least one symbol"),
    ],
)
def test_policy_violations(
    h: Harness, policy: dict[str, object], password: str, message: str
) -> None:
    h.call("UpdateAccountPasswordPolicy", **policy)
    err = h.error("CreateLoginProfile", UserName="alice", Password=password)
    assert err["Code"] == "PasswordPolicyViolation"
    assert message in err["Message"]


def test_update_login_profile_and_reuse_prevention(h: Harness) -> None:
    h.call("UpdateAccountPasswordPolicy", MinimumPasswordLength=8, PasswordReusePrevention=2)
    h.call("CreateLoginProfile", UserName="alice", Password=GOOD)
    err = h.error("UpdateLoginProfile", UserName="alice", Password=GOOD)
    assert_error(
        err,
        "PasswordPolicyViolation",
        "Password should not be one of your 2 previous passwords",
        400,
    )
    h.call("UpdateLoginProfile", UserName="alice", Password=OTHER)
    err = h.error("UpdateLoginProfile", UserName="alice", Password=GOOD)  # still within 2
    assert err["Code"] == "PasswordPolicyViolation"
    h.call("UpdateLoginProfile", UserName="alice", Password="Third-Pass-9")
    h.call("UpdateLoginProfile", UserName="alice", Password=GOOD)  # 3 back: allowed again


def test_update_login_profile_flags(h: Harness) -> None:
    h.call("CreateLoginProfile", UserName="alice", Password=GOOD, MaxSigninSessionDuration=7200)
    h.call("UpdateLoginProfile", UserName="alice", PasswordResetRequired=True)
    assert h.call("GetLoginProfile", UserName="alice")["LoginProfile"]["PasswordResetRequired"]
    h.call("UpdateLoginProfile", UserName="alice", ResetMaxSigninSessionDuration=True)
    assert (
        "MaxSigninSessionDuration"
        not in h.call("GetLoginProfile", UserName="alice")["LoginProfile"]
    )
    err = h.error(
        "UpdateLoginProfile",
        UserName="alice",
        MaxSigninSessionDuration=3600,
        ResetMaxSigninSessionDuration=True,
    )
    assert err["Code"] == "InvalidInput"


def test_missing_login_profile(h: Harness) -> None:
    for op in ("GetLoginProfile", "DeleteLoginProfile"):
        err = h.error(op, UserName="alice")
        assert_error(err, "NoSuchEntity", "Login Profile for User alice cannot be found.", 404)
    err = h.error("UpdateLoginProfile", UserName="alice", Password=GOOD)
    assert err["Code"] == "NoSuchEntity"


def test_delete_login_profile_and_delete_user_conflict(h: Harness) -> None:
    h.call("CreateLoginProfile", UserName="alice", Password=GOOD)
    err = h.error("DeleteUser", UserName="alice")
    assert_error(
        err, "DeleteConflict", "Cannot delete entity, must delete login profile first.", 409
    )
    h.call("DeleteLoginProfile", UserName="alice")
    h.call("DeleteUser", UserName="alice")


def test_login_profile_bound_to_unique_id(h: Harness) -> None:
    h.call("CreateLoginProfile", UserName="alice", Password=GOOD)
    h.call("DeleteLoginProfile", UserName="alice")
    h.call("CreateLoginProfile", UserName="alice", Password=GOOD)
    user = h.store.get_user(ACCOUNT_A, "alice")
    assert user is not None
    h.call("UpdateUser", UserName="alice", NewUserName="alice2")
    assert h.call("GetLoginProfile", UserName="alice2")["LoginProfile"]["UserName"] == "alice2"


def test_change_password_self() -> None:
    h = Harness.create(AllowAll())
    h.call("CreateUser", UserName="alice")
    h.call("CreateLoginProfile", UserName="alice", Password=GOOD, PasswordResetRequired=True)
    alice = h.user("alice")
    h.call("ChangePassword", alice, OldPassword=GOOD, NewPassword=OTHER)
    assert not h.call("GetLoginProfile", UserName="alice")["LoginProfile"]["PasswordResetRequired"]
    signed = verify_console_password(h.store, ACCOUNT_A, "alice", OTHER, h.clock.now())
    assert signed is not None and signed.state is SignInState.OK


def test_change_password_wrong_old_password() -> None:
    h = Harness.create(AllowAll())
    h.call("CreateUser", UserName="alice")
    h.call("CreateLoginProfile", UserName="alice", Password=GOOD)
    err = h.error("ChangePassword", h.user("alice"), OldPassword="Wrong-Pass-1", NewPassword=OTHER)
    assert_error(err, "AccessDenied", "The old password is incorrect.", 403)
    assert verify_console_password(h.store, ACCOUNT_A, "alice", GOOD, h.clock.now()) is not None


def test_change_password_root_is_not_a_user(h: Harness) -> None:
    err = h.error("ChangePassword", root(), OldPassword=GOOD, NewPassword=OTHER)
    assert err["Code"] == "InvalidUserType" and err["Status"] == 400


def test_change_password_without_profile() -> None:
    h = Harness.create(AllowAll())
    h.call("CreateUser", UserName="alice")
    err = h.error("ChangePassword", h.user("alice"), OldPassword=GOOD, NewPassword=OTHER)
    assert_error(err, "NoSuchEntity", "Login Profile for User alice cannot be found.", 404)


def test_allow_users_to_change_password_grants_self_change() -> None:
    """With the real authorizer: a user with no policy may change its own password
    only when the account policy says AllowUsersToChangePassword."""
    h = Harness.create()
    h.call("CreateUser", UserName="alice")
    h.call("CreateLoginProfile", UserName="alice", Password=GOOD)
    alice = h.user("alice")
    err = h.error("ChangePassword", alice, OldPassword=GOOD, NewPassword=OTHER)
    assert err["Code"] == "AccessDenied"
    h.call("UpdateAccountPasswordPolicy", AllowUsersToChangePassword=True)
    h.call("ChangePassword", alice, OldPassword=GOOD, NewPassword=OTHER)


def test_password_policy_crud(h: Harness) -> None:
    err = h.error("GetAccountPasswordPolicy")
    assert_error(
        err,
        "NoSuchEntity",
        f"The Password Policy with domain name {ACCOUNT_A} cannot be found.",
        404,
    )
    err = h.error("DeleteAccountPasswordPolicy")
    assert err["Code"] == "NoSuchEntity"
    h.call("UpdateAccountPasswordPolicy")
    assert h.call("GetAccountPasswordPolicy")["PasswordPolicy"] == {
        "MinimumPasswordLength": 6,
        "RequireSymbols": False,
        "RequireNumbers": False,
        "RequireUppercaseCharacters": False,
        "RequireLowercaseCharacters": False,
        "AllowUsersToChangePassword": False,
        "ExpirePasswords": False,
    }
    h.call(
        "UpdateAccountPasswordPolicy",
        MinimumPasswordLength=14,
        RequireSymbols=True,
        RequireNumbers=True,
        RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=True,
        AllowUsersToChangePassword=True,
        MaxPasswordAge=90,
        PasswordReusePrevention=24,
        HardExpiry=False,
    )
    policy = h.call("GetAccountPasswordPolicy")["PasswordPolicy"]
    assert policy["ExpirePasswords"] is True and policy["MaxPasswordAge"] == 90
    assert policy["PasswordReusePrevention"] == 24 and policy["HardExpiry"] is False
    assert h.as_caller(root(ACCOUNT_B)).error("GetAccountPasswordPolicy")["Code"] == "NoSuchEntity"
    h.call("DeleteAccountPasswordPolicy")
    assert h.error("GetAccountPasswordPolicy")["Code"] == "NoSuchEntity"


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("MinimumPasswordLength", 5),
        ("MinimumPasswordLength", 129),
        ("MaxPasswordAge", 1096),
        ("PasswordReusePrevention", 25),
        ("MaxPasswordAge", 0),
    ],
)
def test_password_policy_ranges(h: Harness, member: str, value: int) -> None:
    with pytest.raises(Exception) as info:
        h.raw("UpdateAccountPasswordPolicy", **{member: value})
    assert getattr(info.value, "code", "") == "ValidationError"


# --- console verification --------------------------------------------------------------


def test_verify_console_password_states(h: Harness) -> None:
    now = h.clock.now()
    assert verify_console_password(h.store, ACCOUNT_A, "alice", GOOD, now) is None  # no profile
    assert verify_console_password(h.store, ACCOUNT_A, "nobody", GOOD, now) is None
    h.call("CreateLoginProfile", UserName="alice", Password=GOOD, PasswordResetRequired=True)
    assert verify_console_password(h.store, ACCOUNT_A, "alice", OTHER, now) is None
    assert verify_console_password(h.store, ACCOUNT_B, "alice", GOOD, now) is None
    signed = verify_console_password(h.store, ACCOUNT_A, "alice", GOOD, now)
    assert signed is not None and signed.state is SignInState.RESET_REQUIRED and signed.allowed
    h.call("UpdateLoginProfile", UserName="alice", PasswordResetRequired=False)
    h.call("UpdateAccountPasswordPolicy", MaxPasswordAge=30)
    later = now + timedelta(days=31)
    signed = verify_console_password(h.store, ACCOUNT_A, "alice", GOOD, later)
    assert signed is not None and signed.state is SignInState.EXPIRED and signed.allowed
    h.call("UpdateAccountPasswordPolicy", MaxPasswordAge=30, HardExpiry=True)
    signed = verify_console_password(h.store, ACCOUNT_A, "alice", GOOD, later)
    assert signed is not None and signed.state is SignInState.HARD_EXPIRED and not signed.allowed
    ok = verify_console_password(h.store, ACCOUNT_A, "alice", GOOD, now)
    assert ok is not None and ok.state is SignInState.OK
    user = h.store.get_user(ACCOUNT_A, "alice")
    assert user is not None
    profile = h.store.get_login_profile(user.user_id)
    assert profile is not None and profile.password_last_used == now.replace(microsecond=0)


def test_hard_expiry_blocks_change_password() -> None:
    h = Harness.create(AllowAll())
    h.call("CreateUser", UserName="alice")
    h.call("CreateLoginProfile", UserName="alice", Password=GOOD)
    h.call("UpdateAccountPasswordPolicy", MaxPasswordAge=1, HardExpiry=True)
    h.clock.advance(2 * 86400)
    err = h.error("ChangePassword", h.user("alice"), OldPassword=GOOD, NewPassword=OTHER)
    assert err["Code"] == "AccessDenied" and "HardExpiry" in err["Message"]
