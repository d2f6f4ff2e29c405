"""Storage interface of IAM instance profiles: the profiles (case-insensitive
names, path-prefix paging) and the one role each may hold, by the role's unique
id. Changing or emptying a profile's role is a compare-and-set, so two replicas
can never both put a role into the same profile."""

from __future__ import annotations

from typing import Protocol

from tessera.iam.instance_profile_model import InstanceProfile
from tessera.iam.model import Page


class InstanceProfileStore(Protocol):
    def create_instance_profile(self, profile: InstanceProfile) -> None:
        """Insert a profile; ``AlreadyExists`` if the account has one of that name."""
        ...

    def get_instance_profile(self, account_id: str, name: str) -> InstanceProfile | None: ...

    def get_instance_profile_by_arn(self, arn: str) -> InstanceProfile | None:
        """The profile the ARN names (account, path and name must all match)."""
        ...

    def list_instance_profiles(
        self, account_id: str, path_prefix: str, marker: str | None, max_items: int
    ) -> Page[InstanceProfile]: ...

    def list_instance_profiles_for_role(
        self, account_id: str, role_id: str
    ) -> list[InstanceProfile]:
        """The profiles holding the role with unique id ``role_id``, by name."""
        ...

    def set_instance_profile_role(
        self, account_id: str, name: str, role_id: str | None, *, expected: str | None
    ) -> bool:
        """Set the profile's role to ``role_id`` (None: empty it) only if it is
        ``expected`` now; False otherwise (or when the profile is gone)."""
        ...

    def delete_instance_profile(self, account_id: str, name: str, *, expected: str | None) -> bool:
        """Delete the profile (and its tags) only if its role is ``expected``."""
        ...
