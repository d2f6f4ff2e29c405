"""SQL store: the instance registry (tables ``instances``, ``instance_join_tokens``,
``instance_certificates``, ``instance_ca``; migration 16). Join tokens are kept as
SHA-256 hex only; the CA key is sealed under the KEK with the context
``instance-ca:<ca_id>``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from tessera.store.base import AlreadyExists
from tessera.store.instances import InstanceCaRecord, InstanceRecord, InstanceState, JoinOutcome
from tessera.store.sql import schema as s
from tessera.store.sql.engine import SqlEngine, utc_req


class SqlInstances(SqlEngine):
    """The instance registry and the instance CA."""

    @staticmethod
    def _instance(row: Row[Any]) -> InstanceRecord:
        return InstanceRecord(
            instance_id=row.instance_id,
            account_id=row.account_id,
            profile_name=row.profile_name,
            profile_id=row.profile_id,
            region=row.region,
            state=row.state,
            created_at=utc_req(row.created_at),
            name=row.name,
            private_ipv4=row.private_ipv4,
            network=row.network,
        )

    def create_instance(
        self, instance: InstanceRecord, token_hash: str, token_expires: datetime
    ) -> None:
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(s.instances).values(
                        instance_id=instance.instance_id,
                        account_id=instance.account_id,
                        profile_name=instance.profile_name,
                        profile_id=instance.profile_id,
                        name=instance.name,
                        private_ipv4=instance.private_ipv4,
                        network=instance.network,
                        region=instance.region,
                        state=instance.state,
                        created_at=instance.created_at,
                    )
                )
                conn.execute(
                    insert(s.instance_join_tokens).values(
                        token_hash=token_hash,
                        instance_id=instance.instance_id,
                        expires_at=token_expires,
                        used_at=None,
                    )
                )
        except IntegrityError as exc:
            raise AlreadyExists(f"instance {instance.instance_id}") from exc

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        c = s.instances.c
        with self._tx() as conn:
            row = conn.execute(select(s.instances).where(c.instance_id == instance_id)).first()
        return None if row is None else self._instance(row)

    def list_instances(
        self, account_id: str | None, *, after: str | None, limit: int
    ) -> list[InstanceRecord]:
        c = s.instances.c
        query = select(s.instances)
        if account_id is not None:
            query = query.where(c.account_id == account_id)
        if after is not None:
            query = query.where(c.instance_id > after)
        with self._tx() as conn:
            rows = conn.execute(query.order_by(c.instance_id).limit(limit)).all()
        return [self._instance(r) for r in rows]

    def set_instance_state(self, instance_id: str, state: InstanceState) -> bool:
        c = s.instances.c
        with self._tx() as conn:
            result = conn.execute(
                update(s.instances).where(c.instance_id == instance_id).values(state=state)
            )
            return bool(result.rowcount == 1)

    def delete_instance(self, instance_id: str) -> bool:
        with self._tx() as conn:
            conn.execute(
                delete(s.instance_join_tokens).where(
                    s.instance_join_tokens.c.instance_id == instance_id
                )
            )
            conn.execute(
                delete(s.instance_certificates).where(
                    s.instance_certificates.c.instance_id == instance_id
                )
            )
            result = conn.execute(
                delete(s.instances).where(s.instances.c.instance_id == instance_id)
            )
            return bool(result.rowcount == 1)

    def consume_join_token(self, token_hash: str, now: datetime) -> tuple[JoinOutcome, str | None]:
        c = s.instance_join_tokens.c
        with self._tx() as conn:
            result = conn.execute(
                update(s.instance_join_tokens)
                .where(and_(c.token_hash == token_hash, c.used_at.is_(None), c.expires_at > now))
                .values(used_at=now)
            )
            won = result.rowcount == 1
            row = conn.execute(
                select(c.instance_id, c.used_at, c.expires_at).where(c.token_hash == token_hash)
            ).first()
        if row is None:
            return JoinOutcome.UNKNOWN, None
        if won:
            return JoinOutcome.CONSUMED, str(row.instance_id)
        if row.used_at is not None:
            return JoinOutcome.USED, None
        return JoinOutcome.EXPIRED, None

    def record_instance_certificate(
        self, instance_id: str, serial: str, issued_at: datetime, not_after: datetime
    ) -> bool:
        c = s.instance_certificates.c
        with self._tx() as conn:
            exists = conn.execute(
                select(s.instances.c.instance_id).where(s.instances.c.instance_id == instance_id)
            ).first()
            if exists is None:
                return False
            conn.execute(
                delete(s.instance_certificates).where(
                    and_(c.instance_id == instance_id, c.not_after < issued_at)
                )
            )
            conn.execute(
                insert(s.instance_certificates).values(
                    serial=serial, instance_id=instance_id, issued_at=issued_at, not_after=not_after
                )
            )
            return True

    def instance_certificate_issued(self, instance_id: str, serial: str) -> bool:
        c = s.instance_certificates.c
        with self._tx() as conn:
            row = conn.execute(
                select(c.serial).where(and_(c.serial == serial, c.instance_id == instance_id))
            ).first()
        return row is not None

    @staticmethod
    def _ca_context(ca_id: str) -> str:
        return f"instance-ca:{ca_id}"

    def get_instance_ca(self, ca_id: str) -> InstanceCaRecord | None:
        c = s.instance_ca.c
        with self._tx() as conn:
            row = conn.execute(select(s.instance_ca).where(c.ca_id == ca_id)).first()
        if row is None:
            return None
        return InstanceCaRecord(
            ca_id=row.ca_id,
            certificate_pem=row.certificate_pem.encode("ascii"),
            private_pem=self.kek.open(bytes(row.private_sealed), self._ca_context(row.ca_id)),
            created_at=utc_req(row.created_at),
        )

    def create_instance_ca(self, ca: InstanceCaRecord) -> InstanceCaRecord:
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(s.instance_ca).values(
                        ca_id=ca.ca_id,
                        certificate_pem=ca.certificate_pem.decode("ascii"),
                        private_sealed=self.kek.seal(ca.private_pem, self._ca_context(ca.ca_id)),
                        created_at=ca.created_at,
                    )
                )
        except IntegrityError:
            pass
        stored = self.get_instance_ca(ca.ca_id)
        if stored is None:  # pragma: no cover - deleted between the two statements
            raise AlreadyExists(f"instance CA {ca.ca_id}")
        return stored
