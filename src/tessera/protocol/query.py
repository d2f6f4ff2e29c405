"""AWS Query request decoding: the form body (or query string) of an STS or IAM request
becomes a validated, typed ``DecodedRequest``, driven entirely by the botocore input
shapes. This module owns the wire rules (``Name.member.N`` lists, ``Name=`` for an empty
list, ``Name.entry.N.key/value`` maps, nested ``A.B`` structures), the type conversions
and the AWS ``ValidationError`` messages (required, length, range, pattern, enum).

Behaviour checked against real STS captures (live probes published by third parties):

- ``Action`` absent: real STS answers with a redirect to the product page; we raise
  ``MissingAction`` ("Missing Action") and leave any redirect to the HTTP layer.
- ``Version`` absent: ``InvalidAction`` "Could not find operation <Action> for version
  NO_VERSION_SPECIFIED"; a wrong or empty version and an unknown (or empty) action give
  ``InvalidAction`` "Could not find operation <Action> for version <Version>".
- A repeated parameter: the first occurrence wins (``Action``, ``Version`` and members).
- Parameters the input shape does not know are ignored.

Validation messages follow AWS's Coral format, e.g. ``1 validation error detected: Value
'x!' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular
expression pattern: [\\w+=,.@-]*``. Paths are camelCase (``tags.1.member.key``). The value
of a ``sensitive`` member (or of a list/structure holding one) is never echoed: AWS writes
``Value at 'password' failed to satisfy constraint: ...`` for those, and so do we.
Patterns are the model's Java regular expressions, full-matched; ``\\w`` and ``\\d`` keep
Java's ASCII meaning while ``\\p{L}`` etc. stay Unicode.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import threading
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Generic, TypeVar
from urllib.parse import unquote

import regex

from tessera.errors import (
    InvalidAction,
    InvalidInput,
    MissingAction,
    MissingParameter,
    SenderError,
    ValidationError,
)

from .model import ServiceSpec

__all__ = [
    "DecodedRequest",
    "Node",
    "Params",
    "decode",
    "decode_members",
    "params_for",
    "parse_form",
    "precompile",
]


# --- form parsing ---------------------------------------------------------------------


def parse_form(raw: bytes | str) -> list[tuple[str, str]]:
    """``application/x-www-form-urlencoded`` (or a query string) → ordered pairs.

    Blank values are kept (``Tags=`` means an empty list). Invalid percent-encoding and
    invalid UTF-8 decode leniently (``%zz`` stays literal, bad bytes become U+FFFD);
    this never raises.
    """
    if isinstance(raw, bytes | bytearray | memoryview):
        text = bytes(raw).decode("utf-8", errors="replace")
    else:
        text = raw
    if not text:
        return []
    # urllib.parse.parse_qsl(text, keep_blank_values=True, errors="replace"), with the
    # unquoting skipped for the (usual) names and values that need none
    pairs: list[tuple[str, str]] = []
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in name or "+" in name:
            name = unquote(name.replace("+", " "), errors="replace")
        if "%" in value or "+" in value:
            value = unquote(value.replace("+", " "), errors="replace")
        pairs.append((name, value))
    return pairs


# --- the typed accessor ---------------------------------------------------------------


class _Schema:
    """Member names of one structure, and the schemas of members holding structures."""

    __slots__ = ("children", "names", "refusal", "shape_name")

    def __init__(self, shape_name: str, refusal: type[SenderError] = ValidationError) -> None:
        self.shape_name = shape_name
        self.names: frozenset[str] = frozenset()
        self.children: dict[str, _Schema] = {}
        # the error ``Params.refuse`` raises: IAM answers input it will not act on
        # with InvalidInput (modeled on its operations), STS with ValidationError
        self.refusal = refusal


#: the error each service answers a refused member with (``Params.refuse``)
_REFUSAL: Final[Mapping[str, type[SenderError]]] = {"iam": InvalidInput, "sts": ValidationError}


#: the member names of one input shape (a ``Literal`` from ``tessera.protocol.inputs``)
M = TypeVar("M", bound=str)


class Params(Generic[M]):
    """Read-only typed access to a validated input structure.

    ``Params[CreateUserMembers]`` (``tessera.protocol.inputs``, generated from the
    pinned model) lets mypy reject a member name the operation's input does not
    have; ``Params[Any]`` (nested structures, helpers shared by several operations)
    checks names at run time only.

    Asking for a member the shape does not have raises ``KeyError`` and asking for the
    wrong type raises ``TypeError``: both are handler bugs, caught by tests. Structures
    inside lists are returned as plain mappings by ``get_list`` and as ``Params`` by
    ``get_struct_list``. The repr lists member names only, never values.

    No member is silently ignored (#14 §1): every typed accessor records the member
    it was asked for (``read``), and ``refuse`` answers a member Tessera does not
    implement with a clear error naming it. ``tests/security/test_no_silent_ignore``
    sends every implemented operation each member of its input and fails unless the
    handler read or refused it. ``raw``, ``in``, iteration and ``len`` record
    nothing: a handler that consumes a member reads it through an accessor.
    """

    __slots__ = ("_data", "_read", "_schema")

    def __init__(self, data: dict[str, object], schema: _Schema) -> None:
        self._data = data
        self._schema = schema
        self._read: set[str] = set()

    def _get(self, name: M) -> object:
        if name not in self._schema.names:
            raise KeyError(f"{self._schema.shape_name} has no member {name!r}")
        self._read.add(name)
        return self._data.get(name)

    @property
    def read(self) -> frozenset[str]:
        """The members a handler has asked for (or refused) so far."""
        return frozenset(self._read)

    def refuse(self, name: M, reason: str) -> None:
        """Answer a request that carries ``name`` with the service's input error
        (IAM ``InvalidInput``, STS ``ValidationError``) naming the member and saying
        why: for members of the pinned model whose behaviour Tessera does not
        implement. Absent, the member counts as handled and nothing happens."""
        if self._get(name) is not None:
            raise self._schema.refusal(
                f"The parameter {name} is not supported by Tessera: {reason}"
            )

    @staticmethod
    def _wrong(name: str, want: str, value: object) -> TypeError:
        return TypeError(f"member {name!r} is {type(value).__name__}, not {want}")

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Params):
            return dict(self._data) == dict(other._data)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Params({self._schema.shape_name}: {', '.join(self._data)})"

    def raw(self) -> Mapping[str, object]:
        """The underlying plain values (dicts for structures, lists, scalars)."""
        return types.MappingProxyType(self._data)

    def refuse_operation(self) -> None:
        """Count every member as handled: for handlers that refuse the whole operation
        (``tessera.sts.unsupported``, ``tessera.iam.unsupported``), where no member
        can be ignored because nothing is done."""
        self._read.update(self._schema.names)

    def get_str(self, name: M) -> str | None:
        value = self._get(name)
        if value is None or isinstance(value, str):
            return value
        raise self._wrong(name, "str", value)

    def req_str(self, name: M) -> str:
        """Like ``get_str`` but absent → ``MissingParameter`` (for members a handler
        needs although the model leaves them optional)."""
        value = self.get_str(name)
        if value is None:
            raise MissingParameter(f"The request must contain the parameter {name}.")
        return value

    def get_int(self, name: M) -> int | None:
        value = self._get(name)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise self._wrong(name, "int", value)

    def get_bool(self, name: M) -> bool | None:
        value = self._get(name)
        if value is None or isinstance(value, bool):
            return value
        raise self._wrong(name, "bool", value)

    def get_datetime(self, name: M) -> datetime | None:
        value = self._get(name)
        if value is None or isinstance(value, datetime):
            return value
        raise self._wrong(name, "datetime", value)

    def get_bytes(self, name: M) -> bytes | None:
        value = self._get(name)
        if value is None or isinstance(value, bytes):
            return value
        raise self._wrong(name, "bytes", value)

    def get_list(self, name: M) -> list[object] | None:
        """None when absent, ``[]`` for ``Name=``; structures come as plain mappings."""
        value = self._get(name)
        if value is None:
            return None
        if isinstance(value, list):
            return list(value)
        raise self._wrong(name, "list", value)

    def get_str_list(self, name: M) -> list[str] | None:
        items = self.get_list(name)
        if items is None:
            return None
        for item in items:
            if not isinstance(item, str):
                raise self._wrong(name, "list[str]", item)
        return items  # type: ignore[return-value]

    def get_struct_list(self, name: M) -> list[Params[Any]] | None:
        items = self.get_list(name)
        if items is None:
            return None
        schema = self._schema.children.get(name)
        out: list[Params[Any]] = []
        for item in items:
            if schema is None or not isinstance(item, dict):
                raise self._wrong(name, "list of structures", item)
            out.append(Params(item, schema))
        return out

    def get_map(self, name: M) -> dict[str, object] | None:
        value = self._get(name)
        if value is None:
            return None
        if isinstance(value, dict) and name not in self._schema.children:
            return dict(value)
        raise self._wrong(name, "map", value)

    def get_struct(self, name: M) -> Params[Any] | None:
        value = self._get(name)
        if value is None:
            return None
        schema = self._schema.children.get(name)
        if schema is None or not isinstance(value, dict):
            raise self._wrong(name, "structure", value)
        return Params(value, schema)


@dataclass(frozen=True, slots=True)
class DecodedRequest:
    operation: str  # e.g. "AssumeRole"
    params: Params[Any]  # validated input


# --- the request tree -----------------------------------------------------------------


class Node:
    """One dotted-key segment of the request: its own value and its sub-keys."""

    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.value: str | None = None
        self.children: dict[str, Node] | None = None


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_ABSENT: Final = _Sentinel("ABSENT")  # not given (or given in a form we cannot read)
_INVALID: Final = _Sentinel("INVALID")  # given, but an error has been recorded

# decoder(node, path, errors) -> value | _ABSENT | _INVALID
_Decoder = Callable[[Node, str, list[str]], object]
_Check = Callable[[Any], "str | None"]


def _echo(value: object) -> str:
    """Java-like rendering of a value for a validation message."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_echo(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}: {_echo(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _violation(value: object, sensitive: bool, path: str, constraint: str) -> str:
    if value is None:
        shown = "Value null"
    elif sensitive:
        shown = "Value"
    else:
        shown = f"Value '{_echo(value)}'"
    return f"{shown} at '{path}' failed to satisfy constraint: {constraint}"


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


# --- Java regular expressions ---------------------------------------------------------

_ASCII_CLASSES: Final = {"w": "a-zA-Z0-9_", "d": "0-9", "s": " \\t\\n\\x0B\\f\\r"}


def _translate_java_regex(pattern: str) -> str:
    """Give ``\\w``, ``\\d`` and ``\\s`` their Java (ASCII) meaning; everything else in the
    models' patterns means the same to the ``regex`` module."""
    out: list[str] = []
    depth = 0
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            cls = _ASCII_CLASSES.get(nxt)
            if cls is not None:
                out.append(cls if depth else f"[{cls}]")
            elif nxt.lower() in _ASCII_CLASSES and nxt.isupper() and not depth:
                out.append(f"[^{_ASCII_CLASSES[nxt.lower()]}]")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
        out.append(ch)
        i += 1
    return "".join(out)


def _compile_pattern(pattern: str) -> Callable[[str], object]:
    translated = _translate_java_regex(pattern)
    try:
        return re.compile(translated).fullmatch  # faster when it suffices
    except re.error:
        compiled: Callable[[str], object] = regex.compile(translated).fullmatch
        return compiled


# --- scalar conversions ---------------------------------------------------------------

_INT_RE: Final = re.compile(r"[+-]?[0-9]{1,20}")
_FLOAT_RE: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
_INT_BOUNDS: Final = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def _to_int(text: str, kind: str) -> int | None:
    if _INT_RE.fullmatch(text) is None:
        return None
    value = int(text)
    lo, hi = _INT_BOUNDS.get(kind, _INT_BOUNDS["long"])
    return value if lo <= value <= hi else None


def _to_float(text: str) -> float | None:
    if _FLOAT_RE.fullmatch(text) is None:
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _to_bool(text: str) -> bool | None:
    low = text.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    return None


def _to_timestamp(text: str) -> datetime | None:
    if _FLOAT_RE.fullmatch(text) is not None:
        seconds = float(text)
        if not math.isfinite(seconds):
            return None
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _to_blob(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None


_CONVERTERS: Final[dict[str, tuple[Callable[[str], object | None], str]]] = {
    "integer": (lambda t: _to_int(t, "integer"), "Member must be an integer"),
    "long": (lambda t: _to_int(t, "long"), "Member must be a long integer"),
    "float": (_to_float, "Member must be a number"),
    "double": (_to_float, "Member must be a number"),
    "boolean": (_to_bool, "Member must be a boolean (true or false)"),
    "timestamp": (_to_timestamp, "Member must be a timestamp (ISO 8601 or epoch seconds)"),
    "blob": (_to_blob, "Member must be base64-encoded"),
}


# --- compiling shapes into decoders ---------------------------------------------------


def _passes(
    checks: list[_Check], value: object, sensitive: bool, path: str, errors: list[str]
) -> bool:
    """Run every constraint check on ``value``; each failure adds its violation."""
    ok = True
    for check in checks:
        problem = check(value)
        if problem is not None:
            errors.append(_violation(value, sensitive, path, problem))
            ok = False
    return ok


def _length_checks(meta: Mapping[str, Any]) -> list[_Check]:
    checks: list[_Check] = []
    if "min" in meta:
        lo = int(meta["min"])
        msg_lo = f"Member must have length greater than or equal to {lo}"
        checks.append(lambda v: msg_lo if len(v) < lo else None)
    if "max" in meta:
        hi = int(meta["max"])
        msg_hi = f"Member must have length less than or equal to {hi}"
        checks.append(lambda v: msg_hi if len(v) > hi else None)
    return checks


def _range_checks(meta: Mapping[str, Any]) -> list[_Check]:
    checks: list[_Check] = []
    if "min" in meta:
        lo = meta["min"]
        msg_lo = f"Member must have value greater than or equal to {lo}"
        checks.append(lambda v: msg_lo if v < lo else None)
    if "max" in meta:
        hi = meta["max"]
        msg_hi = f"Member must have value less than or equal to {hi}"
        checks.append(lambda v: msg_hi if v > hi else None)
    return checks


class _Compiler:
    """Turns botocore shapes into decoder closures; structures are memoised by name
    (which also makes recursive shapes safe)."""

    def __init__(self, refusal: type[SenderError] = ValidationError) -> None:
        self._structs: dict[str, tuple[_StructDecoder, _Schema]] = {}
        self._refusal = refusal

    def shape(self, shape: Any) -> tuple[_Decoder, _Schema | None, bool]:
        """(decoder, schema for structure-bearing shapes, holds-sensitive-data)."""
        kind = shape.type_name
        if kind == "structure":
            dec, schema = self.structure(shape)
            return dec, schema, dec.sensitive
        if kind == "list":
            return self.list(shape)
        if kind == "map":
            return self.map(shape)
        return self.scalar(shape)

    def scalar(self, shape: Any) -> tuple[_Decoder, None, bool]:
        meta = shape.metadata
        kind = shape.type_name
        sensitive = bool(meta.get("sensitive"))
        checks: list[_Check] = []
        if kind == "string":
            checks += _length_checks(meta)
            if "pattern" in meta:
                pattern = str(meta["pattern"])
                match = _compile_pattern(pattern)
                msg_p = f"Member must satisfy regular expression pattern: {pattern}"
                checks.append(lambda v: None if match(v) is not None else msg_p)
            if "enum" in meta:
                allowed = frozenset(meta["enum"])
                msg_e = f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]"
                checks.append(lambda v: None if v in allowed else msg_e)
        elif kind == "blob":
            checks += _length_checks(meta)
        elif kind in ("integer", "long", "float", "double"):
            checks += _range_checks(meta)
        converter = _CONVERTERS.get(kind)

        def decode_scalar(node: Node, path: str, errors: list[str]) -> object:
            text = node.value
            if text is None:
                return _ABSENT
            value: object = text
            if converter is not None:
                value = converter[0](text)
                if value is None:
                    errors.append(_violation(text, sensitive, path, converter[1]))
                    return _INVALID
            return value if _passes(checks, value, sensitive, path, errors) else _INVALID

        return decode_scalar, None, sensitive

    def list(self, shape: Any) -> tuple[_Decoder, _Schema | None, bool]:
        element, schema, sensitive = self.shape(shape.member)
        flattened = bool(shape.serialization.get("flattened"))
        member_key = shape.member.serialization.get("name", "member")
        checks = _length_checks(shape.metadata)

        def decode_list(node: Node, path: str, errors: list[str]) -> object:
            children = node.children
            if children is not None and not flattened:
                children = children[member_key].children if member_key in children else None
            if children is None and node.value is None:
                return _ABSENT
            # ``Name=`` (any value, normally empty) with no members: the empty list.
            items: list[object] = []
            ok = True
            indexed = _indexed(children) if children is not None else []
            for position, (_, child) in enumerate(indexed, start=1):
                value = element(child, f"{path}.{position}.member", errors)
                if value is _INVALID:
                    ok = False
                elif value is _ABSENT:
                    errors.append(
                        _violation(
                            None,
                            sensitive,
                            f"{path}.{position}.member",
                            "Member must not be null",
                        )
                    )
                    ok = False
                else:
                    items.append(value)
            if not ok:
                return _INVALID
            return items if _passes(checks, items, sensitive, path, errors) else _INVALID

        return decode_list, schema, sensitive

    def map(self, shape: Any) -> tuple[_Decoder, None, bool]:
        key_dec, _, key_sensitive = self.shape(shape.key)
        value_dec, _, value_sensitive = self.shape(shape.value)
        sensitive = key_sensitive or value_sensitive
        flattened = bool(shape.serialization.get("flattened"))
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        checks = _length_checks(shape.metadata)

        def decode_map(node: Node, path: str, errors: list[str]) -> object:
            children = node.children
            if children is not None and not flattened:
                children = children["entry"].children if "entry" in children else None
            if children is None and node.value is None:
                return _ABSENT
            out: dict[object, object] = {}
            ok = True
            indexed = _indexed(children) if children is not None else []
            for position, (_, entry) in enumerate(indexed, start=1):
                parts = entry.children or {}
                where = f"{path}.entry.{position}"
                got: list[object] = []
                for part, dec, name in (
                    (key_name, key_dec, "key"),
                    (value_name, value_dec, "value"),
                ):
                    child = parts.get(part)
                    value = dec(child, f"{where}.{name}", errors) if child is not None else _ABSENT
                    if value is _ABSENT:
                        errors.append(
                            _violation(None, False, f"{where}.{name}", "Member must not be null")
                        )
                    got.append(value)
                if _ABSENT in got or _INVALID in got:
                    ok = False
                    continue
                out.setdefault(got[0], got[1])
            if not ok:
                return _INVALID
            return out if _passes(checks, out, sensitive, path, errors) else _INVALID

        return decode_map, None, sensitive

    def structure(self, shape: Any) -> tuple[_StructDecoder, _Schema]:
        cached = self._structs.get(shape.name)
        if cached is not None:
            return cached
        dec = _StructDecoder()
        schema = _Schema(shape.name, self._refusal)
        self._structs[shape.name] = (dec, schema)
        required = set(shape.required_members)
        members: list[tuple[str, str, str, _Decoder, bool]] = []
        sensitive = False
        for name, member in shape.members.items():
            member_dec, member_schema, member_sensitive = self.shape(member)
            sensitive = sensitive or member_sensitive
            if member_schema is not None:
                schema.children[name] = member_schema
            wire = _wire_name(member, name)
            members.append((wire, name, _camel(name), member_dec, name in required))
        schema.names = frozenset(shape.members)
        dec.members = tuple(members)
        dec.sensitive = sensitive
        return dec, schema


def _wire_name(member: Any, name: str) -> str:
    """The parameter name of a structure member: its locationName, except that a flattened
    list whose element has a locationName is named by that (as botocore serialises it)."""
    if member.type_name == "list" and member.serialization.get("flattened"):
        element_name = member.member.serialization.get("name")
        if element_name is not None:
            return str(element_name)
    return str(member.serialization.get("name", name))


class _StructDecoder:
    __slots__ = ("members", "sensitive")

    def __init__(self) -> None:
        self.members: tuple[tuple[str, str, str, _Decoder, bool], ...] = ()
        self.sensitive = False

    def __call__(self, node: Node, path: str, errors: list[str]) -> object:
        children = node.children
        if children is None:
            return _ABSENT
        return self.decode_children(children, path, errors)

    def decode_children(self, children: dict[str, Node], path: str, errors: list[str]) -> object:
        out: dict[str, object] = {}
        ok = True
        for wire, name, camel, decoder, required in self.members:
            child = children.get(wire)
            member_path = f"{path}.{camel}" if path else camel
            value = decoder(child, member_path, errors) if child is not None else _ABSENT
            if value is _ABSENT:
                if required:
                    errors.append(_violation(None, False, member_path, "Member must not be null"))
                    ok = False
            elif value is _INVALID:
                ok = False
            else:
                out[name] = value
        return out if ok else _INVALID


def _indexed(children: dict[str, Node]) -> list[tuple[int, Node]]:
    """``member.N`` children in N order; keys that are not decimal indices are ignored
    and, when two keys name the same N (``1`` and ``01``), the first one given wins."""
    seen: dict[int, Node] = {}
    for key, child in children.items():
        if key.isascii() and key.isdigit() and len(key) <= 18:
            seen.setdefault(int(key), child)
    return sorted(seen.items(), key=lambda item: item[0])


# --- per-operation plans --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _OperationPlan:
    decoder: _StructDecoder | None
    schema: _Schema
    top_level: frozenset[str]  # wire names of the input's top-level members


class _ServicePlans:
    __slots__ = ("compiler", "lock", "operations", "plans", "refusal")

    def __init__(self, spec: ServiceSpec) -> None:
        self.operations = frozenset(spec.model.operation_names)
        self.plans: dict[str, _OperationPlan] = {}
        self.refusal = _REFUSAL.get(spec.name, ValidationError)
        self.compiler = _Compiler(self.refusal)
        self.lock = threading.Lock()


_services: dict[tuple[str, str], _ServicePlans] = {}
_services_lock = threading.Lock()


def _service_plans(spec: ServiceSpec) -> _ServicePlans:
    key = (spec.name, spec.api_version)
    plans = _services.get(key)
    if plans is None:
        with _services_lock:
            plans = _services.get(key)
            if plans is None:
                plans = _services[key] = _ServicePlans(spec)
    return plans


def _plan(spec: ServiceSpec, service: _ServicePlans, operation: str) -> _OperationPlan:
    plan = service.plans.get(operation)
    if plan is not None:
        return plan
    with service.lock:
        plan = service.plans.get(operation)
        if plan is None:
            input_shape = spec.model.operation_model(operation).input_shape
            if input_shape is None:
                empty = _Schema(f"{operation}Request", service.refusal)
                plan = _OperationPlan(None, empty, frozenset())
            else:
                decoder, schema = service.compiler.structure(input_shape)
                top = frozenset(wire for wire, *_ in decoder.members)
                plan = _OperationPlan(decoder, schema, top)
            service.plans[operation] = plan
    return plan


def precompile(spec: ServiceSpec) -> None:
    """Build every operation's decoder now (at start-up) instead of on first use."""
    service = _service_plans(spec)
    for operation in sorted(service.operations):
        _plan(spec, service, operation)


# --- decode -----------------------------------------------------------------------------


def decode(spec: ServiceSpec, pairs: Sequence[tuple[str, str]]) -> DecodedRequest:
    """Find the operation (``Action``/``Version``) and decode + validate its input.

    Raises ``MissingAction``, ``InvalidAction`` or ``ValidationError`` (with every
    violation in one message, as AWS does); never anything that is not a TesseraError.
    """
    first: dict[str, str] = {}
    for key, value in pairs:
        if key not in first:
            first[key] = value
    action = first.get("Action")
    if action is None:
        raise MissingAction("Missing Action")
    version = first.get("Version")
    service = _service_plans(spec)
    if version != spec.api_version or action not in service.operations:
        shown = "NO_VERSION_SPECIFIED" if version is None else version
        raise InvalidAction(f"Could not find operation {action} for version {shown}")
    plan = _plan(spec, service, action)
    if plan.decoder is None:
        return DecodedRequest(action, Params({}, plan.schema))

    top_level = plan.top_level
    root: dict[str, Node] = {}
    for key, value in first.items():
        head, dot, rest = key.partition(".")
        if head not in top_level:
            continue
        node = root.get(head)
        if node is None:
            node = root[head] = Node()
        if dot:
            for part in rest.split("."):
                children = node.children
                if children is None:
                    children = node.children = {}
                child = children.get(part)
                if child is None:
                    child = children[part] = Node()
                node = child
        if node.value is None:
            node.value = value

    return DecodedRequest(action, _decode_root(plan, root))


def _decode_root(plan: _OperationPlan, root: dict[str, Node]) -> Params[Any]:
    if plan.decoder is None:
        return Params({}, plan.schema)
    errors: list[str] = []
    result = plan.decoder.decode_children(root, "", errors)
    if errors:
        count = len(errors)
        noun = "error" if count == 1 else "errors"
        raise ValidationError(f"{count} validation {noun} detected: " + "; ".join(errors))
    assert isinstance(result, dict)
    return Params(result, plan.schema)


def decode_members(spec: ServiceSpec, operation: str, root: dict[str, Node]) -> Params[Any]:
    """Validate an input already arranged as a tree of ``Node`` (top-level members by
    wire name; lists as ``member`` → ``1``, ``2`` …; maps as ``entry`` → ``N`` →
    ``key``/``value``; scalars as text) against ``operation``'s input shape: the
    JSON protocols (``tessera.protocol.jsonwire``) reuse the Query protocol's
    constraint checks and messages this way. Raises ``ValidationError``."""
    service = _service_plans(spec)
    if operation not in service.operations:
        raise KeyError(f"{spec.name} has no operation {operation!r}")
    return _decode_root(_plan(spec, service, operation), root)


def params_for(spec: ServiceSpec, operation: str, data: dict[str, object]) -> Params[Any]:
    """``Params`` over already-typed ``data`` for ``operation``, without wire decoding or
    validation: for handler tests and internal callers. Unknown operation → KeyError."""
    service = _service_plans(spec)
    if operation not in service.operations:
        raise KeyError(f"{spec.name} has no operation {operation!r}")
    return Params(data, _plan(spec, service, operation).schema)
