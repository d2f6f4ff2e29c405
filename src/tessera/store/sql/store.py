"""``SqlStore``: the SQL engine of the storage interface, a thin façade composing
one module per aggregate (each a subclass of ``SqlEngine``), and
``open_sql_store``, the entry point that opens and migrates it. It satisfies
``tessera.store.interface.Store`` and ``tessera.store.memo.Memo``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from tessera.kek import KeyEncryptionKey
from tessera.store.base import StoreError
from tessera.store.interface import Store
from tessera.store.memo import Memo
from tessera.store.sql.access_advisor import SqlAccessAdvisor
from tessera.store.sql.access_keys import SqlAccessKeys
from tessera.store.sql.account_settings import SqlAccountSettings
from tessera.store.sql.accounts import SqlAccounts
from tessera.store.sql.attachments import SqlAttachments
from tessera.store.sql.audit import SqlAudit
from tessera.store.sql.engine import sqlite_url
from tessera.store.sql.identities import SqlIdentities
from tessera.store.sql.instance_profiles import SqlInstanceProfiles
from tessera.store.sql.instances import SqlInstances
from tessera.store.sql.issuer_keys import SqlIssuerKeys
from tessera.store.sql.login_profiles import SqlLoginProfiles
from tessera.store.sql.meta import SqlMeta
from tessera.store.sql.mfa import SqlMfa
from tessera.store.sql.oidc_providers import SqlOidcProviders
from tessera.store.sql.organizations import SqlOrganizations
from tessera.store.sql.policies import SqlPolicies
from tessera.store.sql.rolesanywhere import SqlRolesAnywhere
from tessera.store.sql.saml_providers import SqlSamlProviders
from tessera.store.sql.server_certificates import SqlServerCertificates
from tessera.store.sql.service_linked_roles import SqlServiceLinkedRoles
from tessera.store.sql.tags import SqlTags
from tessera.store.sql.user_credentials import SqlUserCredentials


class SqlStore(
    SqlMeta,
    SqlAccounts,
    SqlAccessKeys,
    SqlIdentities,
    SqlPolicies,
    SqlAttachments,
    SqlTags,
    SqlMfa,
    SqlIssuerKeys,
    SqlOidcProviders,
    SqlSamlProviders,
    SqlOrganizations,
    SqlServiceLinkedRoles,
    SqlLoginProfiles,
    SqlAccountSettings,
    SqlInstanceProfiles,
    SqlServerCertificates,
    SqlUserCredentials,
    SqlRolesAnywhere,
    SqlAccessAdvisor,
    SqlInstances,
    SqlAudit,
):
    """One store, any number of accounts. Thread-safe; every method is one transaction."""

    def schema_version(self) -> int:
        """The highest migration applied (``/ready`` compares it with the code's)."""
        from sqlalchemy import func, select

        from tessera.store.sql.schema import schema_migrations

        with self._tx(bump=False) as conn:
            return int(conn.execute(select(func.max(schema_migrations.c.version))).scalar() or 0)


def open_sql_store(
    kek: KeyEncryptionKey, *, data_dir: Path | None = None, database_url: str | None = None
) -> SqlStore:
    if database_url:
        url = database_url
    else:
        if data_dir is None:
            raise StoreError("either a data directory or a database URL is required")
        url = sqlite_url(data_dir)
    store = SqlStore(url, kek)
    store.migrate()
    return store


if TYPE_CHECKING:  # the engine implements the whole interface and the memo
    _store: Store = cast(SqlStore, None)
    _memo: Memo = cast(SqlStore, None)
