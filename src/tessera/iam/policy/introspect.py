"""What the policy simulator reports about a document's text, beyond decisions:
where each statement sits (``StartPosition`` / ``EndPosition``) and which context
keys the document uses (``GetContextKeysFor*Policy``). Pure; documents here have
already passed :func:`~tessera.iam.policy.parse.parse_policy`.

Positions, as AWS computes them. Lines are 1-based (``\\n``, ``\\r\\n`` and ``\\r``
each end a line); columns count characters, 1-based. From AWS's documented
``simulate-custom-policy`` example (a one-line document whose ``Statement`` is an
object, its ``{`` at 1-based column 37 and its ``}`` at column 166, answered
``Column`` 38 and 167) and recorded answers for pretty-printed documents (line 3
column 19 → line 9 column 10), each position is the column just *after* the
statement's brace. For a ``Statement`` array, recorded answers (2020, 2026) put
the start one column earlier: the column of the ``{`` itself [C: two recordings;
the end of array members follows the object form, I].

Context keys, as ``GetContextKeysForCustomPolicy`` lists them (AWS's documented
example answers ``["aws:username", "aws:CurrentTime"]`` for a document whose
``Resource`` uses ``${aws:username}`` before a ``Condition`` on
``aws:CurrentTime``): every condition key and every policy variable
(``${key}``, ``${key, 'default'}``; only in ``2012-10-17`` documents), in the
order they are written, spelled as first written, each once (keys are
case-insensitive)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["Position", "context_key_names", "merge_key_names", "statement_spans"]

_WS: Final = " \t\r\n"
_VARIABLE: Final = re.compile(r"\$\{([^}]*)\}")
_ESCAPES: Final = frozenset({"*", "?", "$"})


@dataclass(frozen=True, slots=True)
class Position:
    line: int
    column: int


def _skip_ws(doc: str, i: int) -> int:
    n = len(doc)
    while i < n and doc[i] in _WS:
        i += 1
    return i


def _skip_string(doc: str, i: int) -> int:
    """``i`` at an opening quote → the index after the closing quote."""
    i += 1
    while True:
        c = doc[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        else:
            i += 1


def _skip_value(doc: str, i: int) -> int:
    """``i`` at the first character of a JSON value → the index after it (iterative:
    nesting depth costs nothing)."""
    c = doc[i]
    if c == '"':
        return _skip_string(doc, i)
    if c in "{[":
        depth = 0
        while True:
            c = doc[i]
            if c == '"':
                i = _skip_string(doc, i)
                continue
            if c in "{[":
                depth += 1
            elif c in "}]":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
    n = len(doc)
    while i < n and doc[i] not in ",}]" + _WS:
        i += 1
    return i


def _members(doc: str, start: int) -> Iterator[tuple[str, int, int]]:
    """``(key, value start, value end)`` of the object whose ``{`` is at ``start``."""
    i = _skip_ws(doc, start + 1)
    while doc[i] != "}":
        key_end = _skip_string(doc, i)
        key = json.loads(doc[i:key_end])
        i = _skip_ws(doc, key_end)  # at ":"
        value_start = _skip_ws(doc, i + 1)
        value_end = _skip_value(doc, value_start)
        yield key, value_start, value_end
        i = _skip_ws(doc, value_end)
        if doc[i] == ",":
            i = _skip_ws(doc, i + 1)


def _elements(doc: str, start: int) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each element of the array whose ``[`` is at ``start``."""
    i = _skip_ws(doc, start + 1)
    while doc[i] != "]":
        end = _skip_value(doc, i)
        yield i, end
        i = _skip_ws(doc, end)
        if doc[i] == ",":
            i = _skip_ws(doc, i + 1)


class _Lines:
    """Offsets → (line, column), both 1-based."""

    def __init__(self, doc: str) -> None:
        starts = [0]
        i, n = 0, len(doc)
        while i < n:
            c = doc[i]
            if c == "\r" and i + 1 < n and doc[i + 1] == "\n":
                i += 1
            if c in "\r\n":
                starts.append(i + 1)
            i += 1
        self.starts = starts

    def at(self, offset: int) -> Position:
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:  # the last line start <= offset
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return Position(lo + 1, offset - self.starts[lo] + 1)


def statement_spans(document: str) -> tuple[tuple[Position, Position], ...]:
    """``(StartPosition, EndPosition)`` of each statement, in statement order (the
    ``index`` of :class:`~tessera.iam.policy.parse.Statement`); the last
    ``Statement`` member counts when there are several, as for the parser."""
    i = _skip_ws(document, 0)
    found: tuple[int, int] | None = None
    for key, start, end in _members(document, i):
        if key == "Statement":
            found = (start, end)
    if found is None:
        return ()
    lines = _Lines(document)
    start, end = found
    if document[start] == "{":
        return ((lines.at(start + 1), lines.at(end)),)
    return tuple((lines.at(s), lines.at(e)) for s, e in _elements(document, start))


def _variables(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        for found in _VARIABLE.finditer(value):
            name = found.group(1).split(",", 1)[0].strip()
            if name and name not in _ESCAPES:
                yield name
    elif isinstance(value, list):
        for item in value:
            yield from _variables(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _variables(item)


def _statement_keys(statement: dict[str, Any], variables: bool) -> Iterator[str]:
    for element, value in statement.items():
        if element == "Condition" and isinstance(value, dict):
            for block in value.values():
                if not isinstance(block, dict):
                    continue
                for key, values in block.items():
                    yield key
                    if variables:
                        yield from _variables(values)
        elif variables and element in ("Resource", "NotResource"):
            yield from _variables(value)


def context_key_names(document: str) -> list[str]:
    """The context keys ``document`` uses, in order of first use, each once."""
    raw = json.loads(document)
    statements = raw.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    variables = raw.get("Version") == "2012-10-17"
    return merge_key_names(
        key for st in statements if isinstance(st, dict) for key in _statement_keys(st, variables)
    )


def merge_key_names(names: Iterable[str]) -> list[str]:
    """``names`` in order, each once regardless of case (the first spelling wins)."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        lowered = name.lower()
        if lowered not in seen:
            seen.add(lowered)
            out.append(name)
    return out
