"""The wire spec is pinned: the botocore (and boto3, awscli, uvicorn, httptools)
versions installed are those in constraints.txt, which the README commands and CI
install with. A new release cannot change the wire behaviour unnoticed; upgrading
is a commit that changes constraints.txt."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest

CONSTRAINTS = Path(__file__).resolve().parents[3] / "constraints.txt"


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, pinned = line.partition("==")
            pins[name.strip().lower()] = pinned.strip()
    return pins


@pytest.mark.parametrize("package", ["botocore", "boto3", "awscli", "uvicorn", "httptools"])
def test_installed_version_is_the_pinned_one(package: str) -> None:
    assert version(package) == _pins()[package], (
        f"{package} {version(package)} is installed but constraints.txt pins "
        f"{_pins()[package]}: install with `pip install -c constraints.txt …`"
    )
