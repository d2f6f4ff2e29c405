"""Console password hashing: a slow, memory-hard KDF and a constant-time check.

The KDF is scrypt (``hashlib.scrypt``, OpenSSL's implementation) with N=2^15, r=8,
p=1 (32 MiB and roughly 0.1 s per hash on one core): OWASP's recommended floor
for scrypt. Argon2id would be the first choice, but argon2-cffi is not among
Tessera's dependencies and this module adds none; scrypt is memory-hard as well
and ships with Python. The hash string carries its parameters
(``scrypt$15$8$1$<salt>$<key>``, base64), so the cost can be raised later without
invalidating stored passwords; parameters read back are bounded, so a tampered
row cannot make a check allocate unbounded memory.

Passwords are never logged and never leave this module other than as input; the
store keeps the hash sealed under the KEK besides (``tessera.iam.ops_login``), so a
copied database alone does not even allow guessing offline.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Final

LOG2_N: Final = 15
R: Final = 8
P: Final = 1
SALT_BYTES: Final = 16
KEY_BYTES: Final = 32
_MAX_LOG2_N: Final = 20
_MAX_R: Final = 16
_MAX_P: Final = 4
_SCHEME: Final = "scrypt"


def _derive(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=2 * 128 * n * r * p + (1 << 20),
        dklen=KEY_BYTES,
    )


def hash_password(password: str) -> str:
    """A new salted hash of ``password`` (the parameters travel in the string)."""
    salt = os.urandom(SALT_BYTES)
    key = _derive(password, salt, LOG2_N, R, P)
    b64 = base64.b64encode
    return f"{_SCHEME}${LOG2_N}${R}${P}${b64(salt).decode()}${b64(key).decode()}"


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        return None
    try:
        log2_n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        key = base64.b64decode(parts[5], validate=True)
    except ValueError:
        return None
    if not (10 <= log2_n <= _MAX_LOG2_N and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
        return None
    if not salt or len(key) != KEY_BYTES:
        return None
    return log2_n, r, p, salt, key


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` hashes to ``encoded``; the keys are compared in
    constant time. A malformed ``encoded`` still costs one full KDF run."""
    parsed = _parse(encoded)
    if parsed is None:
        burn_time(password)
        return False
    log2_n, r, p, salt, key = parsed
    return hmac.compare_digest(_derive(password, salt, log2_n, r, p), key)


def burn_time(password: str) -> None:
    """Spend what one check costs, for a user without a password (so a caller cannot
    tell "no such user or password" from "wrong password" by the time taken)."""
    _derive(password, b"\0" * SALT_BYTES, LOG2_N, R, P)
