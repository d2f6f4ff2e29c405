"""The client TLS policy for Tessera's own outbound HTTPS (JWKS fetching, IdP
documents, verifiers): certificate and hostname verification always on, TLS 1.2
or newer, no compression, optionally an extra CA bundle.

Services (federation, verify) import this module; it must stay free of server
code and of uvicorn (``tests/unit/test_tls.py`` checks that in a fresh
interpreter).
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

from tessera.tls.errors import TlsConfigError

__all__ = ["TlsConfigError", "client_ssl_context"]


def client_ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """Context for Tessera's outbound HTTPS: system trust store (plus ``ca_bundle``
    if given), certificate and hostname verification on, TLS 1.2 or newer.

    Raises :class:`TlsConfigError` if ``ca_bundle`` cannot be loaded."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.options |= ssl.OP_NO_COMPRESSION
    if ca_bundle is not None:
        try:
            ctx.load_verify_locations(cafile=os.fspath(ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise TlsConfigError(f"cannot load CA bundle {ca_bundle}: {exc}") from exc
    return ctx
