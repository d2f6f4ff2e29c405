"""The application behind both front doors: the HTTP/1.1 protocol uvicorn serves
(``tessera.app.http``, the normal way) and a plain ASGI callable (lifespan, tests,
embedding). Routes ``GET /health``, the issuer documents and everything else to
the Query-protocol pipeline. The pipeline runs in a worker thread because
operations touch the store, except where ``Pipeline.handle_inline`` answers a request
on the event loop because it is cheaper than the hop to a thread (operations declared
``inline``, the signed STS calls, on SQLite)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import anyio.to_thread

from tessera.app.busypoll import BusyPoller
from tessera.app.pipeline import MAX_BODY_BYTES, Pipeline, Request, Response
from tessera.app.runtime import Runtime
from tessera.errors import InvalidParameterValue
from tessera.ids import new_request_id
from tessera.netaddr import ClientView, client_view, is_trusted_peer, parse_cidrs
from tessera.protocol.render import render_error

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

Route = Callable[[Request], Response | None]

_HEALTH: Final = Response(200, (("content-type", "application/json"),), b'{"status": "ok"}')


class BodyTooLarge(Exception):
    pass


class TesseraApp:
    """ASGI callable and the request router both front doors share. Extra GET
    routes (issuer documents) are tried before the API."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.pipeline = Pipeline(runtime)
        # Parsed once; an invalid CIDR raises ValueError here (the CLI checks first).
        self.trusted_proxies = parse_cidrs(tuple(runtime.config.trusted_proxies))
        self.get_routes: list[Route] = []
        self.ready = True
        self._poller: BusyPoller | None = None

    def busy_poller(self, loop: asyncio.AbstractEventLoop) -> BusyPoller:
        """The worker's busy poller for ``loop`` (``--busy-poll-us``), shared by
        its connections."""
        poller = self._poller
        if poller is None or poller.loop is not loop:
            window = self.runtime.config.busy_poll_us / 1e6
            poller = self._poller = BusyPoller(loop, window)
        return poller

    # ------------------------------------------------------------------ routing

    def peer(self, peer_ip: str | None, scheme: str) -> tuple[ClientView, bool]:
        """The client as the direct peer shows it, and whether that peer is a trusted
        proxy (then each request's ``X-Forwarded-*`` headers decide: ``view``)."""
        direct = client_view(peer_ip, scheme, {}, ())
        return direct, is_trusted_peer(peer_ip, self.trusted_proxies)

    def view(
        self, peer_ip: str | None, scheme: str, headers: tuple[tuple[str, str], ...]
    ) -> ClientView:
        """The client address and transport security of one request (trusted proxies
        applied)."""
        return client_view(peer_ip, scheme, _header_map(headers), self.trusted_proxies)

    def answer_now(self, request: Request, *, defer_audit: bool = False) -> Response | None:
        """The response if it may be computed on the event loop (health, issuer
        documents, the inline pipeline); ``None``: call ``answer_in_thread``.
        ``defer_audit``: see ``Pipeline.handle_inline`` (then ``record_pending``
        must run before the answer is sent)."""
        if request.method in ("GET", "HEAD"):
            if request.path == "/health":
                return _HEALTH
            if request.path == "/ready":
                return None  # asks the store: in a thread (answer_in_thread)
            for route in self.get_routes:
                answer = route(request)
                if answer is not None:
                    return answer
        return self.pipeline.handle_inline(request, defer_audit=defer_audit)

    def record_pending(self) -> None:
        """Spool the audit events ``answer_now(…, defer_audit=True)`` left pending."""
        observer = self.runtime.observer
        if observer is not None:
            observer.record_pending()

    def answer_in_thread(self, request: Request) -> Response:
        """The pipeline, for requests ``answer_now`` declined (blocking: call it in a
        worker thread)."""
        if request.path == "/ready" and request.method in ("GET", "HEAD"):
            return self.readiness()
        return self.pipeline.handle(request, threaded=True)

    def readiness(self) -> Response:
        """``/ready``: 200 when the store answers, its migrations are all applied and
        the session keys are loaded; 503 (with the failed checks) otherwise, and while
        this worker shuts down (``ready`` cleared)."""
        import json

        from tessera.store.sql.schema import MIGRATIONS

        checks: dict[str, bool] = {"accepting": self.ready}
        try:
            store = self.runtime.store
            checks["store"] = store.is_initialised()
            checks["migrations"] = store.schema_version() >= max(v for v, _d, _r in MIGRATIONS)
            checks["keys"] = bool(self.runtime.sessions.ring.active(self.runtime.clock.now()))
        except Exception:
            checks.setdefault("store", False)
        ok = all(checks.values()) and {"store", "migrations", "keys"} <= checks.keys()
        body = json.dumps({"status": "ready" if ok else "not ready", "checks": checks})
        return Response(200 if ok else 503, (("content-type", "application/json"),), body.encode())

    async def answer(self, request: Request) -> Response:
        response = self.answer_now(request)
        if response is None:
            response = await anyio.to_thread.run_sync(self.answer_in_thread, request)
        return response

    @staticmethod
    def too_large() -> Response:
        err = InvalidParameterValue("Request body is too large.")
        rid = new_request_id()
        return Response(
            413,
            (("content-type", "text/xml"), ("x-amzn-requestid", rid)),
            render_error(None, err, rid),
        )

    def close(self) -> None:
        """Write what is still pending and close the store (worker shutdown)."""
        self.pipeline.close()
        self.runtime.store.close()

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            body = await _read_body(receive)
        except BodyTooLarge:
            await _send(send, self.too_large())
            return
        headers = tuple(
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", ())
        )
        client = scope.get("client")
        view = self.view(client[0] if client else None, str(scope.get("scheme", "http")), headers)
        request = Request(
            method=scope["method"],
            path=scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or scope["path"],
            query_string=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            source_ip=view.source_ip or "127.0.0.1",
            secure_transport=view.secure_transport,
        )
        await _send(send, await self.answer(request))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _header_map(headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Lower-case header names; repeated headers joined with ``", "``."""
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send(send: Send, response: Response) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
