"""``tessera serve`` options that reach the workers: ``--busy-poll-us`` and the
request-head limits (``--max-header-bytes``, ``--max-header-line-bytes``,
``--header-timeout``) from the command line and from the environment, checked, and
handed to worker processes."""

from __future__ import annotations

import os

import pytest

from tessera.app.envconfig import config_from_env, export_env
from tessera.cli.main import _serve_config, build_parser
from tessera.config import (
    DEFAULT_BUSY_POLL_US,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADER_LINE_BYTES,
)


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
    monkeypatch.setattr(os, "environ", dict(os.environ))  # export_env writes them all
    export_env(config)
    assert config_from_env().busy_poll_us == 40.0


# ---------------------------------------------------------------- request-head limits

_LIMIT_ENV = ("TESSERA_MAX_HEADER_BYTES", "TESSERA_MAX_HEADER_LINE_BYTES", "TESSERA_HEADER_TIMEOUT")


@pytest.fixture
def no_limit_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _LIMIT_ENV:
        monkeypatch.delenv(name, raising=False)


def test_header_limits_default_and_options(no_limit_env: None) -> None:
    config = _serve_config(build_parser().parse_args(["serve"]))
    assert config.max_header_bytes == DEFAULT_MAX_HEADER_BYTES == 64 * 1024
    assert config.max_header_line_bytes == DEFAULT_MAX_HEADER_LINE_BYTES == 16 * 1024
    assert config.header_timeout_seconds == DEFAULT_HEADER_TIMEOUT == 10.0
    args = build_parser().parse_args(
        [
            "serve",
            "--max-header-bytes",
            "131072",
            "--max-header-line-bytes",
            "8192",
            "--header-timeout",
            "2.5",
        ]
    )
    config = _serve_config(args)
    assert (config.max_header_bytes, config.max_header_line_bytes) == (131072, 8192)
    assert config.header_timeout_seconds == 2.5


def test_header_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_MAX_HEADER_BYTES", "32768")
    monkeypatch.setenv("TESSERA_MAX_HEADER_LINE_BYTES", "4096")
    monkeypatch.setenv("TESSERA_HEADER_TIMEOUT", "3")
    config = _serve_config(build_parser().parse_args(["serve"]))
    assert (config.max_header_bytes, config.max_header_line_bytes) == (32768, 4096)
    assert config.header_timeout_seconds == 3.0
    # the command line wins
    args = build_parser().parse_args(["serve", "--header-timeout", "7"])
    assert _serve_config(args).header_timeout_seconds == 7.0


def test_line_limit_is_at_most_the_total(no_limit_env: None) -> None:
    args = build_parser().parse_args(["serve", "--max-header-bytes", "8192"])
    config = _serve_config(args)
    assert config.max_header_bytes == config.max_header_line_bytes == 8192


@pytest.mark.parametrize(
    ("option", "bad"),
    [
        ("--max-header-bytes", "0"),
        ("--max-header-bytes", "1023"),
        ("--max-header-bytes", "-5"),
        ("--max-header-bytes", "64k"),
        ("--max-header-bytes", "1.5"),
        ("--max-header-line-bytes", "100"),
        ("--max-header-line-bytes", "x"),
        ("--header-timeout", "0"),
        ("--header-timeout", "-1"),
        ("--header-timeout", "inf"),
        ("--header-timeout", "nan"),
        ("--header-timeout", "soon"),
    ],
)
def test_header_limits_reject_bad_values(
    option: str, bad: str, no_limit_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["serve", option, bad])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert option in err and repr(bad) in err


@pytest.mark.parametrize(
    ("env", "option"),
    [
        ("TESSERA_MAX_HEADER_BYTES", "--max-header-bytes"),
        ("TESSERA_MAX_HEADER_LINE_BYTES", "--max-header-line-bytes"),
        ("TESSERA_HEADER_TIMEOUT", "--header-timeout"),
    ],
)
def test_header_limits_reject_bad_environment_values(
    env: str,
    option: str,
    no_limit_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(env, "-1")
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["serve"])
    assert exc.value.code == 2
    assert option in capsys.readouterr().err


def test_workers_receive_header_limits(no_limit_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "--max-header-bytes",
            "20000",
            "--max-header-line-bytes",
            "3000",
            "--header-timeout",
            "1.5",
        ]
    )
    config = _serve_config(args)
    monkeypatch.setattr(os, "environ", dict(os.environ))  # export_env writes them all
    export_env(config)
    worker = config_from_env()
    assert (worker.max_header_bytes, worker.max_header_line_bytes) == (20000, 3000)
    assert worker.header_timeout_seconds == 1.5
