"""SQL store: where policies apply: inline policies embedded in users, groups and
roles, managed-policy attachments, and policy usage (ListEntitiesForPolicy).

An attachment of an AWS managed policy stores only its ARN; the policy itself is
read from the packaged data (``tessera.iam.aws_managed``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from tessera.iam import aws_managed
from tessera.iam.model import (
    InlinePolicy,
    ManagedPolicy,
)
from tessera.store.cache import cached
from tessera.store.records import Owner
from tessera.store.sql import schema as s
from tessera.store.sql.engine import SqlEngine
from tessera.store.sql.policies import policy_from_row


class SqlAttachments(SqlEngine):
    """Inline policies, attachments and policy usage."""

    def put_inline_policy(self, owner: Owner, name: str, document: str) -> None:
        ip = s.inline_policies.c
        key = dict(
            account_id=owner.account_id,
            owner_type=owner.kind,
            owner_key=owner.key,
            name_key=name.lower(),
        )
        with self._tx() as conn:
            result = conn.execute(
                update(s.inline_policies)
                .where(and_(*[getattr(ip, k) == v for k, v in key.items()]))
                .values(name=name, document=document)
            )
            if result.rowcount == 0:
                conn.execute(insert(s.inline_policies).values(**key, name=name, document=document))

    def get_inline_policy(self, owner: Owner, name: str) -> InlinePolicy | None:
        ip = s.inline_policies.c
        with self._tx() as conn:
            row = conn.execute(
                select(ip.name, ip.document).where(
                    and_(
                        ip.account_id == owner.account_id,
                        ip.owner_type == owner.kind,
                        ip.owner_key == owner.key,
                        ip.name_key == name.lower(),
                    )
                )
            ).first()
        return None if row is None else InlinePolicy(row.name, row.document)

    @cached
    def list_inline_policies(self, owner: Owner) -> list[InlinePolicy]:
        ip = s.inline_policies.c
        with self._tx() as conn:
            rows = conn.execute(
                select(ip.name, ip.document)
                .where(
                    and_(
                        ip.account_id == owner.account_id,
                        ip.owner_type == owner.kind,
                        ip.owner_key == owner.key,
                    )
                )
                .order_by(ip.name_key)
            ).all()
        return [InlinePolicy(r.name, r.document) for r in rows]

    def delete_inline_policy(self, owner: Owner, name: str) -> bool:
        ip = s.inline_policies.c
        with self._tx() as conn:
            result = conn.execute(
                delete(s.inline_policies).where(
                    and_(
                        ip.account_id == owner.account_id,
                        ip.owner_type == owner.kind,
                        ip.owner_key == owner.key,
                        ip.name_key == name.lower(),
                    )
                )
            )
        return bool(result.rowcount)

    # ------------------------------------------------------------------ attachments

    def attach_policy(self, owner: Owner, arn: str) -> None:
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(s.attachments).values(
                        account_id=owner.account_id,
                        owner_type=owner.kind,
                        owner_key=owner.key,
                        policy_arn=arn,
                    )
                )
        except IntegrityError:
            return  # attaching twice is a no-op, as in AWS

    def detach_policy(self, owner: Owner, arn: str) -> bool:
        a = s.attachments.c
        with self._tx() as conn:
            result = conn.execute(
                delete(s.attachments).where(
                    and_(
                        a.account_id == owner.account_id,
                        a.owner_type == owner.kind,
                        a.owner_key == owner.key,
                        a.policy_arn == arn,
                    )
                )
            )
        return bool(result.rowcount)

    def attached_policies(self, owner: Owner) -> list[ManagedPolicy]:
        a, mp = s.attachments.c, s.managed_policies.c
        with self._tx() as conn:
            rows = conn.execute(
                select(s.managed_policies)
                .join(s.attachments, a.policy_arn == mp.arn)
                .where(
                    and_(
                        a.account_id == owner.account_id,
                        a.owner_type == owner.kind,
                        a.owner_key == owner.key,
                    )
                )
                .order_by(mp.name_key)
            ).all()
            aws_arns = self._attached_aws_arns(conn, [owner])
        policies = [policy_from_row(r) for r in rows]
        for arn in aws_arns:
            found = aws_managed.get(arn)
            if found is not None:
                policies.append(found.as_managed())
        policies.sort(key=lambda p: p.name.lower())
        return policies

    @staticmethod
    def _attached_aws_arns(conn: Connection, owners: Sequence[Owner]) -> list[str]:
        """The AWS managed policy ARNs attached to any of ``owners``."""
        a = s.attachments.c
        conds = [
            and_(a.account_id == o.account_id, a.owner_type == o.kind, a.owner_key == o.key)
            for o in owners
        ]
        rows = conn.execute(
            select(a.policy_arn)
            .where(and_(or_(*conds), a.policy_arn.startswith(aws_managed.AWS_POLICY_PREFIX)))
            .order_by(a.policy_arn)
        ).all()
        return [r.policy_arn for r in rows]

    @cached
    def attached_policy_documents(self, owners: Sequence[Owner]) -> list[tuple[str, str]]:
        """(policy ARN, default version document) for every policy attached to any owner."""
        if not owners:
            return []
        a, mp, pv = s.attachments.c, s.managed_policies.c, s.policy_versions.c
        conds = [
            and_(a.account_id == o.account_id, a.owner_type == o.kind, a.owner_key == o.key)
            for o in owners
        ]
        with self._tx() as conn:
            rows = conn.execute(
                select(mp.arn, pv.document)
                .join(s.attachments, a.policy_arn == mp.arn)
                .join(
                    s.policy_versions,
                    and_(pv.policy_arn == mp.arn, pv.version_id == mp.default_version_id),
                )
                .where(or_(*conds))
            ).all()
            aws_arns = self._attached_aws_arns(conn, owners)
        out = [(r.arn, r.document) for r in rows]
        for arn in dict.fromkeys(aws_arns):
            document = aws_managed.default_document(arn)
            if document is not None:
                out.append((arn, document))
        return out

    def entities_for_policy(self, arn: str) -> list[tuple[str, str, str]]:
        """(owner_type, owner name, owner id) for every attachment of ``arn``."""
        out: list[tuple[str, str, str]] = []
        a = s.attachments.c
        with self._tx() as conn:
            for kind, table, id_col in (
                ("user", s.users, s.users.c.user_id),
                ("group", s.groups, s.groups.c.group_id),
                ("role", s.roles, s.roles.c.role_id),
            ):
                rows = conn.execute(
                    select(table.c.name, id_col)
                    .join(
                        s.attachments,
                        and_(
                            a.account_id == table.c.account_id,
                            a.owner_key == table.c.name_key,
                            a.owner_type == kind,
                        ),
                    )
                    .where(a.policy_arn == arn)
                    .order_by(table.c.name_key)
                ).all()
                out.extend((kind, r[0], r[1]) for r in rows)
        return out

    # ------------------------------------------------------------------ policy usage
    # (added for the IAM service: ListEntitiesForPolicy)

    def entities_using_policy(
        self, account_id: str, arn: str
    ) -> list[tuple[str, str, str, str, str]]:
        """(usage, kind, name, entity id, path) for every user, group and role of
        ``account_id`` that has ``arn`` attached (usage ``"policy"``) or uses it as its
        permissions boundary (usage ``"boundary"``; users and roles only), ordered by
        kind (group, user, role) and then by name."""
        out: list[tuple[str, str, str, str, str]] = []
        a = s.attachments.c
        with self._tx() as conn:
            for kind, table, id_col in (
                ("group", s.groups, s.groups.c.group_id),
                ("user", s.users, s.users.c.user_id),
                ("role", s.roles, s.roles.c.role_id),
            ):
                rows = conn.execute(
                    select(table.c.name, id_col, table.c.path)
                    .join(
                        s.attachments,
                        and_(
                            a.account_id == table.c.account_id,
                            a.owner_key == table.c.name_key,
                            a.owner_type == kind,
                        ),
                    )
                    .where(and_(a.policy_arn == arn, table.c.account_id == account_id))
                    .order_by(table.c.name_key)
                ).all()
                out.extend(("policy", kind, r[0], r[1], r[2]) for r in rows)
                if kind == "group":
                    continue
                rows = conn.execute(
                    select(table.c.name, id_col, table.c.path)
                    .where(
                        and_(
                            table.c.account_id == account_id,
                            table.c.permissions_boundary == arn,
                        )
                    )
                    .order_by(table.c.name_key)
                ).all()
                out.extend(("boundary", kind, r[0], r[1], r[2]) for r in rows)
        return out

    def policy_usage(self, account_id: str) -> dict[str, tuple[int, int]]:
        """(attachments, permissions-boundary uses) within ``account_id`` of every
        managed policy ARN the account uses (customer or AWS managed)."""
        a = s.attachments.c
        usage: dict[str, list[int]] = {}
        with self._tx() as conn:
            for arn, count in conn.execute(
                select(a.policy_arn, func.count())
                .where(a.account_id == account_id)
                .group_by(a.policy_arn)
            ).all():
                usage.setdefault(arn, [0, 0])[0] += int(count)
            for table in (s.users, s.roles):
                boundary = table.c.permissions_boundary
                for arn, count in conn.execute(
                    select(boundary, func.count())
                    .where(and_(table.c.account_id == account_id, boundary.is_not(None)))
                    .group_by(boundary)
                ).all():
                    usage.setdefault(arn, [0, 0])[1] += int(count)
        return {arn: (c[0], c[1]) for arn, c in usage.items()}
