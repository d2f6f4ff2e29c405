"""SQL store: users, groups, roles and group membership. Renaming a user or group
carries its keys, memberships, policies and tags along in one transaction."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    Row,
    Table,
    and_,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from tessera.iam.model import (
    Group,
    Page,
    Role,
    User,
)
from tessera.store.base import AlreadyExists
from tessera.store.cache import cached
from tessera.store.records import Owner
from tessera.store.sql import schema as s
from tessera.store.sql.engine import SqlEngine, utc, utc_req


def role_row(role: Role) -> dict[str, Any]:
    """The ``roles`` row of a new role."""
    return dict(
        account_id=role.account_id,
        name_key=role.name.lower(),
        name=role.name,
        path=role.path,
        role_id=role.role_id,
        created_at=role.created_at,
        trust_policy=role.trust_policy,
        trust_principal_ids=json.dumps([list(p) for p in role.trust_principal_ids]),
        description=role.description,
        max_session_duration=role.max_session_duration,
        permissions_boundary=role.permissions_boundary,
    )


class SqlIdentities(SqlEngine):
    """Users, groups, roles and membership."""

    @staticmethod
    def _user(row: Row[Any]) -> User:
        return User(
            account_id=row.account_id,
            name=row.name,
            path=row.path,
            user_id=row.user_id,
            created_at=utc_req(row.created_at),
            permissions_boundary=row.permissions_boundary,
        )

    @staticmethod
    def _group(row: Row[Any]) -> Group:
        return Group(row.account_id, row.name, row.path, row.group_id, utc_req(row.created_at))

    @staticmethod
    def _role(row: Row[Any]) -> Role:
        return Role(
            account_id=row.account_id,
            name=row.name,
            path=row.path,
            role_id=row.role_id,
            created_at=utc_req(row.created_at),
            trust_policy=row.trust_policy,
            description=row.description,
            max_session_duration=row.max_session_duration,
            permissions_boundary=row.permissions_boundary,
            last_used_at=utc(row.last_used_at),
            last_used_region=row.last_used_region,
            trust_principal_ids=tuple(
                (str(a), str(i)) for a, i in json.loads(row.trust_principal_ids or "[]")
            ),
        )

    def create_user(self, user: User) -> None:
        self._insert_named(
            s.users,
            dict(
                account_id=user.account_id,
                name_key=user.name.lower(),
                name=user.name,
                path=user.path,
                user_id=user.user_id,
                created_at=user.created_at,
                permissions_boundary=user.permissions_boundary,
            ),
        )

    @cached
    def get_user(self, account_id: str, name: str) -> User | None:
        row = self._get_named(s.users, account_id, name)
        return None if row is None else self._user(row)

    @cached
    def get_user_by_id(self, user_id: str) -> User | None:
        with self._tx() as conn:
            row = conn.execute(select(s.users).where(s.users.c.user_id == user_id)).first()
        return None if row is None else self._user(row)

    def list_users(
        self, account_id: str, path_prefix: str, marker: str | None, max_items: int
    ) -> Page[User]:
        rows, nxt = self._page_named(s.users, account_id, path_prefix, marker, max_items)
        return Page([self._user(r) for r in rows], nxt)

    def update_user(
        self, account_id: str, name: str, new_name: str | None, new_path: str | None
    ) -> None:
        """Rename/move a user, carrying keys, memberships, policies and tags along."""

        def carry(conn: Connection, old_key: str, renamed: str) -> None:
            conn.execute(
                update(s.access_keys)
                .where(
                    and_(
                        s.access_keys.c.account_id == account_id,
                        s.access_keys.c.user_key == old_key,
                    )
                )
                .values(user_key=renamed.lower(), user_name=renamed)
            )
            conn.execute(
                update(s.group_members)
                .where(
                    and_(
                        s.group_members.c.account_id == account_id,
                        s.group_members.c.user_key == old_key,
                    )
                )
                .values(user_key=renamed.lower())
            )

        self._rename_named(s.users, "user", account_id, name, new_name, new_path, carry)

    def _rename_named(
        self,
        table: Table,
        kind: str,
        account_id: str,
        name: str,
        new_name: str | None,
        new_path: str | None,
        carry: Callable[[Connection, str, str], None],
    ) -> None:
        """Rename/move a user or group in one transaction; ``carry`` moves the rows
        specific to that kind (keys, memberships) to the new name."""
        old_key = name.lower()
        values: dict[str, Any] = {}
        if new_path is not None:
            values["path"] = new_path
        if new_name is not None:
            values["name"] = new_name
            values["name_key"] = new_name.lower()
        if not values:
            return
        try:
            with self._tx() as conn:
                conn.execute(
                    update(table)
                    .where(and_(table.c.account_id == account_id, table.c.name_key == old_key))
                    .values(**values)
                )
                if new_name is not None:
                    self._rekey_owner(conn, account_id, kind, old_key, new_name)
                    carry(conn, old_key, new_name)
        except IntegrityError as exc:
            raise AlreadyExists(new_name or name) from exc

    def _rekey_owner(
        self, conn: Connection, account_id: str, kind: str, old_key: str, new_name: str
    ) -> None:
        for table in (s.inline_policies, s.attachments):
            conn.execute(
                update(table)
                .where(
                    and_(
                        table.c.account_id == account_id,
                        table.c.owner_type == kind,
                        table.c.owner_key == old_key,
                    )
                )
                .values(owner_key=new_name.lower())
            )
        conn.execute(
            update(s.tags)
            .where(
                and_(
                    s.tags.c.account_id == account_id,
                    s.tags.c.resource_type == kind,
                    s.tags.c.resource_key == old_key,
                )
            )
            .values(resource_key=new_name.lower())
        )

    def delete_user(self, account_id: str, name: str) -> None:
        self._delete_named(s.users, "user", account_id, name)

    def _delete_named(self, table: Table, kind: str, account_id: str, name: str) -> None:
        key = name.lower()
        with self._tx() as conn:
            conn.execute(
                delete(table).where(and_(table.c.account_id == account_id, table.c.name_key == key))
            )
            conn.execute(
                delete(s.tags).where(
                    and_(
                        s.tags.c.account_id == account_id,
                        s.tags.c.resource_type == kind,
                        s.tags.c.resource_key == key,
                    )
                )
            )

    def set_permissions_boundary(self, owner: Owner, boundary_arn: str | None) -> None:
        table = s.users if owner.kind == "user" else s.roles
        with self._tx() as conn:
            conn.execute(
                update(table)
                .where(and_(table.c.account_id == owner.account_id, table.c.name_key == owner.key))
                .values(permissions_boundary=boundary_arn)
            )

    def create_group(self, group: Group) -> None:
        self._insert_named(
            s.groups,
            dict(
                account_id=group.account_id,
                name_key=group.name.lower(),
                name=group.name,
                path=group.path,
                group_id=group.group_id,
                created_at=group.created_at,
            ),
        )

    def get_group(self, account_id: str, name: str) -> Group | None:
        row = self._get_named(s.groups, account_id, name)
        return None if row is None else self._group(row)

    def list_groups(
        self, account_id: str, path_prefix: str, marker: str | None, max_items: int
    ) -> Page[Group]:
        rows, nxt = self._page_named(s.groups, account_id, path_prefix, marker, max_items)
        return Page([self._group(r) for r in rows], nxt)

    def update_group(
        self, account_id: str, name: str, new_name: str | None, new_path: str | None
    ) -> None:
        def carry(conn: Connection, old_key: str, renamed: str) -> None:
            conn.execute(
                update(s.group_members)
                .where(
                    and_(
                        s.group_members.c.account_id == account_id,
                        s.group_members.c.group_key == old_key,
                    )
                )
                .values(group_key=renamed.lower())
            )

        self._rename_named(s.groups, "group", account_id, name, new_name, new_path, carry)

    def delete_group(self, account_id: str, name: str) -> None:
        self._delete_named(s.groups, "group", account_id, name)

    def add_user_to_group(self, account_id: str, group: str, user: str) -> None:
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(s.group_members).values(
                        account_id=account_id, group_key=group.lower(), user_key=user.lower()
                    )
                )
        except IntegrityError:
            return  # already a member: AWS treats this as success

    def remove_user_from_group(self, account_id: str, group: str, user: str) -> bool:
        with self._tx() as conn:
            result = conn.execute(
                delete(s.group_members).where(
                    and_(
                        s.group_members.c.account_id == account_id,
                        s.group_members.c.group_key == group.lower(),
                        s.group_members.c.user_key == user.lower(),
                    )
                )
            )
        return bool(result.rowcount)

    @cached
    def groups_for_user(self, account_id: str, user: str) -> list[Group]:
        gm, g = s.group_members.c, s.groups.c
        with self._tx() as conn:
            rows = conn.execute(
                select(s.groups)
                .join(
                    s.group_members,
                    and_(gm.account_id == g.account_id, gm.group_key == g.name_key),
                )
                .where(and_(gm.account_id == account_id, gm.user_key == user.lower()))
                .order_by(g.name_key)
            ).all()
        return [self._group(r) for r in rows]

    def users_in_group(self, account_id: str, group: str) -> list[User]:
        gm, u = s.group_members.c, s.users.c
        with self._tx() as conn:
            rows = conn.execute(
                select(s.users)
                .join(
                    s.group_members, and_(gm.account_id == u.account_id, gm.user_key == u.name_key)
                )
                .where(and_(gm.account_id == account_id, gm.group_key == group.lower()))
                .order_by(u.name_key)
            ).all()
        return [self._user(r) for r in rows]

    def create_role(self, role: Role) -> None:
        self._insert_named(s.roles, role_row(role))

    @cached
    def get_role(self, account_id: str, name: str) -> Role | None:
        row = self._get_named(s.roles, account_id, name)
        return None if row is None else self._role(row)

    @cached
    def get_role_by_id(self, role_id: str) -> Role | None:
        with self._tx() as conn:
            row = conn.execute(select(s.roles).where(s.roles.c.role_id == role_id)).first()
        return None if row is None else self._role(row)

    def list_roles(
        self, account_id: str, path_prefix: str, marker: str | None, max_items: int
    ) -> Page[Role]:
        rows, nxt = self._page_named(s.roles, account_id, path_prefix, marker, max_items)
        return Page([self._role(r) for r in rows], nxt)

    def update_role(self, account_id: str, name: str, **values: Any) -> None:
        with self._tx() as conn:
            conn.execute(
                update(s.roles)
                .where(and_(s.roles.c.account_id == account_id, s.roles.c.name_key == name.lower()))
                .values(**values)
            )

    def set_trust_policy(
        self,
        account_id: str,
        name: str,
        document: str,
        principal_ids: Sequence[tuple[str, str]],
    ) -> None:
        """Replace a role's trust policy and the unique ids its principals are bound to."""
        self.update_role(
            account_id,
            name,
            trust_policy=document,
            trust_principal_ids=json.dumps([list(p) for p in principal_ids]),
        )

    def delete_role(self, account_id: str, name: str) -> None:
        self._delete_named(s.roles, "role", account_id, name)
