"""Smoke test of the benchmark harness (``bench/run.py``) so it cannot rot: a few
hundred requests through the real harness code against a real Tessera, with the
asyncio generator (wrk is not needed) and the peers reported unavailable instead of
installed (no network beyond loopback). Asserts structure and zero errors, never
timings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench import run
from bench.targets import OPERATIONS


def test_harness_end_to_end_without_peers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "find_peer", lambda name: None)
    doc = run.main(
        [
            "--peers",
            "moto,ministack",
            "--no-install",
            "--generator",
            "async",
            "--max-requests",
            "40",
            "--warmup",
            "10",
            "--concurrency",
            "1,4",
            "--seconds",
            "30",
            "--raw-seconds",
            "0.2",
            "--workers",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    assert json.loads((tmp_path / "latest.json").read_text()) == doc
    markdown = (tmp_path / "latest.md").read_text()

    assert doc["targets"]["tessera"]["available"] is True
    for peer in ("moto", "ministack"):
        assert doc["targets"][peer]["available"] is False
        assert "not installed" in doc["targets"][peer]["reason"]
        assert "unavailable" in markdown

    cells = doc["results"]
    assert {(c["operation"], c["concurrency"]) for c in cells} == {
        (op, c) for op in OPERATIONS for c in (1, 4)
    }
    for cell in cells:
        assert cell["target"] == "tessera"
        assert cell["supported"], cell
        assert cell["requests"] == 40
        assert cell["errors"] == 0, cell
        assert cell["rps"] > 0 and cell["p99_ms"] >= cell["p50_ms"] > 0
        assert cell["generator"] == "async"
        assert f"| {cell['operation']} | {cell['concurrency']} | Tessera |" in markdown

    assert set(doc["raw_signing"]) == {"RS256", "ES384"}
    assert {(r["operation"], r["concurrency"]) for r in doc["signing"]} == {
        (op, c) for op in OPERATIONS if op.startswith("GetWebIdentityToken-") for c in (1, 4)
    }
    assert all(r["ratio"] > 0 for r in doc["signing"])
    assert doc["ratios"] == []  # no peer ran
    assert doc["memory_mb"]["tessera"]
