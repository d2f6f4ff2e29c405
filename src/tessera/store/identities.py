"""Storage interface of IAM identities: users, groups, roles and group
membership. Names are unique per account, compared case-insensitively; users
and roles are also found by their unique id (AIDA…/AROA…)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from tessera.iam.model import Group, Page, Role, User
from tessera.store.records import Owner


class UserStore(Protocol):
    def create_user(self, user: User) -> None:
        """``AlreadyExists`` when the name (any case) is taken."""
        ...

    def get_user(self, account_id: str, name: str) -> User | None: ...

    def get_user_by_id(self, user_id: str) -> User | None: ...

    def list_users(
        self, account_id: str, path_prefix: str, marker: str | None, max_items: int
    ) -> Page[User]: ...

    def update_user(
        self, account_id: str, name: str, new_name: str | None, new_path: str | None
    ) -> None:
        """Rename/move a user, carrying keys, memberships, policies and tags along."""
        ...

    def delete_user(self, account_id: str, name: str) -> None: ...

    def set_permissions_boundary(self, owner: Owner, boundary_arn: str | None) -> None:
        """Set or clear the boundary of a user or role."""
        ...


class GroupStore(Protocol):
    def create_group(self, group: Group) -> None: ...

    def get_group(self, account_id: str, name: str) -> Group | None: ...

    def list_groups(
        self, account_id: str, path_prefix: str, marker: str | None, max_items: int
    ) -> Page[Group]: ...

    def update_group(
        self, account_id: str, name: str, new_name: str | None, new_path: str | None
    ) -> None: ...

    def delete_group(self, account_id: str, name: str) -> None: ...

    def add_user_to_group(self, account_id: str, group: str, user: str) -> None:
        """Adding a member twice is a no-op."""
        ...

    def remove_user_from_group(self, account_id: str, group: str, user: str) -> bool:
        """False when the user was not a member."""
        ...

    def groups_for_user(self, account_id: str, user: str) -> list[Group]: ...

    def users_in_group(self, account_id: str, group: str) -> list[User]: ...


class RoleStore(Protocol):
    def create_role(self, role: Role) -> None: ...

    def get_role(self, account_id: str, name: str) -> Role | None: ...

    def get_role_by_id(self, role_id: str) -> Role | None: ...

    def list_roles(
        self, account_id: str, path_prefix: str, marker: str | None, max_items: int
    ) -> Page[Role]: ...

    def update_role(self, account_id: str, name: str, **values: Any) -> None:
        """Set columns of a role (description, max_session_duration, last_used_at …)."""
        ...

    def set_trust_policy(
        self, account_id: str, name: str, document: str, principal_ids: Sequence[tuple[str, str]]
    ) -> None:
        """Replace a role's trust policy and the unique ids its principals are bound to."""
        ...

    def delete_role(self, account_id: str, name: str) -> None: ...


class IdentityStore(UserStore, GroupStore, RoleStore, Protocol):
    """Users, groups, roles and membership."""
