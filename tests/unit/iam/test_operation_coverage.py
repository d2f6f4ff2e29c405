"""Every operation of the pinned IAM model is implemented (declared in the
operation registry) or refused on purpose (``tessera.iam.unsupported``), and the
README's "IAM operation coverage" table says exactly that (#17)."""

from __future__ import annotations

import re
from pathlib import Path

from tessera.app.operations import all_operations
from tessera.iam.unsupported import UNSUPPORTED
from tessera.protocol.model import service_spec

README = Path(__file__).resolve().parents[3] / "README.md"
_ROW = re.compile(r"^\| `(\w+)` \| (implemented|refused: .*) \|$")


def _model_operations() -> set[str]:
    return set(service_spec("iam").model.operation_names)


def _declared() -> set[str]:
    return {op.name for op in all_operations() if op.service == "iam"}


def _table() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## IAM operation coverage\n")
    end = text.index("\n## ", start + 1)
    rows: dict[str, str] = {}
    for line in text[start:end].splitlines():
        found = _ROW.match(line)
        if found is not None:
            assert found.group(1) not in rows, f"{found.group(1)} is listed twice"
            rows[found.group(1)] = found.group(2)
    return rows


def test_every_model_operation_is_implemented_or_refused() -> None:
    model = _model_operations()
    missing = sorted(model - _declared())
    assert not missing, f"IAM operations neither implemented nor refused: {missing}"
    assert set(UNSUPPORTED) <= model  # refusals name real operations
    assert not sorted(_declared() - model)  # nothing declared outside the model


def test_the_readme_table_matches_the_registry() -> None:
    table = _table()
    model = _model_operations()
    assert set(table) == model, (
        f"README rows missing: {sorted(model - set(table))}; "
        f"not in the model: {sorted(set(table) - model)}"
    )
    declared = _declared()
    wrong = []
    for name, status in sorted(table.items()):
        if name in UNSUPPORTED:
            expected = f'refused: `AccessDenied` (403), "{name} {UNSUPPORTED[name]}"'
            if status != expected:
                wrong.append(f"{name}: README says {status!r}, it answers {expected!r}")
        elif status != "implemented" or name not in declared:
            wrong.append(f"{name}: README says {status!r}, registry: not declared")
    assert not wrong, "\n".join(wrong)
