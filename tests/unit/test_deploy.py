"""deploy/: the systemd unit verifies (``systemd-analyze verify`` when present,
else its hardening is checked structurally), the Containerfile runs Tessera as a
non-root user with a /health check, and every ``tessera serve`` command line in
deploy/ parses with the real CLI parser. No image is built."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tessera.cli.main import build_parser

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "tessera.service"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text().replace("\\\n", " "))
    return parser


def _serve_args(command: list[str]) -> list[str]:
    assert command[command.index("serve") - 1].endswith("tessera")
    return command[command.index("serve") :]


def test_the_unit_is_hardened() -> None:
    service = _unit()["Service"]
    for key, value in {
        "DynamicUser": "yes",
        "StateDirectory": "tessera",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "KillSignal": "SIGTERM",
    }.items():
        assert service.get(key) == value, key
    assert service.get("CapabilityBoundingSet") == ""


def test_the_units_serve_command_parses() -> None:
    command = shlex.split(_unit()["Service"]["ExecStart"])
    args = build_parser().parse_args(_serve_args(command))
    assert args.host == "127.0.0.1" and args.trusted_proxy == ["127.0.0.1"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "tessera"
    assert exe.exists()
    unit = tmp_path / "tessera.service"
    unit.write_text(UNIT.read_text().replace("/opt/tessera/bin/tessera", str(exe)))
    out = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    problems = [line for line in (out.stdout + out.stderr).splitlines() if "tessera" in line]
    assert out.returncode == 0 and not problems, out.stdout + out.stderr


def test_the_containerfile_runs_unprivileged_with_a_health_check() -> None:
    lines = [
        line.strip()
        for line in (DEPLOY / "Containerfile").read_text().replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    words = [line.split(None, 1) for line in lines]
    assert words[0] == ["FROM", "python:3.11-slim"]
    instructions = [w[0] for w in words]
    user = instructions.index("USER")
    assert words[user][1].split(":")[0] not in ("root", "0")
    assert user < instructions.index("ENTRYPOINT")
    health = " ".join(w[1] for w in words if w[0] == "HEALTHCHECK")
    assert "/health" in health
    import json

    entry = json.loads(next(w[1] for w in words if w[0] == "ENTRYPOINT"))
    cmd = json.loads(next(w[1] for w in words if w[0] == "CMD"))
    args = build_parser().parse_args(_serve_args(entry + cmd))
    assert args.host == "0.0.0.0"


def test_the_proxy_config_forwards_to_tessera_and_checks_readiness() -> None:
    caddy = (DEPLOY / "Caddyfile").read_text()
    assert "reverse_proxy" in caddy and "health_uri /ready" in caddy
    assert caddy.count("{") == caddy.count("}")
