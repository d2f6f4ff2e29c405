"""Per-account token issuers: issuer URLs, enable/disable state, signing keys held
in memory, rotation (manual and scheduled) and the cached issuer documents.

Owns ``IssuerService``, the one object the IAM outbound operations, the STS
``GetWebIdentityToken`` handler, the issuer-document HTTP route and the
``tessera keys rotate`` command share:

* **Issuer URL.** Path form ``<public-url>/issuers/<uuid>`` by default; host form
  when an ``issuer_host_template`` such as ``https://{id}.tokens.example.com`` is
  configured. The UUID is generated once per account (first enable) and kept for
  the account's life; disable and re-enable keep it.
* **Keys.** Stored sealed under the KEK (``IssuerKeyStore.list_issuer_keys``); loaded
  into ``SigningKey`` objects once and cached — loading an RSA PEM costs ~36 ms —
  and only keys whose kid is new are parsed on a reload. The per-account ring is
  re-read from the store at most every ``cache_ttl`` seconds (default 5 s), so a
  rotation made by another replica or by ``tessera keys rotate`` is noticed.
* **Key ids** are ``RSA_<n>_<suffix>`` / ``EC384_<n>_<suffix>`` with a suffix
  derived from the issuer UUID (``keys.kid_suffix``), unique across accounts: a
  new issuer id whose suffix another account already uses is drawn again. Keys from before that form
  (``RSA_<n>``, shared by every account) keep their kid — tokens in flight name
  it — but ``upgrade_legacy_kids`` (run when the server starts) rotates every
  family whose newest key still has one, under the ordinary rotation rules.
* **Rotation** follows ``KeyRing.rotate`` (publish-before-sign, retired keys stay
  published until every token they signed has expired); new and retired keys
  (and pruned ones) are persisted in one transaction. Scheduled rotation
  (``rotation_interval``) is checked lazily whenever a key is asked to sign.
* **Documents** (discovery + JWKS) are cached per issuer id with their strong
  ETags for ``cache_ttl`` seconds; unknown issuer ids are cached negatively for
  the same time so probing cannot hammer the store.

Nothing here logs key material or tokens.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol, cast
from urllib.parse import urlsplit

from tessera.clock import Clock
from tessera.errors import FeatureDisabled, FeatureEnabled
from tessera.oidc.documents import discovery_document, jwks_document, strong_etag
from tessera.oidc.keys import (
    ALGORITHMS,
    Algorithm,
    KeyGenerator,
    KeyRing,
    RotationPolicy,
    SigningKey,
    generate_for,
    is_legacy_kid,
    kid_suffix,
    load_private_pem,
    private_pem,
    random_kid_suffix,
)
from tessera.store.accounts import AccountStore
from tessera.store.base import AlreadyExists
from tessera.store.issuer_keys import IssuerKeyRecord, IssuerKeyStore

log = logging.getLogger("tessera.oidc.issuers")

DEFAULT_CACHE_TTL: Final = 5.0
ISSUERS_PATH: Final = "/issuers/"
_NEGATIVE_CACHE_MAX: Final = 1024


def new_issuer_id() -> str:
    """A random lowercase UUID (8-4-4-4-12)."""
    return str(uuid.uuid4())


def is_issuer_id(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class IssuerInfo:
    """``GetOutboundWebIdentityFederationInfo``: the issuer URL and whether new tokens
    may be vended."""

    issuer: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class CachedDocument:
    body: bytes
    etag: str


@dataclass(frozen=True, slots=True)
class IssuerDocuments:
    """The discovery document and JWKS of one issuer, with their ETags."""

    issuer: str
    discovery: CachedDocument
    jwks: CachedDocument


@dataclass(slots=True)
class _AccountKeys:
    ring: KeyRing
    loaded_at: float


def _newest_is_legacy(ring: KeyRing, alg: Algorithm) -> bool:
    newest = max((k for k in ring.keys if k.alg == alg), key=lambda k: k.index, default=None)
    return newest is not None and newest.legacy_kid


class IssuerStore(IssuerKeyStore, AccountStore, Protocol):
    """The storage issuers use: accounts and their issuer keys."""


class IssuerService:
    """Issuers of every account in one store (see the module docstring)."""

    def __init__(
        self,
        store: IssuerStore,
        *,
        public_url: str,
        clock: Clock,
        issuer_host_template: str | None = None,
        policy: RotationPolicy | None = None,
        rotation_interval: timedelta | None = None,
        cache_ttl: float = DEFAULT_CACHE_TTL,
        generate: KeyGenerator = generate_for,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if issuer_host_template is not None and "{id}" not in issuer_host_template:
            raise ValueError("the issuer host template must contain '{id}'")
        if rotation_interval is not None and rotation_interval <= timedelta(0):
            raise ValueError("the key rotation interval must be positive")
        self.store = store
        self.public_url = public_url.rstrip("/")
        self.issuer_host_template = issuer_host_template
        self.clock = clock
        self.policy = policy or RotationPolicy()
        self.rotation_interval = rotation_interval
        self.cache_ttl = cache_ttl
        self._generate = generate
        self._monotonic = monotonic
        self._lock = threading.RLock()
        self._keys: dict[str, _AccountKeys] = {}
        self._loaded: dict[tuple[str, str], SigningKey] = {}  # (account, kid) -> loaded key
        self._docs: dict[str, tuple[float, IssuerDocuments | None]] = {}

    # ------------------------------------------------------------------ URLs

    def issuer_url(self, issuer_id: str) -> str:
        """The ``iss`` of an account whose issuer id is ``issuer_id``."""
        if self.issuer_host_template is not None:
            return self.issuer_host_template.replace("{id}", issuer_id).rstrip("/")
        return f"{self.public_url}{ISSUERS_PATH}{issuer_id}"

    def issuer_id_from_host(self, host: str) -> str | None:
        """The issuer id a ``Host`` header names under the host template, if any."""
        if self.issuer_host_template is None:
            return None
        marker = "00000000-0000-4000-8000-000000000000"
        template = urlsplit(self.issuer_host_template.replace("{id}", marker))
        pattern = (template.netloc or "").lower()
        host = host.strip().lower()
        if ":" not in pattern and ":" in host and not host.endswith("]"):
            host = host.rsplit(":", 1)[0]
        prefix, _, suffix = pattern.partition(marker)
        if not host.startswith(prefix) or not host.endswith(suffix):
            return None
        candidate = host[len(prefix) : len(host) - len(suffix)]
        return candidate if is_issuer_id(candidate) else None

    def host_template_path(self) -> str:
        """The path prefix of the host-form issuer URL (usually empty)."""
        if self.issuer_host_template is None:
            return ""
        return urlsplit(self.issuer_host_template.replace("{id}", "x")).path.rstrip("/")

    # ------------------------------------------------------------------ state

    def enable(self, account_id: str) -> str:
        """Turn outbound federation on; returns the issuer URL. Generates the issuer
        id and the first RSA and EC keys the first time. ``FeatureEnabled`` if on."""
        account = self.store.get_account(account_id)
        if account is None:
            raise FeatureDisabled("The account does not exist.")
        if account.outbound_enabled:
            raise FeatureEnabled(
                "Outbound identity federation is already enabled for this account."
            )
        candidate = account.issuer_id or self._new_issuer_id()
        initial: list[IssuerKeyRecord] = []
        if not self.store.list_issuer_keys(account_id):
            now = self.clock.now()
            _ring, created = KeyRing((), self.policy).bootstrap(
                now, self._generate, kid_suffix=kid_suffix(candidate)
            )
            initial = [self._record(account_id, k) for k in created]
        issuer_id = self.store.enable_outbound(account_id, candidate, initial)
        if issuer_id is None:
            raise FeatureEnabled(
                "Outbound identity federation is already enabled for this account."
            )
        self.invalidate(account_id)
        log.info("outbound identity federation enabled for account %s", account_id)
        return self.issuer_url(issuer_id)

    def disable(self, account_id: str) -> None:
        """Stop vending tokens (``FeatureDisabled`` when not on). The issuer keeps
        publishing its keys so tokens already issued still verify."""
        if not self.store.disable_outbound(account_id):
            raise FeatureDisabled("Outbound identity federation is not enabled for this account.")
        self.invalidate(account_id)
        log.info("outbound identity federation disabled for account %s", account_id)

    def info(self, account_id: str) -> IssuerInfo:
        """Issuer URL and state. ``FeatureDisabled`` only when never enabled; after a
        disable the issuer is reported with ``enabled=False``."""
        account = self.store.get_account(account_id)
        if account is None or account.issuer_id is None:
            raise FeatureDisabled("Outbound identity federation is not enabled for this account.")
        return IssuerInfo(self.issuer_url(account.issuer_id), account.outbound_enabled)

    def invalidate(self, account_id: str | None = None) -> None:
        """Drop cached rings and documents (all accounts when ``account_id`` is None)."""
        with self._lock:
            if account_id is None:
                self._keys.clear()
            else:
                self._keys.pop(account_id, None)
            self._docs.clear()

    # ------------------------------------------------------------------ keys

    def _new_issuer_id(self) -> str:
        """A fresh issuer id whose kid suffix no key in the store uses yet (a clash
        has probability ~2^-80 per pair of accounts; this makes it impossible)."""
        taken = {kid_suffix(a.issuer_id) for a in self.store.list_accounts() if a.issuer_id}
        for _ in range(16):
            candidate = new_issuer_id()
            if kid_suffix(candidate) not in taken:
                return candidate
        raise RuntimeError("could not draw an issuer id with an unused kid suffix")

    def _kid_suffix(self, account_id: str) -> str:
        """The suffix of the account's new kids: derived from its issuer id (random
        in the corner case of keys made before the account has one)."""
        account = self.store.get_account(account_id)
        if account is None or account.issuer_id is None:
            return random_kid_suffix()
        return kid_suffix(account.issuer_id)

    @staticmethod
    def _record(account_id: str, key: SigningKey) -> IssuerKeyRecord:
        return IssuerKeyRecord(
            account_id=account_id,
            kid=key.kid,
            alg=key.alg,
            private_pem=private_pem(key.private_key),
            created_at=key.created_at,
            not_before=key.not_before,
            retired_at=key.retired_at,
        )

    def _load_ring(self, account_id: str) -> KeyRing:
        keys: list[SigningKey] = []
        for rec in self.store.list_issuer_keys(account_id):
            cached = self._loaded.get((account_id, rec.kid))
            if cached is None:
                cached = SigningKey(
                    kid=rec.kid,
                    alg=cast(Algorithm, rec.alg),
                    private_key=load_private_pem(rec.private_pem),
                    created_at=rec.created_at,
                    not_before=rec.not_before,
                    retired_at=rec.retired_at,
                )
                self._loaded[(account_id, rec.kid)] = cached
            elif cached.retired_at != rec.retired_at or cached.not_before != rec.not_before:
                cached = SigningKey(
                    kid=cached.kid,
                    alg=cached.alg,
                    private_key=cached.private_key,
                    created_at=rec.created_at,
                    not_before=rec.not_before,
                    retired_at=rec.retired_at,
                )
                self._loaded[(account_id, rec.kid)] = cached
            keys.append(cached)
        live = {k.kid for k in keys}
        for stale in [k for k in self._loaded if k[0] == account_id and k[1] not in live]:
            del self._loaded[stale]
        return KeyRing(tuple(keys), self.policy)

    def ring(self, account_id: str) -> KeyRing:
        """The account's key ring, re-read from the store at most every ``cache_ttl`` s."""
        with self._lock:
            entry = self._keys.get(account_id)
            now = self._monotonic()
            if entry is None or now - entry.loaded_at >= self.cache_ttl:
                entry = _AccountKeys(self._load_ring(account_id), now)
                self._keys[account_id] = entry
            return entry.ring

    def signing_key(self, account_id: str, alg: Algorithm, now: datetime) -> SigningKey:
        """The key that signs ``alg`` tokens for the account at ``now``; runs the
        scheduled rotation first when it is due."""
        ring = self.ring(account_id)
        if self.rotation_interval is not None:
            newest = max(
                (k for k in ring.keys if k.alg == alg), key=lambda k: k.index, default=None
            )
            if newest is not None and newest.created_at + self.rotation_interval <= now:
                self.rotate(account_id, now, algorithms=(alg,))
                ring = self.ring(account_id)
        key = ring.signing_key(alg, now)
        if key is None:  # no key yet (or all retired): bootstrap immediately
            with self._lock:
                ring = self._load_ring(account_id)
                key = ring.signing_key(alg, now)
                if key is None:
                    self._bootstrap_locked(account_id, ring, now)
                    key = self.ring(account_id).signing_key(alg, now)
        if key is None:  # pragma: no cover - bootstrap always yields a signing key
            raise RuntimeError("no issuer signing key")
        return key

    def _bootstrap_locked(self, account_id: str, ring: KeyRing, now: datetime) -> None:
        missing = [a for a in ALGORITHMS if ring.signing_key(a, now) is None]
        suffix = self._kid_suffix(account_id)
        new_keys: list[SigningKey] = []
        retired: list[tuple[str, datetime]] = []
        for alg in missing:
            rotation = ring.rotate(
                alg, now, self._generate, publish_ahead=timedelta(0), kid_suffix=suffix
            )
            ring = rotation.ring
            new_keys.append(rotation.new_key)
            retired.extend((k.kid, now) for k in rotation.retired)
        try:
            self.store.save_issuer_rotation(
                account_id, [self._record(account_id, k) for k in new_keys], retired
            )
        except AlreadyExists:
            pass  # another replica did it
        self.invalidate(account_id)

    def rotate(
        self,
        account_id: str,
        now: datetime | None = None,
        *,
        algorithms: tuple[Algorithm, ...] = ALGORITHMS,
        publish_ahead: timedelta | None = None,
        only_legacy: bool = False,
    ) -> tuple[SigningKey, ...]:
        """Rotate the account's keys for ``algorithms``: each new key is published at
        once and signs from ``now + publish_ahead`` (policy default 15 min); keys no
        longer published are pruned. Persisted in one transaction; returns the new
        keys (empty when another replica rotated concurrently). ``only_legacy``
        narrows ``algorithms`` to the families whose newest key has an old-form kid."""
        when = self.clock.now() if now is None else now
        suffix = self._kid_suffix(account_id)
        with self._lock:
            ring = self._load_ring(account_id)
            if only_legacy:  # decided on the ring just read, not on a stale list
                algorithms = tuple(a for a in algorithms if _newest_is_legacy(ring, a))
                if not algorithms:
                    return ()
            prunable = ring.prunable(when)
            ring = ring.pruned(when)
            new_keys: list[SigningKey] = []
            retired: dict[str, datetime] = {}
            for alg in algorithms:
                rotation = ring.rotate(
                    alg, when, self._generate, publish_ahead=publish_ahead, kid_suffix=suffix
                )
                ring = rotation.ring
                new_keys.append(rotation.new_key)
                for key in rotation.retired:
                    assert key.retired_at is not None
                    retired[key.kid] = key.retired_at
            try:
                self.store.save_issuer_rotation(
                    account_id,
                    [self._record(account_id, k) for k in new_keys],
                    list(retired.items()),
                    [k.kid for k in prunable],
                )
            except AlreadyExists:
                log.info("issuer keys of account %s were rotated concurrently", account_id)
                new_keys = []
            self.invalidate(account_id)
        for key in new_keys:
            log.info(
                "rotated issuer key for account %s: %s signs from %s",
                account_id,
                key.kid,
                key.not_before.isoformat(),
            )
        return tuple(new_keys)

    def rotate_all(
        self, now: datetime | None = None, *, publish_ahead: timedelta | None = None
    ) -> dict[str, tuple[SigningKey, ...]]:
        """Rotate every account that has issuer keys."""
        out: dict[str, tuple[SigningKey, ...]] = {}
        for account in self.store.list_accounts():
            if account.issuer_id is None:
                continue
            out[account.account_id] = self.rotate(
                account.account_id, now, publish_ahead=publish_ahead
            )
        return out

    def upgrade_legacy_kids(self, now: datetime | None = None) -> dict[str, tuple[SigningKey, ...]]:
        """Rotate, in every account, each key family whose newest key still has an
        old-form kid (``RSA_<n>``, the same in every account) so the account's keys
        get kids no other account publishes. The ordinary rotation rules apply: the
        new key is published at once and signs ``publish_ahead`` later; the old key
        stays published until every token it signed has expired, then drops out of
        the JWKS. Idempotent; replicas that race derive the same new kid (the loser's
        insert fails and changes nothing), and each account's ring is re-read just
        before its rotation. Returns the new keys per account (none when nothing
        needed it). Cheap when nothing is to do: one read per account with an
        issuer, no private key parsed."""
        out: dict[str, tuple[SigningKey, ...]] = {}
        for account in self.store.list_accounts():
            if account.issuer_id is None:
                continue
            account_id = account.account_id
            newest: dict[str, tuple[int, str]] = {}
            for rec in self.store.list_issuer_keys(account_id):
                index = int(rec.kid.split("_")[1])
                if rec.alg not in newest or index > newest[rec.alg][0]:
                    newest[rec.alg] = (index, rec.kid)
            algs = tuple(a for a in ALGORITHMS if a in newest and is_legacy_kid(newest[a][1]))
            if not algs:
                continue
            new = self.rotate(account_id, now, algorithms=algs, only_legacy=True)
            if new:
                out[account_id] = new
                log.info("issuer keys of account %s rotated to account-unique kids", account_id)
        return out

    # ------------------------------------------------------------------ documents

    def documents(self, issuer_id: str) -> IssuerDocuments | None:
        """The cached discovery document and JWKS of ``issuer_id`` (None if unknown)."""
        now_mono = self._monotonic()
        with self._lock:
            cached = self._docs.get(issuer_id)
            if cached is not None and now_mono - cached[0] < self.cache_ttl:
                return cached[1]
        docs = self._build_documents(issuer_id)
        with self._lock:
            if docs is None and len(self._docs) >= _NEGATIVE_CACHE_MAX:
                for key in [k for k, v in self._docs.items() if v[1] is None]:
                    del self._docs[key]
            self._docs[issuer_id] = (now_mono, docs)
        return docs

    def _build_documents(self, issuer_id: str) -> IssuerDocuments | None:
        if not is_issuer_id(issuer_id):
            return None
        account = self.store.get_account_by_issuer(issuer_id)
        if account is None:
            return None
        issuer = self.issuer_url(issuer_id)
        discovery = discovery_document(issuer)
        jwks = jwks_document(self.ring(account.account_id).published(self.clock.now()))
        return IssuerDocuments(
            issuer=issuer,
            discovery=CachedDocument(discovery, strong_etag(discovery)),
            jwks=CachedDocument(jwks, strong_etag(jwks)),
        )
