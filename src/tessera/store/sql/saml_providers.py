"""SAML storage (one of the aggregates ``SqlStore`` composes): IAM SAML providers keyed by
account and case-insensitive name, and the AssumeRoleWithSAML replay cache of
assertion IDs — one atomic insert-or-fail per accepted assertion, so replicas that
share a PostgreSQL database can never both accept the same assertion. Provider
tags live in the generic ``tags`` table (resource type ``saml-provider``)."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, delete, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from tessera.iam.saml_model import RESOURCE_TYPE, SamlProvider
from tessera.iam.tip_model import ContextProvider
from tessera.store.sql import schema as s
from tessera.store.sql.engine import QUIET, SqlEngine, utc_req

log = logging.getLogger("tessera.store")

_UNSET: Any = object()
_PURGE_EVERY_SECONDS = 60.0


def _quiet() -> dict[str, bool]:
    """The replay cache is bookkeeping no cached read depends on: its writes must not
    bump the read-cache generation (``QUIET``)."""
    return {QUIET: True}


def assertion_digest(provider_arn: str, assertion_id: str) -> str:
    """The replay-cache key: SHA-256 over the provider ARN and the assertion ID."""
    h = hashlib.sha256()
    h.update(provider_arn.encode())
    h.update(b"\x00")
    h.update(assertion_id.encode())
    return h.hexdigest()


class SqlSamlProviders(SqlEngine):
    """SAML providers and the assertion replay cache."""

    _saml_purge_after: float = 0.0

    # ------------------------------------------------------------------ providers

    @staticmethod
    def _saml_provider(row: Row[Any]) -> SamlProvider:
        return SamlProvider(
            account_id=row.account_id,
            name=row.name,
            provider_uuid=row.provider_uuid,
            metadata_document=row.metadata_document,
            valid_until=utc_req(row.valid_until),
            created_at=utc_req(row.created_at),
            encryption_mode=row.encryption_mode,
            private_keys_sealed=(
                bytes(row.private_keys_sealed) if row.private_keys_sealed is not None else None
            ),
            context_provider=(
                ContextProvider.from_json(row.context_provider) if row.context_provider else None
            ),
            identity_center_arn=row.identity_center_arn,
        )

    def create_saml_provider(self, provider: SamlProvider) -> None:
        """Insert a provider; ``AlreadyExists`` when the name (any case) is taken."""
        self._insert_named(
            s.saml_providers,
            dict(
                account_id=provider.account_id,
                name_key=provider.name.lower(),
                name=provider.name,
                provider_uuid=provider.provider_uuid,
                metadata_document=provider.metadata_document,
                valid_until=provider.valid_until,
                created_at=provider.created_at,
                encryption_mode=provider.encryption_mode,
                private_keys_sealed=provider.private_keys_sealed,
                context_provider=(
                    provider.context_provider.to_json()
                    if provider.context_provider is not None
                    else None
                ),
                identity_center_arn=provider.identity_center_arn,
            ),
        )

    def get_saml_provider(self, account_id: str, name: str) -> SamlProvider | None:
        row = self._get_named(s.saml_providers, account_id, name)
        return None if row is None else self._saml_provider(row)

    def list_saml_providers(self, account_id: str) -> list[SamlProvider]:
        c = s.saml_providers.c
        with self._tx() as conn:
            rows = conn.execute(
                select(s.saml_providers).where(c.account_id == account_id).order_by(c.name_key)
            ).all()
        return [self._saml_provider(r) for r in rows]

    def update_saml_provider(
        self,
        account_id: str,
        name: str,
        *,
        metadata_document: str | None = None,
        valid_until: datetime | None = None,
        encryption_mode: str | None = None,
        private_keys_sealed: bytes | None = _UNSET,
    ) -> bool:
        """Change the given fields (``private_keys_sealed=None`` clears the keys);
        False when the provider does not exist."""
        values: dict[str, Any] = {}
        if metadata_document is not None:
            values["metadata_document"] = metadata_document
        if valid_until is not None:
            values["valid_until"] = valid_until
        if encryption_mode is not None:
            values["encryption_mode"] = encryption_mode
        if private_keys_sealed is not _UNSET:
            values["private_keys_sealed"] = private_keys_sealed
        c = s.saml_providers.c
        where = and_(c.account_id == account_id, c.name_key == name.lower())
        with self._tx() as conn:
            if not values:
                return conn.execute(select(c.name).where(where)).first() is not None
            result = conn.execute(update(s.saml_providers).where(where).values(**values))
            return bool(result.rowcount == 1)

    def set_saml_tip(
        self,
        account_id: str,
        name: str,
        context_provider: ContextProvider | None,
        identity_center_arn: str | None,
    ) -> bool:
        """Replace the TIP configuration; False when the provider does not exist."""
        c = s.saml_providers.c
        where = and_(c.account_id == account_id, c.name_key == name.lower())
        with self._tx() as conn:
            result = conn.execute(
                update(s.saml_providers)
                .where(where)
                .values(
                    context_provider=(
                        context_provider.to_json() if context_provider is not None else None
                    ),
                    identity_center_arn=identity_center_arn,
                )
            )
            return bool(result.rowcount == 1)

    def delete_saml_provider(self, account_id: str, name: str) -> bool:
        """Delete the provider and its tags; False when it does not exist. Replay-cache
        rows are left to expire (a re-created provider of the same name still refuses
        assertions already accepted)."""
        c = s.saml_providers.c
        t = s.tags.c
        with self._tx() as conn:
            result = conn.execute(
                delete(s.saml_providers).where(
                    and_(c.account_id == account_id, c.name_key == name.lower())
                )
            )
            conn.execute(
                delete(s.tags).where(
                    and_(
                        t.account_id == account_id,
                        t.resource_type == RESOURCE_TYPE,
                        t.resource_key == name.lower(),
                    )
                )
            )
            return bool(result.rowcount == 1)

    # ------------------------------------------------------------------ replay cache

    def use_saml_assertion(
        self, provider_arn: str, assertion_id: str, expires_at: datetime, now: datetime
    ) -> bool:
        """Record that ``assertion_id`` was accepted for ``provider_arn``: True the first
        time, False when it was already recorded and has not expired (a replay).

        The insert is the atomic step: a concurrent second insert of the same key
        fails on the primary key, in this process or in another replica. A leftover
        row that has expired is removed (only if still expired) and the insert tried
        once more. Purging other expired rows is best effort, at most once a minute per
        process, in its own transaction (so it can never fail or block a sign-in)."""
        self._purge_saml_assertions_now_and_then(now)
        digest = assertion_digest(provider_arn, assertion_id)
        a = s.saml_assertion_ids.c
        for _attempt in range(2):
            try:
                with self._tx() as conn:
                    conn.execute(
                        insert(s.saml_assertion_ids)
                        .values(digest=digest, provider_arn=provider_arn, expires_at=expires_at)
                        .execution_options(**_quiet())
                    )
                return True
            except IntegrityError:
                with self._tx() as conn:
                    removed = conn.execute(
                        delete(s.saml_assertion_ids)
                        .where(and_(a.digest == digest, a.expires_at <= now))
                        .execution_options(**_quiet())
                    ).rowcount
                if not removed:
                    return False
        return False

    def _purge_saml_assertions_now_and_then(self, now: datetime) -> None:
        moment = time.monotonic()
        if moment < self._saml_purge_after:
            return
        self._saml_purge_after = moment + _PURGE_EVERY_SECONDS
        try:
            self.purge_saml_assertions(now)
        except DBAPIError as exc:  # contention with another replica's purge: next time
            log.debug("SAML replay-cache purge skipped: %s", type(exc).__name__)

    def purge_saml_assertions(self, now: datetime) -> int:
        """Drop replay-cache rows whose assertions can no longer be accepted."""
        a = s.saml_assertion_ids.c
        with self._tx() as conn:
            result = conn.execute(
                delete(s.saml_assertion_ids)
                .where(a.expires_at <= now)
                .execution_options(**_quiet())
            )
            return int(result.rowcount or 0)

    def saml_assertion_rows(self) -> Iterator[tuple[str, str, datetime]]:
        """(digest, provider ARN, expiry) of every cached assertion (tests, diagnostics)."""
        a = s.saml_assertion_ids.c
        with self._tx() as conn:
            rows = conn.execute(select(a.digest, a.provider_arn, a.expires_at)).all()
        for r in rows:
            yield r.digest, r.provider_arn, utc_req(r.expires_at)
