"""File modes of the data directory: what Tessera keeps there is readable by its
owner only.

Owns the policy and the few calls that apply it:

* the data directory is ``0700``: created so, and an existing one with group or
  other bits (``tessera init`` into a ``0755`` directory, a store made by an
  older version) is tightened to ``0700`` — never loosened;
* the SQLite database is created ``0600`` before SQLite opens it (SQLite itself
  would create it ``0666 & ~umask``); its ``-wal``, ``-shm`` and ``-journal``
  files are then created by SQLite with the database file's mode, i.e. ``0600``
  too, whatever the umask. Existing ones with looser modes are tightened, as is
  the ``kek`` file (created ``0600`` by ``tessera.kek``).

``tessera init`` and every command that opens a store (``serve``, its workers,
the admin commands) call :func:`secure_data_dir`; each tightening is logged as a
warning. A mode that cannot be changed (a file owned by another user) is reported
the same way and does not stop the server.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Final

log = logging.getLogger("tessera.filemodes")

PRIVATE_DIR_MODE: Final = 0o700
PRIVATE_FILE_MODE: Final = 0o600
SQLITE_FILE: Final = "tessera.db"
SQLITE_SIDE_SUFFIXES: Final = ("-wal", "-shm", "-journal")
KEK_FILE: Final = "kek"


@dataclass(frozen=True, slots=True)
class ModeChange:
    """One path whose mode was (or could not be) tightened."""

    path: Path
    old_mode: int
    new_mode: int
    error: str | None = None

    def describe(self) -> str:
        if self.error is not None:
            return (
                f"{self.path} has mode {self.old_mode:04o}; could not change it to "
                f"{self.new_mode:04o}: {self.error}"
            )
        return f"tightened the mode of {self.path} from {self.old_mode:04o} to {self.new_mode:04o}"


def tighten(path: Path, mode: int) -> ModeChange | None:
    """Remove every permission bit of ``path`` not in ``mode`` (never adds one).
    None when the path does not exist or is already that strict."""
    try:
        current = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None
    target = current & mode
    if target == current:
        return None
    try:
        os.chmod(path, target)
    except OSError as exc:
        return ModeChange(path, current, target, exc.strerror or type(exc).__name__)
    return ModeChange(path, current, target)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode ``0600`` if it does not exist (an empty
    file is a valid new SQLite database)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    os.close(fd)


def secure_data_dir(data_dir: Path, *, create: bool, sqlite: bool) -> list[ModeChange]:
    """Apply the policy to ``data_dir``: create it ``0700`` (when ``create``) or
    tighten it; pre-create the SQLite database ``0600`` (when ``sqlite``); tighten
    the database, its side files and the KEK file. Returns what changed (each
    change is also logged as a warning)."""
    if create:
        data_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    elif not data_dir.is_dir():
        return []
    changes: list[ModeChange | None] = [tighten(data_dir, PRIVATE_DIR_MODE)]
    db = data_dir / SQLITE_FILE
    if sqlite:
        create_private_file(db)
    for path in (db, *(Path(f"{db}{s}") for s in SQLITE_SIDE_SUFFIXES), data_dir / KEK_FILE):
        changes.append(tighten(path, PRIVATE_FILE_MODE))
    done = [c for c in changes if c is not None]
    for change in done:
        log.warning("%s", change.describe())
    return done
