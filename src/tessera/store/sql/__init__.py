"""The SQL engine of the storage interface (SQLite and PostgreSQL): ``engine``
(connections, transactions, read cache), ``schema`` (tables and migrations), one
module per aggregate, and ``store`` (the ``SqlStore`` façade). Only ``app`` and
``cli`` import it; services depend on the Protocols of ``tessera.store``."""

from tessera.store.sql.engine import QUIET, sqlite_url
from tessera.store.sql.store import SqlStore, open_sql_store

__all__ = ["QUIET", "SqlStore", "open_sql_store", "sqlite_url"]
