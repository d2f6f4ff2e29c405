"""Wildcard patterns and policy variables (``tessera.iam.policy.patterns``).

Semantics by example (the property tests compare against the old implementation),
the shape of the linear-time expressions, and time bounds on the inputs that made
the old backtracking expressions explode (issue #13 point 2).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from policy_helpers import ALICE, ctx, decide, pol, stmt

from tessera.iam.policy.conditions import make_condition, parse_operator
from tessera.iam.policy.patterns import (
    Var,
    _glob_regex_source,
    _split_default,
    _split_wild,
    _variable_spans,
    compile_glob,
    parse_pattern,
)

#: the published attack: 25 characters, each extra "*?" tripled the old cost
EVIL_ACTION = "iam:" + "*?" * 10 + "X"
LONG_ACTION = "iam:GetOutboundWebIdentityFederationInfo"
#: generous (a loaded CI machine): every case below takes well under a millisecond
#: now, and took from seconds to centuries with the backtracking expressions
BOUND = 2.0


@contextmanager
def within(seconds: float = BOUND) -> Iterator[None]:
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    assert elapsed < seconds, f"took {elapsed:.3f} s"


def _never(key: str) -> None:
    raise AssertionError(f"unexpected missing key {key}")


def _glob(pattern: str, subject: str, ignore_case: bool = False) -> bool:
    return compile_glob(pattern, ignore_case).fullmatch(subject) is not None


# --- globs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("", "", True),
        ("", "a", False),
        ("*", "", True),
        ("*", "anything: at/all\n", True),  # * spans ":" "/" and newlines
        ("?", "", False),
        ("?", "\n", True),
        ("??", "a", False),
        ("a*", "a", True),
        ("*a", "ba", True),
        ("*a", "ab", False),
        ("a*b*c", "abc", True),
        ("a*b*c", "aXbYbZc", True),
        ("a*b*c", "acb", False),
        ("a**b", "ab", True),
        ("*?*?*?", "ab", False),
        ("*?*?*?", "abc", True),
        ("*ab*ab*", "abab", True),
        ("*ab*ab*", "aba", False),
        ("*aab*", "aaab", True),  # the leftmost "aab" starts inside a run of a's
        ("*?b", "b", False),
        ("a.c", "abc", False),  # regex metacharacters are literal
        ("a\\d", "a\\d", True),
        ("(x)|y", "(x)|y", True),
        ("$^{1}", "$^{1}", True),
        ("s3:Get*", "s3:getobject", False),  # case-sensitive unless asked
    ],
)
def test_glob_examples(pattern: str, subject: str, expected: bool) -> None:
    assert _glob(pattern, subject) is expected


def test_ignore_case_keeps_the_regex_engines_rules() -> None:
    assert _glob("s3:Get*", "S3:GETOBJECT", ignore_case=True)
    # re.IGNORECASE equivalences, unchanged: long s, Kelvin sign, one code point each
    assert _glob("*s", "ſ", ignore_case=True)
    assert _glob("k?", "\u212ax", ignore_case=True)
    assert not _glob("*ß", "SS", ignore_case=True)
    # the wildcard-free path compares casefolded text, as before
    assert parse_pattern("straße", variables=False, wildcards=True, ignore_case=True).matches(
        "STRASSE", {}, _never
    )


@pytest.mark.parametrize(
    ("pattern", "source"),
    [
        ("", ""),
        ("abc", "abc"),
        ("?", "."),
        ("*", ".*"),
        ("**", ".*"),
        ("a*b", "a.*b"),  # at most one star: the naive translation
        ("a.*", r"a\..*"),
        ("a*b*c", "a(?>.*?b).*c"),
        ("*a*?*", "(?>.*?a)(?>.*?.).*"),
        ("a***b**c", "a(?>.*?b).*c"),  # runs of stars are one star
        ("*?*?X", "(?>.*?.).*.X"),
    ],
)
def test_expression_shape(pattern: str, source: str) -> None:
    assert _glob_regex_source(_split_wild(pattern)) == source


# --- time bounds ----------------------------------------------------------------------


def test_the_published_action_pattern_is_cheap() -> None:
    with within():
        assert not _glob(EVIL_ACTION.lower(), LONG_ACTION.lower())
    with within():
        assert _glob(EVIL_ACTION.lower(), LONG_ACTION.lower() + "x")


@pytest.mark.parametrize("stars", [10, 100, 1000])
def test_many_stars_against_a_long_subject(stars: int) -> None:
    subject = "a" * 20_000
    cases = [
        ("*?" * stars + "X", False),
        ("*?" * stars + "a", True),
        ("*" + "a" * 40 + "b*" + "a" * 30 + "c", False),
        ("*a" * stars + "*b", False),
        ("*a" * stars + "*a", True),
    ]
    with within(5.0):  # compiling is linear in the pattern too
        for pattern, _ in cases:
            compile_glob(pattern)
    with within():
        for pattern, expected in cases:
            assert _glob(pattern, subject) is expected


def test_patterns_with_variables_are_cheap() -> None:
    p = parse_pattern(
        "arn:aws:s3:::*?*?*?*?*?${aws:username}*?*?*?*?*?X", variables=True, wildcards=True
    )
    keys = {"aws:username": "a"}
    with within():
        assert not p.matches("arn:aws:s3:::" + "a" * 5000, keys, _never)
        assert p.matches("arn:aws:s3:::" + "a" * 5000 + "X", keys, _never)


@pytest.mark.parametrize(
    "text",
    [
        "${" * 20_000,  # every "${" without a "}" rescanned the rest of the text
        "${" + " " * 20_000 + "a}",  # the default expression was cubic in white space
        "${" + " " * 20_000 + "a, 'x'}",
        "${a" + " " * 20_000 + ",'x' y}",
        "a${*}" * 10_000,  # merging literal runs by repeated concatenation
        "*?" * 2_000,  # (compiling: linear, a few ms)
    ],
)
def test_parsing_is_linear(text: str) -> None:
    with within():
        parse_pattern(text, variables=True, wildcards=True)


def test_conditions_and_not_elements_are_cheap() -> None:
    evil_arn = "arn:aws:iam::*:role/" + "*?" * 10 + "X"
    role = "arn:aws:iam::123456789012:role/" + "r" * 200
    keys = {"aws:principalarn": role, "aws:userid": "AROA" + "x" * 200}
    for op, key, value in [
        ("ArnLike", "aws:PrincipalArn", evil_arn),
        ("ArnNotLike", "aws:PrincipalArn", evil_arn),
        ("StringLike", "aws:userid", "*?" * 10 + "X"),
        ("StringNotLike", "aws:userid", "*?" * 10 + "X"),
    ]:
        spec = parse_operator(op)
        assert spec is not None
        cond = make_condition(spec, key, (value,), variables=True)
        with within():
            assert cond.evaluate(keys, _never) is spec.negated
    deny = pol(stmt("Allow"), stmt("Deny", NotAction=[EVIL_ACTION], NotResource=[evil_arn]))
    with within():
        d = decide(ctx(LONG_ACTION, role, ALICE), [deny])
    assert not d.allowed and d.reason is not None and d.reason.explicit


# --- variables ------------------------------------------------------------------------


def _matches(text: str, subject: str, keys: dict[str, str | tuple[str, ...]]) -> bool:
    return parse_pattern(text, variables=True, wildcards=True).matches(subject, keys, _never)


def test_variable_values_match_literally() -> None:
    keys: dict[str, str | tuple[str, ...]] = {"aws:username": "a*b?"}
    assert _matches("home/${aws:username}/*", "home/a*b?/x", keys)
    assert not _matches("home/${aws:username}/*", "home/aXXbY/x", keys)
    assert _matches("*${AWS:UserName}*", "..a*b?..", keys)  # key names ignore case


def test_escapes_are_literal_characters() -> None:
    assert _matches("a${*}b${?}c${$}", "a*b?c$", {})
    assert not _matches("a${*}b", "aXb", {})
    assert _matches("${*}*", "*anything", {})


def test_defaults_and_unresolved_variables() -> None:
    missing: list[str] = []
    p = parse_pattern("${missing, 'd*'}/${aws:username}", variables=True, wildcards=True)
    assert p.variables() == (Var("missing", "d*"), Var("aws:username", None))
    assert p.matches("d*/alice", {"aws:username": "alice"}, missing.append)
    assert not p.matches("dX/alice", {"aws:username": "alice"}, missing.append)
    assert missing == []
    # unresolved: matches nothing, and the key is recorded
    assert not p.matches("d*/", {}, missing.append)
    assert missing == ["aws:username"]
    # a multivalued key is no variable value
    missing.clear()
    assert not p.matches("d*/a", {"aws:username": ("a", "b")}, missing.append)
    assert missing == ["aws:username"]


def test_variables_are_text_in_version_2008() -> None:
    p = parse_pattern("${aws:username}*", variables=False, wildcards=True)
    assert not p.has_vars
    assert p.matches("${aws:username}/x", {}, _never)


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("", []),
        ("${a}", [(0, 4, "a")]),
        ("x${a}y${b}", [(1, 5, "a"), (6, 10, "b")]),
        ("${}", [(0, 3, "")]),
        ("${a${b}c}", [(0, 7, "a${b")]),
        ("$${a}", [(1, 5, "a")]),
        ("${a", []),
        ("${a}${b", [(0, 4, "a")]),
        ("}${", []),
    ],
)
def test_variable_spans(text: str, spans: list[tuple[int, int, str]]) -> None:
    assert list(_variable_spans(text)) == spans


@pytest.mark.parametrize(
    ("inner", "expected"),
    [
        ("a, 'b'", ("a", "b")),
        ("  a  ,  'b c'  ", ("a", "b c")),
        ("a,''", ("a", "")),
        ("a,'x,y'", ("a", "x,y")),
        (" ,'x'", ("", "x")),  # white space is a key, stripped to nothing
        (",'x'", None),  # no key at all
        ("a", None),
        ("a, b", None),
        ("a, 'b", None),
        ("a, 'b' c", None),
        ("a, 'b''", None),
        ("a,b, 'c'", None),
        ("a, 'b'\n", ("a", "b")),
        ("a, 'b'\u3000", ("a", "b")),  # Unicode white space, as \s
    ],
)
def test_split_default(inner: str, expected: tuple[str, str] | None) -> None:
    assert _split_default(inner) == expected


# --- ArnLike / ArnEquals: six parts, wildcards within a part ---------------------------


def _arn_condition(op: str, *patterns: str) -> Callable[[str], bool]:
    spec = parse_operator(op)
    assert spec is not None
    cond = make_condition(spec, "aws:SourceArn", patterns, variables=True)
    return lambda value: cond.evaluate({"aws:sourcearn": value, "aws:username": "a*"}, _never)


@pytest.mark.parametrize("op", ["ArnLike", "ArnEquals"])
def test_arn_wildcards_stay_within_their_part(op: str) -> None:
    like = _arn_condition(op, "arn:aws:*::123456789012:role/r")
    assert like("arn:aws:iam::123456789012:role/r")
    # a plain glob would match this; the third part "*" cannot take "iam:extra"
    assert not like("arn:aws:iam:extra::123456789012:role/r")
    # the sixth part is everything after the fifth colon, colons included
    tail = _arn_condition(op, "arn:aws:s3:::b/*")
    assert tail("arn:aws:s3:::b/x:y:z")
    assert not tail("arn:aws:s3:::c/x")
    assert not _arn_condition(op, "arn:aws:*")("arn:aws:s3:::b")  # not six parts
    # variables are substituted before the ARN is split: their wildcards count
    assert _arn_condition(op, "arn:aws:s3:::${aws:username}")("arn:aws:s3:::abc")
