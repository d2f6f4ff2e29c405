"""Login profiles (console passwords) and the account password policy: the IAM
operations Create/Get/Update/DeleteLoginProfile, ChangePassword and
Get/Update/DeleteAccountPasswordPolicy, and ``verify_console_password``, the one
check a console sign-in makes.

Passwords are hashed with scrypt (:mod:`tessera.iam.password_hash`) and the hash
is sealed under the KEK (purpose ``password:<user id>``) before it is stored; a
login profile is bound to the user's unique id. A new password must satisfy the
account policy (or AWS's default one) and, with ``PasswordReusePrevention``, differ
from the last N. Passwords and hashes are never logged, echoed or returned.

Texts: **[C]** seen verbatim in real AWS answers quoted in public threads,
**[I]** inferred.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from tessera.auth.principal import PrincipalKind
from tessera.errors import (
    AccessDenied,
    EntityAlreadyExists,
    InvalidInput,
    InvalidUserType,
    NoSuchEntity,
    ValidationError,
)
from tessera.iam.account_model import LoginProfile, PasswordPolicy
from tessera.iam.model import BoundPolicy, User
from tessera.iam.ops_common import account_of, now_of, require_user_credentials
from tessera.iam.ops_users import get_user_for
from tessera.iam.password_hash import burn_time, hash_password, verify_password
from tessera.iam.password_policy import check_password, check_reuse, is_expired
from tessera.operation import OperationContext, Result
from tessera.protocol.inputs import (
    ChangePasswordMembers,
    CreateLoginProfileMembers,
    DeleteAccountPasswordPolicyMembers,
    DeleteLoginProfileMembers,
    GetAccountPasswordPolicyMembers,
    GetLoginProfileMembers,
    UpdateAccountPasswordPolicyMembers,
    UpdateLoginProfileMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.store.base import AlreadyExists
from tessera.store.interface import Store

#: the most password hashes kept per user (PasswordReusePrevention's maximum)
MAX_HISTORY: Final = 24
# [I] a wrong OldPassword; AWS answers 403 without saying more
WRONG_OLD_PASSWORD: Final = "The old password is incorrect."
# [I]
HARD_EXPIRED: Final = (
    "The password has expired and the account password policy (HardExpiry) lets only "
    "an administrator reset it."
)
NOT_A_USER: Final = "Only IAM users can change their own password."  # [I]
PASSWORD_REQUIRED: Final = "Password is required."  # [I]


def no_such_login_profile(name: str) -> NoSuchEntity:
    return NoSuchEntity(f"Login Profile for User {name} cannot be found.")  # [C]


def no_password_policy(account: str) -> NoSuchEntity:
    # [C] (the text)
    return NoSuchEntity(f"The Password Policy with domain name {account} cannot be found.")


def _purpose(user_id: str) -> str:
    return f"password:{user_id}"


def _seal(store: Store, user_id: str, password: str) -> bytes:
    return store.kek.seal(hash_password(password).encode(), _purpose(user_id))


def _open(store: Store, user_id: str, sealed: bytes) -> str:
    return store.kek.open(sealed, _purpose(user_id)).decode()


def _check_new_password(
    ctx: OperationContext, user: User, password: str, profile: LoginProfile | None
) -> None:
    """The account policy and, for a replaced password, reuse prevention."""
    policy = ctx.store.get_password_policy(user.account_id)
    check_password(password, policy)
    if profile is None or policy is None or policy.password_reuse_prevention is None:
        return
    previous = [profile.password_sealed, *ctx.store.password_history(user.user_id)]
    hashes = (_open(ctx.store, user.user_id, sealed) for sealed in previous)
    check_reuse(password, policy, hashes, verify_password)


def _history_to_keep(policy: PasswordPolicy | None) -> int:
    """Earlier hashes to keep besides the current one."""
    if policy is None or policy.password_reuse_prevention is None:
        return 0
    return min(policy.password_reuse_prevention, MAX_HISTORY) - 1


def _profile_shape(user: User, profile: LoginProfile) -> dict[str, object]:
    shape: dict[str, object] = {
        "UserName": user.name,
        "CreateDate": profile.created_at,
        "PasswordResetRequired": profile.reset_required,
    }
    if profile.max_signin_session_duration is not None:
        shape["MaxSigninSessionDuration"] = profile.max_signin_session_duration
    return shape


def _user_named(
    ctx: OperationContext, action: str, name: str | None, *, root_may_omit: bool = False
) -> User:
    """The user ``name`` (default: the calling user), after authorising ``action``."""
    if name is None:
        name = require_user_credentials(ctx)
        if name is None:
            # the account root has no login profile in Tessera (AWS's root console
            # password is managed outside IAM)
            raise ValidationError("Must specify userName when calling with non-User credentials")
    return get_user_for(ctx, action, name)


# --- login profiles -------------------------------------------------------------------


@operation("iam", "CreateLoginProfile", action="iam:CreateLoginProfile")
def create_login_profile(
    ctx: OperationContext, params: Params[CreateLoginProfileMembers]
) -> Result:
    name = params.get_str("UserName")
    password = params.get_str("Password")
    reset = bool(params.get_bool("PasswordResetRequired"))
    max_signin = params.get_int("MaxSigninSessionDuration")
    user = _user_named(ctx, "iam:CreateLoginProfile", name)
    if password is None:
        raise ValidationError(PASSWORD_REQUIRED)
    if ctx.store.get_login_profile(user.user_id) is not None:
        # [C] "Login Profile for user X already exists."
        raise EntityAlreadyExists(f"Login Profile for user {user.name} already exists.")
    _check_new_password(ctx, user, password, None)
    now = now_of(ctx)
    profile = LoginProfile(
        account_id=user.account_id,
        user_id=user.user_id,
        password_sealed=_seal(ctx.store, user.user_id, password),
        created_at=now,
        password_changed_at=now,
        reset_required=reset,
        max_signin_session_duration=max_signin,
    )
    try:
        ctx.store.create_login_profile(profile)
    except AlreadyExists as exc:
        raise EntityAlreadyExists(f"Login Profile for user {user.name} already exists.") from exc
    return {"LoginProfile": _profile_shape(user, profile)}


def _profile_of(ctx: OperationContext, user: User) -> LoginProfile:
    profile = ctx.store.get_login_profile(user.user_id)
    if profile is None:
        raise no_such_login_profile(user.name)
    return profile


@operation("iam", "GetLoginProfile", action="iam:GetLoginProfile")
def get_login_profile(ctx: OperationContext, params: Params[GetLoginProfileMembers]) -> Result:
    user = _user_named(ctx, "iam:GetLoginProfile", params.get_str("UserName"))
    return {"LoginProfile": _profile_shape(user, _profile_of(ctx, user))}


@operation("iam", "UpdateLoginProfile", action="iam:UpdateLoginProfile")
def update_login_profile(
    ctx: OperationContext, params: Params[UpdateLoginProfileMembers]
) -> Result:
    name = params.req_str("UserName")
    password = params.get_str("Password")
    reset = params.get_bool("PasswordResetRequired")
    max_signin = params.get_int("MaxSigninSessionDuration")
    clear_max = bool(params.get_bool("ResetMaxSigninSessionDuration"))
    user = get_user_for(ctx, "iam:UpdateLoginProfile", name)
    if max_signin is not None and clear_max:
        # [I]
        raise InvalidInput(
            "MaxSigninSessionDuration and ResetMaxSigninSessionDuration cannot be used together."
        )
    profile = _profile_of(ctx, user)
    if password is not None:
        _check_new_password(ctx, user, password, profile)
        policy = ctx.store.get_password_policy(user.account_id)
        ctx.store.set_login_password(
            user.user_id,
            _seal(ctx.store, user.user_id, password),
            now_of(ctx),
            profile.reset_required if reset is None else reset,
            _history_to_keep(policy),
        )
        reset = None
    if not ctx.store.update_login_profile(
        user.user_id,
        reset_required=reset,
        max_signin_session_duration=max_signin,
        clear_max_signin_session_duration=clear_max,
    ):
        raise no_such_login_profile(user.name)
    return None


@operation("iam", "DeleteLoginProfile", action="iam:DeleteLoginProfile")
def delete_login_profile(
    ctx: OperationContext, params: Params[DeleteLoginProfileMembers]
) -> Result:
    user = _user_named(ctx, "iam:DeleteLoginProfile", params.get_str("UserName"))
    if not ctx.store.delete_login_profile(user.user_id):
        raise no_such_login_profile(user.name)
    return None


def _self_change_grant(user: User) -> BoundPolicy:
    """AllowUsersToChangePassword: every IAM user may call iam:ChangePassword on
    itself (an explicit deny still wins), as a policy bound to the user's id."""
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": user.arn},
                    "Action": "iam:ChangePassword",
                    "Resource": user.arn,
                }
            ],
        }
    )
    return BoundPolicy(document, ((user.arn, user.user_id),))


@operation("iam", "ChangePassword", action="iam:ChangePassword")
def change_password(ctx: OperationContext, params: Params[ChangePasswordMembers]) -> Result:
    old = params.req_str("OldPassword")
    new = params.req_str("NewPassword")
    caller = ctx.caller
    account = account_of(ctx)
    user = ctx.store.get_user_by_id(caller.user_id) if caller.kind is PrincipalKind.USER else None
    if user is None or user.account_id != account:
        ctx.authorize("iam:ChangePassword", caller.principal_arn)
        raise InvalidUserType(NOT_A_USER)
    policy = ctx.store.get_password_policy(account)
    grant = (
        _self_change_grant(user)
        if policy is not None and policy.allow_users_to_change_password
        else None
    )
    ctx.authorize("iam:ChangePassword", user.arn, resource_policy=grant)
    profile = ctx.store.get_login_profile(user.user_id)
    if profile is None:
        burn_time(old)
        raise no_such_login_profile(user.name)
    if not verify_password(old, _open(ctx.store, user.user_id, profile.password_sealed)):
        raise AccessDenied(WRONG_OLD_PASSWORD)
    if (
        policy is not None
        and policy.hard_expiry
        and is_expired(profile.password_changed_at, policy, ctx.now)
    ):
        raise AccessDenied(HARD_EXPIRED)
    _check_new_password(ctx, user, new, profile)
    ctx.store.set_login_password(
        user.user_id,
        _seal(ctx.store, user.user_id, new),
        now_of(ctx),
        False,
        _history_to_keep(policy),
    )
    return None


# --- the account password policy ------------------------------------------------------


def policy_shape(policy: PasswordPolicy) -> dict[str, object]:
    shape: dict[str, object] = {
        "MinimumPasswordLength": policy.minimum_password_length,
        "RequireSymbols": policy.require_symbols,
        "RequireNumbers": policy.require_numbers,
        "RequireUppercaseCharacters": policy.require_uppercase_characters,
        "RequireLowercaseCharacters": policy.require_lowercase_characters,
        "AllowUsersToChangePassword": policy.allow_users_to_change_password,
        "ExpirePasswords": policy.expire_passwords,
    }
    if policy.max_password_age is not None:
        shape["MaxPasswordAge"] = policy.max_password_age
    if policy.password_reuse_prevention is not None:
        shape["PasswordReusePrevention"] = policy.password_reuse_prevention
    if policy.hard_expiry is not None:
        shape["HardExpiry"] = policy.hard_expiry
    return shape


@operation("iam", "GetAccountPasswordPolicy", action="iam:GetAccountPasswordPolicy")
def get_account_password_policy(
    ctx: OperationContext, params: Params[GetAccountPasswordPolicyMembers]
) -> Result:
    ctx.authorize("iam:GetAccountPasswordPolicy", "*")
    policy = ctx.store.get_password_policy(account_of(ctx))
    if policy is None:
        raise no_password_policy(account_of(ctx))
    return {"PasswordPolicy": policy_shape(policy)}


@operation("iam", "UpdateAccountPasswordPolicy", action="iam:UpdateAccountPasswordPolicy")
def update_account_password_policy(
    ctx: OperationContext, params: Params[UpdateAccountPasswordPolicyMembers]
) -> Result:
    """Every member left out takes AWS's default (the call replaces the policy)."""
    minimum = params.get_int("MinimumPasswordLength")
    policy = PasswordPolicy(
        minimum_password_length=6 if minimum is None else minimum,
        require_symbols=bool(params.get_bool("RequireSymbols")),
        require_numbers=bool(params.get_bool("RequireNumbers")),
        require_uppercase_characters=bool(params.get_bool("RequireUppercaseCharacters")),
        require_lowercase_characters=bool(params.get_bool("RequireLowercaseCharacters")),
        allow_users_to_change_password=bool(params.get_bool("AllowUsersToChangePassword")),
        max_password_age=params.get_int("MaxPasswordAge"),
        password_reuse_prevention=params.get_int("PasswordReusePrevention"),
        hard_expiry=params.get_bool("HardExpiry"),
    )
    ctx.authorize("iam:UpdateAccountPasswordPolicy", "*")
    ctx.store.put_password_policy(account_of(ctx), policy)
    return None


@operation("iam", "DeleteAccountPasswordPolicy", action="iam:DeleteAccountPasswordPolicy")
def delete_account_password_policy(
    ctx: OperationContext, params: Params[DeleteAccountPasswordPolicyMembers]
) -> Result:
    ctx.authorize("iam:DeleteAccountPasswordPolicy", "*")
    if not ctx.store.delete_password_policy(account_of(ctx)):
        raise no_password_policy(account_of(ctx))
    return None


# --- console sign-in ------------------------------------------------------------------


class SignInState(StrEnum):
    OK = "ok"
    RESET_REQUIRED = "reset_required"  # sign in, then set a new password (ChangePassword)
    EXPIRED = "expired"  # MaxPasswordAge passed: sign in only to set a new password
    HARD_EXPIRED = "hard_expired"  # MaxPasswordAge passed with HardExpiry: refused


@dataclass(frozen=True, slots=True)
class ConsoleSignIn:
    """A verified console password: who signed in and what the session must do."""

    user: User
    state: SignInState
    max_signin_session_duration: int | None

    @property
    def allowed(self) -> bool:
        return self.state is not SignInState.HARD_EXPIRED


def verify_console_password(
    store: Store, account_id: str, user_name: str, password: str, now: datetime
) -> ConsoleSignIn | None:
    """Check ``password`` for user ``user_name`` of ``account_id``: ``None`` when the
    user or its login profile does not exist or the password is wrong (the three cost
    the same time: one KDF run, compared in constant time). A correct password is
    recorded as used (``PasswordLastUsed``); the result says whether the password must
    be changed first or, hard-expired, cannot be used at all."""
    user = store.get_user(account_id, user_name)
    profile = None if user is None else store.get_login_profile(user.user_id)
    if user is None or profile is None:
        burn_time(password)
        return None
    if not verify_password(password, _open(store, user.user_id, profile.password_sealed)):
        return None
    policy = store.get_password_policy(account_id)
    if is_expired(profile.password_changed_at, policy, now):
        hard = policy is not None and bool(policy.hard_expiry)
        state = SignInState.HARD_EXPIRED if hard else SignInState.EXPIRED
    elif profile.reset_required:
        state = SignInState.RESET_REQUIRED
    else:
        state = SignInState.OK
    if state is not SignInState.HARD_EXPIRED:
        store.record_password_use(user.user_id, now.replace(microsecond=0))
    return ConsoleSignIn(user, state, profile.max_signin_session_duration)
