"""The AWS JSON protocols (JSON 1.1 with ``X-Amz-Target``, and REST-JSON): a
request's JSON body, path labels and query string become the validated ``Params``
of its operation, and results and errors become JSON bodies.

Decoding checks each JSON value's type against the botocore shape first (a string
where the model wants a number is AWS's ``SerializationException``), then hands
the values, arranged as the Query protocol's member tree, to
``tessera.protocol.query.decode_members``: one implementation of the model's
constraints (required, length, range, pattern, enum) and of AWS's
``1 validation error detected: …`` messages serves every protocol. Unknown
members are ignored, as AWS's JSON front end does.

Errors: the body is ``{"__type": code, "message": message}`` (plus any
``fields`` the exception carries, e.g. Organizations' ``Reason``) and the
``x-amzn-ErrorType`` header names the code. The Query protocol's generic codes are
translated to the names JSON services use (``AccessDenied`` →
``AccessDeniedException``, ``InvalidClientTokenId`` →
``UnrecognizedClientException`` …). The status is the model's ``httpStatusCode``
for the code when it has one; JSON 1.1 answers every other client error with 400,
as AWS's JSON services do, REST-JSON with the exception's own status."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from tessera.errors import SenderError, TesseraError

from .model import ServiceSpec, service_spec
from .query import Node, Params, decode_members
from .render import format_timestamp, json_output

__all__ = [
    "SerializationException",
    "UnknownOperationException",
    "decode_json",
    "error_body",
    "result_body",
]

#: nesting deeper than this is refused before it reaches the decoder
MAX_DEPTH: Final = 32


class SerializationException(SenderError):
    code = "SerializationException"


class UnknownOperationException(SenderError):
    code = "UnknownOperationException"


#: operations whose query-string members may also come in the JSON body
#: (Roles Anywhere's CreateSession: AWS's helper sends the ARNs in the query string,
#: the documentation shows them in the body)
_QUERY_OR_BODY: Final = frozenset({("rolesanywhere", "CreateSession")})

_TYPE_WORDS: Final = {
    "string": "a string",
    "integer": "an integer",
    "long": "an integer",
    "float": "a number",
    "double": "a number",
    "boolean": "a boolean",
    "timestamp": "a timestamp (epoch seconds or an ISO 8601 string)",
    "blob": "a base64 string",
    "structure": "an object",
    "map": "an object",
    "list": "an array",
}


def _refuse_constant(name: str) -> object:
    raise SerializationException(f"{name} is not a valid JSON number")


def _parse_body(body: bytes) -> dict[str, object]:
    if not body.strip():
        return {}
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise SerializationException("The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise SerializationException("The request body must be a JSON object.")
    return value


def _wrong(shape: Any, path: str) -> SerializationException:
    want = _TYPE_WORDS.get(shape.type_name, shape.type_name)
    return SerializationException(f"Unexpected value type at '{path or '$'}': expected {want}.")


def _node(shape: Any, value: object, path: str, depth: int) -> Node:
    """The member tree of one JSON value of ``shape`` (types checked, not constraints)."""
    if depth > MAX_DEPTH:
        raise SerializationException("The request body is nested too deeply.")
    node = Node()
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _wrong(shape, path)
        children: dict[str, Node] = {}
        for name, member in shape.members.items():
            key = str(member.serialization.get("name", name))
            item = value.get(key)
            if item is not None:
                children[key] = _node(member, item, f"{path}.{key}" if path else key, depth + 1)
        node.children = children
    elif kind == "list":
        if not isinstance(value, list):
            raise _wrong(shape, path)
        items = {
            str(i): _node(shape.member, item, f"{path}[{i - 1}]", depth + 1)
            for i, item in enumerate(value, start=1)
            if item is not None
        }
        if items:
            inner = Node()
            inner.children = items
            node.children = {str(shape.member.serialization.get("name", "member")): inner}
        else:
            node.value = ""  # the empty list
    elif kind == "map":
        if not isinstance(value, dict):
            raise _wrong(shape, path)
        key_name = str(shape.key.serialization.get("name", "key"))
        value_name = str(shape.value.serialization.get("name", "value"))
        entries: dict[str, Node] = {}
        for i, (key, item) in enumerate(value.items(), start=1):
            if item is None:
                continue
            entry = Node()
            key_node = Node()
            key_node.value = str(key)
            entry.children = {
                key_name: key_node,
                value_name: _node(shape.value, item, f"{path}.{key}", depth + 1),
            }
            entries[str(i)] = entry
        if entries:
            inner = Node()
            inner.children = entries
            node.children = {"entry": inner}
        else:
            node.value = ""
    else:
        node.value = _scalar_text(shape, value, path)
    return node


def _scalar_text(shape: Any, value: object, path: str) -> str:
    kind = shape.type_name
    if kind in ("string", "blob"):
        if isinstance(value, str):
            return value
    elif kind in ("integer", "long"):
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    elif kind in ("float", "double"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return repr(float(value))
    elif kind == "boolean":
        if isinstance(value, bool):
            return "true" if value else "false"
    elif kind == "timestamp":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return repr(float(value))
        if isinstance(value, str):
            return value
    raise _wrong(shape, path)


def _query_node(shape: Any, values: list[str]) -> Node:
    node = Node()
    if shape.type_name == "list":
        inner = Node()
        inner.children = {}
        for i, text in enumerate(values, start=1):
            child = Node()
            child.value = text
            inner.children[str(i)] = child
        node.children = {str(shape.member.serialization.get("name", "member")): inner}
    else:
        node.value = values[0]
    return node


def decode_json(
    spec: ServiceSpec,
    operation: str,
    body: bytes,
    *,
    labels: Mapping[str, str] | None = None,
    query: Sequence[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
) -> Params[Any]:
    """Validate ``operation``'s input from a JSON request: the body's members and,
    for REST-JSON, the path ``labels``, the ``query`` pairs and the (lower-cased)
    ``headers`` the model places members in. Raises ``SerializationException`` or
    ``ValidationError``; never anything that is not a TesseraError."""
    document = _parse_body(body)
    shape = spec.model.operation_model(operation).input_shape
    root: dict[str, Node] = {}
    if shape is not None:
        by_query: dict[str, list[str]] = {}
        for key, value in query:
            by_query.setdefault(key, []).append(value)
        either = (spec.name, operation) in _QUERY_OR_BODY
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            key = str(member.serialization.get("name", name))
            if location == "uri":
                text = (labels or {}).get(key)
                if text is not None:
                    root[key] = _query_node(member, [text])
            elif location == "querystring":
                texts = by_query.get(key)
                if texts:
                    root[key] = _query_node(member, texts)
                elif either and document.get(key) is not None:
                    root[key] = _node(member, document[key], key, 1)
            elif location == "header":
                text = (headers or {}).get(key.lower())
                if text is not None:
                    root[key] = _query_node(member, [text])
            elif location is None:
                item = document.get(key)
                if item is not None:
                    root[key] = _node(member, item, key, 1)
    return decode_members(spec, operation, root)


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return format_timestamp(value.astimezone(UTC))
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def result_body(spec: ServiceSpec, operation: str, result: Mapping[str, object] | None) -> bytes:
    """The success body. An operation with no output shape in the model (CreateSession)
    has its result written as it is (datetimes as ISO 8601)."""
    output = spec.model.operation_model(operation).output_shape
    document = json_output(spec, operation, result) if output is not None else (result or {})
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=_default).encode(
        "utf-8"
    )


#: the Query protocol's generic codes, as JSON services name them
_JSON_CODES: Final[Mapping[str, str]] = {
    "AccessDenied": "AccessDeniedException",
    "InvalidClientTokenId": "UnrecognizedClientException",
    "SignatureDoesNotMatch": "InvalidSignatureException",
    "IncompleteSignature": "IncompleteSignatureException",
    "MissingAuthenticationToken": "MissingAuthenticationTokenException",
    "RequestExpired": "InvalidSignatureException",
    "ExpiredToken": "ExpiredTokenException",
    "InvalidAction": "UnknownOperationException",
    "MissingAction": "UnknownOperationException",
    "ValidationError": "ValidationException",
    "MissingParameter": "ValidationException",
    "InvalidParameterValue": "ValidationException",
    "Throttling": "ThrottlingException",
}

#: per service, where its model names the generic error otherwise
_SERVICE_CODES: Final[Mapping[str, Mapping[str, str]]] = {
    "organizations": {
        "ValidationException": "InvalidInputException",
        "ThrottlingException": "TooManyRequestsException",
    },
}


def error_code(spec: ServiceSpec | None, error: TesseraError) -> str:
    code = _JSON_CODES.get(error.code, error.code)
    if spec is not None:
        code = _SERVICE_CODES.get(spec.name, {}).get(code, code)
    return code


def error_status(spec: ServiceSpec | None, error: TesseraError, code: str) -> int:
    if spec is not None:
        status = _model_statuses(spec.name).get(code)
        if status is not None:
            return status
        if spec.protocol == "json" and error.sender_fault:
            return 400
    return error.status


@functools.cache
def _model_statuses(service: str) -> Mapping[str, int]:
    """The HTTP status each error shape of ``service``'s model declares."""
    out: dict[str, int] = {}
    for shape in service_spec(service).model.error_shapes:
        status = shape.metadata.get("error", {}).get("httpStatusCode")
        if isinstance(status, int):
            out[shape.error_code] = status
    return out


def error_body(spec: ServiceSpec | None, error: TesseraError) -> tuple[int, str, bytes]:
    """(status, code, body) of ``error`` for a JSON-protocol request to ``spec``
    (None: a JSON 1.1 target of a service Tessera does not speak)."""
    code = error_code(spec, error)
    document: dict[str, object] = {"__type": code, "message": error.message}
    extra = getattr(error, "fields", None)
    if isinstance(extra, Mapping):
        for key, value in extra.items():
            document.setdefault(str(key), value)
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str)
    return error_status(spec, error, code), code, body.encode("utf-8")
