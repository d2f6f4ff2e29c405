"""One HTTP(S) exchange with the Tessera server, as every agent call makes it
(Roles Anywhere's CreateSession and the instance calls of ``agent.instance``):
the endpoint URL checked once (http/https, no credentials, query or fragment),
TLS verified against the system store plus an optional ``--ca-bundle``, no proxy,
and a total deadline per exchange (name resolution, connect, TLS, sending and
reading: the exchange runs in a daemon thread that is abandoned at the deadline).
Failures raise :class:`AgentError` with one line built from the status and the
REST-JSON error (``__type`` / ``message``), never from a request header, a key or
a credential."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from tessera.agent.errors import AgentError, one_line

__all__ = ["MAX_RESPONSE_BYTES", "Transport", "error_reason", "network_reason"]

#: the largest answer we read
MAX_RESPONSE_BYTES = 256 * 1024


class Transport:
    """Sends requests to one endpoint (base URL; its path is a prefix)."""

    def __init__(
        self, endpoint: str, *, ca_bundle: Path | None = None, timeout: float = 10.0
    ) -> None:
        url = urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise AgentError("--endpoint must be an http:// or https:// URL")
        if url.username is not None or url.password is not None or url.query or url.fragment:
            raise AgentError("--endpoint must not carry credentials, a query or a fragment")
        try:
            self._port = url.port
        except ValueError:
            raise AgentError("--endpoint has an invalid port") from None
        self.endpoint = endpoint
        self.timeout = timeout
        self._https = url.scheme == "https"
        self._hostname = url.hostname
        self.host_header = url.netloc
        self.base_path = url.path.rstrip("/")
        self._context: ssl.SSLContext | None = None
        if self._https:
            from tessera.tls.client import client_ssl_context
            from tessera.tls.errors import TlsConfigError

            try:
                self._context = client_ssl_context(ca_bundle)
            except TlsConfigError as exc:
                raise AgentError(str(exc)) from None

    def exchange(
        self,
        what: str,
        method: str,
        target: str,
        body: bytes,
        headers: Sequence[tuple[str, str]],
    ) -> tuple[int, bytes]:
        """Send one request (``target`` = path and query as sent); the status and
        body of a 2xx answer, else :class:`AgentError` naming ``what``."""
        conn: http.client.HTTPConnection
        if self._https:
            conn = http.client.HTTPSConnection(
                self._hostname, self._port, timeout=self.timeout, context=self._context
            )
        else:
            conn = http.client.HTTPConnection(self._hostname, self._port, timeout=self.timeout)
        outcome: list[tuple[int, str, bytes] | BaseException] = []

        def run() -> None:
            try:
                conn.request(method, target, body, dict(headers))
                resp = conn.getresponse()
                data = resp.read(MAX_RESPONSE_BYTES + 1)
                error_type = resp.getheader("x-amzn-ErrorType", "") or ""
                outcome.append((resp.status, error_type, data))
            except BaseException as exc:  # reported by the caller
                outcome.append(exc)

        worker = threading.Thread(target=run, name=f"tessera-agent-{what}", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive() or not outcome:
            conn.close()
            raise AgentError(f"{what} at {self.endpoint}: no answer within {self.timeout:g} s")
        conn.close()
        result = outcome[0]
        if isinstance(result, BaseException):
            raise AgentError(network_reason(what, self.endpoint, result, self.timeout))
        status, error_type, data = result
        if len(data) > MAX_RESPONSE_BYTES:
            raise AgentError(f"{what} answer larger than {MAX_RESPONSE_BYTES} bytes")
        if not 200 <= status < 300:
            raise AgentError(error_reason(what, status, error_type, data))
        return status, data


def network_reason(what: str, endpoint: str, exc: BaseException, timeout: float) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason or "verification failed"
        return f"TLS certificate of {endpoint} not trusted: {detail} (see --ca-bundle)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error talking to {endpoint}: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return f"{what} at {endpoint}: no answer within {timeout:g} s"
    if isinstance(exc, OSError):
        return f"cannot reach {endpoint}: {exc.strerror or exc}"
    if isinstance(exc, http.client.HTTPException):
        return f"bad HTTP answer from {endpoint}: {type(exc).__name__}"
    return f"{what} at {endpoint} failed: {type(exc).__name__}"


def error_reason(what: str, status: int, error_type: str, data: bytes) -> str:
    code = error_type
    message = ""
    try:
        doc = json.loads(data)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        raw_type = doc.get("__type") or doc.get("code") or doc.get("Code")
        if isinstance(raw_type, str) and raw_type:
            code = raw_type
        raw_message = doc.get("message") or doc.get("Message")
        if isinstance(raw_message, str):
            message = raw_message
    # "aws.protocoltests#ValidationException:http://…" -> "ValidationException"
    code = code.split(":", 1)[0].rsplit("#", 1)[-1]
    reason = f"{what} failed: HTTP {status}"
    if code:
        reason += f" {code}"
    if message:
        reason += f": {message}"
    return one_line(reason)
