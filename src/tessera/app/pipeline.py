"""The request path, kept straight (see DESIGN.md):
decode the Query form → SigV4 → principal → decode & validate the operation
input → operation (which authorises) → render XML/JSON, or the one error
renderer. Pure with respect to HTTP framing: takes the request facts, returns
status, headers and body. Which operations exist, which may be called unsigned and
which may run on the event loop come from their declarations (``tessera.registry``)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC
from functools import partial
from typing import Any
from urllib.parse import unquote

from tessera.app.runtime import Runtime
from tessera.auth import sigv4
from tessera.auth.principal import Principal
from tessera.errors import (
    InternalFailure,
    InvalidAction,
    MissingAuthenticationToken,
    TesseraError,
)
from tessera.ids import new_request_id
from tessera.operation import OperationContext
from tessera.protocol.model import ServiceSpec, service_for_version, service_spec
from tessera.protocol.query import Params, decode, parse_form
from tessera.protocol.render import (
    JSON_CONTENT_TYPE,
    XML_CONTENT_TYPE,
    render_error,
    render_result,
    wants_json,
)
from tessera.registry import Operation
from tessera.sts.restrictions import session_restriction

log = logging.getLogger("tessera.request")

MAX_BODY_BYTES = 1024 * 1024
_FORM = "application/x-www-form-urlencoded"
_PRESIGN_PARAMS = frozenset(
    {
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
    }
)
DEFAULT_REGION = "us-east-1"
#: A form parameter whose name, or the Action value, is percent-encoded.
_ENCODED_ACTION = re.compile(r"(?:^|&)(?:[^=&]*%[^=&]*(?:=|&|$)|Action=[^&]*%)")
_ENCODED_ACTION_RAW = re.compile(_ENCODED_ACTION.pattern.encode())
#: The service of a SigV4 credential scope (header or query form, percent-decoded).
_SCOPE_SERVICE = re.compile(r"Credential=[^/,&\s]*/[^/,&\s]*/[^/,&\s]*/([A-Za-z0-9-]+)/")


class _NotInline(Exception):
    """The decoded operation is not declared ``inline``: answer it in a thread."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query_string: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    source_ip: str
    secure_transport: bool
    _index: dict[str, str] | None = field(default=None, compare=False, repr=False)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case)."""
        return self.header_map().get(name.lower())

    def header_map(self) -> dict[str, str]:
        """The first value of each header by lower-cased name (built once)."""
        index = self._index
        if index is None:
            index = {}
            for key, value in self.headers:
                index.setdefault(key.lower(), value)
            object.__setattr__(self, "_index", index)
        return index


class Pipeline:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._recorded_use: dict[str, float] = {}
        table = runtime.operations
        # The operations a caller may send without a signature (the federation calls).
        self._unsigned = frozenset(
            op.name for ops in table.values() for op in ops.values() if not op.signed
        )
        # With SQLite every read the inline operations (declared ``inline``: the
        # signed STS calls) make is a local primary-key lookup (most are served from
        # the read cache), so such a request costs less than the hop to a worker
        # thread and back (≈ half the throughput). Every other operation (IAM
        # writes, the federation calls, which may fetch a remote JWKS) and
        # everything on PostgreSQL (network round trips) runs in a thread.
        inline_services = sorted(
            name for name, ops in table.items() if any(op.inline for op in ops.values())
        )
        self._inline_store = runtime.store.dialect == "sqlite" and bool(inline_services)
        self._inline_scopes = tuple(f"/{name}/aws4_request" for name in inline_services)
        self._inline_scopes_quoted = tuple(f"%2F{name}%2Faws4_request" for name in inline_services)
        # The operations of those services that may not run inline (the federation
        # calls may wait on the network, possibly on this very server): never on the
        # event loop, even when a caller signs them. A mention anywhere in the
        # request is enough to send it to a thread.
        self._threaded_actions = tuple(
            sorted({op.name for n in inline_services for op in table[n].values() if not op.inline})
        )
        self._threaded_actions_raw = tuple(a.encode() for a in self._threaded_actions)

    def runs_inline(self, request: Request) -> bool:
        """Whether ``handle`` may run on the event loop for this request: it is
        signed for a service with inline operations (``sts``), names none of its
        other operations and the store is local. A forged scope only changes where
        the request is refused; ``handle_inline`` still checks the decoded
        operation's declaration."""
        if not self._inline_store:
            return False
        if any(a in request.body for a in self._threaded_actions_raw) or any(
            a in request.query_string for a in self._threaded_actions
        ):
            return False
        # A percent-encoded parameter name or Action value (``AssumeRoleWith%57eb…``)
        # could hide a federation call from the check above: never inline.
        if _ENCODED_ACTION_RAW.search(request.body) or _ENCODED_ACTION.search(request.query_string):
            return False
        query = request.query_string
        if any(scope in query for scope in self._inline_scopes) or any(
            scope in query for scope in self._inline_scopes_quoted
        ):
            return True
        auth = request.header("authorization")
        return auth is not None and any(scope in auth for scope in self._inline_scopes)

    def handle_inline(self, request: Request) -> Response | None:
        """The response, computed on the calling (event loop) thread, if
        ``runs_inline`` allows it and the decoded operation is declared ``inline``;
        ``None``: call ``handle(request, threaded=True)`` in a worker thread."""
        if not self.runs_inline(request):
            return None
        return self._handle(request, threaded=False, inline_only=True)

    def close(self) -> None:
        """Write the pending bookkeeping and stop its thread."""
        if self.runtime.bookkeeping is not None:
            self.runtime.bookkeeping.close()

    def handle(self, request: Request, *, threaded: bool = False) -> Response:
        """The response to ``request``. ``threaded``: the caller is a worker thread,
        which may block; bookkeeping recorded earlier in this process is then
        written first, so an IAM read (GetAccessKeyLastUsed) sees it."""
        response = self._handle(request, threaded=threaded, inline_only=False)
        assert response is not None
        return response

    def _handle(self, request: Request, *, threaded: bool, inline_only: bool) -> Response | None:
        if threaded and self.runtime.bookkeeping is not None:
            self.runtime.bookkeeping.flush()
        request_id = new_request_id()
        as_json = wants_json(request.header("accept"))
        spec: ServiceSpec | None = None
        try:
            self.runtime.store.validate_read_cache()
            spec, ctx, params_op = self._prepare(request, request_id)
            op = self._operation(spec.name, ctx.operation)
            if inline_only and not op.inline:
                raise _NotInline
            result = op.handler(ctx, params_op)
            body = render_result(spec, ctx.operation, result, request_id, as_json=as_json)
            return Response(200, self._headers(request_id, as_json), body)
        except _NotInline:
            return None
        except TesseraError as exc:
            spec = spec or _error_spec(request)
            body = render_error(spec, exc, request_id, as_json=as_json)
            return Response(exc.status, self._headers(request_id, as_json), body)
        except Exception:
            log.exception("internal failure handling request %s", request_id)
            exc2 = InternalFailure("An internal error occurred.")
            spec = spec or _error_spec(request)
            body = render_error(spec, exc2, request_id, as_json=as_json)
            return Response(500, self._headers(request_id, as_json), body)

    def _operation(self, service: str, name: str) -> Operation:
        op = self.runtime.operations.get(service, {}).get(name)
        if op is None:
            raise InvalidAction(f"The action {name} is not valid for this web service.")
        return op

    @staticmethod
    def _headers(request_id: str, as_json: bool) -> tuple[tuple[str, str], ...]:
        return (
            ("content-type", JSON_CONTENT_TYPE if as_json else XML_CONTENT_TYPE),
            ("x-amzn-requestid", request_id),
        )

    def _prepare(
        self, request: Request, request_id: str
    ) -> tuple[ServiceSpec, OperationContext, Params[Any]]:
        rt = self.runtime
        pairs = parse_form(request.query_string)
        if request.method == "POST":
            ctype = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
            if ctype == _FORM or (not ctype and request.body):
                pairs = pairs + parse_form(request.body)
        elif request.method != "GET":
            raise InvalidAction(f"The HTTP method {request.method} is not supported.")

        http_request = sigv4.HttpRequest(
            method=request.method,
            path=request.path,
            query_string=request.query_string,
            headers=request.headers,
            body=request.body,
            header_map=request.header_map(),
        )
        signature = sigv4.extract(http_request)
        version = _first(pairs, "Version")
        now = rt.clock.now().astimezone(UTC)
        principal: Principal | None = None
        region = DEFAULT_REGION
        if signature is not None:
            region = signature.region
            spec = _spec_for(signature.service, version)
            sigv4.check_scope(signature, service=spec.name)
            sigv4.check_time(signature, now)
            principal, secret = rt.resolver.resolve(
                signature.access_key_id, signature.security_token, now
            )
            sigv4.verify(http_request, signature, secret)
            self._record_key_use(principal, spec.name, region, now.timestamp())
        else:
            spec = service_for_version(version or "") or service_spec("sts")
            action = _first(pairs, "Action")
            if action not in self._unsigned:
                raise MissingAuthenticationToken()

        decoded = decode(spec, [(k, v) for k, v in pairs if k not in _PRESIGN_PARAMS])
        if principal is not None and principal.session is not None:
            refusal = session_restriction(principal, spec.name, decoded.operation)
            if refusal is not None:
                raise refusal
        ctx = OperationContext(
            request_id=request_id,
            service=spec.name,
            operation=decoded.operation,
            region=region,
            now=now,
            source_ip=request.source_ip,
            secure_transport=request.secure_transport,
            user_agent=request.header("user-agent") or "",
            runtime=rt,
            principal=principal,
        )
        return spec, ctx, decoded.params

    def _record_key_use(self, principal: Principal, service: str, region: str, ts: float) -> None:
        akid = principal.access_key_id
        if akid is None or principal.temporary:
            return
        last = self._recorded_use.get(akid)
        if last is not None and ts - last < 60:
            return
        self._recorded_use[akid] = ts
        self.runtime.record_use(
            ("access-key", akid),
            partial(
                self.runtime.store.record_access_key_use,
                akid,
                self.runtime.clock.now(),
                service,
                region,
            ),
        )


def _first(pairs: list[tuple[str, str]], name: str) -> str | None:
    """The first value of ``name`` (AWS reads the first of repeated parameters)."""
    for key, val in pairs:
        if key == name:
            return val
    return None


def _spec_for(scope_service: str, version: str | None) -> ServiceSpec:
    if scope_service in ("sts", "iam"):
        return service_spec(scope_service)
    return service_for_version(version or "") or service_spec("sts")


def _error_spec(request: Request) -> ServiceSpec | None:
    """The service a request that failed before its service was settled was meant
    for, so its ``ErrorResponse`` carries that service's namespace: the SigV4 scope
    (``sts`` / ``iam``), else the ``Version`` (2010-05-08 is IAM); ``None`` (STS)
    when neither says. Only on the error path: it re-reads the form."""
    credential = request.header("authorization") or unquote(request.query_string)
    found = _SCOPE_SERVICE.search(credential)
    if found is not None and found.group(1) in ("sts", "iam"):
        return service_spec(found.group(1))
    pairs = parse_form(request.query_string)
    if request.method == "POST":
        pairs = pairs + parse_form(request.body)
    return service_for_version(_first(pairs, "Version") or "")
