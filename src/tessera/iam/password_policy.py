"""The account password policy as a rule set: checking a new password against it
(``check_password``: AWS's PasswordPolicyViolation texts), reuse prevention against
the last N hashes, and expiry (``expires_at``, MaxPasswordAge in days).

Without a custom policy AWS applies its default: at least 8 characters and at least
three of uppercase letters, lowercase letters, numbers and symbols.

Texts: **[C]** seen in real AWS answers, **[I]** inferred (same family)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Final

from tessera.errors import PasswordPolicyViolation
from tessera.iam.account_model import PasswordPolicy

#: the characters AWS counts as symbols (IAM User Guide, "Set an account password policy")
SYMBOLS: Final = frozenset("!@#$%^&*()_+-=[]{}|'")
DEFAULT_MINIMUM_LENGTH: Final = 8


def _has_upper(p: str) -> bool:
    return any("A" <= c <= "Z" for c in p)


def _has_lower(p: str) -> bool:
    return any("a" <= c <= "z" for c in p)


def _has_number(p: str) -> bool:
    return any("0" <= c <= "9" for c in p)


def _has_symbol(p: str) -> bool:
    return any(c in SYMBOLS for c in p)


UPPER: Final = "Password should have at least one uppercase letter"  # [C]
LOWER: Final = "Password should have at least one lowercase letter"  # [I]
NUMBER: Final = "Password should have at least one number"  # [I]
SYMBOL: Final = "Password should have at least one symbol"  # [I]
DEFAULT_POLICY: Final = (  # [I]
    "Password should have a minimum length of 8 and include at least three of: "
    "uppercase letters, lowercase letters, numbers and symbols"
)


def minimum_length_message(length: int) -> str:
    return f"Password should have a minimum length of {length}"  # [I]


def reuse_message(count: int) -> str:
    return f"Password should not be one of your {count} previous passwords"  # [I]


def check_password(password: str, policy: PasswordPolicy | None) -> None:
    """Raise PasswordPolicyViolation unless ``password`` satisfies ``policy`` (or, with
    none, AWS's default policy)."""
    if policy is None:
        classes = sum(f(password) for f in (_has_upper, _has_lower, _has_number, _has_symbol))
        if len(password) < DEFAULT_MINIMUM_LENGTH or classes < 3:
            raise PasswordPolicyViolation(DEFAULT_POLICY)
        return
    if len(password) < policy.minimum_password_length:
        raise PasswordPolicyViolation(minimum_length_message(policy.minimum_password_length))
    rules: tuple[tuple[bool, Callable[[str], bool], str], ...] = (
        (policy.require_uppercase_characters, _has_upper, UPPER),
        (policy.require_lowercase_characters, _has_lower, LOWER),
        (policy.require_numbers, _has_number, NUMBER),
        (policy.require_symbols, _has_symbol, SYMBOL),
    )
    for required, test, message in rules:
        if required and not test(password):
            raise PasswordPolicyViolation(message)


def check_reuse(
    password: str,
    policy: PasswordPolicy | None,
    previous: Iterable[str],
    verify: Callable[[str, str], bool],
) -> None:
    """Raise PasswordPolicyViolation when ``password`` matches one of the last
    ``PasswordReusePrevention`` hashes (``previous``: newest first, the current one
    included)."""
    if policy is None or policy.password_reuse_prevention is None:
        return
    count = policy.password_reuse_prevention
    for encoded in list(previous)[:count]:
        if verify(password, encoded):
            raise PasswordPolicyViolation(reuse_message(count))


def expires_at(changed_at: datetime, policy: PasswordPolicy | None) -> datetime | None:
    """When a password set at ``changed_at`` expires (None: never)."""
    if policy is None or policy.max_password_age is None:
        return None
    return changed_at + timedelta(days=policy.max_password_age)


def is_expired(changed_at: datetime, policy: PasswordPolicy | None, now: datetime) -> bool:
    expiry = expires_at(changed_at, policy)
    return expiry is not None and now >= expiry
