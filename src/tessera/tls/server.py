"""The server TLS policy and the uvicorn glue that enforces it.

The policy -- TLS 1.2 or newer, ECDHE key exchange with AEAD ciphers only, no
compression, no renegotiation, server cipher preference -- as an
:class:`ssl.SSLContext` (:func:`server_ssl_context`) and as uvicorn configuration
(:func:`uvicorn_ssl_kwargs`, :class:`TlsUvicornConfig`). This is the only module
of :mod:`tessera.tls` that imports uvicorn.
"""

from __future__ import annotations

import errno
import inspect
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from tessera.tls.errors import TlsConfigError

__all__ = [
    "SERVER_CIPHERS",
    "TlsConfigError",
    "TlsUvicornConfig",
    "server_ssl_context",
    "uvicorn_ssl_kwargs",
]

#: TLS 1.2 cipher suites the server accepts: forward-secret ECDHE key exchange with
#: AEAD ciphers only (ECDSA or RSA authentication). TLS 1.3 suites are all AEAD and
#: are governed by OpenSSL's own list.
SERVER_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!MD5:!DSS:!PSK:!SRP"


def _harden_server_context(ctx: ssl.SSLContext) -> ssl.SSLContext:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(SERVER_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.options |= ssl.OP_NO_RENEGOTIATION
    ctx.options |= ssl.OP_SINGLE_ECDH_USE
    return ctx


def server_ssl_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """The server-side context: TLS 1.2+, ECDHE+AEAD ciphers, no compression or
    renegotiation, server cipher preference. ``cert_file`` may hold the full chain.

    Raises :class:`TlsConfigError` if the files are missing, unreadable, or the key
    does not match the certificate."""
    ctx = _harden_server_context(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    _load_chain(ctx, cert_file, key_file)
    return ctx


def _load_chain(ctx: ssl.SSLContext, cert_file: Path, key_file: Path) -> None:
    try:
        ctx.load_cert_chain(certfile=os.fspath(cert_file), keyfile=os.fspath(key_file))
    except ssl.SSLError as exc:
        reason = "the key does not match the certificate" if "MISMATCH" in str(exc) else str(exc)
        raise TlsConfigError(
            f"cannot load TLS certificate {cert_file} with key {key_file}: {reason}"
        ) from exc
    except OSError as exc:
        detail = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
        raise TlsConfigError(
            f"cannot read TLS certificate {cert_file} / key {key_file}: {detail}"
        ) from exc


@dataclass(frozen=True, slots=True)
class _HardenedContextFactory:
    """``uvicorn.Config(ssl_context_factory=...)`` hook, for uvicorn versions that have it.

    A module-level picklable object (not a closure) so it survives uvicorn's
    ``workers``/``reload`` subprocess spawning. It keeps uvicorn's default
    context (and thus its ALPN settings) and applies the Tessera policy on top."""

    cert_file: str
    key_file: str

    def __call__(self, config: object, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        try:
            ctx = default()
        except (ssl.SSLError, OSError) as exc:
            # Produce the same clear TlsConfigError as server_ssl_context would.
            server_ssl_context(Path(self.cert_file), Path(self.key_file))
            raise TlsConfigError(f"cannot load TLS certificate {self.cert_file}: {exc}") from exc
        return _harden_server_context(ctx)


def _uvicorn_supports_context_factory() -> bool:
    return "ssl_context_factory" in inspect.signature(uvicorn.Config.__init__).parameters


def uvicorn_ssl_kwargs(cert_file: Path, key_file: Path) -> dict[str, object]:
    """Keyword arguments for ``uvicorn.Config``/``uvicorn.run`` enforcing the server policy.

    uvicorn builds its context with ``ssl.SSLContext(ssl_version)`` and
    ``set_ciphers(ssl_ciphers)`` but has no knob for ``minimum_version`` or options.
    The cipher list alone already refuses TLS 1.0/1.1 (AEAD suites exist only from
    TLS 1.2). When the installed uvicorn accepts ``ssl_context_factory`` (detected
    at run time; 0.54 does) one is added that applies the complete policy. With an
    older uvicorn use :class:`TlsUvicornConfig`, which works with every version.

    The files are checked up front so a bad certificate fails with
    :class:`TlsConfigError` before the server starts."""
    server_ssl_context(cert_file, key_file)  # validate early, clear error
    kwargs: dict[str, object] = {
        "ssl_certfile": os.fspath(cert_file),
        "ssl_keyfile": os.fspath(key_file),
        "ssl_version": int(ssl.PROTOCOL_TLS_SERVER),
        "ssl_ciphers": SERVER_CIPHERS,
    }
    if _uvicorn_supports_context_factory():
        kwargs["ssl_context_factory"] = _HardenedContextFactory(
            os.fspath(cert_file), os.fspath(key_file)
        )
    return kwargs


class TlsUvicornConfig(uvicorn.Config):
    """``uvicorn.Config`` that serves TLS with :func:`server_ssl_context`'s policy.

    ``TlsUvicornConfig(app, cert_file=..., key_file=..., host=..., port=...)``;
    every other keyword goes to ``uvicorn.Config``. After uvicorn's own ``load()``
    the SSL context is replaced by the hardened one (keeping uvicorn's ALPN list),
    so the policy holds on any uvicorn version."""

    def __init__(self, app: Any, *, cert_file: Path, key_file: Path, **kwargs: Any) -> None:
        self.tls_cert_file = Path(cert_file)
        self.tls_key_file = Path(key_file)
        server_ssl_context(self.tls_cert_file, self.tls_key_file)  # fail fast, clearly
        kwargs.setdefault("ssl_certfile", os.fspath(cert_file))
        kwargs.setdefault("ssl_keyfile", os.fspath(key_file))
        kwargs.setdefault("ssl_version", int(ssl.PROTOCOL_TLS_SERVER))
        kwargs.setdefault("ssl_ciphers", SERVER_CIPHERS)
        super().__init__(app, **kwargs)

    def load(self) -> None:
        super().load()
        ctx = server_ssl_context(self.tls_cert_file, self.tls_key_file)
        alpn: list[str] | None = getattr(
            getattr(self, "http_protocol_class", None), "alpn_protocols", None
        )
        if alpn:
            ctx.set_alpn_protocols(alpn)
        self.ssl = ctx
