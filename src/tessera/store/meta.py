"""Storage interface of store bookkeeping: initialisation (the KEK check value),
the ``meta`` key/value blobs (session-token key ring …) and the key-encryption
key services seal their own secrets with (MFA seeds, SAML keys, session keys)."""

from __future__ import annotations

from typing import Protocol

from tessera.kek import KeyEncryptionKey


class Sealing(Protocol):
    @property
    def kek(self) -> KeyEncryptionKey: ...


class MetaStore(Sealing, Protocol):
    def is_initialised(self) -> bool: ...

    def initialise(self) -> None:
        """Record a KEK check value; later opens verify the KEK against it."""
        ...

    def check_kek(self) -> None:
        """Raise ``KekError`` unless the store was initialised with this KEK."""
        ...

    def get_meta(self, key: str) -> bytes | None: ...

    def put_meta(self, key: str, value: bytes) -> None: ...
