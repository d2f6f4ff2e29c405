"""The SQL engine of the storage interface (SQLite and PostgreSQL): ``engine``
(connections, transactions, read cache), ``schema`` (tables and migrations), one
module per aggregate, and ``store`` (the ``SqlStore`` façade). Only ``app`` and
``cli`` import it; services depend on the Protocols of ``tessera.store``."""

from tessera.store.base import InvalidMarker
from tessera.store.issuer_keys import IssuerKeyRecord
from tessera.store.records import Owner, decode_marker, encode_marker
from tessera.store.sql.engine import QUIET, sqlite_url
from tessera.store.sql.store import SqlStore, open_sql_store

# InvalidMarker, IssuerKeyRecord, Owner and the marker functions moved to the
# interface (``tessera.store.base`` / ``issuer_keys`` / ``records``); re-exported
# here only until every importer is committed with its new import.
__all__ = [
    "QUIET",
    "InvalidMarker",
    "IssuerKeyRecord",
    "Owner",
    "SqlStore",
    "decode_marker",
    "encode_marker",
    "open_sql_store",
    "sqlite_url",
]
