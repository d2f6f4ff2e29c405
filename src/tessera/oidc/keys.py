"""Issuer signing keys and the pure rotation policy.

Owns: the ``SigningKey`` value (kid, alg, loaded private key, lifecycle times),
key generation (RSA-2048 / P-384), PEM (de)serialisation for the store, the
public JWK exactly as AWS publishes it, kid numbering, and ``KeyRing`` — the
storage-agnostic policy that decides which key signs, which keys are published,
and what a rotation produces.

Key ids are ``RSA_<n>_<suffix>`` / ``EC384_<n>_<suffix>``: ``n`` counts the keys of
the family (never reused) and ``suffix`` is 16 lowercase base32 characters
(80 bits) derived from the account's issuer UUID (``kid_suffix``), so two
accounts — or two Tessera deployments — do not publish the same kid and a
relying party that caches keys by ``kid`` alone cannot pick another account's
key (the issuer service also refuses, at enable time, an issuer id whose suffix
another account of the store already uses). The longest kid fits the store's
32-character column. Kids of the old form
``RSA_<n>`` / ``EC384_<n>`` (shared by every account) are still accepted for keys
already in a store (``is_legacy_kid``); the issuer service rotates them out.

Rotation timeline for one algorithm family (defaults in ``RotationPolicy``)::

    rotate(now)          now + publish_ahead                    + max_token_lifetime + leeway
        |  new key published |  new key signs; old key retired   |  old key unpublished (prunable)
        |  old key signs     |  (tokens it signed still verify)  |

* **publish-before-sign**: a rotated-in key appears in the JWKS at once but only
  starts signing ``publish_ahead`` (default 15 min) later, so relying parties
  that cache the JWKS (PyJWKClient: 5 min; the issuer serves it with a shorter
  ``max-age``) already know the kid when the first token signed with it arrives.
* **retired keys stay published** until ``retired_at + max_token_lifetime (3600 s)
  + leeway (300 s)``: every token they signed has expired by then, even for a
  verifier that allows the usual clock-skew leeway.
* The first key of a family (``KeyRing.bootstrap``) signs immediately: nobody can
  hold a stale JWKS for an issuer that did not exist a moment ago.

Loading a private key from PEM costs ~36 ms (RSA), so callers keep ``SigningKey``
objects (and their loaded keys) in memory rather than re-loading per request.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

Algorithm = Literal["RS256", "ES384"]
Family = Literal["RSA", "EC384"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

ALGORITHMS: Final[tuple[Algorithm, ...]] = ("RS256", "ES384")
FAMILY_OF_ALG: Final[dict[Algorithm, Family]] = {"RS256": "RSA", "ES384": "EC384"}
ALG_OF_FAMILY: Final[dict[Family, Algorithm]] = {"RSA": "RS256", "EC384": "ES384"}

RSA_KEY_BITS: Final = 2048
RSA_PUBLIC_EXPONENT: Final = 65537
EC_COORDINATE_BYTES: Final = 48  # P-384

KID_SUFFIX_BYTES: Final = 10  # 16 base32 characters
_KID_RE = re.compile(r"^(RSA|EC384)_(0|[1-9][0-9]{0,8})(?:_([a-z2-7]{16}))?$")
_SUFFIX_RE = re.compile(r"^[a-z2-7]{16}$")


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").lower()


def kid_suffix(issuer_id: str) -> str:
    """The kid suffix of an account: 80 bits of SHA-256 over its (canonical) issuer
    UUID, as 16 lowercase base32 characters."""
    canonical = str(uuid.UUID(issuer_id))
    digest = hashlib.sha256(b"tessera-kid-suffix:" + canonical.encode("ascii")).digest()
    return _b32(digest[:KID_SUFFIX_BYTES])


def random_kid_suffix() -> str:
    """A random suffix (80 bits) for a ring whose issuer id is unknown."""
    return _b32(secrets.token_bytes(KID_SUFFIX_BYTES))


def kid_suffix_of(kid: str) -> str | None:
    """The suffix of a kid (None for an old-form kid or a malformed one)."""
    m = _KID_RE.match(kid)
    return None if m is None else m.group(3)


def is_legacy_kid(kid: str) -> bool:
    """True for the old, suffix-less ``RSA_<n>`` / ``EC384_<n>`` form, which every
    account shared."""
    m = _KID_RE.match(kid)
    return m is not None and m.group(3) is None


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _header_b64(kid: str, alg: str) -> bytes:
    # Member order and compact separators exactly as AWS emits them.
    header = '{"kid":"' + kid + '","typ":"JWT","alg":"' + alg + '"}'
    return b64url(header.encode("ascii")).encode("ascii")


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One issuer signing key. ``private_key`` is a loaded cryptography key object.

    ``header_b64`` is the precomputed base64url JWS protected header for this key
    (``{"kid":…,"typ":"JWT","alg":…}``), so signing does no per-call header work.
    """

    kid: str
    alg: Algorithm
    private_key: PrivateKey = field(repr=False, compare=False)
    created_at: datetime
    not_before: datetime
    retired_at: datetime | None = None
    header_b64: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        m = _KID_RE.match(self.kid)
        if m is None:
            raise ValueError(
                f"invalid kid {self.kid!r}: expected RSA_<n>_<suffix> or EC384_<n>_<suffix>"
            )
        if self.alg not in FAMILY_OF_ALG:
            raise ValueError(f"unsupported signing algorithm {self.alg!r}")
        if FAMILY_OF_ALG[self.alg] != m.group(1):
            raise ValueError(f"kid {self.kid!r} does not match algorithm {self.alg}")
        if self.alg == "RS256":
            if not isinstance(self.private_key, rsa.RSAPrivateKey):
                raise TypeError("RS256 needs an RSA private key")
            if self.private_key.key_size < RSA_KEY_BITS:
                raise ValueError("RSA signing keys must be at least 2048 bits")
        else:
            if not isinstance(self.private_key, ec.EllipticCurvePrivateKey) or not isinstance(
                self.private_key.curve, ec.SECP384R1
            ):
                raise TypeError("ES384 needs a P-384 private key")
        for name in ("created_at", "not_before", "retired_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware")
        object.__setattr__(self, "header_b64", _header_b64(self.kid, self.alg))

    @property
    def family(self) -> Family:
        return FAMILY_OF_ALG[self.alg]

    @property
    def index(self) -> int:
        return int(self.kid.split("_")[1])

    @property
    def legacy_kid(self) -> bool:
        """The kid has the old, account-independent form (see ``is_legacy_kid``)."""
        return is_legacy_kid(self.kid)


# --- generation and serialisation ---------------------------------------------------


def generate_rsa() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 key, e = 65537."""
    return rsa.generate_private_key(public_exponent=RSA_PUBLIC_EXPONENT, key_size=RSA_KEY_BITS)


def generate_ec384() -> ec.EllipticCurvePrivateKey:
    """A fresh NIST P-384 key."""
    return ec.generate_private_key(ec.SECP384R1())


def generate_for(alg: Algorithm) -> PrivateKey:
    """A fresh private key suitable for ``alg``."""
    if alg == "RS256":
        return generate_rsa()
    if alg == "ES384":
        return generate_ec384()
    raise ValueError(f"unsupported signing algorithm {alg!r}")


def private_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM. The store encrypts it under its key-encryption key."""
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def load_private_pem(pem: bytes) -> PrivateKey:
    """Load a PEM private key (~36 ms for RSA: load once, keep the object)."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("unsupported private key type")
    return key


def public_jwk(key: SigningKey) -> dict[str, str]:
    """The public JWK exactly as AWS publishes it (members in sorted order).

    RSA: ``{"e","kid","kty":"RSA","n","use":"sig"}`` (no ``alg``);
    EC:  ``{"alg":"ES384","crv":"P-384","kid","kty":"EC","use":"sig","x","y"}``.
    """
    if isinstance(key.private_key, rsa.RSAPrivateKey):
        numbers = key.private_key.public_key().public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return {"e": b64url(e), "kid": key.kid, "kty": "RSA", "n": b64url(n), "use": "sig"}
    ec_numbers = key.private_key.public_key().public_numbers()
    return {
        "alg": "ES384",
        "crv": "P-384",
        "kid": key.kid,
        "kty": "EC",
        "use": "sig",
        "x": b64url(ec_numbers.x.to_bytes(EC_COORDINATE_BYTES, "big")),
        "y": b64url(ec_numbers.y.to_bytes(EC_COORDINATE_BYTES, "big")),
    }


def next_kid(family: Family, existing_kids: Iterable[str], suffix: str) -> str:
    """``<family>_<n>_<suffix>`` with n one above the highest index used so far in
    that family, old-form kids included (indices are never reused, even after the
    old key is pruned)."""
    if family not in ALG_OF_FAMILY:
        raise ValueError(f"unknown key family {family!r}")
    if _SUFFIX_RE.match(suffix) is None:
        raise ValueError("a kid suffix is 16 lowercase base32 characters")
    highest = -1
    for kid in existing_kids:
        m = _KID_RE.match(kid)
        if m is not None and m.group(1) == family:
            highest = max(highest, int(m.group(2)))
    return f"{family}_{highest + 1}_{suffix}"


# --- rotation policy ----------------------------------------------------------------

DEFAULT_PUBLISH_AHEAD: Final = timedelta(minutes=15)
MAX_TOKEN_LIFETIME: Final = timedelta(seconds=3600)
DEFAULT_UNPUBLISH_LEEWAY: Final = timedelta(minutes=5)

KeyGenerator = Callable[[Algorithm], PrivateKey]


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    """Timings of the rotation policy (see the module docstring)."""

    publish_ahead: timedelta = DEFAULT_PUBLISH_AHEAD
    max_token_lifetime: timedelta = MAX_TOKEN_LIFETIME
    leeway: timedelta = DEFAULT_UNPUBLISH_LEEWAY

    def __post_init__(self) -> None:
        if self.publish_ahead < timedelta(0) or self.leeway < timedelta(0):
            raise ValueError("publish_ahead and leeway must not be negative")
        if self.max_token_lifetime <= timedelta(0):
            raise ValueError("max_token_lifetime must be positive")

    @property
    def retention(self) -> timedelta:
        """How long a retired key stays published after it stops signing."""
        return self.max_token_lifetime + self.leeway


@dataclass(frozen=True, slots=True)
class Rotation:
    """The outcome of ``KeyRing.rotate``: the new ring plus what changed, so the
    store can insert ``new_key`` and update ``retired`` in one transaction."""

    ring: KeyRing
    new_key: SigningKey
    retired: tuple[SigningKey, ...]


def _sort_key(key: SigningKey) -> tuple[int, int]:
    return (ALGORITHMS.index(key.alg), key.index)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The signing keys of one account (both families) and the pure policy over them."""

    keys: tuple[SigningKey, ...]
    policy: RotationPolicy = RotationPolicy()

    def __post_init__(self) -> None:
        kids = [k.kid for k in self.keys]
        if len(kids) != len(set(kids)):
            raise ValueError("duplicate kid in key ring")
        object.__setattr__(self, "keys", tuple(sorted(self.keys, key=_sort_key)))

    def signing_key(self, alg: Algorithm, now: datetime) -> SigningKey | None:
        """The key that signs ``alg`` tokens at ``now``: the newest key of that
        family whose ``not_before <= now`` and that is not retired at ``now``."""
        best: SigningKey | None = None
        for key in self.keys:
            if key.alg != alg or key.not_before > now:
                continue
            if key.retired_at is not None and key.retired_at <= now:
                continue
            if best is None or key.index > best.index:
                best = key
        return best

    def is_published(self, key: SigningKey, now: datetime) -> bool:
        return key.retired_at is None or now < key.retired_at + self.policy.retention

    def published(self, now: datetime) -> tuple[SigningKey, ...]:
        """Keys in the JWKS at ``now``: pending (publish-before-sign), active, and
        retired keys whose tokens may still be valid. Ordered RSA first, then by index."""
        return tuple(k for k in self.keys if self.is_published(k, now))

    def prunable(self, now: datetime) -> tuple[SigningKey, ...]:
        """Keys no longer published; the store may delete them."""
        return tuple(k for k in self.keys if not self.is_published(k, now))

    def pruned(self, now: datetime) -> KeyRing:
        return KeyRing(self.published(now), self.policy)

    def needs_bootstrap(self) -> tuple[Algorithm, ...]:
        """Algorithms with no key at all."""
        present = {k.alg for k in self.keys}
        return tuple(a for a in ALGORITHMS if a not in present)

    def bootstrap(
        self,
        now: datetime,
        generate: KeyGenerator = generate_for,
        *,
        kid_suffix: str | None = None,
    ) -> tuple[KeyRing, tuple[SigningKey, ...]]:
        """Create the first key of every family that has none; it signs at once.
        Returns the new ring and the keys created. ``kid_suffix`` (see
        ``kid_suffix()``) defaults to a random one."""
        suffix = random_kid_suffix() if kid_suffix is None else kid_suffix
        created: list[SigningKey] = []
        for alg in self.needs_bootstrap():
            kid = next_kid(FAMILY_OF_ALG[alg], (k.kid for k in self.keys), suffix)
            created.append(
                SigningKey(
                    kid=kid, alg=alg, private_key=generate(alg), created_at=now, not_before=now
                )
            )
        return KeyRing(self.keys + tuple(created), self.policy), tuple(created)

    def rotate(
        self,
        alg: Algorithm,
        now: datetime,
        generate: KeyGenerator = generate_for,
        *,
        publish_ahead: timedelta | None = None,
        kid_suffix: str | None = None,
    ) -> Rotation:
        """Add a new ``alg`` key, published now and signing from
        ``now + publish_ahead``; every not-yet-retired key of that family is retired
        at that same instant (so exactly one key signs at any time). ``kid_suffix``
        (see ``kid_suffix()``) defaults to a random one."""
        ahead = self.policy.publish_ahead if publish_ahead is None else publish_ahead
        if ahead < timedelta(0):
            raise ValueError("publish_ahead must not be negative")
        starts = now + ahead
        suffix = random_kid_suffix() if kid_suffix is None else kid_suffix
        kid = next_kid(FAMILY_OF_ALG[alg], (k.kid for k in self.keys), suffix)
        new_key = SigningKey(
            kid=kid, alg=alg, private_key=generate(alg), created_at=now, not_before=starts
        )
        retired: list[SigningKey] = []
        keys: list[SigningKey] = []
        for key in self.keys:
            if key.alg == alg and (key.retired_at is None or key.retired_at > starts):
                key = replace(key, retired_at=starts)
                retired.append(key)
            keys.append(key)
        keys.append(new_key)
        return Rotation(KeyRing(tuple(keys), self.policy), new_key, tuple(retired))

    def by_kid(self, kid: str) -> SigningKey | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None


def published_keys(
    keys: Sequence[SigningKey], now: datetime, policy: RotationPolicy = RotationPolicy()
) -> tuple[SigningKey, ...]:
    """Functional shorthand for ``KeyRing(keys, policy).published(now)``."""
    return KeyRing(tuple(keys), policy).published(now)


def signing_key(
    keys: Sequence[SigningKey],
    alg: Algorithm,
    now: datetime,
    policy: RotationPolicy = RotationPolicy(),
) -> SigningKey | None:
    """Functional shorthand for ``KeyRing(keys, policy).signing_key(alg, now)``."""
    return KeyRing(tuple(keys), policy).signing_key(alg, now)
