"""SQL store: IAM OpenID Connect providers (table ``oidc_providers``, migration
4). Client ids and thumbprints are JSON arrays in the provider row; changing the
client-id list is a compare-and-set on the old value (retried), so concurrent
AddClientID / RemoveClientID calls on several replicas never lose an update.
Provider tags live in the generic ``tags`` table (resource type
``oidc-provider``, key = the scheme-less URL) and go with the provider when it is
deleted."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Row, and_, delete, select, update

from tessera.iam.oidc_model import TAG_RESOURCE_TYPE, OidcProvider
from tessera.iam.tip_model import ContextProvider
from tessera.store.base import StoreError
from tessera.store.cache import cached
from tessera.store.sql import schema as s
from tessera.store.sql.engine import SqlEngine, utc_req

_CAS_ATTEMPTS = 20


def _row(row: Row[Any]) -> OidcProvider:
    return OidcProvider(
        account_id=row.account_id,
        url=row.url,
        scheme=row.scheme,
        created_at=utc_req(row.created_at),
        client_ids=tuple(json.loads(row.client_ids)),
        thumbprints=tuple(json.loads(row.thumbprints)),
        context_provider=(
            ContextProvider.from_json(row.context_provider) if row.context_provider else None
        ),
        identity_center_arn=row.identity_center_arn,
    )


def _key(account_id: str, url: str) -> Any:
    c = s.oidc_providers.c
    return and_(c.account_id == account_id, c.url == url)


class SqlOidcProviders(SqlEngine):
    """IAM OpenID Connect providers."""

    def create_oidc_provider(self, provider: OidcProvider) -> None:
        """Insert; ``AlreadyExists`` when the account already has this URL."""
        self._insert_unique(
            s.oidc_providers,
            dict(
                account_id=provider.account_id,
                url=provider.url,
                scheme=provider.scheme,
                client_ids=json.dumps(list(provider.client_ids)),
                thumbprints=json.dumps(list(provider.thumbprints)),
                created_at=provider.created_at,
                context_provider=(
                    provider.context_provider.to_json()
                    if provider.context_provider is not None
                    else None
                ),
                identity_center_arn=provider.identity_center_arn,
            ),
            provider.url,
        )

    @cached  # AssumeRoleWithWebIdentity reads it on every call
    def get_oidc_provider(self, account_id: str, url: str) -> OidcProvider | None:
        with self._tx() as conn:
            row = conn.execute(select(s.oidc_providers).where(_key(account_id, url))).first()
        return None if row is None else _row(row)

    def list_oidc_providers(self, account_id: str) -> list[OidcProvider]:
        c = s.oidc_providers.c
        with self._tx() as conn:
            rows = conn.execute(
                select(s.oidc_providers).where(c.account_id == account_id).order_by(c.url)
            ).all()
        return [_row(r) for r in rows]

    def delete_oidc_provider(self, account_id: str, url: str) -> bool:
        """Delete the provider and its tags; False when there was none."""
        t = s.tags.c
        with self._tx() as conn:
            gone = conn.execute(delete(s.oidc_providers).where(_key(account_id, url)))
            conn.execute(
                delete(s.tags).where(
                    and_(
                        t.account_id == account_id,
                        t.resource_type == TAG_RESOURCE_TYPE,
                        t.resource_key == url,
                    )
                )
            )
            return bool(gone.rowcount == 1)

    def set_oidc_thumbprints(self, account_id: str, url: str, thumbprints: Sequence[str]) -> bool:
        """Replace the thumbprint list; False when the provider does not exist."""
        with self._tx() as conn:
            changed = conn.execute(
                update(s.oidc_providers)
                .where(_key(account_id, url))
                .values(thumbprints=json.dumps(list(thumbprints)))
            )
            return bool(changed.rowcount == 1)

    def set_oidc_tip(
        self,
        account_id: str,
        url: str,
        context_provider: ContextProvider | None,
        identity_center_arn: str | None,
    ) -> bool:
        """Replace the TIP configuration; False when the provider does not exist."""
        with self._tx() as conn:
            changed = conn.execute(
                update(s.oidc_providers)
                .where(_key(account_id, url))
                .values(
                    context_provider=(
                        context_provider.to_json() if context_provider is not None else None
                    ),
                    identity_center_arn=identity_center_arn,
                )
            )
            return bool(changed.rowcount == 1)

    def change_oidc_client_ids(
        self,
        account_id: str,
        url: str,
        change: Callable[[tuple[str, ...]], tuple[str, ...]],
    ) -> tuple[str, ...] | None:
        """Apply ``change`` to the client-id list atomically (compare-and-set, retried).
        ``change`` may raise to refuse (nothing is written). Returns the new list, or
        ``None`` when the provider does not exist."""
        c = s.oidc_providers.c
        for _ in range(_CAS_ATTEMPTS):
            with self._tx() as conn:
                row = conn.execute(select(c.client_ids).where(_key(account_id, url))).first()
                if row is None:
                    return None
                old_text: str = row.client_ids
                new = change(tuple(json.loads(old_text)))
                new_text = json.dumps(list(new))
                if new_text == old_text:
                    return new
                done = conn.execute(
                    update(s.oidc_providers)
                    .where(and_(_key(account_id, url), c.client_ids == old_text))
                    .values(client_ids=new_text)
                )
                if done.rowcount == 1:
                    return new
        raise StoreError(f"client-id list of {url} kept changing; giving up")  # pragma: no cover
