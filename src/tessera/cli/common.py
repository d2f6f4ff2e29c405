"""What the ``tessera`` subcommands that work on a store share: the
``--data-dir``/``--database-url`` options (:func:`add_data_dir_args`, with the URL
checked by :func:`database_url`), opening an existing store with a clear message
when there is none (:func:`open_existing_store`), and the one-line answer for a
database that cannot be reached (:func:`database_error`). ``cli.main`` and the
subcommand modules it registers (``org_cmd``, ``outbound``) import it, so none of
them imports ``cli.main``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tessera.app.envconfig import env_default
from tessera.config import DEFAULT_DATA_DIR
from tessera.kek import KekError

if TYPE_CHECKING:
    from tessera.store.sql import SqlStore

__all__ = [
    "SUPPORTED_DATABASE_SCHEMES",
    "add_data_dir_args",
    "database_error",
    "database_url",
    "open_existing_store",
    "redact_url",
]

#: URL schemes ``--database-url`` accepts (``sqlite`` is what the data directory
#: uses when no URL is given).
SUPPORTED_DATABASE_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "sqlite")


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``, for messages."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def database_url(raw: str) -> str:
    """The ``--database-url`` type: a URL whose scheme Tessera supports (argparse
    reports anything else as a usage error, exit 2)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        scheme = make_url(raw).drivername
    except ArgumentError:
        raise argparse.ArgumentTypeError(
            f"not a database URL: {raw!r} (expected postgresql://user@host:5432/dbname)"
        ) from None
    if scheme not in SUPPORTED_DATABASE_SCHEMES:
        raise argparse.ArgumentTypeError(
            f"unsupported database {scheme!r} in {redact_url(raw)}: Tessera stores in "
            "PostgreSQL (postgresql://user@host:5432/dbname) or, without --database-url, "
            "in SQLite in the data directory"
        )
    return raw


def database_error(url: str | None, exc: BaseException) -> str:
    """One line for a database failure: where, and the server's own words (the
    driver's reason, without psycopg's ``connection … failed:`` and ``FATAL:``
    prefixes). Never shows a password."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    if "failed:" in text:  # psycopg: 'connection to server at "…", port … failed: …'
        text = text.rsplit("failed:", 1)[1]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    detail = lines[0] if lines else type(orig).__name__
    for prefix in ("FATAL:", "ERROR:"):
        if detail.startswith(prefix):
            detail = detail[len(prefix) :].strip()
    where = redact_url(url) if url else "the data directory's SQLite database"
    if isinstance(exc, OperationalError | InterfaceError):
        return f"cannot connect to the database at {where}: {detail}"
    return f"database error at {where}: {detail}"


def add_data_dir_args(parser: argparse.ArgumentParser) -> None:
    """``--data-dir`` and ``--database-url``, defaulting to their ``TESSERA_*`` variables."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=env_default("TESSERA_DATA_DIR", Path, Path(DEFAULT_DATA_DIR)),
        metavar="DIR",
        help="data directory (default ./tessera-data; env TESSERA_DATA_DIR)",
    )
    parser.add_argument(
        "--database-url",
        type=database_url,
        default=env_default("TESSERA_DATABASE_URL", str, None),
        metavar="URL",
        help="postgresql://user@host:5432/dbname to store everything in PostgreSQL "
        "(default: SQLite in the data directory; env TESSERA_DATABASE_URL)",
    )


def open_existing_store(command: str, args: argparse.Namespace) -> SqlStore | None:
    """The store named by ``--data-dir``/``--database-url`` for an admin command, or
    None after telling the user why not (no store there, or the KEK is wrong)."""
    from tessera.app.bootstrap import is_initialised, open_store

    if not is_initialised(args.data_dir, args.database_url):
        print(
            f"{command}: no Tessera store at {args.data_dir}; run 'tessera init' first",
            file=sys.stderr,
        )
        return None
    try:
        return open_store(args.data_dir, args.database_url)
    except KekError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return None
