"""The key-encryption key (KEK): every secret stored at rest (long-term secret
access keys, issuer signing keys, session-token keys, MFA seeds) is sealed with
AES-256-GCM under it. The KEK lives in the data directory (``kek``, mode 0600)
or comes from ``TESSERA_KEK`` (base64 of 32 bytes)."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEK_FILE = "kek"
KEK_ENV = "TESSERA_KEK"
_VERSION = b"\x01"


class KekError(Exception):
    """The KEK is missing, malformed, or does not open the stored secrets."""


class KeyEncryptionKey:
    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise KekError("the key-encryption key must be 32 bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "KeyEncryptionKey(**********)"

    def seal(self, plaintext: bytes, context: str) -> bytes:
        """Encrypt ``plaintext`` bound to ``context`` (e.g. ``access-key:AKIA…``)."""
        nonce = secrets.token_bytes(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        if len(sealed) < 1 + 12 + 16 or sealed[:1] != _VERSION:
            raise KekError("sealed secret is malformed")
        try:
            return self._aead.decrypt(sealed[1:13], sealed[13:], context.encode())
        except InvalidTag as exc:
            raise KekError("sealed secret does not open under this key-encryption key") from exc


def _decode(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KekError("the key-encryption key is not valid base64") from exc
    if len(raw) != 32:
        raise KekError("the key-encryption key must decode to 32 bytes")
    return raw


def kek_path(data_dir: Path) -> Path:
    return data_dir / KEK_FILE


def load_kek(data_dir: Path | None, environ: dict[str, str] | None = None) -> KeyEncryptionKey:
    env = os.environ if environ is None else environ
    if env.get(KEK_ENV):
        return KeyEncryptionKey(_decode(env[KEK_ENV]))
    if data_dir is None:
        raise KekError(f"no key-encryption key: set {KEK_ENV} or give a data directory")
    path = kek_path(data_dir)
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise KekError(f"no key-encryption key at {path}") from exc
    return KeyEncryptionKey(_decode(text))


def create_kek_file(data_dir: Path) -> KeyEncryptionKey:
    """Create ``DATA_DIR/kek`` (0600, never overwritten) and return the key."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    raw = secrets.token_bytes(32)
    fd = os.open(kek_path(data_dir), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(raw).decode() + "\n")
    return KeyEncryptionKey(raw)
