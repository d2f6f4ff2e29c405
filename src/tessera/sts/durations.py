"""Session durations (docs/wire-facts.md §4.3): the defaults, minimums and maxima of
AssumeRole, GetSessionToken and GetFederationToken, the role-chaining cap and
AWS's ValidationError texts. Pure functions; the model already rejects values
outside each operation's static range before a handler runs."""

from __future__ import annotations

from typing import Final

from tessera.errors import ValidationError

MIN_SECONDS: Final = 900
ASSUME_ROLE_DEFAULT: Final = 3600
ROLE_CHAINING_MAX: Final = 3600
TOKEN_DEFAULT: Final = 43_200  # GetSessionToken / GetFederationToken, IAM user
TOKEN_MAX: Final = 129_600  # 36 h
ROOT_TOKEN_MAX: Final = 3600  # root callers are clamped (silently) to 1 h

# [C] aws-vault#263, eks-anywhere#9485 and others (docs/wire-facts.md §4.3)
EXCEEDS_ROLE_MAX: Final = (
    "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
)
EXCEEDS_CHAINING_MAX: Final = (
    "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by "
    "role chaining."
)


def assume_role_seconds(requested: int | None, role_max: int, chained: bool) -> int:
    """The lifetime of an AssumeRole session.

    ``chained`` is true when the caller is itself a role session: such sessions are
    capped at one hour whatever the role allows. The role's own maximum is checked
    first (its message is the one AWS gives for a plain over-long request)."""
    seconds = ASSUME_ROLE_DEFAULT if requested is None else requested
    if seconds > role_max:
        raise ValidationError(EXCEEDS_ROLE_MAX)
    if chained and seconds > ROLE_CHAINING_MAX:
        raise ValidationError(EXCEEDS_CHAINING_MAX)
    return seconds


def token_seconds(requested: int | None, is_root: bool) -> int:
    """GetSessionToken / GetFederationToken: 900 s … 36 h (default 12 h); an account's
    root user gets at most one hour, longer requests are clamped without an error."""
    seconds = TOKEN_DEFAULT if requested is None else requested
    if is_root:
        seconds = min(seconds, ROOT_TOKEN_MAX)
    return seconds
