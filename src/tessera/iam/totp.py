"""RFC 6238 TOTP for virtual MFA devices (pyotp underneath): 160-bit seeds,
6 digits, 30-second steps, SHA-1 — what authenticator apps expect from AWS's
``otpauth://`` URIs. Verification accepts the current step and one step either
side, compares in constant time, and reports the matched time step so callers
can refuse a code whose step was already used (replay protection)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from datetime import datetime
from typing import Final
from urllib.parse import quote

import pyotp

STEP_SECONDS: Final = 30
DIGITS: Final = 6
WINDOW: Final = 1  # steps accepted on either side of the current one
RESYNC_WINDOW: Final = 20  # ±10 minutes for ResyncMFADevice


def new_seed() -> str:
    """A random base32 seed (32 characters = 160 bits), as AWS issues."""
    return pyotp.random_base32(32)


def time_step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def code_at(seed: str, step: int) -> str:
    return pyotp.TOTP(seed, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def _matches(seed: str, code: str, steps: Iterable[int]) -> int | None:
    found: int | None = None
    for step in steps:
        # compare every candidate: no early exit that would leak which step matched
        if hmac.compare_digest(code_at(seed, step).encode(), code.encode()) and found is None:
            found = step
    return found


def verify(seed: str, code: str, now: datetime, window: int = WINDOW) -> int | None:
    """The time step ``code`` belongs to (within ``window`` of now), or ``None``."""
    if len(code) != DIGITS or not code.isdigit():
        return None
    current = time_step(now)
    return _matches(seed, code, range(current - window, current + window + 1))


def verify_consecutive(
    seed: str, code1: str, code2: str, now: datetime, window: int = WINDOW
) -> int | None:
    """For EnableMFADevice / ResyncMFADevice: ``code1`` and ``code2`` must be the codes
    of two consecutive steps near now. Returns the step of ``code2``."""
    if not (code1.isdigit() and code2.isdigit() and len(code1) == len(code2) == DIGITS):
        return None
    current = time_step(now)
    for first in range(current - window - 1, current + window):
        if hmac.compare_digest(code_at(seed, first).encode(), code1.encode()) and (
            hmac.compare_digest(code_at(seed, first + 1).encode(), code2.encode())
        ):
            return first + 1
    return None


def provisioning_uri(seed: str, account_label: str, issuer: str) -> str:
    """The ``otpauth://totp/`` URI an authenticator app scans from the QR code."""
    label = quote(f"{issuer}:{account_label}", safe="@:")
    return (
        f"otpauth://totp/{label}?secret={seed}&issuer={quote(issuer, safe='')}"
        f"&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}"
    )
