"""SQL store: tags of every taggable resource (table ``tags``; keys compared
case-insensitively, order of first insertion kept)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    and_,
    delete,
    func,
    insert,
    select,
    update,
)

from tessera.iam.model import (
    Tag,
)
from tessera.store.cache import cached
from tessera.store.sql import schema as s
from tessera.store.sql.engine import SqlEngine


class SqlTags(SqlEngine):
    """Resource tags."""

    @cached
    def get_tags(self, account_id: str, resource_type: str, resource_key: str) -> list[Tag]:
        t = s.tags.c
        with self._tx() as conn:
            rows = conn.execute(
                select(t.key, t.value)
                .where(
                    and_(
                        t.account_id == account_id,
                        t.resource_type == resource_type,
                        t.resource_key == resource_key,
                    )
                )
                .order_by(t.position)
            ).all()
        return [Tag(r.key, r.value) for r in rows]

    def set_tags(
        self, account_id: str, resource_type: str, resource_key: str, new_tags: Sequence[Tag]
    ) -> None:
        """Add or overwrite tags (keys compared case-insensitively, as AWS does)."""
        t = s.tags.c
        with self._tx() as conn:
            base = conn.execute(
                select(func.coalesce(func.max(t.position), 0)).where(
                    and_(
                        t.account_id == account_id,
                        t.resource_type == resource_type,
                        t.resource_key == resource_key,
                    )
                )
            ).scalar_one()
            for i, tag in enumerate(new_tags, start=1):
                where = and_(
                    t.account_id == account_id,
                    t.resource_type == resource_type,
                    t.resource_key == resource_key,
                    t.key_lower == tag.key.lower(),
                )
                result = conn.execute(
                    update(s.tags).where(where).values(key=tag.key, value=tag.value)
                )
                if result.rowcount == 0:
                    conn.execute(
                        insert(s.tags).values(
                            account_id=account_id,
                            resource_type=resource_type,
                            resource_key=resource_key,
                            key_lower=tag.key.lower(),
                            key=tag.key,
                            value=tag.value,
                            position=int(base) + i,
                        )
                    )

    def remove_tags(
        self, account_id: str, resource_type: str, resource_key: str, keys: Sequence[str]
    ) -> None:
        t = s.tags.c
        with self._tx() as conn:
            conn.execute(
                delete(s.tags).where(
                    and_(
                        t.account_id == account_id,
                        t.resource_type == resource_type,
                        t.resource_key == resource_key,
                        t.key_lower.in_([k.lower() for k in keys]),
                    )
                )
            )
