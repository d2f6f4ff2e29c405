"""The one TLS configuration error shared by the CA, the server and the client policy.

Kept in its own module so :mod:`tessera.tls.client` can raise it without importing
the server side (and thus uvicorn)."""

from __future__ import annotations

__all__ = ["TlsConfigError"]


class TlsConfigError(ValueError):
    """A TLS file or setting is unusable (unreadable, mismatched, expired, junk).

    Deliberately not a ``TesseraError``: it is a start-up/configuration failure,
    never an answer on the wire."""
