"""Wildcard patterns and policy variables.

Owns the two string languages of the policy grammar:

* glob patterns with ``*`` (any run of characters, including ``/`` and ``:``)
  and ``?`` (exactly one character), compiled once to anchored regular
  expressions and cached;
* policy variables ``${key}``, ``${key, 'default'}`` and the escapes ``${*}``,
  ``${?}``, ``${$}`` (IAM User Guide, "IAM policy elements: Variables and
  tags"), recognised only in documents with ``Version`` ``2012-10-17``; in a
  ``2008-10-17`` document ``${...}`` is literal text.

A :class:`Pattern` is parsed once at policy compile time.  Resolving it against
a request's context keys either yields a string / compiled matcher, or
``None`` when a referenced variable has no value and no default (the caller
then treats that value as matching nothing and records the missing key).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

ContextValue = str | tuple[str, ...]

_VAR_RE: Final = re.compile(r"\$\{([^}]*)\}")
_DEFAULT_RE: Final = re.compile(r"^\s*([^,]+?)\s*,\s*'([^']*)'\s*$")


@dataclass(frozen=True, slots=True)
class Var:
    """A ``${key}`` reference; ``key`` is lower-cased (key names are case-insensitive)."""

    key: str
    default: str | None


class _Wild:
    """The ``*`` / ``?`` wildcard tokens (singletons)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"<wild {self.text}>"


STAR: Final = _Wild("*")
ONE: Final = _Wild("?")

Part = str | Var | _Wild


def _glob_regex_source(parts: tuple[Part, ...] | list[str | _Wild]) -> str:
    out: list[str] = []
    for part in parts:
        if part is STAR:
            out.append(".*")
        elif part is ONE:
            out.append(".")
        elif isinstance(part, str):
            out.append(re.escape(part))
        else:  # pragma: no cover - variables are resolved before this point
            raise TypeError(part)
    return "".join(out)


@lru_cache(maxsize=65536)
def compile_glob(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """Compile a plain glob (``*`` and ``?`` wildcards, nothing else)."""
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(_glob_regex_source(_split_wild(pattern)), flags)


@lru_cache(maxsize=65536)
def _compile_source(source: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(source, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _split_wild(text: str) -> list[str | _Wild]:
    parts: list[str | _Wild] = []
    buf: list[str] = []
    for ch in text:
        if ch == "*" or ch == "?":
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(STAR if ch == "*" else ONE)
        else:
            buf.append(ch)
    if buf:
        parts.append("".join(buf))
    return parts


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


@dataclass(frozen=True, slots=True)
class Pattern:
    """A policy string: literal text, wildcards (when ``wildcards``) and variables.

    ``wildcards=False`` is used for operators such as ``StringEquals`` where
    ``*`` is an ordinary character.
    """

    source: str
    parts: tuple[Part, ...]
    wildcards: bool
    ignore_case: bool
    has_vars: bool
    static_regex: re.Pattern[str] | None
    static_text: str | None

    # -- resolution --------------------------------------------------------------------

    def variables(self) -> tuple[Var, ...]:
        return tuple(p for p in self.parts if isinstance(p, Var))

    def text(self, keys: Mapping[str, ContextValue], missing: Callable[[str], None]) -> str | None:
        """The literal string after variable substitution (wildcards kept as text)."""
        if self.static_text is not None:
            return self.static_text
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, Var):
                value = _lookup(part, keys, missing)
                if value is None:
                    return None
                out.append(value)
            else:
                out.append(part.text)
        return "".join(out)

    def regex(
        self, keys: Mapping[str, ContextValue], missing: Callable[[str], None]
    ) -> re.Pattern[str] | None:
        """An anchored matcher; variable values are matched literally."""
        if self.static_regex is not None:
            return self.static_regex
        out: list[str] = []
        for part in self.parts:
            if part is STAR:
                out.append(".*")
            elif part is ONE:
                out.append(".")
            elif isinstance(part, str):
                out.append(re.escape(part))
            elif isinstance(part, Var):
                value = _lookup(part, keys, missing)
                if value is None:
                    return None
                out.append(re.escape(value))
        return _compile_source("".join(out), self.ignore_case)

    def matches(
        self, value: str, keys: Mapping[str, ContextValue], missing: Callable[[str], None]
    ) -> bool:
        if self.static_text is not None:
            if self.ignore_case:
                return self.static_text.casefold() == value.casefold()
            return self.static_text == value
        rx = self.regex(keys, missing)
        return rx is not None and rx.fullmatch(value) is not None


def _lookup(
    var: Var, keys: Mapping[str, ContextValue], missing: Callable[[str], None]
) -> str | None:
    value = keys.get(var.key)
    if isinstance(value, str):
        return value
    # Absent, or multivalued (multivalued keys cannot be used as variables).
    if var.default is not None:
        return var.default
    missing(var.key)
    return None


def parse_pattern(
    text: str, *, variables: bool, wildcards: bool, ignore_case: bool = False
) -> Pattern:
    """Parse ``text`` once.  ``variables`` is true only for Version 2012-10-17."""
    parts: list[Part] = []

    def add_text(chunk: str, *, literal: bool = False) -> None:
        if not chunk:
            return
        if wildcards and not literal:
            parts.extend(_split_wild(chunk))
        else:
            parts.append(chunk)

    has_vars = False
    if variables:
        pos = 0
        for m in _VAR_RE.finditer(text):
            add_text(text[pos : m.start()])
            inner = m.group(1)
            if inner in ("*", "?", "$"):
                add_text(inner, literal=True)  # escapes: ${*} ${?} ${$}
            else:
                dm = _DEFAULT_RE.match(inner)
                if dm:
                    parts.append(Var(dm.group(1).strip().lower(), dm.group(2)))
                else:
                    parts.append(Var(inner.strip().lower(), None))
                has_vars = True
            pos = m.end()
        add_text(text[pos:])
    else:
        add_text(text)

    # Merge adjacent literal strings.
    merged: list[Part] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] = merged[-1] + part
        else:
            merged.append(part)

    frozen = tuple(merged)
    static_regex: re.Pattern[str] | None = None
    static_text: str | None = None
    if not has_vars:
        if any(isinstance(p, _Wild) for p in frozen):
            static_regex = _compile_source(_glob_regex_source(frozen), ignore_case)
        else:
            static_text = "".join(p for p in frozen if isinstance(p, str))
            static_regex = _compile_source(re.escape(static_text), ignore_case)
    return Pattern(text, frozen, wildcards, ignore_case, has_vars, static_regex, static_text)
