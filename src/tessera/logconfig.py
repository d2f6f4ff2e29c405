"""Logging configuration of the ``tessera`` processes (server, workers, CLI), in
one place.

Owns the one rule third-party libraries need: **nothing they log below WARNING
reaches Tessera's log, whatever ``--log-level`` says**, because several of them
print secrets at DEBUG/INFO:

* ``signxml`` logs every canonicalised element it verifies — the whole SAML
  assertion (NameID, attributes, signature and digest values) — at DEBUG;
* ``httpx`` logs each request URL at INFO and ``httpcore`` request/response
  events at DEBUG (a presigned URL carries a session token; IdP fetches);
* ``sqlalchemy`` and ``psycopg`` can log statements and their parameters;
* ``urllib3``/``botocore``/``boto3`` (used by tooling in-process) log URLs,
  headers and bodies at DEBUG.

Two layers enforce it: each of those loggers (``QUIET_LOGGERS``, children
included) gets level WARNING, and every root handler gets a
:class:`ThirdPartyFloor` filter that drops their records below WARNING even if
something later lowers a logger's level again. Tessera's own loggers never log
tokens, secrets or SAML (``tessera.sensitive``; DESIGN.md).
"""

from __future__ import annotations

import logging
from typing import Final

LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FLOOR: Final = logging.WARNING

QUIET_LOGGERS: Final[tuple[str, ...]] = (
    "signxml",
    "xmlsec",
    "lxml",
    "defusedxml",
    "httpx",
    "httpcore",
    "hpack",
    "urllib3",
    "botocore",
    "boto3",
    "s3transfer",
    "sqlalchemy",
    "psycopg",
    "multipart",
    "uvicorn.access",
)


def is_quiet(name: str) -> bool:
    """Whether ``name`` is one of ``QUIET_LOGGERS`` or a child of one."""
    return any(name == q or name.startswith(q + ".") for q in QUIET_LOGGERS)


class ThirdPartyFloor(logging.Filter):
    """Drops records below WARNING from the quiet third-party loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= FLOOR or not is_quiet(record.name)


def quiet_third_party_loggers() -> None:
    """Set every logger in ``QUIET_LOGGERS`` to WARNING (idempotent)."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(FLOOR)


def install_floor(handler: logging.Handler) -> None:
    """Attach one :class:`ThirdPartyFloor` to ``handler`` (idempotent)."""
    if not any(isinstance(f, ThirdPartyFloor) for f in handler.filters):
        handler.addFilter(ThirdPartyFloor())


def configure_logging(level: str) -> None:
    """The process's logging: root at ``level`` (e.g. ``"debug"``), a stderr
    handler with the usual format unless root already has handlers, third-party
    loggers floored at WARNING. Raises ``ValueError`` for an unknown level name."""
    value = logging.getLevelNamesMapping().get(level.upper())
    if value is None:
        raise ValueError(f"unknown log level {level!r}")
    logging.basicConfig(level=value, format=LOG_FORMAT)  # no-op if already configured
    root = logging.getLogger()
    root.setLevel(value)
    quiet_third_party_loggers()
    for handler in root.handlers:
        install_floor(handler)
