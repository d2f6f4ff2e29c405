"""The data directory is private (issue #13): after ``tessera init`` and after a
``serve`` that made the WAL/SHM files, the directory is 0700 and the database,
its -wal/-shm and the KEK are 0600 — under the usual 022 umask; ``init`` into an
existing 0755 directory tightens it to 0700, and ``serve`` on a store made with
looser modes tightens them (and says so in its log)."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import TesseraServer, tessera_cmd

pytestmark = pytest.mark.e2e

FILES = ("tessera.db", "tessera.db-wal", "tessera.db-shm", "kek")


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """Servers and CLIs started here inherit the common 022 umask (files 0644 by
    default), so a passing test means Tessera set the modes itself."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(data_dir: Path) -> dict[str, int]:
    out = {".": mode(data_dir)}
    out.update({n: mode(data_dir / n) for n in FILES if (data_dir / n).exists()})
    return out


def _use(srv: TesseraServer, tag: str = "a") -> None:
    """A few writes so SQLite has a WAL and SHM file open."""
    iam = srv.client("iam")
    for i in range(3):
        iam.create_user(UserName=f"modes-{tag}-{i}")
    srv.client("sts").get_caller_identity()


def test_init_then_serve_everything_private(tmp_path: Path) -> None:
    srv = TesseraServer(data_dir=tmp_path / "data")
    srv.init()
    assert modes(srv.data_dir) == {".": 0o700, "tessera.db": 0o600, "kek": 0o600}
    srv.start()
    try:
        _use(srv)
        seen = modes(srv.data_dir)
        assert {"tessera.db-wal", "tessera.db-shm"} <= set(seen), seen
        assert seen == {".": 0o700, **{n: 0o600 for n in FILES}}
    finally:
        srv.stop()
    assert all(m == 0o600 for n, m in modes(srv.data_dir).items() if n != ".")


def test_init_into_existing_world_readable_dir_tightens_it(tmp_path: Path) -> None:
    data = tmp_path / "existing"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    out = subprocess.run(
        tessera_cmd("init", "--data-dir", str(data), "--json"),
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TESSERA_"))},
    )
    assert out.returncode == 0, out.stderr
    assert modes(data) == {".": 0o700, "tessera.db": 0o600, "kek": 0o600}
    assert "0755" in out.stderr and "0700" in out.stderr  # says what it changed


def test_serve_tightens_a_store_made_with_loose_modes(tmp_path: Path) -> None:
    srv = TesseraServer(data_dir=tmp_path / "data")
    srv.init()
    srv.start()
    try:
        _use(srv)
    finally:
        srv.stop()
    os.chmod(srv.data_dir, 0o755)
    for name in FILES:
        if (srv.data_dir / name).exists():
            os.chmod(srv.data_dir / name, 0o644)
    srv.start()
    try:
        _use(srv, "b")
        assert modes(srv.data_dir) == {".": 0o700, **{n: 0o600 for n in FILES}}
    finally:
        srv.stop()
    log = srv.log_text()
    assert "tightened the mode of" in log and "from 0755 to 0700" in log
