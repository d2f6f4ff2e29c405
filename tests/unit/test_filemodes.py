"""tessera.filemodes: directories 0700, files 0600, only ever tightened."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.filemodes import create_private_file, secure_data_dir, tighten


@pytest.fixture(autouse=True)
def no_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_tighten_only_removes_bits(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    os.chmod(f, 0o644)
    change = tighten(f, 0o600)
    assert change is not None and (change.old_mode, change.new_mode) == (0o644, 0o600)
    assert "from 0644 to 0600" in change.describe() and mode(f) == 0o600
    os.chmod(f, 0o400)
    assert tighten(f, 0o600) is None and mode(f) == 0o400  # never loosened
    assert tighten(tmp_path / "missing", 0o600) is None


def test_create_private_file_ignores_the_umask(tmp_path: Path) -> None:
    f = tmp_path / "db"
    create_private_file(f)
    assert mode(f) == 0o600 and f.read_bytes() == b""
    f.write_bytes(b"keep")
    create_private_file(f)  # an existing file is left as it is
    assert f.read_bytes() == b"keep"


def test_secure_data_dir(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert secure_data_dir(tmp_path / "absent", create=False, sqlite=True) == []
    assert not (tmp_path / "absent").exists()
    d = tmp_path / "new" / "data"
    assert secure_data_dir(d, create=True, sqlite=True) == []
    assert mode(d) == 0o700 and mode(d / "tessera.db") == 0o600
    os.chmod(d, 0o755)
    for name in ("tessera.db", "tessera.db-wal", "kek"):
        (d / name).touch()
        os.chmod(d / name, 0o664)
    with caplog.at_level("WARNING", logger="tessera.filemodes"):
        changes = secure_data_dir(d, create=False, sqlite=True)
    assert sorted(c.path.name for c in changes) == ["data", "kek", "tessera.db", "tessera.db-wal"]
    assert mode(d) == 0o700 and all(
        mode(d / n) == 0o600 for n in ("tessera.db", "tessera.db-wal", "kek")
    )
    assert "from 0755 to 0700" in caplog.text
