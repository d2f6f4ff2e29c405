"""Stateless sessions: the session-token format and the server key ring.

A session token is ``base64(version | key id | nonce | AES-GCM(document))``, the
document being compact JSON (version 2) or, when that is longer than
``COMPRESS_ABOVE`` bytes (large session policies, many tags), zlib-compressed JSON
(version 1, which older servers wrote for every token and which is still read).
It is authenticated-encrypted (the header is the associated data) under a server
session key and carries everything needed to
authenticate and authorise the temporary credentials (principal, secret, expiry,
session policies, tags, MFA, source identity, chain depth …), so any replica
verifies it without a database read. Session keys are sealed under the KEK in the
store; rotation adds a new signing key and keeps older keys for verification
until every session they issued has expired; a key dropped from the ring makes its
tokens ``InvalidClientTokenId``."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tessera import arn as arns
from tessera import ids
from tessera.auth.principal import (
    ComputeContext,
    Principal,
    PrincipalKind,
    Session,
    SessionKind,
)
from tessera.errors import ExpiredToken, InvalidClientTokenId, PackedPolicyTooLarge
from tessera.iam.model import Tag
from tessera.sensitive import constant_time_equals
from tessera.store.meta import MetaStore
from tessera.sts import token_size

TOKEN_VERSION = 1  # zlib(JSON)
TOKEN_VERSION_RAW = 2  # JSON
#: documents longer than this are compressed (most are ~250 bytes: compressing
#: those saves ~80 bytes of token for more than the rest of the encoding costs)
COMPRESS_ABOVE = 512
META_KEY = "session_keys"
MAX_SESSION_SECONDS = 129_600  # 36 h: the longest session any STS call issues
_HEADER = struct.Struct(">BH")  # version, key id
_RELOAD_COOLDOWN = 2.0


@dataclass(frozen=True, slots=True)
class SessionKey:
    kid: int
    key: bytes
    created_at: datetime

    def __repr__(self) -> str:
        return f"SessionKey(kid={self.kid}, created_at={self.created_at.isoformat()})"


class SessionKeyRing:
    """The server's session keys, persisted sealed under the KEK in the store."""

    def __init__(self, store: MetaStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._keys: dict[int, SessionKey] = {}
        self._active: SessionKey | None = None
        self._loaded_at = 0.0
        self._load()

    def _load(self) -> None:
        sealed = self.store.get_meta(META_KEY)
        keys: dict[int, SessionKey] = {}
        if sealed is not None:
            raw = json.loads(self.store.kek.open(sealed, META_KEY))
            for item in raw["keys"]:
                key = SessionKey(
                    kid=int(item["kid"]),
                    key=base64.b64decode(item["key"]),
                    created_at=datetime.fromtimestamp(item["created"], UTC),
                )
                keys[key.kid] = key
        self._keys = keys
        self._active = max(keys.values(), key=lambda k: k.kid) if keys else None
        self._loaded_at = time.monotonic()

    def _save(self, keys: list[SessionKey]) -> None:
        doc = {
            "keys": [
                {
                    "kid": k.kid,
                    "key": base64.b64encode(k.key).decode(),
                    "created": k.created_at.timestamp(),
                }
                for k in keys
            ]
        }
        self.store.put_meta(META_KEY, self.store.kek.seal(json.dumps(doc).encode(), META_KEY))

    def active(self, now: datetime) -> SessionKey:
        with self._lock:
            if self._active is None:
                self._load()
                if self._active is None:
                    self._rotate_locked(now)
            assert self._active is not None
            return self._active

    def get(self, kid: int) -> SessionKey | None:
        key = self._keys.get(kid)
        if key is not None:
            return key
        with self._lock:
            if time.monotonic() - self._loaded_at > _RELOAD_COOLDOWN:
                self._load()  # another replica may have rotated
            return self._keys.get(kid)

    def rotate(self, now: datetime) -> SessionKey:
        with self._lock:
            self._load()
            return self._rotate_locked(now)

    def _rotate_locked(self, now: datetime) -> SessionKey:
        kid = max(self._keys, default=0) + 1
        if kid > 0xFFFF:
            kid = 1
        new = SessionKey(kid, secrets.token_bytes(32), now)
        # Keep a retired key only while a session it issued can still be alive.
        horizon = now - timedelta(seconds=MAX_SESSION_SECONDS + 300)
        keep = [k for k in self._keys.values() if k.created_at >= horizon or k is self._active]
        if self._active is not None:
            keep = [k for k in keep if k.kid != self._active.kid] + [self._active]
        self._save([*keep, new])
        self._load()
        return new

    def retire(self, kid: int) -> None:
        """Drop a key now: its sessions stop working (InvalidClientTokenId)."""
        with self._lock:
            self._load()
            self._save([k for k in self._keys.values() if k.kid != kid])
            self._load()

    def kids(self) -> list[int]:
        return sorted(self._keys)


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime

    @property
    def token_size(self) -> int:
        """``SessionTokenSize``: bytes of the token (ASCII base64)."""
        return len(self.session_token)


def _ts(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def _dt(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(int(value), UTC)


def _encode_session(session: Session, akid: str, secret: str) -> tuple[int, bytes]:
    """(token version, document) for ``session``."""
    doc: dict[str, Any] = {
        "a": akid,
        "s": secret,
        "k": session.kind.value,
        "ac": session.account_id,
        "ia": _ts(session.issued_at),
        "ex": _ts(session.expires_at),
        "sa": session.source_arn,
        "si": session.source_id,
        "sn": session.source_name,
    }
    optional: dict[str, Any] = {
        "n": session.session_name or None,
        "p": session.session_policy,
        "pa": list(session.policy_arns) or None,
        "t": [[t.key, t.value] for t in session.tags] or None,
        "tt": list(session.transitive_tag_keys) or None,
        "id": session.source_identity,
        "m": 1 if session.mfa_authenticated else None,
        "mt": _ts(session.mfa_auth_time),
        "cd": session.chain_depth or None,
        "fp": session.federated_provider,
        "oe": _ts(session.original_expires_at),
        "wc": [list(p) for p in session.web_identity_claims] or None,
        "sl": list(session.scope_policies) or None,
        "ss": session.scoped_session_id,
        "sd": session.scoped_description,
        "tc": [list(p) for p in session.tip_context] or None,
        "cc": _compute_doc(session.compute),
    }
    doc.update({k: v for k, v in optional.items() if v is not None})
    raw = json.dumps(doc, separators=(",", ":")).encode()
    if len(raw) <= COMPRESS_ABOVE:
        return TOKEN_VERSION_RAW, raw
    # A 4 KiB window (wbits 12, memLevel 4) compresses these documents exactly as
    # well as the default 32 KiB one, and setting up the default costs ~45 µs per
    # token; zlib.decompress reads either.
    packer = zlib.compressobj(9, zlib.DEFLATED, 12, 4)
    return TOKEN_VERSION, packer.compress(raw) + packer.flush()


def _decode_session(blob: bytes, version: int) -> tuple[Session, str, str]:
    doc = json.loads(blob if version == TOKEN_VERSION_RAW else zlib.decompress(blob, bufsize=4096))
    session = Session(
        kind=SessionKind(doc["k"]),
        account_id=doc["ac"],
        issued_at=datetime.fromtimestamp(doc["ia"], UTC),
        expires_at=datetime.fromtimestamp(doc["ex"], UTC),
        source_arn=doc["sa"],
        source_id=doc["si"],
        source_name=doc["sn"],
        session_name=doc.get("n", ""),
        session_policy=doc.get("p"),
        policy_arns=tuple(doc.get("pa", ())),
        tags=tuple(Tag(k, v) for k, v in doc.get("t", ())),
        transitive_tag_keys=tuple(doc.get("tt", ())),
        source_identity=doc.get("id"),
        mfa_authenticated=bool(doc.get("m")),
        mfa_auth_time=_dt(doc.get("mt")),
        chain_depth=int(doc.get("cd", 0)),
        federated_provider=doc.get("fp"),
        original_expires_at=_dt(doc.get("oe")),
        web_identity_claims=tuple((str(a), str(b)) for a, b in doc.get("wc", ())),
        scope_policies=tuple(str(p) for p in doc.get("sl", ())),
        scoped_session_id=doc.get("ss"),
        scoped_description=doc.get("sd"),
        tip_context=tuple((str(a), str(b)) for a, b in doc.get("tc", ())),
        compute=_compute_from(doc.get("cc")),
    )
    return session, doc["a"], doc["s"]


def _compute_doc(compute: ComputeContext | None) -> list[str | None] | None:
    if compute is None:
        return None
    return [compute.instance_arn, compute.source_vpc, compute.private_ipv4, compute.role_delivery]


def _compute_from(raw: object) -> ComputeContext | None:
    if not isinstance(raw, list) or len(raw) != 4 or not isinstance(raw[0], str):
        return None
    vpc, ip, delivery = (str(v) if v is not None else None for v in raw[1:])
    return ComputeContext(raw[0], vpc, ip, delivery)


def principal_for(session: Session, access_key_id: str | None = None) -> Principal:
    acct = session.account_id
    if session.kind is SessionKind.ASSUMED_ROLE:
        return Principal(
            kind=PrincipalKind.ROLE_SESSION,
            account_id=acct,
            arn=arns.assumed_role_arn(acct, session.source_name, session.session_name),
            user_id=f"{session.source_id}:{session.session_name}",
            principal_arn=session.source_arn,
            name=session.source_name,
            access_key_id=access_key_id,
            session=session,
        )
    if session.kind is SessionKind.FEDERATION:
        fed_arn = arns.federated_user_arn(acct, session.session_name)
        return Principal(
            kind=PrincipalKind.FEDERATED_USER,
            account_id=acct,
            arn=fed_arn,
            user_id=f"{acct}:{session.session_name}",
            principal_arn=fed_arn,
            name=session.session_name,
            access_key_id=access_key_id,
            session=session,
        )
    is_root = session.source_arn == arns.root_arn(acct)
    return Principal(
        kind=PrincipalKind.ROOT if is_root else PrincipalKind.USER,
        account_id=acct,
        arn=session.source_arn,
        user_id=session.source_id,
        principal_arn=session.source_arn,
        name=session.source_name,
        access_key_id=access_key_id,
        session=session,
    )


class SessionCodec:
    """Issues and opens session tokens (implements ``auth.credentials.SessionOpener``)."""

    def __init__(
        self, ring: SessionKeyRing, max_token_size: int = token_size.MAX_TOKEN_SIZE
    ) -> None:
        self.ring = ring
        self.max_token_size = max_token_size
        self._aeads: dict[int, AESGCM] = {}

    def _aead(self, key: SessionKey) -> AESGCM:
        aead = self._aeads.get(key.kid)
        if aead is None:
            aead = AESGCM(key.key)
            self._aeads[key.kid] = aead
        return aead

    def issue(self, session: Session, now: datetime, min_size: int = 0) -> IssuedCredentials:
        """Seal ``session`` into a token of at least ``min_size`` bytes
        (``MinimumSessionTokenSize``, padded inside the sealed document); a token
        longer than ``max_token_size`` is refused (``PackedPolicyTooLarge``)."""
        akid = ids.new_access_key_id(session.account_id, temporary=True)
        secret = ids.new_secret_access_key()
        key = self.ring.active(now)
        version, document = _encode_session(session, akid, secret)
        version, document = token_size.pad_document(version, document, min_size)
        size = token_size.token_length(len(document))
        if size > self.max_token_size:
            raise PackedPolicyTooLarge(token_size.too_large_message(size, self.max_token_size))
        header = _HEADER.pack(version, key.kid)
        nonce = secrets.token_bytes(12)
        sealed = self._aead(key).encrypt(nonce, document, header)
        token = base64.b64encode(header + nonce + sealed).decode()
        return IssuedCredentials(akid, secret, token, session.expires_at)

    def decode(self, token: str) -> tuple[Session, str, str]:
        """(session, access key id, secret); InvalidClientTokenId if not ours or tampered."""
        try:
            raw = base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidClientTokenId() from exc
        if len(raw) < _HEADER.size + 12 + 16:
            raise InvalidClientTokenId()
        version, kid = _HEADER.unpack_from(raw)
        if version not in (TOKEN_VERSION, TOKEN_VERSION_RAW):
            raise InvalidClientTokenId()
        key = self.ring.get(kid)
        if key is None:
            raise InvalidClientTokenId()
        header = raw[: _HEADER.size]
        nonce = raw[_HEADER.size : _HEADER.size + 12]
        try:
            blob = self._aead(key).decrypt(nonce, raw[_HEADER.size + 12 :], header)
            return _decode_session(blob, version)
        except (InvalidTag, ValueError, KeyError, TypeError, zlib.error) as exc:
            raise InvalidClientTokenId() from exc

    def open(self, access_key_id: str, token: str, now: datetime) -> tuple[Principal, str]:
        session, akid, secret = self.decode(token)
        if not constant_time_equals(akid, access_key_id):
            raise InvalidClientTokenId()
        if now >= session.expires_at:
            raise ExpiredToken()
        return principal_for(session, akid), secret
