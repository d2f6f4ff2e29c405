"""Wildcard patterns and policy variables.

Owns the two string languages of the policy grammar:

* glob patterns with ``*`` (any run of characters, including ``/`` and ``:``)
  and ``?`` (exactly one character), compiled once to regular expressions that
  are only ever used with ``fullmatch`` and cached;
* policy variables ``${key}``, ``${key, 'default'}`` and the escapes ``${*}``,
  ``${?}``, ``${$}`` (IAM User Guide, "IAM policy elements: Variables and
  tags"), recognised only in documents with ``Version`` ``2012-10-17``; in a
  ``2008-10-17`` document ``${...}`` is literal text.

A :class:`Pattern` is parsed once at policy compile time.  Resolving it against
a request's context keys either yields a string / compiled matcher, or
``None`` when a referenced variable has no value and no default (the caller
then treats that value as matching nothing and records the missing key).

Every input here is attacker-controlled (a session policy is a request
parameter), so nothing may cost more than linear time in pattern × subject:

* A glob is matched the classic way: the literal run before the first ``*``
  must start the subject, the run after the last ``*`` must end it, and each
  run in between is matched at its *leftmost* position after the previous one.
  Runs are fixed-length (literal characters and ``?``), so leftmost is always
  right and nothing is ever retried.  The regex says exactly that:
  ``A(?>.*?B)(?>.*?C).*D`` for ``A*B*C*D`` — each atomic group is entered once
  and never backtracked into, so a match costs O(len(subject) × len(pattern))
  where ``A.*B.*C.*D`` cost O(len(subject) ** stars).  Literal characters are
  still compared by the regex engine, so case handling (``ignore_case``) is
  exactly what it was.
* ``${...}`` and ``${key, 'default'}`` are scanned with ``str.find``, not with
  backtracking expressions (those were quadratic, and cubic on white space).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

ContextValue = str | tuple[str, ...]


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


def _glob_template(parts: Sequence[Part]) -> tuple[str | Var, ...]:
    """The regex for a sequence of parts, as source fragments with each ``Var`` left
    in place (its value is escaped in when the variable is resolved).

    ``A*B*C`` becomes ``A(?>.*?B).*C``: the first run anchored at the start (by
    ``fullmatch``), each middle run at its leftmost position (an atomic group,
    never retried), the last run at the end.  Consecutive ``*`` collapse to one;
    every middle run is therefore non-empty.  A pattern with at most one ``*`` gives
    the same expression as a naive translation.
    """
    # The last run of stars becomes ".*"; every earlier one opens an atomic group.
    last = len(parts) - 1
    while last >= 0 and parts[last] is not STAR:
        last -= 1
    while last > 0 and parts[last - 1] is STAR:
        last -= 1
    out: list[str | Var] = []
    buf: list[str] = []
    in_group = False
    for i, part in enumerate(parts):
        if part is STAR:
            if i and parts[i - 1] is STAR:
                continue  # "**" is "*"
            if in_group:
                buf.append(")")
            in_group = i != last
            buf.append("(?>.*?" if in_group else ".*")
        elif part is ONE:
            buf.append(".")
        elif isinstance(part, str):
            buf.append(re.escape(part))
        elif isinstance(part, Var):
            if buf:
                out.append("".join(buf))
                buf = []
            out.append(part)
        else:  # pragma: no cover - Part is exhaustive
            raise TypeError(part)
    if buf:
        out.append("".join(buf))
    return tuple(out)


def _glob_regex_source(parts: Sequence[Part]) -> str:
    """Regex source for a glob without variables, to be used with ``fullmatch``."""
    out: list[str] = []
    for frag in _glob_template(parts):
        if not isinstance(frag, str):  # pragma: no cover - callers pass no variables
            raise TypeError(frag)
        out.append(frag)
    return "".join(out)


@lru_cache(maxsize=65536)
def compile_glob(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """Compile a plain glob (``*`` and ``?`` wildcards, nothing else).

    Use the result with ``fullmatch`` only (it runs in linear time; ``match`` and
    ``search`` do not mean "the glob matches")."""
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
    #: regex source fragments with ``Var`` placeholders (see :func:`_glob_template`)
    template: tuple[str | Var, ...]

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
        """A matcher for ``fullmatch``; variable values are matched literally."""
        if self.static_regex is not None:
            return self.static_regex
        out: list[str] = []
        for frag in self.template:
            if isinstance(frag, str):
                out.append(frag)
            else:
                value = _lookup(frag, keys, missing)
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
    if variables and "${" in text:
        pos = 0
        for start, end, inner in _variable_spans(text):
            add_text(text[pos:start])
            if inner in ("*", "?", "$"):
                add_text(inner, literal=True)  # escapes: ${*} ${?} ${$}
            else:
                key_default = _split_default(inner)
                if key_default is not None:
                    parts.append(Var(key_default[0].lower(), key_default[1]))
                else:
                    parts.append(Var(inner.strip().lower(), None))
                has_vars = True
            pos = end
        add_text(text[pos:])
    else:
        add_text(text)

    # Merge adjacent literal strings (one join per run: linear).
    merged: list[Part] = []
    run: list[str] = []
    for part in parts:
        if isinstance(part, str):
            run.append(part)
            continue
        if run:
            merged.append("".join(run))
            run = []
        merged.append(part)
    if run:
        merged.append("".join(run))

    frozen = tuple(merged)
    static_regex: re.Pattern[str] | None = None
    static_text: str | None = None
    template: tuple[str | Var, ...]
    if has_vars:
        template = _glob_template(frozen)
    else:
        if any(isinstance(p, _Wild) for p in frozen):
            source = _glob_regex_source(frozen)
        else:
            static_text = "".join(p for p in frozen if isinstance(p, str))
            source = re.escape(static_text)
        template = (source,)
        static_regex = _compile_source(source, ignore_case)
    return Pattern(
        text, frozen, wildcards, ignore_case, has_vars, static_regex, static_text, template
    )


def _variable_spans(text: str) -> Iterator[tuple[int, int, str]]:
    r"""``(start, end, inner)`` for each ``${inner}`` in ``text``, left to right: what
    ``re.finditer(r"\$\{([^}]*)\}", text)`` gives, in linear time (that expression
    rescans to the end of the text from every ``${`` that has no ``}``)."""
    pos = 0
    while True:
        start = text.find("${", pos)
        if start < 0:
            return
        close = text.find("}", start + 2)
        if close < 0:
            return  # no "}" after this "${", so none after any later one either
        yield start, close + 1, text[start + 2 : close]
        pos = close + 1


def _split_default(inner: str) -> tuple[str, str] | None:
    r"""``key, 'default'`` → ``(key stripped, default)``; ``None`` if ``inner`` has
    no default.  Exactly ``re.match(r"^\s*([^,]+?)\s*,\s*'([^']*)'\s*$", inner)``
    (key = group 1 stripped, default = group 2) without its cubic backtracking: the
    key is everything before the first comma (at least one character), then optional
    white space, a quoted default without quotes, and nothing but white space."""
    comma = inner.find(",")
    if comma <= 0:
        return None
    rest = inner[comma + 1 :].lstrip()
    if not rest.startswith("'"):
        return None
    close = rest.find("'", 1)
    if close < 0 or rest[close + 1 :].strip():
        return None
    return inner[:comma].strip(), rest[1:close]
