"""``tessera serve`` options that reach the workers: ``--busy-poll-us`` from the
command line and from the environment, checked, and handed to worker processes."""

from __future__ import annotations

import os

import pytest

from tessera.cli.main import _export_env, _serve_config, build_parser, config_from_env
from tessera.config import DEFAULT_BUSY_POLL_US


def test_busy_poll_default_and_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TESSERA_BUSY_POLL_US", raising=False)
    args = build_parser().parse_args(["serve"])
    assert _serve_config(args).busy_poll_us == DEFAULT_BUSY_POLL_US == 100.0
    args = build_parser().parse_args(["serve", "--busy-poll-us", "0"])
    assert _serve_config(args).busy_poll_us == 0.0


def test_busy_poll_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_BUSY_POLL_US", "250")
    assert _serve_config(build_parser().parse_args(["serve"])).busy_poll_us == 250.0


@pytest.mark.parametrize("bad", ["-1", "abc", "inf", "nan"])
def test_busy_poll_rejects_bad_values(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["serve", "--busy-poll-us", bad])
    assert exc.value.code == 2
    assert "--busy-poll-us" in capsys.readouterr().err


def test_workers_receive_busy_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TESSERA_BUSY_POLL_US", raising=False)
    config = _serve_config(build_parser().parse_args(["serve", "--busy-poll-us", "40"]))
    monkeypatch.setattr(os, "environ", dict(os.environ))  # _export_env writes them all
    _export_env(config)
    assert config_from_env().busy_poll_us == 40.0
