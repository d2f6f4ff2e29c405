"""The test session never touches the real ``~/.aws``: ``tests/conftest.py`` points
HOME, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE into a temporary directory,
and every subprocess (the AWS CLI, ``tessera``, SDK scripts) inherits them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REAL_HOME


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def _aws() -> str:
    local = Path(sys.executable).parent / "aws"
    return str(local) if local.exists() else (shutil.which("aws") or "aws")


def test_home_is_private(tmp_path: Path) -> None:
    home = Path(os.environ["HOME"])
    assert str(home) != REAL_HOME
    assert Path(os.environ["AWS_CONFIG_FILE"]).is_relative_to(home)
    assert Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).is_relative_to(home)
    # what the AWS CLI resolves its cache directory to, in a subprocess
    out = subprocess.run(
        [sys.executable, "-c", "import os; print(os.path.expanduser('~/.aws/cli/cache'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(out.stdout.strip()).is_relative_to(home)


def test_aws_cli_writes_into_the_private_home_only() -> None:
    real = Path(REAL_HOME) / ".aws"
    before = _snapshot(real)
    done = subprocess.run(
        [_aws(), "configure", "set", "region", "eu-west-3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    config = Path(os.environ["AWS_CONFIG_FILE"])
    assert "eu-west-3" in config.read_text()
    assert _snapshot(real) == before
