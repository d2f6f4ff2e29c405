"""Password policy rules: AWS's default policy, each requirement, reuse, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tessera.errors import PasswordPolicyViolation
from tessera.iam.account_model import PasswordPolicy
from tessera.iam.password_policy import check_password, check_reuse, expires_at, is_expired


def test_default_policy() -> None:
    check_password("Abcdefg1", None)  # 8 chars, three classes
    check_password("abcdef1!", None)
    for bad in ("Abcdef1", "abcdefgh", "ABCDEFG1a"[:7], "abcdefg1"):
        with pytest.raises(PasswordPolicyViolation):
            check_password(bad, None)


def test_each_requirement() -> None:
    strict = PasswordPolicy(
        minimum_password_length=10,
        require_symbols=True,
        require_numbers=True,
        require_uppercase_characters=True,
        require_lowercase_characters=True,
    )
    check_password("Abcdefgh1!", strict)
    cases = {
        "Abcdefg1!": "minimum length of 10",
        "abcdefgh1!": "uppercase",
        "ABCDEFGH1!": "lowercase",
        "Abcdefghi!": "number",
        "Abcdefghi1": "symbol",
    }
    for password, text in cases.items():
        with pytest.raises(PasswordPolicyViolation, match=text):
            check_password(password, strict)
    check_password("aaaaaa", PasswordPolicy())  # the API's defaults: 6 characters, nothing else


def test_reuse_looks_at_the_last_n_only() -> None:
    policy = PasswordPolicy(password_reuse_prevention=2)
    history = ["new", "old", "older"]

    def same(password: str, encoded: str) -> bool:
        return password == encoded

    check_reuse("older", policy, history, same)
    with pytest.raises(PasswordPolicyViolation, match="2 previous"):
        check_reuse("old", policy, history, same)
    check_reuse("old", PasswordPolicy(), history, same)
    check_reuse("old", None, history, same)


def test_expiry() -> None:
    changed = datetime(2026, 1, 1, tzinfo=UTC)
    assert expires_at(changed, None) is None
    policy = PasswordPolicy(max_password_age=30)
    assert expires_at(changed, policy) == changed + timedelta(days=30)
    assert not is_expired(changed, policy, changed + timedelta(days=29))
    assert is_expired(changed, policy, changed + timedelta(days=30))
