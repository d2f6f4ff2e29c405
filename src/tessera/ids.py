"""Identifier formats: account ids, access key ids, secret keys, unique ids
(AIDA…, AROA…, ANPA…), request ids. Randomness is injectable via ``secrets``-style
functions so tests can be deterministic where they need to."""

from __future__ import annotations

import base64
import os
import random
import secrets

_B32_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_ALNUM_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_B32_PAIRS = tuple(a + b for a in _B32_UPPER for b in _B32_UPPER)

USER_PREFIX = "AIDA"
ROLE_PREFIX = "AROA"
GROUP_PREFIX = "AGPA"
POLICY_PREFIX = "ANPA"
POLICY_VERSION_PREFIX = "ANVA"
LONG_TERM_KEY_PREFIX = "AKIA"
TEMPORARY_KEY_PREFIX = "ASIA"


def _random_chars(n: int, alphabet: str = _ALNUM_UPPER) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def new_account_id() -> str:
    """A 12-digit account id that does not start with 0."""
    return str(secrets.choice(range(1, 10))) + "".join(
        str(secrets.randbelow(10)) for _ in range(11)
    )


def new_unique_id(prefix: str) -> str:
    """AWS unique ids: a 4-char prefix + 17 upper-case alphanumerics (21 chars)."""
    return prefix + _random_chars(17)


def new_access_key_id(account_id: str, temporary: bool = False) -> str:
    """``AKIA``/``ASIA`` + 16 base32 chars (80 bits): the account id in the high 40
    bits and 40 random bits, so ``GetAccessKeyInfo`` can answer for any key id —
    including temporary ones, which are never stored — as AWS's key ids allow."""
    v = (int(account_id) << 40) | secrets.randbits(40)
    prefix = TEMPORARY_KEY_PREFIX if temporary else LONG_TERM_KEY_PREFIX
    # 80 bits → 16 base32 characters (alphabet _B32_UPPER), most significant first,
    # two characters (10 bits) at a time
    p = _B32_PAIRS
    return (
        prefix
        + p[v >> 70 & 1023]
        + p[v >> 60 & 1023]
        + p[v >> 50 & 1023]
        + p[v >> 40 & 1023]
        + p[v >> 30 & 1023]
        + p[v >> 20 & 1023]
        + p[v >> 10 & 1023]
        + p[v & 1023]
    )


def account_from_access_key_id(access_key_id: str) -> str | None:
    """The account id encoded in a Tessera access key id, or ``None``."""
    body = access_key_id[4:]
    if len(access_key_id) != 20 or any(c not in _B32_UPPER for c in body):
        return None
    value = 0
    for c in body:
        value = (value << 5) | _B32_UPPER.index(c)
    account = value >> 40
    if account <= 0 or account >= 10**12:
        return None
    return f"{account:012d}"


def new_secret_access_key() -> str:
    """40 characters of base64 alphabet, like AWS secret keys."""
    raw = base64.b64encode(secrets.token_bytes(30)).decode()
    return raw[:40]


def uuid4_text(random_bytes: bytes | None = None) -> str:
    """A random (version 4) UUID as lowercase 8-4-4-4-12 text, like
    ``str(uuid.uuid4())`` from ``os.urandom`` but without building a ``UUID``."""
    raw = bytearray(os.urandom(16) if random_bytes is None else random_bytes)
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    x = raw.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def new_request_id() -> str:
    """A request id: a random (version 4) UUID. Unique, not secret, so it comes from
    ``random`` (seeded from the OS at start) and costs no system call."""
    return uuid4_text(_request_ids.getrandbits(128).to_bytes(16, "big"))


_request_ids = random.Random()


def is_account_id(value: str) -> bool:
    return len(value) == 12 and value.isdigit()
