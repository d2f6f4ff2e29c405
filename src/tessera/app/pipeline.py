"""The request path, kept straight (see docs/architecture.md): find the protocol
(JSON 1.1 by ``X-Amz-Target``, REST-JSON by method and path, else the Query form)
→ SigV4 → principal → decode & validate the operation input → operation (which
authorises) → render XML/JSON, or the protocol's one error renderer. Pure with
respect to HTTP framing: takes the request facts, returns status, headers and body.
Which operations exist, which may be called unsigned and which may run on the event
loop come from their declarations (``tessera.registry``)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import unquote

from tessera.app.observe import CallTrace
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
from tessera.protocol.jsonwire import (
    UnknownOperationException,
    decode_json,
    error_body,
    result_body,
)
from tessera.protocol.model import (
    SERVICE_NAMES,
    ServiceSpec,
    service_for_target,
    service_for_version,
    service_spec,
)
from tessera.protocol.query import Params, decode, parse_form
from tessera.protocol.render import (
    JSON_CONTENT_TYPE,
    XML_CONTENT_TYPE,
    render_error,
    render_result,
    wants_json,
)
from tessera.protocol.rest import RestRoutes
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


@dataclass(frozen=True, slots=True)
class _JsonRoute:
    """A JSON-protocol request: its service (None: a target Tessera does not speak),
    operation (None: no operation has this method on this path), path labels and the
    ``X-Amz-Target`` it came with."""

    spec: ServiceSpec | None
    operation: str | None
    labels: dict[str, str]
    target: str


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
        # REST-JSON services are routed by method and path (Query requests go to "/").
        self._rest = RestRoutes([service_spec(name) for name in SERVICE_NAMES])

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

    def handle_inline(self, request: Request, *, defer_audit: bool = False) -> Response | None:
        """The response, computed on the calling (event loop) thread, if
        ``runs_inline`` allows it and the decoded operation is declared ``inline``;
        ``None``: call ``handle(request, threaded=True)`` in a worker thread.
        ``defer_audit``: the audit event is left in the observer's ``pending``; the
        caller calls ``record_pending`` before sending the answer (group commit)."""
        if not self.runs_inline(request):
            return None
        return self._handle(request, threaded=False, inline_only=True, defer_audit=defer_audit)

    def close(self) -> None:
        """Write the pending bookkeeping and audit events and stop their threads."""
        if self.runtime.bookkeeping is not None:
            self.runtime.bookkeeping.close()
        observer = self.runtime.observer
        if observer is not None and observer.audit is not None:
            observer.audit.close()  # everything recorded is stored before the store closes

    def handle(self, request: Request, *, threaded: bool = False) -> Response:
        """The response to ``request``. ``threaded``: the caller is a worker thread,
        which may block; bookkeeping recorded earlier in this process is then
        written first, so an IAM read (GetAccessKeyLastUsed) sees it."""
        response = self._handle(request, threaded=threaded, inline_only=False, defer_audit=False)
        assert response is not None
        return response

    def _handle(
        self, request: Request, *, threaded: bool, inline_only: bool, defer_audit: bool
    ) -> Response | None:
        if threaded and self.runtime.bookkeeping is not None:
            self.runtime.bookkeeping.flush()
        trace = CallTrace(new_request_id())
        response = self._answer(request, trace, inline_only=inline_only)
        # the one observer hook: metrics and the audit event, before the answer leaves
        if response is not None and self.runtime.observer is not None:
            self.runtime.observer.observe(request, trace, response, defer=defer_audit)
        return response

    def _answer(self, request: Request, trace: CallTrace, *, inline_only: bool) -> Response | None:
        request_id = trace.request_id
        as_json = wants_json(request.header("accept"))
        spec: ServiceSpec | None = None
        route: _JsonRoute | None = None
        try:
            self.runtime.store.validate_read_cache()
            route = self._json_route(request)
            if route is not None:
                spec = route.spec
                return self._handle_json(request, request_id, route, trace)
            spec, ctx, params_op = self._prepare(request, request_id, trace)
            op = self._operation(spec.name, ctx.operation)
            if inline_only and not op.inline:
                raise _NotInline
            trace.operation = op.name
            self._admit(trace, request)
            result = op.handler(ctx, params_op)
            trace.result = result
            body = render_result(spec, ctx.operation, result, request_id, as_json=as_json)
            return Response(200, self._headers(request_id, as_json), body)
        except _NotInline:
            return None
        except TesseraError as exc:
            trace.error = exc
            if route is not None:
                return self._json_error(route.spec, exc, request_id)
            spec = spec or _error_spec(request)
            body = render_error(spec, exc, request_id, as_json=as_json)
            return Response(exc.status, self._headers(request_id, as_json), body)
        except Exception:
            log.exception("internal failure handling request %s", request_id)
            exc2 = InternalFailure("An internal error occurred.")
            trace.error = exc2
            if route is not None:
                return self._json_error(route.spec, exc2, request_id)
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

    # --- the JSON protocols (JSON 1.1 by X-Amz-Target, REST-JSON by path) -----------

    def _json_route(self, request: Request) -> _JsonRoute | None:
        """The JSON-protocol service (and operation) a request is for; None for the
        Query protocol."""
        target = request.header("x-amz-target")
        if target is not None:
            found = service_for_target(target.strip())
            if found is None:
                return _JsonRoute(None, None, {}, target.strip())
            spec, name = found
            return _JsonRoute(spec, name, {}, target.strip())
        match = self._rest.match(request.method, request.path)
        if match is None:
            return None
        return _JsonRoute(match.spec, match.operation, match.labels, "")

    def _handle_json(
        self, request: Request, request_id: str, route: _JsonRoute, trace: CallTrace
    ) -> Response:
        spec, name = route.spec, route.operation
        if spec is not None:
            trace.service = spec.name
        if spec is None:
            raise UnknownOperationException(f"No service answers the target {route.target}.")
        if name is None:
            raise UnknownOperationException(
                f"No operation of {spec.name} answers {request.method} {request.path}."
            )
        op = self.runtime.operations.get(spec.name, {}).get(name)
        if op is None or (spec.protocol == "json" and request.method != "POST"):
            raise UnknownOperationException(f"{spec.name} has no operation {name}.")
        http_request = self._http_request(request)
        trace.now = now = self.runtime.clock.now().astimezone(UTC)
        principal: Principal | None = None
        region = DEFAULT_REGION
        # An operation declared unsigned authenticates the request itself (Roles
        # Anywhere's CreateSession: an X.509 signature SigV4 cannot parse).
        if op.signed:
            signature = sigv4.extract(http_request)
            if signature is None:
                raise MissingAuthenticationToken()
            principal, region = self._authenticate(http_request, signature, spec, now)
            trace.principal, trace.region, trace.signed = principal, region, True
        trace.operation = name
        params = decode_json(
            spec,
            name,
            request.body,
            labels=route.labels,
            query=parse_form(request.query_string) if spec.protocol == "rest-json" else (),
            headers=request.header_map(),
        )
        if principal is not None and principal.session is not None:
            refusal = session_restriction(principal, spec.name, name)
            if refusal is not None:
                raise refusal
        ctx = OperationContext(
            request_id=request_id,
            service=spec.name,
            operation=name,
            region=region,
            now=now,
            source_ip=request.source_ip,
            secure_transport=request.secure_transport,
            user_agent=request.header("user-agent") or "",
            runtime=self.runtime,
            principal=principal,
            http=http_request,
        )
        trace.params = params.raw()
        self._admit(trace, request)
        result = op.handler(ctx, params)
        trace.result = result
        body = result_body(spec, name, result)
        status = ctx.response_status
        if status is None:
            status = int(spec.model.operation_model(name).http.get("responseCode", 200))
        headers = (("content-type", spec.content_type), ("x-amzn-requestid", request_id))
        return Response(status, headers, body)

    @staticmethod
    def _json_error(spec: ServiceSpec | None, exc: TesseraError, request_id: str) -> Response:
        status, code, body = error_body(spec, exc)
        ctype = spec.content_type if spec is not None else "application/x-amz-json-1.1"
        headers = (
            ("content-type", ctype),
            ("x-amzn-requestid", request_id),
            ("x-amzn-errortype", code),
        )
        return Response(status, headers, body)

    # --- shared by every protocol ------------------------------------------------------

    @staticmethod
    def _http_request(request: Request) -> sigv4.HttpRequest:
        return sigv4.HttpRequest(
            method=request.method,
            path=request.path,
            query_string=request.query_string,
            headers=request.headers,
            body=request.body,
            header_map=request.header_map(),
        )

    def _authenticate(
        self,
        http_request: sigv4.HttpRequest,
        signature: sigv4.SignatureInfo,
        spec: ServiceSpec,
        now: datetime,
    ) -> tuple[Principal, str]:
        """Verify ``signature`` for ``spec``: the caller and the scope's region."""
        rt = self.runtime
        sigv4.check_scope(signature, service=spec.name)
        sigv4.check_time(signature, now)
        principal, secret = rt.resolver.resolve(
            signature.access_key_id, signature.security_token, now
        )
        sigv4.verify(http_request, signature, secret)
        self._record_key_use(principal, spec.name, signature.region, now.timestamp())
        return principal, signature.region

    def _admit(self, trace: CallTrace, request: Request) -> None:
        """The rate limit (``--rate-limit``), once the caller is known."""
        if self.runtime.observer is not None:
            self.runtime.observer.admit(trace, request.source_ip)

    def _prepare(
        self, request: Request, request_id: str, trace: CallTrace
    ) -> tuple[ServiceSpec, OperationContext, Params[Any]]:
        rt = self.runtime
        pairs = parse_form(request.query_string)
        if request.method == "POST":
            ctype = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
            if ctype == _FORM or (not ctype and request.body):
                pairs = pairs + parse_form(request.body)
        elif request.method != "GET":
            raise InvalidAction(f"The HTTP method {request.method} is not supported.")

        http_request = self._http_request(request)
        signature = sigv4.extract(http_request)
        version = _first(pairs, "Version")
        trace.now = now = rt.clock.now().astimezone(UTC)
        principal: Principal | None = None
        region = DEFAULT_REGION
        if signature is not None:
            spec = _spec_for(signature.service, version)
            trace.service = spec.name
            principal, region = self._authenticate(http_request, signature, spec, now)
            trace.principal, trace.region, trace.signed = principal, region, True
        else:
            spec = service_for_version(version or "") or service_spec("sts")
            trace.service = spec.name
            action = _first(pairs, "Action")
            if action not in self._unsigned:
                raise MissingAuthenticationToken()

        decoded = decode(spec, [(k, v) for k, v in pairs if k not in _PRESIGN_PARAMS])
        trace.operation, trace.params = decoded.operation, decoded.params.raw()
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
            http=http_request,
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
