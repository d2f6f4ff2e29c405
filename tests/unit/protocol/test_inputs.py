"""``tessera.protocol.inputs`` is generated from the pinned model and the operation
registry; it must be current, and handlers must use it."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _generator() -> object:
    spec = importlib.util.spec_from_file_location("gen_inputs", ROOT / "scripts" / "gen_inputs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_inputs_are_current() -> None:
    import subprocess
    import sys
    import tempfile

    rendered = _generator().render()  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inputs.py"
        path.write_text(rendered)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ruff",
                "format",
                "-q",
                "--config",
                str(ROOT / "pyproject.toml"),
                str(path),
            ],
            check=True,
        )
        formatted = path.read_text()
    current = (ROOT / "src" / "tessera" / "protocol" / "inputs.py").read_text()
    assert formatted == current, "run: .venv/bin/python scripts/gen_inputs.py && ruff format"


def test_every_declared_handler_names_its_members() -> None:
    """A handler declared with ``@operation(svc, "X")`` takes ``Params[XMembers]``
    (or the prefixed alias ``gen_inputs.alias_for`` gives a shared name)."""
    prefixes: dict[str, str] = _generator().PREFIXES  # type: ignore[attr-defined]
    missing: list[str] = []
    for path in sorted((ROOT / "src" / "tessera").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            for deco in node.decorator_list:
                if (
                    isinstance(deco, ast.Call)
                    and getattr(deco.func, "id", None) == "operation"
                    and len(deco.args) >= 2
                    and isinstance(deco.args[1], ast.Constant)
                ):
                    want = f"Params[{deco.args[1].value}Members]"
                    # a name two services share gets the non-Query service's prefix
                    service = deco.args[0].value if isinstance(deco.args[0], ast.Constant) else ""
                    prefix = prefixes.get(str(service), "")
                    prefixed = f"Params[{prefix}{deco.args[1].value}Members]"
                    annotations = [
                        ast.unparse(a.annotation) for a in node.args.args if a.annotation
                    ]
                    if want not in annotations and prefixed not in annotations:
                        missing.append(f"{path.name}:{node.name} (wants {want})")
    assert not missing, missing
