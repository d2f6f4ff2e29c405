"""The import contracts in ``pyproject.toml`` (``[tool.importlinter]``) hold: the
layering of DESIGN.md (services never import the SQL engine, the store never
imports services, app and cli on top), the tls split, and the cycles that were
broken stay broken. ``lint-imports`` is run from the venv the tests run in."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "tessera"


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    return {c["id"]: c for c in contracts}


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    assert lint_imports.exists(), f"{lint_imports} missing: install the dev extras"
    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, "lint-imports failed:\n" + output
    assert "0 broken" in output, output


def test_every_iam_operation_module_is_forbidden_to_the_store() -> None:
    """import-linter wildcards replace whole module names only, so the IAM
    operation modules (``ops_*``) are listed one by one; a new one must be added."""
    forbidden = set(_contracts()["store-not-services"]["forbidden_modules"])
    ops = {f"tessera.iam.{p.stem}" for p in (SRC / "iam").glob("ops_*.py")}
    assert ops, "no tessera/iam/ops_*.py found"
    assert ops <= forbidden, f"add to store-not-services: {sorted(ops - forbidden)}"


def test_layers_contract_lists_every_top_level_module() -> None:
    """The layers contract is exhaustive; this says which module is missing more
    plainly than lint-imports does."""
    layers = _contracts()["app-cli-on-top"]["layers"]
    listed = {name.strip() for layer in layers for name in str(layer).split(":")}
    present = {
        p.stem if p.is_file() else p.name
        for p in SRC.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert present <= listed, f"add to the app-cli-on-top layers: {sorted(present - listed)}"
