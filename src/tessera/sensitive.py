"""``Secret``: a wrapper for anything sensitive (secret keys, session tokens, JWTs,
key material) whose repr and str are masked, so it never lands in a log by accident."""

from __future__ import annotations

import hmac
from typing import Generic, TypeVar

T = TypeVar("T", str, bytes)


class Secret(Generic[T]):
    __slots__ = ("_value",)

    def __init__(self, value: T) -> None:
        self._value: T = value

    def reveal(self) -> T:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return constant_time_equals(self._value, other._value)

    def __hash__(self) -> int:
        return hash(type(self))


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    return hmac.compare_digest(a, b)
