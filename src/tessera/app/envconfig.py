"""The ``TESSERA_*`` environment <-> :class:`~tessera.config.ServerConfig` mapping.

One table (:data:`SERVE_OPTIONS`) names every ``serve`` setting, its environment
variable, its converter and its default. It is shared by the command line (option
defaults, and :func:`export_env` handing the configuration to uvicorn worker
processes) and by the worker factory ``tessera.app.bootstrap.app_from_env``
(:func:`config_from_env`). It lives here, below both, so that ``app`` never
imports ``cli``.

The converters raise :class:`argparse.ArgumentTypeError` so argparse reports a bad
command-line value or a bad environment default the same way.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from tessera.config import (
    DEFAULT_BUSY_POLL_US,
    DEFAULT_DATA_DIR,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_HOST,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADER_LINE_BYTES,
    DEFAULT_PORT,
    ServerConfig,
    parse_network,
)

__all__ = [
    "MIN_HEADER_LIMIT",
    "SERVE_OPTIONS",
    "config_from_env",
    "env_default",
    "export_env",
    "flag",
    "header_limit",
    "non_negative_float",
    "positive_seconds",
    "whole_number",
]


def non_negative_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
    if not value >= 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {raw!r}")
    return value


def whole_number(
    minimum: int, maximum: int | None = None, *, noun: str = "a whole number", unit: str = ""
) -> Callable[[str], int]:
    """An argparse ``type`` for a whole number in ``[minimum, maximum]`` whose
    errors read "not <noun>: 'x'" and "must be at least <minimum>[ unit]: 'x'"
    (or "must be between <minimum> and <maximum>: 'x'")."""
    suffix = f" {unit}" if unit else ""

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {noun}: {raw!r}") from None
        if maximum is not None and not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"must be between {minimum} and {maximum}{suffix}: {raw!r}"
            )
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}{suffix}: {raw!r}")
        return value

    return parse


#: The smallest ``--max-header-bytes``/``--max-header-line-bytes`` accepted.
MIN_HEADER_LIMIT = 1024

#: A request-head size limit in bytes.
header_limit = whole_number(MIN_HEADER_LIMIT, noun="a whole number of bytes", unit="bytes")


def positive_seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
    if not value > 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0: {raw!r}")
    return value


def flag(raw: str) -> bool:
    """An on/off environment value: 1/true/yes/on (any case) is on."""
    return raw.strip().lower() in ("1", "true", "yes", "on")


def metrics_address(raw: str) -> str:
    """``HOST:PORT`` or ``PORT`` (then 127.0.0.1) for ``--metrics-listen``."""
    host, sep, port = raw.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", raw
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not HOST:PORT: {raw!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {raw!r}")
    return f"{host}:{number}"


def rate_limit(raw: str) -> str:
    """``RPS[:BURST]`` for ``--rate-limit`` (checked, kept as text)."""
    from tessera.ratelimit import RateLimit

    return str(RateLimit.parse(raw))


#: (ServerConfig field, env var, converter, default)
SERVE_OPTIONS: list[tuple[str, str, Callable[[str], object], object]] = [
    ("data_dir", "TESSERA_DATA_DIR", Path, Path(DEFAULT_DATA_DIR)),
    ("host", "TESSERA_HOST", str, DEFAULT_HOST),
    ("port", "TESSERA_PORT", int, DEFAULT_PORT),
    ("public_url", "TESSERA_PUBLIC_URL", str, None),
    ("workers", "TESSERA_WORKERS", int, 1),
    ("database_url", "TESSERA_DATABASE_URL", str, None),
    ("issuer_host_template", "TESSERA_ISSUER_HOST_TEMPLATE", str, None),
    ("key_rotation_interval_seconds", "TESSERA_KEY_ROTATION_INTERVAL", float, None),
    ("tls_cert", "TESSERA_TLS_CERT", Path, None),
    ("tls_key", "TESSERA_TLS_KEY", Path, None),
    ("log_level", "TESSERA_LOG_LEVEL", str, "info"),
    ("insecure_clock_offset_seconds", "TESSERA_INSECURE_CLOCK_OFFSET", float, 0.0),
    ("oidc_ca_bundle", "TESSERA_OIDC_CA_BUNDLE", Path, None),
    ("insecure_oidc_http", "TESSERA_INSECURE_OIDC_HTTP", flag, False),
    ("cache_check_interval_seconds", "TESSERA_CACHE_CHECK_INTERVAL", float, 0.0),
    ("busy_poll_us", "TESSERA_BUSY_POLL_US", non_negative_float, DEFAULT_BUSY_POLL_US),
    ("max_header_bytes", "TESSERA_MAX_HEADER_BYTES", header_limit, DEFAULT_MAX_HEADER_BYTES),
    (
        "max_header_line_bytes",
        "TESSERA_MAX_HEADER_LINE_BYTES",
        header_limit,
        DEFAULT_MAX_HEADER_LINE_BYTES,
    ),
    ("header_timeout_seconds", "TESSERA_HEADER_TIMEOUT", positive_seconds, DEFAULT_HEADER_TIMEOUT),
    ("append_authorization_message", "TESSERA_APPEND_AUTHORIZATION_MESSAGE", flag, False),
    ("audit_log", "TESSERA_AUDIT_LOG", str, None),
    (
        "audit_retention_days",
        "TESSERA_AUDIT_RETENTION_DAYS",
        whole_number(1, 36500, noun="a whole number of days"),
        90,
    ),
    ("metrics_listen", "TESSERA_METRICS_LISTEN", metrics_address, None),
    ("rate_limit", "TESSERA_RATE_LIMIT", rate_limit, None),
    ("rate_limit_by_source", "TESSERA_RATE_LIMIT_BY_SOURCE", flag, False),
    ("insecure_no_audit", "TESSERA_INSECURE_NO_AUDIT", flag, False),
]


def env_default(env: str, conv: Callable[[str], object], default: object) -> object:
    """``conv(os.environ[env])``, or ``default`` when the variable is unset or empty."""
    raw = os.environ.get(env)
    if raw is None or raw == "":
        return default
    return conv(raw)


def config_from_env() -> ServerConfig:
    """The server configuration from ``TESSERA_*`` variables alone (worker processes)."""
    values = {name: env_default(env, conv, dflt) for name, env, conv, dflt in SERVE_OPTIONS}
    proxies = os.environ.get("TESSERA_TRUSTED_PROXIES", "")
    values["trusted_proxies"] = tuple(p for p in proxies.split(",") if p)
    networks = os.environ.get("TESSERA_NETWORKS", "")
    values["networks"] = tuple(parse_network(n) for n in networks.split(",") if n)
    return ServerConfig(**values)  # type: ignore[arg-type]


def export_env(config: ServerConfig) -> None:
    """Hand the configuration to uvicorn worker processes (the inverse of
    :func:`config_from_env`)."""
    for name, env, _conv, _default in SERVE_OPTIONS:
        value = getattr(config, name)
        if value is None:
            os.environ.pop(env, None)
        else:
            os.environ[env] = str(value)
    os.environ["TESSERA_TRUSTED_PROXIES"] = ",".join(config.trusted_proxies)
    os.environ["TESSERA_NETWORKS"] = ",".join(f"{label}={cidr}" for label, cidr in config.networks)
