"""Storage interface of tags: the tags of any taggable resource, addressed by
account, resource type (``user``, ``role``, ``policy``, ``oidc-provider`` …) and
resource key; keys compare case-insensitively and keep their insertion order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tessera.iam.model import Tag


class TagStore(Protocol):
    def get_tags(self, account_id: str, resource_type: str, resource_key: str) -> list[Tag]: ...

    def set_tags(
        self, account_id: str, resource_type: str, resource_key: str, new_tags: Sequence[Tag]
    ) -> None:
        """Add or overwrite tags."""
        ...

    def remove_tags(
        self, account_id: str, resource_type: str, resource_key: str, keys: Sequence[str]
    ) -> None: ...
