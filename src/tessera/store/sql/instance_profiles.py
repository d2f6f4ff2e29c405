"""SQL store: IAM instance profiles (table ``instance_profiles``) and the one role
each holds by unique id (compare-and-set updates); their tags live in ``tags``
under resource type ``instance-profile``."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Row, and_, delete, select, update

from tessera.arn import parse_arn
from tessera.iam.instance_profile_model import InstanceProfile
from tessera.iam.model import Page
from tessera.store.sql import schema as s
from tessera.store.sql.engine import SqlEngine, utc_req

TAG_TYPE: Final = "instance-profile"


def _role_is(column: Any, expected: str | None) -> Any:
    return column.is_(None) if expected is None else column == expected


class SqlInstanceProfiles(SqlEngine):
    """Instance profiles."""

    @staticmethod
    def _profile(row: Row[Any]) -> InstanceProfile:
        return InstanceProfile(
            account_id=row.account_id,
            name=row.name,
            path=row.path,
            profile_id=row.profile_id,
            created_at=utc_req(row.created_at),
            role_id=row.role_id,
        )

    def create_instance_profile(self, profile: InstanceProfile) -> None:
        self._insert_named(
            s.instance_profiles,
            {
                "account_id": profile.account_id,
                "name_key": profile.name.lower(),
                "name": profile.name,
                "path": profile.path,
                "profile_id": profile.profile_id,
                "created_at": profile.created_at,
                "role_id": profile.role_id,
            },
        )

    def get_instance_profile(self, account_id: str, name: str) -> InstanceProfile | None:
        row = self._get_named(s.instance_profiles, account_id, name)
        return None if row is None else self._profile(row)

    def get_instance_profile_by_arn(self, arn: str) -> InstanceProfile | None:
        parsed = parse_arn(arn)
        if parsed is None or parsed.service != "iam" or parsed.region:
            return None
        kind, _, rest = parsed.resource.partition("/")
        if kind != "instance-profile" or not rest:
            return None
        path, _, name = ("/" + rest).rpartition("/")
        profile = self.get_instance_profile(parsed.account, name)
        if profile is None or profile.path != path + "/" or profile.name != name:
            return None
        return profile

    def list_instance_profiles(
        self, account_id: str, path_prefix: str, marker: str | None, max_items: int
    ) -> Page[InstanceProfile]:
        rows, nxt = self._page_named(
            s.instance_profiles, account_id, path_prefix, marker, max_items
        )
        return Page([self._profile(r) for r in rows], nxt)

    def list_instance_profiles_for_role(
        self, account_id: str, role_id: str
    ) -> list[InstanceProfile]:
        c = s.instance_profiles.c
        with self._tx() as conn:
            rows = conn.execute(
                select(s.instance_profiles)
                .where(and_(c.account_id == account_id, c.role_id == role_id))
                .order_by(c.name_key)
            ).all()
        return [self._profile(r) for r in rows]

    def set_instance_profile_role(
        self, account_id: str, name: str, role_id: str | None, *, expected: str | None
    ) -> bool:
        c = s.instance_profiles.c
        with self._tx() as conn:
            result = conn.execute(
                update(s.instance_profiles)
                .where(
                    and_(
                        c.account_id == account_id,
                        c.name_key == name.lower(),
                        _role_is(c.role_id, expected),
                    )
                )
                .values(role_id=role_id)
            )
            return bool(result.rowcount == 1)

    def delete_instance_profile(self, account_id: str, name: str, *, expected: str | None) -> bool:
        c, t = s.instance_profiles.c, s.tags.c
        key = name.lower()
        with self._tx() as conn:
            result = conn.execute(
                delete(s.instance_profiles).where(
                    and_(
                        c.account_id == account_id,
                        c.name_key == key,
                        _role_is(c.role_id, expected),
                    )
                )
            )
            if result.rowcount != 1:
                return False
            conn.execute(
                delete(s.tags).where(
                    and_(
                        t.account_id == account_id,
                        t.resource_type == TAG_TYPE,
                        t.resource_key == key,
                    )
                )
            )
            return True
