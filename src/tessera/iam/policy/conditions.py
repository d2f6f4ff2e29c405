"""Condition operators and the ``Condition`` block semantics.

Source: IAM User Guide, "IAM JSON policy elements: Condition operators" and
"Multivalued context keys".  Summary of what is implemented here:

* every operator of the String, Numeric, Date, Bool, Binary, IP address, ARN
  and Null families, each with an optional ``IfExists`` suffix (not ``Null``)
  and an optional ``ForAllValues:`` / ``ForAnyValue:`` qualifier;
* several values for one key are ORed; for a negated operator
  (``StringNotEquals``, ``NotIpAddress``, ``ArnNotLike``…) the key must match
  none of them (NOR);
* a key absent from the request: false, except negated operators, ``…IfExists``
  (true) and ``Null``; ``ForAllValues`` is true and ``ForAnyValue`` false when
  the key is absent or its value set is empty (``IfExists`` makes
  ``ForAnyValue`` true on an absent key);
* ``ForAllValues:<op>``: every request value must satisfy ``<op>`` (for a
  negated op: match none of the policy values); ``ForAnyValue:<op>``: at least
  one request value must;
* a plain (unqualified) operator applied to a multivalued key is true when any
  request value matches (negated: when none does) — [I] our reading of the
  "single-valued vs multivalued context keys" page, which only says not to do
  this;
* JSON numbers and booleans in the policy are compared as their JSON text.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Final, Literal

from tessera.iam.policy.patterns import ContextValue, Pattern, compile_glob, parse_pattern

Qualifier = Literal["all", "any"] | None

# base operator -> (family, comparison, negated)
_OPERATORS: Final[dict[str, tuple[str, str, bool]]] = {
    "StringEquals": ("string", "eq", False),
    "StringNotEquals": ("string", "eq", True),
    "StringEqualsIgnoreCase": ("string_ic", "eq", False),
    "StringNotEqualsIgnoreCase": ("string_ic", "eq", True),
    "StringLike": ("like", "eq", False),
    "StringNotLike": ("like", "eq", True),
    "NumericEquals": ("numeric", "eq", False),
    "NumericNotEquals": ("numeric", "eq", True),
    "NumericLessThan": ("numeric", "lt", False),
    "NumericLessThanEquals": ("numeric", "le", False),
    "NumericGreaterThan": ("numeric", "gt", False),
    "NumericGreaterThanEquals": ("numeric", "ge", False),
    "DateEquals": ("date", "eq", False),
    "DateNotEquals": ("date", "eq", True),
    "DateLessThan": ("date", "lt", False),
    "DateLessThanEquals": ("date", "le", False),
    "DateGreaterThan": ("date", "gt", False),
    "DateGreaterThanEquals": ("date", "ge", False),
    "Bool": ("bool", "eq", False),
    "BinaryEquals": ("binary", "eq", False),
    "IpAddress": ("ip", "eq", False),
    "NotIpAddress": ("ip", "eq", True),
    "ArnEquals": ("arn", "eq", False),
    "ArnLike": ("arn", "eq", False),
    "ArnNotEquals": ("arn", "eq", True),
    "ArnNotLike": ("arn", "eq", True),
    "Null": ("null", "eq", False),
}

BASE_OPERATORS: Final = frozenset(_OPERATORS)


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    text: str
    base: str
    family: str
    comparison: str
    negated: bool
    qualifier: Qualifier
    if_exists: bool


def parse_operator(text: str) -> OperatorSpec | None:
    """Split ``ForAnyValue:StringLikeIfExists`` into its parts; ``None`` if unknown."""
    qualifier: Qualifier = None
    rest = text
    if rest.startswith("ForAllValues:"):
        qualifier, rest = "all", rest[len("ForAllValues:") :]
    elif rest.startswith("ForAnyValue:"):
        qualifier, rest = "any", rest[len("ForAnyValue:") :]
    if_exists = False
    if rest.endswith("IfExists") and rest != "IfExists":
        if_exists, rest = True, rest[: -len("IfExists")]
    spec = _OPERATORS.get(rest)
    if spec is None:
        return None
    if rest == "Null" and if_exists:
        return None  # "You can't use IfExists with the Null operator" [D]
    family, comparison, negated = spec
    return OperatorSpec(text, rest, family, comparison, negated, qualifier, if_exists)


# --- value conversions --------------------------------------------------------------


@lru_cache(maxsize=8192)
def parse_number(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


_EPOCH_RE: Final = re.compile(r"^-?\d+(\.\d+)?$")


@lru_cache(maxsize=8192)
def parse_date(text: str) -> float | None:
    """ISO-8601 (date, date-time, ``Z`` or offset, fractions) or epoch seconds."""
    s = text.strip()
    if _EPOCH_RE.match(s):
        try:
            return float(s)
        except ValueError:  # pragma: no cover
            return None
    if s[-1:] in ("z", "Z"):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


@lru_cache(maxsize=8192)
def _parse_binary(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8192)
def _parse_network(text: str) -> IpNetwork | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


@lru_cache(maxsize=8192)
def _parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _cmp(comparison: str, a: Decimal | float, b: Decimal | float) -> bool:
    if comparison == "eq":
        return a == b
    if comparison == "lt":
        return a < b
    if comparison == "le":
        return a <= b
    if comparison == "gt":
        return a > b
    return a >= b


def _arn_matches(value: str, pattern_text: str) -> bool:
    """ArnEquals / ArnLike: each of the six ``:``-separated parts matched separately."""
    vparts = value.split(":", 5)
    pparts = pattern_text.split(":", 5)
    if len(vparts) != 6 or len(pparts) != 6:
        return False
    return all(
        compile_glob(p).fullmatch(v) is not None for p, v in zip(pparts, vparts, strict=True)
    )


Missing = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``operator: {key: values}`` entry (one key of one operator)."""

    op: OperatorSpec
    key: str  # lower-cased
    key_text: str  # as written
    values: tuple[Pattern, ...]

    # -- matching a single request value against the policy values (OR) ------------------

    def _value_matches(
        self, request_value: str, keys: Mapping[str, ContextValue], missing: Missing
    ) -> bool:
        family = self.op.family
        for pattern in self.values:
            if family == "like":
                if pattern.matches(request_value, keys, missing):
                    return True
                continue
            text = pattern.text(keys, missing)
            if text is None:
                continue  # unresolved variable: this value matches nothing
            if family == "string":
                if request_value == text:
                    return True
            elif family == "string_ic":
                if request_value.casefold() == text.casefold():
                    return True
            elif family == "numeric":
                a, b = parse_number(request_value), parse_number(text)
                if a is not None and b is not None and _cmp(self.op.comparison, a, b):
                    return True
            elif family == "date":
                da, db = parse_date(request_value), parse_date(text)
                if da is not None and db is not None and _cmp(self.op.comparison, da, db):
                    return True
            elif family == "bool":
                if request_value.lower() == text.lower():
                    return True
            elif family == "binary":
                ba, bb = _parse_binary(request_value), _parse_binary(text)
                if ba is not None and ba == bb:
                    return True
            elif family == "ip":
                net = _parse_network(text)
                addr = _parse_address(request_value)
                if net is not None and addr is not None and addr.version == net.version:
                    if addr in net:
                        return True
            elif family == "arn":
                if _arn_matches(request_value, text):
                    return True
        return False

    def evaluate(self, keys: Mapping[str, ContextValue], missing: Missing) -> bool:
        op = self.op
        present = keys.get(self.key)
        if op.family == "null":
            is_null = present is None or present == ()
            for pattern in self.values:
                text = pattern.text(keys, missing)
                if text is None:
                    continue
                flag = text.lower()
                if (flag == "true" and is_null) or (flag == "false" and not is_null):
                    return True
            return False
        if present is None or present == ():
            if present is None:
                missing(self.key)
            if op.qualifier == "all":
                return True
            if op.if_exists:
                return True
            if op.qualifier == "any":
                return False
            return op.negated
        request_values = (present,) if isinstance(present, str) else present
        if op.qualifier == "all":
            if op.negated:
                return all(not self._value_matches(v, keys, missing) for v in request_values)
            return all(self._value_matches(v, keys, missing) for v in request_values)
        if op.qualifier == "any":
            if op.negated:
                return any(not self._value_matches(v, keys, missing) for v in request_values)
            return any(self._value_matches(v, keys, missing) for v in request_values)
        hit = any(self._value_matches(v, keys, missing) for v in request_values)
        return not hit if op.negated else hit


def make_condition(
    op: OperatorSpec, key_text: str, values: tuple[str, ...], *, variables: bool
) -> Condition:
    wildcards = op.family == "like"
    patterns = tuple(parse_pattern(v, variables=variables, wildcards=wildcards) for v in values)
    return Condition(op, key_text.lower(), key_text, patterns)
