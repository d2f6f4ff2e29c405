"""Hypothesis: the linear-time wildcard matcher means exactly what the old
backtracking regular expressions meant (issue #13 point 2).

The oracle below is a verbatim copy of the old implementation (``*`` → ``.*``,
``?`` → ``.``, ``re.DOTALL``, ``re.IGNORECASE`` when asked; the old ``${...}`` and
``${key, 'default'}`` regular expressions).  It is exponential in the number of
``*``, so the generated patterns stay small.  Compared: plain globs (both case
modes, Unicode case oddities included), parsed patterns with variables (the parts,
``text``, ``matches`` and the missing keys they record), the ``${...}`` scanner and
the default splitter, ``StringLike`` / ``ArnLike`` conditions, and
Action/NotAction × Resource/NotResource decisions through the evaluator.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from policy_helpers import ALICE, ctx

from tessera.iam.policy import PolicyKind, PolicySet, evaluate, parse_policy
from tessera.iam.policy.conditions import make_condition, parse_operator
from tessera.iam.policy.patterns import (
    ONE,
    STAR,
    Var,
    _split_default,
    _variable_spans,
    compile_glob,
    parse_pattern,
)

# --- the oracle: the old implementation, verbatim but for the names -------------------

ContextValue = str | tuple[str, ...]

_OLD_VAR_RE: Final = re.compile(r"\$\{([^}]*)\}")
_OLD_DEFAULT_RE: Final = re.compile(r"^\s*([^,]+?)\s*,\s*'([^']*)'\s*$")


@dataclass(frozen=True)
class OldVar:
    key: str
    default: str | None


class _OldWild:
    def __init__(self, text: str) -> None:
        self.text = text


OLD_STAR: Final = _OldWild("*")
OLD_ONE: Final = _OldWild("?")
OldPart = str | OldVar | _OldWild


def _old_glob_regex_source(parts: tuple[OldPart, ...] | list[str | _OldWild]) -> str:
    out: list[str] = []
    for part in parts:
        if part is OLD_STAR:
            out.append(".*")
        elif part is OLD_ONE:
            out.append(".")
        elif isinstance(part, str):
            out.append(re.escape(part))
        else:
            raise TypeError(part)
    return "".join(out)


def old_compile_glob(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(_old_glob_regex_source(_old_split_wild(pattern)), flags)


def _old_compile_source(source: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(source, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _old_split_wild(text: str) -> list[str | _OldWild]:
    parts: list[str | _OldWild] = []
    buf: list[str] = []
    for ch in text:
        if ch == "*" or ch == "?":
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(OLD_STAR if ch == "*" else OLD_ONE)
        else:
            buf.append(ch)
    if buf:
        parts.append("".join(buf))
    return parts


@dataclass(frozen=True)
class OldPattern:
    source: str
    parts: tuple[OldPart, ...]
    wildcards: bool
    ignore_case: bool
    has_vars: bool
    static_regex: re.Pattern[str] | None
    static_text: str | None

    def text(self, keys: Mapping[str, ContextValue], missing: Callable[[str], None]) -> str | None:
        if self.static_text is not None:
            return self.static_text
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, OldVar):
                value = _old_lookup(part, keys, missing)
                if value is None:
                    return None
                out.append(value)
            else:
                out.append(part.text)
        return "".join(out)

    def regex(
        self, keys: Mapping[str, ContextValue], missing: Callable[[str], None]
    ) -> re.Pattern[str] | None:
        if self.static_regex is not None:
            return self.static_regex
        out: list[str] = []
        for part in self.parts:
            if part is OLD_STAR:
                out.append(".*")
            elif part is OLD_ONE:
                out.append(".")
            elif isinstance(part, str):
                out.append(re.escape(part))
            elif isinstance(part, OldVar):
                value = _old_lookup(part, keys, missing)
                if value is None:
                    return None
                out.append(re.escape(value))
        return _old_compile_source("".join(out), self.ignore_case)

    def matches(
        self, value: str, keys: Mapping[str, ContextValue], missing: Callable[[str], None]
    ) -> bool:
        if self.static_text is not None:
            if self.ignore_case:
                return self.static_text.casefold() == value.casefold()
            return self.static_text == value
        rx = self.regex(keys, missing)
        return rx is not None and rx.fullmatch(value) is not None


def _old_lookup(
    var: OldVar, keys: Mapping[str, ContextValue], missing: Callable[[str], None]
) -> str | None:
    value = keys.get(var.key)
    if isinstance(value, str):
        return value
    if var.default is not None:
        return var.default
    missing(var.key)
    return None


def old_parse_pattern(
    text: str, *, variables: bool, wildcards: bool, ignore_case: bool = False
) -> OldPattern:
    parts: list[OldPart] = []

    def add_text(chunk: str, *, literal: bool = False) -> None:
        if not chunk:
            return
        if wildcards and not literal:
            parts.extend(_old_split_wild(chunk))
        else:
            parts.append(chunk)

    has_vars = False
    if variables:
        pos = 0
        for m in _OLD_VAR_RE.finditer(text):
            add_text(text[pos : m.start()])
            inner = m.group(1)
            if inner in ("*", "?", "$"):
                add_text(inner, literal=True)
            else:
                dm = _OLD_DEFAULT_RE.match(inner)
                if dm:
                    parts.append(OldVar(dm.group(1).strip().lower(), dm.group(2)))
                else:
                    parts.append(OldVar(inner.strip().lower(), None))
                has_vars = True
            pos = m.end()
        add_text(text[pos:])
    else:
        add_text(text)

    merged: list[OldPart] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] = merged[-1] + part
        else:
            merged.append(part)

    frozen = tuple(merged)
    static_regex: re.Pattern[str] | None = None
    static_text: str | None = None
    if not has_vars:
        if any(isinstance(p, _OldWild) for p in frozen):
            static_regex = _old_compile_source(_old_glob_regex_source(frozen), ignore_case)
        else:
            static_text = "".join(p for p in frozen if isinstance(p, str))
            static_regex = _old_compile_source(re.escape(static_text), ignore_case)
    return OldPattern(text, frozen, wildcards, ignore_case, has_vars, static_regex, static_text)


def old_arn_matches(value: str, pattern_text: str) -> bool:
    vparts = value.split(":", 5)
    pparts = pattern_text.split(":", 5)
    if len(vparts) != 6 or len(pparts) != 6:
        return False
    return all(
        old_compile_glob(p).fullmatch(v) is not None for p, v in zip(pparts, vparts, strict=True)
    )


# --- strategies -----------------------------------------------------------------------

#: letters in both cases, characters re.IGNORECASE treats specially (ſ/s/S, K/k/K
#: (Kelvin), ı/i/İ, µ/μ, ß), regex metacharacters, separators and a newline
CHARS = "aAbB:/.\\($^{}|+\n" + "sSſkK\u212aiIıİµμßẞ"
GLOB_CHARS = CHARS + "**??"

small_globs = st.text(alphabet=GLOB_CHARS, max_size=8)
subjects = st.text(alphabet=CHARS + "*?", max_size=12)


@st.composite
def glob_and_subject(
    draw: st.DrawFn, globs: st.SearchStrategy[str] = small_globs
) -> tuple[str, str]:
    """A pattern and either a random subject or one built by filling the pattern's
    wildcards (so that matches are common, not only mismatches)."""
    pattern = draw(globs)
    if draw(st.booleans()):
        return pattern, draw(subjects)
    out: list[str] = []
    for ch in pattern:
        if ch == "*":
            out.append(draw(st.text(alphabet=CHARS, max_size=3)))
        elif ch == "?":
            out.append(draw(st.sampled_from(CHARS)))
        else:
            # sometimes the other case, sometimes a different character
            out.append(draw(st.sampled_from([ch, ch, ch.swapcase()[:1] or ch, "a"])))
    return pattern, "".join(out)


@settings(max_examples=1500, deadline=None)
@given(case=glob_and_subject(), ignore_case=st.booleans())
def test_compile_glob_agrees_with_the_backtracking_regex(
    case: tuple[str, str], ignore_case: bool
) -> None:
    pattern, subject = case
    expected = old_compile_glob(pattern, ignore_case).fullmatch(subject) is not None
    assert (compile_glob(pattern, ignore_case).fullmatch(subject) is not None) == expected


# --- ${...} scanning ------------------------------------------------------------------

VAR_TEXT_CHARS = "${}$${}ab ,'\t\n\u00a0\u2003\x1c\u200b\u3000*?"


@settings(max_examples=1000, deadline=None)
@given(text=st.text(alphabet=VAR_TEXT_CHARS, max_size=20))
def test_variable_spans_agree_with_finditer(text: str) -> None:
    expected = [(m.start(), m.end(), m.group(1)) for m in _OLD_VAR_RE.finditer(text)]
    assert list(_variable_spans(text)) == expected


@settings(max_examples=1500, deadline=None)
@given(inner=st.text(alphabet="ab ,,''\t\n\u00a0\u2003\x1c\x85\u200b\u3000", max_size=14))
def test_split_default_agrees_with_the_old_regex(inner: str) -> None:
    m = _OLD_DEFAULT_RE.match(inner)
    expected = None if m is None else (m.group(1).strip(), m.group(2))
    assert _split_default(inner) == expected


# --- parsed patterns with variables ---------------------------------------------------

VAR_TOKENS = [
    "${aws:username}",
    "${AWS:UserName}",
    "${ aws:username }",
    "${aws:userid}",
    "${aws:TagKeys}",  # multivalued: no value as a variable
    "${missing}",
    "${missing, 'd*f?'}",
    "${aws:username,'x'}",
    "${ missing ,  ''  }",
    "${missing, 'a' b}",  # not a default: the whole text is the key
    "${ , 'x'}",
    "${,'x'}",
    "${}",
    "${*}",
    "${?}",
    "${$}",
    "${",
    "}",
    "$",
    "{",
]


@st.composite
def pattern_texts(draw: st.DrawFn) -> str:
    tokens = draw(
        st.lists(
            st.one_of(st.sampled_from(VAR_TOKENS), st.text(alphabet=GLOB_CHARS, max_size=3)),
            max_size=4,
        )
    )
    text = "".join(tokens)
    assume(text.count("*") <= 6)  # the oracle is exponential in stars
    return text


context_values = st.text(alphabet=CHARS + "*?", max_size=4)


@st.composite
def context_keys(draw: st.DrawFn) -> dict[str, ContextValue]:
    keys: dict[str, ContextValue] = {"aws:tagkeys": ("a", "b")}
    if draw(st.booleans()):
        keys["aws:username"] = draw(context_values)
    if draw(st.booleans()):
        keys["aws:userid"] = draw(context_values)
    return keys


def _shape(parts: tuple[Any, ...]) -> list[tuple[str, Any, Any]]:
    out: list[tuple[str, Any, Any]] = []
    for p in parts:
        if p is STAR or p is OLD_STAR:
            out.append(("*", None, None))
        elif p is ONE or p is OLD_ONE:
            out.append(("?", None, None))
        elif isinstance(p, Var | OldVar):
            out.append(("var", p.key, p.default))
        else:
            out.append(("text", p, None))
    return out


@st.composite
def pattern_subject(draw: st.DrawFn) -> tuple[str, str]:
    text = draw(pattern_texts())
    if draw(st.booleans()):
        return text, draw(subjects)
    # a subject close to the pattern: its literal text with wildcards filled
    raw = text.replace("${", "").replace("}", "")
    return text, "".join(draw(st.text(alphabet=CHARS, max_size=2)) if c in "*?" else c for c in raw)


@settings(max_examples=1500, deadline=None)
@given(
    case=pattern_subject(),
    variables=st.booleans(),
    wildcards=st.booleans(),
    ignore_case=st.booleans(),
    keys=context_keys(),
)
def test_parse_pattern_agrees_with_the_old_parser_and_matcher(
    case: tuple[str, str],
    variables: bool,
    wildcards: bool,
    ignore_case: bool,
    keys: dict[str, ContextValue],
) -> None:
    text, subject = case
    new = parse_pattern(text, variables=variables, wildcards=wildcards, ignore_case=ignore_case)
    old = old_parse_pattern(text, variables=variables, wildcards=wildcards, ignore_case=ignore_case)
    assert _shape(new.parts) == _shape(old.parts)
    assert new.has_vars == old.has_vars
    assert new.static_text == old.static_text
    assert [(v.key, v.default) for v in new.variables()] == [
        (p.key, p.default) for p in old.parts if isinstance(p, OldVar)
    ]

    new_missing: list[str] = []
    old_missing: list[str] = []
    assert new.text(keys, new_missing.append) == old.text(keys, old_missing.append)
    assert new_missing == old_missing

    new_missing.clear()
    old_missing.clear()
    assert new.matches(subject, keys, new_missing.append) == old.matches(
        subject, keys, old_missing.append
    )
    assert new_missing == old_missing


# --- conditions: StringLike, ArnLike, ArnEquals and their negations -------------------

ARN_PIECES = ["arn", "aws", "iam", "s3", "", "*", "?", "a*", "*b", "a?b", "role/x", "x/*/y"]


@st.composite
def arn_like(draw: st.DrawFn, wild: bool) -> str:
    pieces = draw(
        st.lists(
            st.one_of(
                st.sampled_from(ARN_PIECES if wild else [p for p in ARN_PIECES if "*" not in p]),
                st.text(alphabet=(GLOB_CHARS if wild else CHARS).replace(":", ""), max_size=3),
            ),
            min_size=4,
            max_size=8,
        )
    )
    text = ":".join(pieces)
    if wild:
        assume(text.count("*") <= 6)
    return text


@settings(max_examples=1500, deadline=None)
@given(
    op_text=st.sampled_from(
        [
            "StringLike",
            "StringNotLike",
            "ArnLike",
            "ArnNotLike",
            "ArnEquals",
            "ArnNotEqualsIfExists",
            "ForAnyValue:StringLike",
            "ForAllValues:ArnLike",
        ]
    ),
    patterns=st.lists(
        st.one_of(arn_like(wild=True), pattern_texts(), st.just("${aws:username}:*")),
        min_size=1,
        max_size=3,
    ),
    value=st.one_of(arn_like(wild=False), subjects),
    variables=st.booleans(),
    keys=context_keys(),
)
def test_like_and_arn_conditions_agree_with_the_old_semantics(
    op_text: str,
    patterns: list[str],
    value: str,
    variables: bool,
    keys: dict[str, ContextValue],
) -> None:
    op = parse_operator(op_text)
    assert op is not None
    cond = make_condition(op, "test:Value", tuple(patterns), variables=variables)
    request_keys = {**keys, "test:value": value}
    new_missing: list[str] = []
    got = cond.evaluate(request_keys, new_missing.append)

    # the oracle for what the patterns changed: one request value against the values
    old_missing: list[str] = []
    hit = False
    for text in patterns:
        old = old_parse_pattern(text, variables=variables, wildcards=op.family == "like")
        if op.family == "like":
            if old.matches(value, request_keys, old_missing.append):
                hit = True
                break
        else:
            resolved = old.text(request_keys, old_missing.append)
            if resolved is not None and old_arn_matches(value, resolved):
                hit = True
                break
    expected = (not hit) if op.negated else hit
    assert got == expected
    assert new_missing == old_missing


# --- Action / NotAction × Resource / NotResource through the evaluator -----------------

ACTION_CHARS = "aAbBgGeEtT-*?"
RESOURCE_CHARS = "aAbB/:-.*?$"


@st.composite
def action_case(draw: st.DrawFn) -> tuple[str, str]:
    pattern, subject = draw(
        glob_and_subject(st.text(alphabet=ACTION_CHARS, min_size=1, max_size=7))
    )
    assume(pattern.count("*") <= 6)
    subject = "".join(c for c in subject if c not in ":\n") or "x"
    return "s3:" + pattern, "s3:" + subject


@st.composite
def resource_case(draw: st.DrawFn) -> tuple[str, str]:
    pattern, subject = draw(
        glob_and_subject(st.text(alphabet=RESOURCE_CHARS, min_size=1, max_size=7))
    )
    assume(pattern.count("*") <= 6)
    var = draw(st.sampled_from(["", "${aws:username}", "${*}", "${aws:userid, 'd'}"]))
    return "arn:aws:s3:::b/" + var + pattern, "arn:aws:s3:::b/" + subject


@settings(max_examples=800, deadline=None)
@given(
    action=action_case(),
    resource=resource_case(),
    not_action=st.booleans(),
    not_resource=st.booleans(),
    username=st.sampled_from(["alice", "*", "a?", "b"]),
)
def test_action_and_resource_decisions_agree_with_the_old_semantics(
    action: tuple[str, str],
    resource: tuple[str, str],
    not_action: bool,
    not_resource: bool,
    username: str,
) -> None:
    action_pattern, action_name = action
    resource_pattern, resource_arn = resource
    statement = {
        "Effect": "Allow",
        ("NotAction" if not_action else "Action"): action_pattern,
        ("NotResource" if not_resource else "Resource"): resource_pattern,
    }
    policy = parse_policy(
        json.dumps({"Version": "2012-10-17", "Statement": [statement]}), PolicyKind.IDENTITY
    )
    keys = {"aws:username": username}
    decision = evaluate(ctx(action_name, resource_arn, ALICE, keys), PolicySet(identity=[policy]))

    action_hit = old_compile_glob(action_pattern.lower()).fullmatch(action_name.lower())
    old_res = old_parse_pattern(resource_pattern, variables=True, wildcards=True)
    resource_hit = old_res.matches(resource_arn, keys, lambda _k: None)
    expected = ((action_hit is not None) != not_action) and (resource_hit != not_resource)
    assert decision.allowed == expected
