"""What the ``tessera`` subcommands that work on a store share: the
``--data-dir``/``--database-url`` options (:func:`add_data_dir_args`) and opening
an existing store with a clear message when there is none
(:func:`open_existing_store`). ``cli.main`` and the subcommand modules it
registers (``org_cmd``, ``outbound``) import it, so none of them imports
``cli.main``."""

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

__all__ = ["add_data_dir_args", "open_existing_store"]


def add_data_dir_args(parser: argparse.ArgumentParser) -> None:
    """``--data-dir`` and ``--database-url``, defaulting to their ``TESSERA_*`` variables."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=env_default("TESSERA_DATA_DIR", Path, Path(DEFAULT_DATA_DIR)),
        help="data directory (env TESSERA_DATA_DIR, default ./tessera-data)",
    )
    parser.add_argument(
        "--database-url",
        default=env_default("TESSERA_DATABASE_URL", str, None),
        help="postgresql://… to store everything in PostgreSQL (env TESSERA_DATABASE_URL)",
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
