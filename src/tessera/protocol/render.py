"""Response rendering for the AWS Query protocol: the ``<OpResponse>`` XML envelope (and
the legacy JSON variant STS answers to ``Accept: application/json``) generated from the
botocore output shapes, plus the one ``ErrorResponse`` renderer every error goes through.

Result values are plain Python: ``dict`` for structures (keys are the shape's member
names, ``None`` values are skipped), ``list``, ``dict`` for maps, ``str``, ``int``,
``float``, ``bool``, timezone-aware ``datetime`` and ``bytes``. A key the shape does not
know, a value of the wrong type or a naive datetime is a handler bug and raises
``AssertionError``/``TypeError``.

Wire choices: no XML declaration (real STS sends none); members in shape order;
timestamps as ISO 8601 UTC with ``Z`` (milliseconds only when the value has a fractional
second); in JSON, timestamps are epoch seconds (a number) as in STS's JSON answers and
blobs are base64 strings. Per-operation render plans are compiled once and the body is
built with one ``str.join``.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from tessera.errors import TesseraError

from .model import ServiceSpec

__all__ = [
    "JSON_CONTENT_TYPE",
    "STS_NAMESPACE",
    "XML_CONTENT_TYPE",
    "json_output",
    "precompile",
    "render_error",
    "render_result",
    "wants_json",
]

XML_CONTENT_TYPE: Final = "text/xml"
JSON_CONTENT_TYPE: Final = "application/json"
STS_NAMESPACE: Final = "https://sts.amazonaws.com/doc/2011-06-15/"

_XmlRender = Callable[[Any, list[str]], None]  # appends the element content for a value
_JsonRender = Callable[[Any], object]  # returns the JSON-able value


# --- scalars ----------------------------------------------------------------------------


#: characters XML 1.0 does not allow in a document (C0 controls other than tab, LF
#: and CR; lone surrogates; U+FFFE and U+FFFF). A body with one of them is not
#: well-formed, so SDKs fail to parse it and retry: they become U+FFFD.
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _escape(text: str) -> str:
    if _NOT_XML.search(text) is not None:
        text = _NOT_XML.sub("\ufffd", text)
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#xD;")  # a literal CR would be normalised away
    return text


def _as_str(value: object) -> str:
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)  # a str subclass (e.g. StrEnum): its plain value
    raise TypeError(f"expected str, got {type(value).__name__}: {value!r}")


def _xml_string(value: object, out: list[str]) -> None:
    out.append(_escape(_as_str(value)))


def _as_int(value: object) -> int:
    if type(value) is int:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    raise TypeError(f"expected int, got {type(value).__name__}: {value!r}")


def _xml_int(value: object, out: list[str]) -> None:
    out.append(str(_as_int(value)))


def _as_float(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__}: {value!r}")


def _xml_float(value: object, out: list[str]) -> None:
    out.append(repr(_as_float(value)))


def _xml_bool(value: object, out: list[str]) -> None:
    if value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    else:
        raise TypeError(f"expected bool, got {type(value).__name__}: {value!r}")


def _as_utc(value: object) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"expected datetime, got {type(value).__name__}: {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise TypeError(f"naive datetime {value!r}: timestamps must be timezone-aware")
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """ISO 8601 UTC as AWS writes it: ``2019-11-09T13:34:41Z`` (``.123Z`` if fractional)."""
    d = _as_utc(value)
    base = f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
    if d.microsecond:
        return f"{base}.{d.microsecond // 1000:03d}Z"
    return base + "Z"


def _xml_timestamp(value: object, out: list[str]) -> None:
    out.append(format_timestamp(value))  # type: ignore[arg-type]  # checked inside


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"expected bytes, got {type(value).__name__}: {value!r}")


def _xml_blob(value: object, out: list[str]) -> None:
    out.append(base64.b64encode(_as_bytes(value)).decode("ascii"))


def _json_timestamp(value: object) -> object:
    seconds = _as_utc(value).timestamp()
    return int(seconds) if seconds.is_integer() else seconds


def _json_iso_timestamp(value: object) -> object:
    return format_timestamp(_as_utc(value))


def _json_blob(value: object) -> object:
    return base64.b64encode(_as_bytes(value)).decode("ascii")


def _json_bool(value: object) -> object:
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected bool, got {type(value).__name__}: {value!r}")


_XML_SCALARS: Final[dict[str, _XmlRender]] = {
    "string": _xml_string,
    "integer": _xml_int,
    "long": _xml_int,
    "float": _xml_float,
    "double": _xml_float,
    "boolean": _xml_bool,
    "timestamp": _xml_timestamp,
    "blob": _xml_blob,
}

_JSON_SCALARS: Final[dict[str, _JsonRender]] = {
    "string": _as_str,
    "integer": _as_int,
    "long": _as_int,
    "float": _as_float,
    "double": _as_float,
    "boolean": _json_bool,
    "timestamp": _json_timestamp,
    "blob": _json_blob,
}


# --- compiled shapes ------------------------------------------------------------------


def _unknown_keys(shape_name: str, known: Mapping[str, object], value: Mapping[str, Any]) -> str:
    extra = sorted(str(k) for k in value if k not in known)
    return f"{shape_name} has no member(s) {extra}"


def _check_mapping(shape_name: str, value: object) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    raise TypeError(f"{shape_name}: expected a mapping, got {type(value).__name__}")


class _XmlStruct:
    """Renders a structure's members (not its own tags) in shape order."""

    __slots__ = ("index", "members", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        # (member name, opening tag, closing tag, content renderer, repeat-per-item)
        self.members: tuple[tuple[str, str, str, _XmlRender, bool], ...] = ()
        self.index: dict[str, object] = {}

    def __call__(self, value: Any, out: list[str]) -> None:
        value = _check_mapping(self.name, value)
        seen = 0
        for name, open_tag, close_tag, render, flattened in self.members:
            item = value.get(name, _MISSING)
            if item is _MISSING:
                continue
            seen += 1
            if item is None:
                continue
            if flattened:  # flattened list/map: the member's own tag repeats per item
                render((open_tag, close_tag, item), out)
            else:
                out.append(open_tag)
                render(item, out)
                out.append(close_tag)
        if seen != len(value):
            raise AssertionError(_unknown_keys(self.name, self.index, value))


def _tag_name(member: Any, name: str) -> str:
    """The element name of a structure member, as botocore's parser looks it up."""
    if member.type_name == "list" and member.serialization.get("flattened"):
        element_name = member.member.serialization.get("name")
        if element_name is not None:
            return str(element_name)
    return str(member.serialization.get("name", name))


class _JsonStruct:
    __slots__ = ("index", "members", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: tuple[tuple[str, str, _JsonRender], ...] = ()
        self.index: dict[str, object] = {}

    def __call__(self, value: Any) -> object:
        value = _check_mapping(self.name, value)
        out: dict[str, object] = {}
        seen = 0
        for name, key, render in self.members:
            item = value.get(name, _MISSING)
            if item is _MISSING:
                continue
            seen += 1
            if item is not None:
                out[key] = render(item)
        if seen != len(value):
            raise AssertionError(_unknown_keys(self.name, self.index, value))
        return out


_MISSING: Final = object()


def _check_list(value: object) -> list[Any] | tuple[Any, ...]:
    if isinstance(value, list | tuple):
        return value
    raise TypeError(f"expected a list, got {type(value).__name__}")


class _Compiler:
    def __init__(self) -> None:
        self._xml: dict[str, _XmlStruct] = {}
        self._json: dict[str, _JsonStruct] = {}

    # XML ------------------------------------------------------------------------------

    def xml(self, shape: Any) -> _XmlRender:
        kind = shape.type_name
        if kind == "structure":
            return self.xml_struct(shape)
        if kind == "list":
            return self.xml_list(shape)
        if kind == "map":
            return self.xml_map(shape)
        return _XML_SCALARS[kind]

    def xml_struct(self, shape: Any) -> _XmlStruct:
        plan = self._xml.get(shape.name)
        if plan is not None:
            return plan
        plan = self._xml[shape.name] = _XmlStruct(shape.name)
        members = []
        for name, member in shape.members.items():
            tag = _tag_name(member, name)
            flattened = member.type_name in ("list", "map") and bool(
                member.serialization.get("flattened")
            )
            members.append((name, f"<{tag}>", f"</{tag}>", self.xml(member), flattened))
        plan.members = tuple(members)
        plan.index = dict.fromkeys(shape.members)
        return plan

    def xml_list(self, shape: Any) -> _XmlRender:
        element = self.xml(shape.member)
        if shape.serialization.get("flattened"):

            def render_flat(arg: tuple[str, str, object], out: list[str]) -> None:
                open_tag, close_tag, value = arg
                for item in _check_list(value):
                    out.append(open_tag)
                    element(item, out)
                    out.append(close_tag)

            return render_flat
        tag = shape.member.serialization.get("name", "member")
        open_tag, close_tag = f"<{tag}>", f"</{tag}>"

        def render_list(value: object, out: list[str]) -> None:
            for item in _check_list(value):
                out.append(open_tag)
                element(item, out)
                out.append(close_tag)

        return render_list

    def xml_map(self, shape: Any) -> _XmlRender:
        key_render = self.xml(shape.key)
        value_render = self.xml(shape.value)
        key_tag = shape.key.serialization.get("name", "key")
        value_tag = shape.value.serialization.get("name", "value")
        k_open, k_close = f"<{key_tag}>", f"</{key_tag}>"
        v_open, v_close = f"<{value_tag}>", f"</{value_tag}>"

        def entries(value: object, out: list[str], open_tag: str, close_tag: str) -> None:
            for key, item in _check_mapping(shape.name, value).items():
                out.append(open_tag)
                out.append(k_open)
                key_render(key, out)
                out.append(k_close)
                out.append(v_open)
                value_render(item, out)
                out.append(v_close)
                out.append(close_tag)

        if shape.serialization.get("flattened"):

            def render_flat(arg: tuple[str, str, object], out: list[str]) -> None:
                entries(arg[2], out, arg[0], arg[1])

            return render_flat

        def render_map(value: object, out: list[str]) -> None:
            entries(value, out, "<entry>", "</entry>")

        return render_map

    # JSON -----------------------------------------------------------------------------

    def json(self, shape: Any) -> _JsonRender:
        kind = shape.type_name
        if kind == "structure":
            return self.json_struct(shape)
        if kind == "list":
            element = self.json(shape.member)
            return lambda value: [element(item) for item in _check_list(value)]
        if kind == "map":
            key_render = self.json(shape.key)
            value_render = self.json(shape.value)
            name = shape.name
            return lambda value: {
                key_render(k): value_render(v) for k, v in _check_mapping(name, value).items()
            }
        if kind == "timestamp" and shape.serialization.get("timestampFormat") == "iso8601":
            return _json_iso_timestamp
        return _JSON_SCALARS[kind]

    def json_struct(self, shape: Any) -> _JsonStruct:
        plan = self._json.get(shape.name)
        if plan is not None:
            return plan
        plan = self._json[shape.name] = _JsonStruct(shape.name)
        plan.members = tuple(
            (name, member.serialization.get("name", name), self.json(member))
            for name, member in shape.members.items()
        )
        plan.index = dict.fromkeys(shape.members)
        return plan


class _OperationPlan:
    __slots__ = ("json_render", "name", "prefix", "result_tag", "suffix", "xml_render")

    def __init__(self, spec: ServiceSpec, operation: str, compiler: _Compiler) -> None:
        op = spec.model.operation_model(operation)
        output = op.output_shape
        self.name = operation
        self.xml_render: _XmlStruct | None = None
        self.json_render: _JsonStruct | None = None
        self.result_tag: str | None = None
        if output is not None:
            self.result_tag = output.serialization.get("resultWrapper", f"{operation}Result")
            self.xml_render = compiler.xml_struct(output)
            self.json_render = compiler.json_struct(output)
        self.prefix = f'<{operation}Response xmlns="{spec.namespace}">'
        self.suffix = f"</{operation}Response>"


class _ServicePlans:
    __slots__ = ("compiler", "lock", "plans")

    def __init__(self) -> None:
        self.compiler = _Compiler()
        self.plans: dict[str, _OperationPlan] = {}
        self.lock = threading.Lock()


_services: dict[tuple[str, str], _ServicePlans] = {}
_services_lock = threading.Lock()


def _plan(spec: ServiceSpec, operation: str) -> _OperationPlan:
    key = (spec.name, spec.api_version)
    service = _services.get(key)
    if service is None:
        with _services_lock:
            service = _services.setdefault(key, _ServicePlans())
    plan = service.plans.get(operation)
    if plan is None:
        with service.lock:
            plan = service.plans.get(operation)
            if plan is None:
                # Unknown operation → botocore's OperationNotFoundError: a programming error.
                plan = service.plans[operation] = _OperationPlan(spec, operation, service.compiler)
    return plan


def precompile(spec: ServiceSpec) -> None:
    """Build every operation's render plan now (at start-up) instead of on first use."""
    for operation in spec.model.operation_names:
        _plan(spec, operation)


# --- public renderers -----------------------------------------------------------------


def render_result(
    spec: ServiceSpec,
    operation: str,
    result: Mapping[str, object] | None,
    request_id: str,
    *,
    as_json: bool = False,
) -> bytes:
    """The success body for ``operation`` with ``result`` (None or {} for no members)."""
    plan = _plan(spec, operation)
    if plan.xml_render is None and result:
        raise AssertionError(f"{operation} has no output members; got {sorted(result)}")
    if as_json:
        body: dict[str, object] = {}
        if plan.json_render is not None:
            body[plan.result_tag or ""] = plan.json_render(result or {})
        body["ResponseMetadata"] = {"RequestId": request_id}
        return json.dumps(
            {f"{operation}Response": body}, ensure_ascii=False, separators=(",", ":")
        ).encode("utf-8")
    out = [plan.prefix]
    if plan.xml_render is not None:
        tag = plan.result_tag
        out.append(f"<{tag}>")
        plan.xml_render(result or {}, out)
        out.append(f"</{tag}>")
    out.append("<ResponseMetadata><RequestId>")
    out.append(_escape(request_id))
    out.append("</RequestId></ResponseMetadata>")
    out.append(plan.suffix)
    return "".join(out).encode("utf-8")


def json_output(spec: ServiceSpec, operation: str, result: Mapping[str, object] | None) -> object:
    """The JSON-able body of ``operation``'s output (JSON and REST-JSON protocols):
    members by their wire names, timestamps as epoch seconds or, where the model
    says ``iso8601``, ISO 8601 strings; ``{}`` for an operation without output."""
    plan = _plan(spec, operation)
    if plan.json_render is None:
        if result:
            raise AssertionError(f"{operation} has no output members; got {sorted(result)}")
        return {}
    return plan.json_render(result or {})


def render_error(
    spec: ServiceSpec | None, error: TesseraError, request_id: str, *, as_json: bool = False
) -> bytes:
    """The ``ErrorResponse`` body for ``error`` (namespace of ``spec``, STS when None).
    An ``AccessDenied`` from a policy decision also carries its encoded
    authorization message (for STS DecodeAuthorizationMessage)."""
    encoded = getattr(error, "encoded_message", None)
    if as_json:
        fields = {"Code": error.code, "Message": error.message, "Type": error.fault}
        if encoded is not None:
            fields["EncodedAuthorizationMessage"] = encoded
        doc = {"Error": fields, "RequestId": request_id}
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    namespace = spec.namespace if spec is not None else STS_NAMESPACE
    return "".join(
        (
            f'<ErrorResponse xmlns="{namespace}"><Error><Type>',
            error.fault,
            "</Type><Code>",
            _escape(error.code),
            "</Code><Message>",
            _escape(error.message),
            "</Message>",
            ""
            if encoded is None
            else f"<EncodedAuthorizationMessage>{_escape(encoded)}</EncodedAuthorizationMessage>",
            "</Error><RequestId>",
            _escape(request_id),
            "</RequestId></ErrorResponse>",
        )
    ).encode("utf-8")


def wants_json(accept_header: str | None) -> bool:
    """True iff the ``Accept`` header names ``application/json`` (with q > 0)."""
    if not accept_header or "json" not in accept_header.lower():
        return False
    for media_range in accept_header.split(","):
        media_type, _, params = media_range.partition(";")
        if media_type.strip().lower() != JSON_CONTENT_TYPE:
            continue
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    if float(value.strip()) <= 0:
                        break
                except ValueError:
                    break
        else:
            return True
    return False
