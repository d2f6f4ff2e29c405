"""Records of the storage interface that are not IAM model values: ``Owner`` (the
user, group or role a policy is attached to, embedded in or bounds) and the opaque
pagination markers of the list methods (``encode_marker`` / ``decode_marker``)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from tessera.store.base import InvalidMarker


@dataclass(frozen=True, slots=True)
class Owner:
    """The principal a policy is attached to or embedded in."""

    account_id: str
    kind: str  # "user" | "group" | "role"
    name: str

    @property
    def key(self) -> str:
        return self.name.lower()


def encode_marker(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def decode_marker(marker: str | None) -> str | None:
    """The position a marker stands for; ``InvalidMarker`` when it is not one of ours."""
    if marker is None:
        return None
    try:
        return base64.urlsafe_b64decode(marker.encode()).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidMarker(marker) from exc
