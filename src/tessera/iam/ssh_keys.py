"""SSH public keys as UploadSSHPublicKey takes them (pure, no I/O): OpenSSH
(``ssh-rsa AAAA… comment``, ``ssh-ed25519 …``) or PEM (``BEGIN PUBLIC KEY`` /
``BEGIN RSA PUBLIC KEY``); RSA keys of at least 2048 bits and Ed25519 keys. The
fingerprint is AWS's: the MD5 of the OpenSSH key blob, colon-separated hex.

Texts: **[I]** inferred (AWS's error families for these codes)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tessera.errors import InvalidPublicKey, UnrecognizedPublicKeyEncoding

MIN_RSA_BITS: Final = 2048
# [I]
UNRECOGNIZED: Final = (
    "The public key encoding format is unsupported or unrecognized. "
    "Use an ssh-rsa or ssh-ed25519 key in OpenSSH format, or a PEM public key."
)
INVALID: Final = "The public key is malformed or otherwise invalid."
TOO_SHORT: Final = f"The public key is too short: the minimum bit-length is {MIN_RSA_BITS} bits."
UNSUPPORTED: Final = "The public key type is not supported: use an RSA or Ed25519 key."

_SSH_TYPES: Final = ("ssh-rsa", "ssh-ed25519")
_PEM_MARKERS: Final = ("-----BEGIN PUBLIC KEY-----", "-----BEGIN RSA PUBLIC KEY-----")

PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey


@dataclass(frozen=True, slots=True)
class SshKey:
    openssh: str  # "<type> <base64 blob>", no comment
    fingerprint: str  # MD5, "xx:xx:…"
    key: PublicKey

    def pem(self) -> str:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")


def _load(text: str) -> object:
    stripped = text.strip()
    if stripped.startswith(_PEM_MARKERS):
        try:
            return serialization.load_pem_public_key(stripped.encode("latin-1"))
        except (ValueError, TypeError) as exc:
            raise InvalidPublicKey(INVALID) from exc
    kind = stripped.split(None, 1)[0] if stripped else ""
    if kind not in _SSH_TYPES:
        if kind.startswith(("ssh-", "ecdsa-", "sk-")):
            raise InvalidPublicKey(UNSUPPORTED)
        raise UnrecognizedPublicKeyEncoding(UNRECOGNIZED)
    parts = stripped.split()
    if len(parts) < 2:
        raise InvalidPublicKey(INVALID)
    try:
        return serialization.load_ssh_public_key(f"{parts[0]} {parts[1]}".encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise InvalidPublicKey(INVALID) from exc


def parse_ssh_public_key(text: str) -> SshKey:
    """The key, normalised to OpenSSH form, and its fingerprint. Raises
    UnrecognizedPublicKeyEncoding (neither OpenSSH nor PEM) or InvalidPublicKey
    (malformed, unsupported type, RSA under 2048 bits)."""
    key = _load(text)
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise InvalidPublicKey(TOO_SHORT)
    elif not isinstance(key, ed25519.Ed25519PublicKey):
        raise InvalidPublicKey(UNSUPPORTED)
    openssh = key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode("ascii")
    blob = base64.b64decode(openssh.split()[1])
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    fingerprint = ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
    return SshKey(openssh, fingerprint, key)
