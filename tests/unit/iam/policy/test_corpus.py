"""Table-driven corpus: every element, operator, qualifier, variable rule and
decision-order case, each with the outcome AWS documents.

Doc references (IAM User Guide):
  [COND-OPS]  reference_policies_elements_condition_operators.html
  [MULTI]     reference_policies_condition-single-vs-multi-valued-context-keys.html
  [COND]      reference_policies_elements_condition.html (key names case-insensitive,
              values OR, keys/operators AND)
  [VARS]      reference_policies_variables.html
  [ACTION]    reference_policies_elements_action.html / _notaction.html
  [RESOURCE]  reference_policies_elements_resource.html / _notresource.html
  [PRINCIPAL] reference_policies_elements_principal.html / _notprincipal.html
  [EVAL]      reference_policies_evaluation-logic.html (+ _cross-account, session
              policies in access_policies.html#policies_session)
  [NOTES]     /work/shared/reference/aws-sts-wire-notes.md §4.7, §6.1–6.5
"""

from __future__ import annotations

from typing import Any

import pytest
from policy_helpers import (
    ACCT,
    ALICE,
    ANON,
    BOB_OTHER,
    COGNITO,
    EC2,
    FED_USER,
    OTHER,
    OTHER_SESSION,
    ROLE_ARN,
    ROOT,
    SAML,
    SESSION,
    WEB,
    ctx,
    decide,
    pol,
    stmt,
    trust,
)

from tessera.iam.policy import (
    Decision,
    PolicyGroup,
    PolicyKind,
    PolicySet,
    PolicyType,
    access_denied_message,
    evaluate,
)

ABSENT = object()

# (operator, key, policy value(s), request value or ABSENT, expected, doc)
COND_CASES: list[tuple[str, str, Any, Any, bool]] = [
    # --- String [COND-OPS "String condition operators"] ---
    ("StringEquals", "k", "a", "a", True),
    ("StringEquals", "k", "a", "A", False),  # case-sensitive
    ("StringEquals", "k", "a*", "abc", False),  # no wildcards
    ("StringEquals", "k", "a*", "a*", True),
    ("StringEquals", "k", ["x", "a"], "a", True),  # values OR [COND]
    ("StringEquals", "k", "a", ABSENT, False),
    ("StringNotEquals", "k", "a", "a", False),
    ("StringNotEquals", "k", "a", "b", True),
    ("StringNotEquals", "k", ["a", "b"], "b", False),  # negated: NOR
    ("StringNotEquals", "k", ["a", "b"], "c", True),
    ("StringNotEquals", "k", "a", ABSENT, True),  # negated op, absent key → true
    ("StringEqualsIgnoreCase", "k", "ABC", "abc", True),
    ("StringEqualsIgnoreCase", "k", "ABC", "abd", False),
    ("StringEqualsIgnoreCase", "k", "ABC", ABSENT, False),
    ("StringNotEqualsIgnoreCase", "k", "ABC", "abc", False),
    ("StringNotEqualsIgnoreCase", "k", "ABC", "xyz", True),
    ("StringNotEqualsIgnoreCase", "k", "ABC", ABSENT, True),
    ("StringLike", "k", "a*", "abc", True),
    ("StringLike", "k", "a*", "a/b:c", True),
    ("StringLike", "k", "a?c", "abc", True),
    ("StringLike", "k", "a?c", "abbc", False),
    ("StringLike", "k", "A*", "abc", False),  # case-sensitive
    ("StringLike", "k", ["x*", "*c"], "abc", True),
    ("StringLike", "k", "a*", ABSENT, False),
    ("StringNotLike", "k", "a*", "abc", False),
    ("StringNotLike", "k", "a*", "xyz", True),
    ("StringNotLike", "k", ["x*", "a*"], "abc", False),
    ("StringNotLike", "k", "a*", ABSENT, True),
    # --- Numeric [COND-OPS "Numeric condition operators"] ---
    ("NumericEquals", "k", "10", "10", True),
    ("NumericEquals", "k", "10", "10.0", True),
    ("NumericEquals", "k", 10, "10", True),  # JSON number in policy
    ("NumericEquals", "k", "10", "11", False),
    ("NumericEquals", "k", "10", "ten", False),
    ("NumericEquals", "k", "10", ABSENT, False),
    ("NumericNotEquals", "k", "10", "11", True),
    ("NumericNotEquals", "k", "10", "10", False),
    ("NumericNotEquals", "k", "10", ABSENT, True),
    ("NumericLessThan", "k", "10", "9", True),
    ("NumericLessThan", "k", "10", "10", False),
    ("NumericLessThan", "k", "10", ABSENT, False),
    ("NumericLessThanEquals", "k", "10", "10", True),
    ("NumericLessThanEquals", "k", "10", "11", False),
    ("NumericGreaterThan", "k", "10", "11", True),
    ("NumericGreaterThan", "k", "10", "10", False),
    ("NumericGreaterThanEquals", "k", "10", "10", True),
    ("NumericGreaterThanEquals", "k", "10", "9.5", False),
    ("NumericLessThanEquals", "sts:DurationSeconds", 300, "300", True),  # §3.6 doc example
    # --- Date [COND-OPS "Date condition operators"]: ISO-8601 and epoch ---
    ("DateEquals", "k", "2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z", True),
    ("DateEquals", "k", "1577836800", "2020-01-01T00:00:00Z", True),  # epoch
    ("DateEquals", "k", "2020-01-01T01:00:00+01:00", "2020-01-01T00:00:00Z", True),
    ("DateEquals", "k", "2020-01-01", "2020-01-01T00:00:00Z", True),
    ("DateEquals", "k", "2020-01-01T00:00:00Z", "2020-01-01T00:00:01Z", False),
    ("DateNotEquals", "k", "2020-01-01T00:00:00Z", "2020-01-01T00:00:01Z", True),
    ("DateNotEquals", "k", "2020-01-01T00:00:00Z", ABSENT, True),
    ("DateLessThan", "k", "2020-01-01T00:00:00Z", "2019-12-31T23:59:59Z", True),
    ("DateLessThan", "k", "2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z", False),
    ("DateLessThanEquals", "k", "2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z", True),
    ("DateGreaterThan", "k", "2020-01-01T00:00:00Z", "2020-06-01T00:00:00.500Z", True),
    ("DateGreaterThan", "k", "2020-01-01T00:00:00Z", ABSENT, False),
    ("DateGreaterThanEquals", "k", "1577836800", "2020-01-01T00:00:00Z", True),
    ("DateGreaterThanEquals", "k", "1577836800", "1577836799", False),
    # --- Bool [COND-OPS "Boolean condition operators"] ---
    ("Bool", "aws:SecureTransport", "true", "true", True),
    ("Bool", "aws:SecureTransport", True, "true", True),  # JSON boolean
    ("Bool", "aws:SecureTransport", False, "false", True),
    ("Bool", "aws:SecureTransport", "false", "true", False),
    ("Bool", "aws:SecureTransport", "true", ABSENT, False),
    # --- Binary [COND-OPS "Binary condition operators"] ---
    ("BinaryEquals", "k", "QmluYXJ5VmFsdWU=", "QmluYXJ5VmFsdWU=", True),
    ("BinaryEquals", "k", "QmluYXJ5VmFsdWU=", "T3RoZXI=", False),
    ("BinaryEquals", "k", "QmluYXJ5VmFsdWU=", ABSENT, False),
    # --- IP [COND-OPS "IP address condition operators"] ---
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", "203.0.113.5", True),
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", "198.51.100.1", False),
    ("IpAddress", "aws:SourceIp", "203.0.113.7", "203.0.113.7", True),  # bare address = /32
    ("IpAddress", "aws:SourceIp", "2001:DB8:1234:5678::/64", "2001:db8:1234:5678::1", True),
    ("IpAddress", "aws:SourceIp", "2001:db8::/32", "203.0.113.5", False),  # v6 vs v4
    ("IpAddress", "aws:SourceIp", ["10.0.0.0/8", "203.0.113.0/24"], "10.1.2.3", True),
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", ABSENT, False),
    ("NotIpAddress", "aws:SourceIp", "203.0.113.0/24", "198.51.100.1", True),
    ("NotIpAddress", "aws:SourceIp", "203.0.113.0/24", "203.0.113.9", False),
    ("NotIpAddress", "aws:SourceIp", "203.0.113.0/24", ABSENT, True),
    # --- ARN [COND-OPS "Amazon Resource Name (ARN) condition operators"] ---
    (
        "ArnEquals",
        "aws:SourceArn",
        "arn:aws:sns:us-east-1:123456789012:t",
        "arn:aws:sns:us-east-1:123456789012:t",
        True,
    ),
    (
        "ArnEquals",
        "aws:SourceArn",
        "arn:aws:sns:*:123456789012:t",
        "arn:aws:sns:eu-west-1:123456789012:t",
        True,
    ),
    (
        "ArnLike",
        "aws:PrincipalArn",
        "arn:aws:iam::*:role/Dev*",
        "arn:aws:iam::123456789012:role/Developer",
        True,
    ),
    ("ArnLike", "aws:PrincipalArn", "arn:aws:iam::*:role/*", "arn:aws:s3:::bucket", False),
    # each of the 6 components separately: 5-part pattern matches nothing
    ("ArnLike", "aws:SourceArn", "arn:aws:s3:*", "arn:aws:s3:::bucket", False),
    ("ArnLike", "aws:SourceArn", "arn:aws:s3:::*", "arn:aws:s3:::bucket/a:b", True),
    ("ArnLike", "aws:SourceArn", "arn:aws:s3:::*", "not-an-arn", False),
    ("ArnLike", "aws:SourceArn", "arn:aws:s3:::*", ABSENT, False),
    ("ArnNotEquals", "aws:SourceArn", "arn:aws:sns:*:*:t", "arn:aws:sns:us-east-1:1:u", True),
    ("ArnNotEquals", "aws:SourceArn", "arn:aws:sns:*:*:t", "arn:aws:sns:us-east-1:1:t", False),
    ("ArnNotLike", "aws:SourceArn", "arn:aws:sns:*:*:t*", "arn:aws:sns:us-east-1:1:tx", False),
    ("ArnNotLike", "aws:SourceArn", "arn:aws:sns:*:*:t*", ABSENT, True),
    # --- Null [COND-OPS "Condition operator to check existence of condition keys"] ---
    ("Null", "aws:TokenIssueTime", "true", ABSENT, True),
    ("Null", "aws:TokenIssueTime", "true", "2020-01-01T00:00:00Z", False),
    ("Null", "aws:TokenIssueTime", "false", "2020-01-01T00:00:00Z", True),
    ("Null", "aws:TokenIssueTime", "false", ABSENT, False),
    ("Null", "aws:TokenIssueTime", True, ABSENT, True),
    # --- qualifiers [MULTI] ---
    ("ForAllValues:StringEquals", "aws:TagKeys", ["a", "b"], ("a",), True),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["a", "b"], ("a", "b"), True),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["a", "b"], ("a", "c"), False),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["a", "b"], ABSENT, True),  # absent → true
    ("ForAllValues:StringEquals", "aws:TagKeys", ["a", "b"], (), True),  # empty set → true
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["a", "b"], ("c", "a"), True),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["a", "b"], ("c",), False),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["a", "b"], ABSENT, False),  # absent → false
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["a", "b"], (), False),  # empty → false
    ("ForAllValues:StringNotEquals", "aws:TagKeys", ["a"], ("b", "c"), True),
    ("ForAllValues:StringNotEquals", "aws:TagKeys", ["a"], ("a", "b"), False),
    ("ForAllValues:StringNotEquals", "aws:TagKeys", ["a"], ABSENT, True),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", ["a"], ("a", "b"), True),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", ["a"], ("a",), False),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", ["a"], ABSENT, False),
    ("ForAnyValue:StringEqualsIfExists", "aws:TagKeys", ["a"], ABSENT, True),
    ("ForAnyValue:StringEqualsIfExists", "aws:TagKeys", ["a"], ("b",), False),
    ("ForAllValues:StringLike", "aws:TagKeys", ["team-*"], ("team-a", "team-b"), True),
    ("ForAllValues:StringLike", "aws:TagKeys", ["team-*"], ("team-a", "cost"), False),
    (
        "ForAnyValue:StringLike",
        "sts:IdentityTokenAudience",
        ["https://*.example.com"],
        ("x", "https://a.example.com"),
        True,
    ),
    ("ForAnyValue:NumericLessThan", "k", "5", ("9", "3"), True),
    ("ForAllValues:NumericLessThan", "k", "5", ("9", "3"), False),
    ("ForAnyValue:ArnLike", "k", "arn:aws:iam::*:role/*", ("x", "arn:aws:iam::1:role/r"), True),
    ("ForAllValues:IpAddress", "k", "10.0.0.0/8", ("10.0.0.1", "10.9.9.9"), True),
    # a single-valued operator on a multivalued key [MULTI; I: any value]
    ("StringEquals", "aws:TagKeys", "a", ("b", "a"), True),
    ("StringNotEquals", "aws:TagKeys", "a", ("b", "a"), False),
    # key names are case-insensitive [COND]
    ("StringEquals", "AWS:UserName", "alice", "alice", True),
]

# every …IfExists: true when the key is absent, the base operator otherwise [COND-OPS]
_IFEXISTS_PRESENT = {
    "StringEquals": ("a", "a", True),
    "StringNotEquals": ("a", "a", False),
    "StringEqualsIgnoreCase": ("A", "a", True),
    "StringNotEqualsIgnoreCase": ("A", "a", False),
    "StringLike": ("a*", "ab", True),
    "StringNotLike": ("a*", "ab", False),
    "NumericEquals": ("1", "1", True),
    "NumericNotEquals": ("1", "1", False),
    "NumericLessThan": ("1", "2", False),
    "NumericLessThanEquals": ("1", "1", True),
    "NumericGreaterThan": ("1", "2", True),
    "NumericGreaterThanEquals": ("1", "0", False),
    "DateEquals": ("1000", "1000", True),
    "DateNotEquals": ("1000", "1000", False),
    "DateLessThan": ("1000", "999", True),
    "DateLessThanEquals": ("1000", "1001", False),
    "DateGreaterThan": ("1000", "1001", True),
    "DateGreaterThanEquals": ("1000", "999", False),
    "Bool": ("true", "false", False),
    "BinaryEquals": ("QQ==", "QQ==", True),
    "IpAddress": ("10.0.0.0/8", "10.0.0.1", True),
    "NotIpAddress": ("10.0.0.0/8", "10.0.0.1", False),
    "ArnEquals": ("arn:aws:s3:::b", "arn:aws:s3:::b", True),
    "ArnLike": ("arn:aws:s3:::*", "arn:aws:s3:::b", True),
    "ArnNotEquals": ("arn:aws:s3:::b", "arn:aws:s3:::b", False),
    "ArnNotLike": ("arn:aws:s3:::*", "arn:aws:s3:::b", False),
}
for _op, (_pv, _rv, _exp) in _IFEXISTS_PRESENT.items():
    COND_CASES.append((f"{_op}IfExists", "k", _pv, ABSENT, True))
    COND_CASES.append((f"{_op}IfExists", "k", _pv, _rv, _exp))
    COND_CASES.append((_op, "k", _pv, _rv, _exp))


def _cond_decision(op: str, key: str, value: Any, request: Any) -> Decision:
    policy = pol(stmt(Condition={op: {key: value}}))
    keys = {} if request is ABSENT else {key: request}
    return decide(ctx(keys=keys), [policy])


@pytest.mark.parametrize(("op", "key", "value", "request_value", "expected"), COND_CASES)
def test_condition_operator(
    op: str, key: str, value: Any, request_value: Any, expected: bool
) -> None:
    assert _cond_decision(op, key, value, request_value).allowed is expected


def test_all_keys_and_all_operators_are_anded() -> None:
    # [COND]: keys within an operator AND; operators AND
    p = pol(
        stmt(
            Condition={
                "StringEquals": {"a": "1", "b": "2"},
                "NumericLessThan": {"n": "5"},
            }
        )
    )
    assert decide(ctx(keys={"a": "1", "b": "2", "n": "4"}), [p]).allowed
    assert not decide(ctx(keys={"a": "1", "b": "3", "n": "4"}), [p]).allowed
    assert not decide(ctx(keys={"a": "1", "b": "2", "n": "6"}), [p]).allowed


def test_missing_context_values_are_recorded() -> None:
    p = pol(stmt(Condition={"StringEquals": {"aws:PrincipalTag/team": "x"}}))
    d = decide(ctx(), [p])
    assert not d.allowed
    assert d.missing_context_values == ("aws:principaltag/team",)


# --- policy variables [VARS] ------------------------------------------------------------

VAR_CASES: list[tuple[str, str, Any, dict[str, Any], bool]] = [
    # (version, operator, value, request keys (k is the tested key), expected)
    (
        "2012-10-17",
        "StringEquals",
        "${aws:username}",
        {"k": "alice", "aws:username": "alice"},
        True,
    ),
    ("2012-10-17", "StringEquals", "${aws:username}", {"k": "bob", "aws:username": "alice"}, False),
    (
        "2012-10-17",
        "StringEquals",
        "${AWS:UserName}",
        {"k": "alice", "aws:username": "alice"},
        True,
    ),
    # missing variable: positive operator false, negated true
    ("2012-10-17", "StringEquals", "${aws:username}", {"k": "alice"}, False),
    ("2012-10-17", "StringNotEquals", "${aws:username}", {"k": "alice"}, True),
    (
        "2012-10-17",
        "StringLike",
        "home/${aws:username}/*",
        {"k": "home/alice/x", "aws:username": "alice"},
        True,
    ),
    (
        "2012-10-17",
        "StringLike",
        "home/${aws:username}/*",
        {"k": "home/bob/x", "aws:username": "alice"},
        False,
    ),
    # variable values are literal, not wildcards
    ("2012-10-17", "StringLike", "${aws:username}", {"k": "abc", "aws:username": "a*"}, False),
    # defaults
    (
        "2012-10-17",
        "StringEquals",
        "${aws:PrincipalTag/team, 'company-wide'}",
        {"k": "company-wide"},
        True,
    ),
    (
        "2012-10-17",
        "StringEquals",
        "${aws:PrincipalTag/team, 'company-wide'}",
        {"k": "red", "aws:PrincipalTag/team": "red"},
        True,
    ),
    # escapes ${*} ${?} ${$}: literal characters
    ("2012-10-17", "StringLike", "a${*}", {"k": "a*"}, True),
    ("2012-10-17", "StringLike", "a${*}", {"k": "ab"}, False),
    ("2012-10-17", "StringLike", "a${?}", {"k": "a?"}, True),
    ("2012-10-17", "StringLike", "a${?}", {"k": "ab"}, False),
    ("2012-10-17", "StringEquals", "${$}{x}", {"k": "${x}"}, True),
    # multivalued keys cannot be variables → unresolved
    ("2012-10-17", "StringEquals", "${aws:TagKeys}", {"k": "a", "aws:TagKeys": ("a",)}, False),
    # 2008-10-17: ${...} is literal text
    (
        "2008-10-17",
        "StringEquals",
        "${aws:username}",
        {"k": "alice", "aws:username": "alice"},
        False,
    ),
    ("2008-10-17", "StringEquals", "${aws:username}", {"k": "${aws:username}"}, True),
    (None, "StringEquals", "${aws:username}", {"k": "${aws:username}"}, True),  # default version
]


@pytest.mark.parametrize(("version", "op", "value", "keys", "expected"), VAR_CASES)
def test_condition_variables(
    version: str | None, op: str, value: str, keys: dict[str, Any], expected: bool
) -> None:
    p = pol(stmt(Condition={op: {"k": value}}), version=version)
    assert decide(ctx(keys=keys), [p]).allowed is expected


def test_missing_variable_recorded() -> None:
    p = pol(stmt(Condition={"StringEquals": {"k": "${aws:username}"}}))
    d = decide(ctx(keys={"k": "x"}), [p])
    assert "aws:username" in d.missing_context_values


# --- Action / NotAction [ACTION] ---------------------------------------------------------

ACTION_CASES: list[tuple[dict[str, Any], str, bool]] = [
    ({"Action": "s3:GetObject"}, "s3:GetObject", True),
    ({"Action": "s3:getobject"}, "S3:GETOBJECT", True),  # case-insensitive
    ({"Action": "s3:Get*"}, "s3:GetObjectAcl", True),
    ({"Action": "s3:Get*"}, "s3:PutObject", False),
    ({"Action": "s3:?etObject"}, "s3:GetObject", True),
    ({"Action": "s3:?etObject"}, "s3:GGetObject", False),
    ({"Action": "*"}, "iam:CreateUser", True),
    ({"Action": "s*:Get*"}, "sts:GetCallerIdentity", True),
    ({"Action": ["iam:*", "s3:GetObject"]}, "s3:GetObject", True),
    ({"Action": "iam:*"}, "s3:GetObject", False),
    ({"NotAction": "iam:*"}, "s3:GetObject", True),  # everything else, any service
    ({"NotAction": "iam:*"}, "iam:GetUser", False),
    ({"NotAction": ["iam:*", "s3:Get*"]}, "s3:GetObject", False),
    ({"NotAction": ["iam:*", "s3:Get*"]}, "ec2:RunInstances", True),
]


@pytest.mark.parametrize(("element", "action", "expected"), ACTION_CASES)
def test_action_element(element: dict[str, Any], action: str, expected: bool) -> None:
    s: dict[str, Any] = {"Effect": "Allow", "Resource": "*", **element}
    assert decide(ctx(action=action), [pol(s)]).allowed is expected


# --- Resource / NotResource [RESOURCE] ----------------------------------------------------

RESOURCE_CASES: list[tuple[dict[str, Any], str, dict[str, Any], bool]] = [
    ({"Resource": "*"}, "arn:aws:s3:::b/k", {}, True),
    ({"Resource": "arn:aws:s3:::b/k"}, "arn:aws:s3:::b/k", {}, True),
    ({"Resource": "arn:aws:s3:::b/K"}, "arn:aws:s3:::b/k", {}, False),  # case-sensitive
    ({"Resource": "arn:aws:s3:::b/*"}, "arn:aws:s3:::b/x/y/z", {}, True),  # * spans /
    ({"Resource": "arn:aws:s3:::b/*"}, "arn:aws:s3:::c/x", {}, False),
    ({"Resource": "arn:aws:s3:*"}, "arn:aws:s3:::b/k", {}, True),  # * spans :
    ({"Resource": "arn:aws:iam::*:user/*"}, "arn:aws:iam::123456789012:user/a/b", {}, True),
    (
        {"Resource": "arn:aws:iam::123456789012:user/?ob"},
        "arn:aws:iam::123456789012:user/bob",
        {},
        True,
    ),
    (
        {"Resource": "arn:aws:iam::123456789012:user/?ob"},
        "arn:aws:iam::123456789012:user/bbob",
        {},
        False,
    ),
    ({"Resource": ["arn:aws:s3:::x", "arn:aws:s3:::b/*"]}, "arn:aws:s3:::b/k", {}, True),
    # variables in Resource [VARS]
    (
        {"Resource": "arn:aws:s3:::b/${aws:username}/*"},
        "arn:aws:s3:::b/alice/f",
        {"aws:username": "alice"},
        True,
    ),
    (
        {"Resource": "arn:aws:s3:::b/${aws:username}/*"},
        "arn:aws:s3:::b/bob/f",
        {"aws:username": "alice"},
        False,
    ),
    ({"Resource": "arn:aws:s3:::b/${aws:username}/*"}, "arn:aws:s3:::b//f", {}, False),  # missing
    (
        {"Resource": "arn:aws:s3:::b/${aws:username, 'shared'}/*"},
        "arn:aws:s3:::b/shared/f",
        {},
        True,
    ),
    ({"Resource": "arn:aws:s3:::b/${*}"}, "arn:aws:s3:::b/*", {}, True),  # escape = literal
    ({"Resource": "arn:aws:s3:::b/${*}"}, "arn:aws:s3:::b/x", {}, False),
    # NotResource
    ({"NotResource": "arn:aws:s3:::b/*"}, "arn:aws:s3:::c/k", {}, True),
    ({"NotResource": "arn:aws:s3:::b/*"}, "arn:aws:s3:::b/k", {}, False),
    ({"NotResource": ["arn:aws:s3:::b/*", "arn:aws:s3:::c/*"]}, "arn:aws:s3:::c/k", {}, False),
]


@pytest.mark.parametrize(("element", "resource", "keys", "expected"), RESOURCE_CASES)
def test_resource_element(
    element: dict[str, Any], resource: str, keys: dict[str, Any], expected: bool
) -> None:
    s: dict[str, Any] = {"Effect": "Allow", "Action": "s3:*", **element}
    assert decide(ctx(resource=resource, keys=keys), [pol(s)]).allowed is expected


def test_resource_variables_are_literal_in_2008_version() -> None:
    p = pol(stmt(resource="arn:aws:s3:::b/${aws:username}"), version="2008-10-17")
    keys = {"aws:username": "alice"}
    assert not decide(ctx(resource="arn:aws:s3:::b/alice", keys=keys), [p]).allowed
    assert decide(ctx(resource="arn:aws:s3:::b/${aws:username}", keys=keys), [p]).allowed


# --- Principal / NotPrincipal in a resource-based policy [PRINCIPAL] ------------------------

PRINCIPAL_CASES: list[tuple[Any, Any, bool]] = [
    # (Principal value, caller, the resource policy alone grants?)
    ("*", ALICE, True),
    ("*", ANON, True),
    ({"AWS": "*"}, ANON, True),
    ({"AWS": "*"}, SESSION, True),
    ({"AWS": ALICE.arn}, ALICE, True),
    ({"AWS": ALICE.arn}, SESSION, False),
    ({"AWS": [ROLE_ARN]}, SESSION, True),  # role ARN = its sessions
    ({"AWS": SESSION.arn}, SESSION, True),  # exact assumed-role session
    ({"AWS": f"arn:aws:sts::{ACCT}:assumed-role/Dev/other"}, SESSION, False),
    ({"AWS": FED_USER.arn}, FED_USER, True),
    ({"AWS": "AIDAALICE0000000000"}, ALICE, True),  # unique id
    ({"AWS": "AROADEV000000000000"}, SESSION, True),
    # account principal: delegation, no grant without an identity policy [NOTES §4.7]
    ({"AWS": ACCT}, ALICE, False),
    ({"AWS": f"arn:aws:iam::{ACCT}:root"}, SESSION, False),
    ({"Service": "ec2.amazonaws.com"}, EC2, True),
    ({"Service": "lambda.amazonaws.com"}, EC2, False),
    ({"AWS": "*"}, EC2, False),
    ({"Federated": "cognito-identity.amazonaws.com"}, COGNITO, True),
    ({"Federated": WEB.federated_provider}, WEB, True),
    ({"Federated": WEB.federated_provider}, COGNITO, False),
    ({"Federated": SAML.federated_provider}, SAML, True),
    ({"CanonicalUser": "79a59df900b949e55d96a1e698fbaced"}, ALICE, False),
]


@pytest.mark.parametrize(("principal", "caller", "expected"), PRINCIPAL_CASES)
def test_principal_element(principal: Any, caller: Any, expected: bool) -> None:
    resource = pol(
        stmt(action="s3:GetObject", resource="arn:aws:s3:::b/*", Principal=principal),
        kind=PolicyKind.RESOURCE,
    )
    c = ctx(resource="arn:aws:s3:::b/k", principal=caller)
    assert decide(c, resource=resource).allowed is expected


def test_canonical_user_principal() -> None:
    caller = ALICE.__class__(ALICE.arn, ACCT, "user", canonical_user="79a59df9")
    resource = pol(stmt(Principal={"CanonicalUser": "79a59df9"}), kind=PolicyKind.RESOURCE)
    assert decide(ctx(principal=caller), resource=resource).allowed


def test_not_principal_with_deny_exempts_listed() -> None:
    # [PRINCIPAL NotPrincipal]: Deny everyone except the listed principals
    resource = pol(
        stmt(Principal="*"),
        stmt("Deny", NotPrincipal={"AWS": [ALICE.arn, f"arn:aws:iam::{ACCT}:root"]}),
        kind=PolicyKind.RESOURCE,
    )
    assert decide(ctx(principal=ALICE), resource=resource).allowed
    d = decide(ctx(principal=SESSION), resource=resource)
    assert d.explicit_deny and d.reason is not None
    assert d.reason.policy_type is PolicyType.RESOURCE


# --- decision order [EVAL] / [NOTES §6.1, §6.2] ----------------------------------------------

ALLOW_ALL = pol(stmt(), label="allow-all")
ALLOW_S3 = pol(stmt(action="s3:*"), label="allow-s3")
DENY_S3 = pol(stmt("Deny", action="s3:*"), label="deny-s3")
ALLOW_IAM = pol(stmt(action="iam:*"), label="allow-iam")


def _res(principal: Any, effect: str = "Allow") -> Any:
    return pol(stmt(effect, action="s3:*", Principal=principal), kind=PolicyKind.RESOURCE)


ORDER_CASES: list[tuple[str, Any, dict[str, Any], bool, tuple[bool, PolicyType] | None]] = [
    # id, caller, PolicySet kwargs, allowed, (explicit, type) of the reason
    ("identity allow", ALICE, {"identity": [ALLOW_S3]}, True, None),
    ("no policy: implicit deny", ALICE, {}, False, (False, PolicyType.IDENTITY)),
    (
        "identity deny beats allow",
        ALICE,
        {"identity": [ALLOW_ALL, DENY_S3]},
        False,
        (True, PolicyType.IDENTITY),
    ),
    ("unrelated allow", ALICE, {"identity": [ALLOW_IAM]}, False, (False, PolicyType.IDENTITY)),
    # SCPs: every level needs an Allow; explicit deny in an SCP
    (
        "scp all levels allow",
        ALICE,
        {"identity": [ALLOW_S3], "scps": [[ALLOW_ALL], [ALLOW_S3]]},
        True,
        None,
    ),
    (
        "scp one level silent",
        ALICE,
        {"identity": [ALLOW_S3], "scps": [[ALLOW_ALL], [ALLOW_IAM]]},
        False,
        (False, PolicyType.SCP),
    ),
    (
        "scp explicit deny",
        ALICE,
        {"identity": [ALLOW_S3], "scps": [[ALLOW_ALL, DENY_S3]]},
        False,
        (True, PolicyType.SCP),
    ),
    ("scp limits root", ROOT, {"scps": [[ALLOW_IAM]]}, False, (False, PolicyType.SCP)),
    (
        "rcp silent",
        ALICE,
        {
            "identity": [ALLOW_S3],
            "rcps": [[pol(stmt(action="iam:*", Principal="*"), kind=PolicyKind.RCP)]],
        },
        False,
        (False, PolicyType.RCP),
    ),
    (
        "rcp deny",
        ALICE,
        {
            "identity": [ALLOW_S3],
            "rcps": [
                [
                    pol(
                        stmt(Principal="*"),
                        stmt("Deny", action="s3:*", Principal="*"),
                        kind=PolicyKind.RCP,
                    )
                ]
            ],
        },
        False,
        (True, PolicyType.RCP),
    ),
    (
        "rcp allows",
        ALICE,
        {"identity": [ALLOW_S3], "rcps": [[pol(stmt(Principal="*"), kind=PolicyKind.RCP)]]},
        True,
        None,
    ),
    # root in its own account: implicitly allowed
    ("root allowed", ROOT, {}, True, None),
    (
        "root explicit resource deny",
        ROOT,
        {"resource": _res("*", "Deny")},
        False,
        (True, PolicyType.RESOURCE),
    ),
    # permissions boundary
    ("boundary allows", ALICE, {"identity": [ALLOW_S3], "boundary": ALLOW_ALL}, True, None),
    (
        "boundary silent",
        ALICE,
        {"identity": [ALLOW_S3], "boundary": ALLOW_IAM},
        False,
        (False, PolicyType.BOUNDARY),
    ),
    (
        "boundary deny",
        ALICE,
        {"identity": [ALLOW_S3], "boundary": pol(stmt(), stmt("Deny", action="s3:*"))},
        False,
        (True, PolicyType.BOUNDARY),
    ),
    (
        "boundary alone grants nothing",
        ALICE,
        {"boundary": ALLOW_ALL},
        False,
        (False, PolicyType.IDENTITY),
    ),
    # session policies
    ("role session no session policy", SESSION, {"identity": [ALLOW_S3]}, True, None),
    (
        "session policy allows",
        SESSION,
        {"identity": [ALLOW_S3], "session": [ALLOW_ALL]},
        True,
        None,
    ),
    (
        "session policy silent",
        SESSION,
        {"identity": [ALLOW_S3], "session": [ALLOW_IAM]},
        False,
        (False, PolicyType.SESSION),
    ),
    (
        "session inline+managed union",
        SESSION,
        {"identity": [ALLOW_S3], "session": [ALLOW_IAM, ALLOW_S3]},
        True,
        None,
    ),
    (
        "session policy deny",
        SESSION,
        {"identity": [ALLOW_S3], "session": [ALLOW_ALL, DENY_S3]},
        False,
        (True, PolicyType.SESSION),
    ),
    (
        "session alone grants nothing",
        SESSION,
        {"session": [ALLOW_ALL]},
        False,
        (False, PolicyType.IDENTITY),
    ),
    (
        "federated user without session policy",
        FED_USER,
        {"identity": [ALLOW_S3]},
        False,
        (False, PolicyType.SESSION),
    ),
    (
        "federated user with session policy",
        FED_USER,
        {"identity": [ALLOW_S3], "session": [ALLOW_S3]},
        True,
        None,
    ),
    # resource-based policies, same account, by principal form [EVAL; NOTES §6.1 step 5]
    ("res: user ARN, no identity", ALICE, {"resource": _res({"AWS": ALICE.arn})}, True, None),
    (
        "res: user ARN ignores boundary",
        ALICE,
        {"resource": _res({"AWS": ALICE.arn}), "boundary": ALLOW_IAM},
        True,
        None,
    ),
    (
        "res: session ARN ignores boundary+session",
        SESSION,
        {"resource": _res({"AWS": SESSION.arn}), "boundary": ALLOW_IAM, "session": [ALLOW_IAM]},
        True,
        None,
    ),
    (
        "res: fed-user ARN ignores missing session policy",
        FED_USER,
        {"resource": _res({"AWS": FED_USER.arn})},
        True,
        None,
    ),
    (
        "res: role ARN limited by boundary",
        SESSION,
        {"resource": _res({"AWS": ROLE_ARN}), "boundary": ALLOW_IAM},
        False,
        (False, PolicyType.BOUNDARY),
    ),
    (
        "res: role ARN limited by session",
        SESSION,
        {"resource": _res({"AWS": ROLE_ARN}), "session": [ALLOW_IAM]},
        False,
        (False, PolicyType.SESSION),
    ),
    (
        "res: role ARN, no identity needed",
        SESSION,
        {"resource": _res({"AWS": ROLE_ARN})},
        True,
        None,
    ),
    (
        "res: user behind fed session limited by session",
        FED_USER,
        {"resource": _res({"AWS": ALICE.arn}), "session": [ALLOW_IAM]},
        False,
        (False, PolicyType.SESSION),
    ),
    (
        "res: account only needs identity",
        ALICE,
        {"resource": _res({"AWS": ACCT})},
        False,
        (False, PolicyType.IDENTITY),
    ),
    (
        "res: account + identity",
        ALICE,
        {"resource": _res({"AWS": ACCT}), "identity": [ALLOW_S3]},
        True,
        None,
    ),
    (
        "res: identity alone (union)",
        ALICE,
        {"resource": _res({"AWS": BOB_OTHER.arn}), "identity": [ALLOW_S3]},
        True,
        None,
    ),
    (
        "res: deny beats identity allow",
        ALICE,
        {"resource": _res({"AWS": ALICE.arn}, "Deny"), "identity": [ALLOW_S3]},
        False,
        (True, PolicyType.RESOURCE),
    ),
    (
        "res: deny for other principal irrelevant",
        ALICE,
        {"resource": _res({"AWS": SESSION.arn}, "Deny"), "identity": [ALLOW_S3]},
        True,
        None,
    ),
    ("res: anonymous via *", ANON, {"resource": _res("*")}, True, None),
    (
        "res: anonymous, no grant",
        ANON,
        {"resource": _res({"AWS": ALICE.arn})},
        False,
        (False, PolicyType.IDENTITY),
    ),
    # cross-account [EVAL cross-account; NOTES §6.2]: both sides
    (
        "x-acct: both allow",
        BOB_OTHER,
        {"resource": _res({"AWS": OTHER}), "resource_account": ACCT, "identity": [ALLOW_S3]},
        True,
        None,
    ),
    (
        "x-acct: resource names user, no identity",
        BOB_OTHER,
        {"resource": _res({"AWS": BOB_OTHER.arn}), "resource_account": ACCT},
        False,
        (False, PolicyType.IDENTITY),
    ),
    (
        "x-acct: identity only",
        BOB_OTHER,
        {"resource_account": ACCT, "identity": [ALLOW_S3]},
        False,
        (False, PolicyType.RESOURCE),
    ),
    (
        "x-acct: boundary on caller side",
        BOB_OTHER,
        {
            "resource": _res({"AWS": OTHER}),
            "resource_account": ACCT,
            "identity": [ALLOW_S3],
            "boundary": ALLOW_IAM,
        },
        False,
        (False, PolicyType.BOUNDARY),
    ),
    (
        "x-acct: session on caller side",
        OTHER_SESSION,
        {
            "resource": _res({"AWS": OTHER_SESSION.arn}),
            "resource_account": ACCT,
            "identity": [ALLOW_S3],
            "session": [ALLOW_IAM],
        },
        False,
        (False, PolicyType.SESSION),
    ),
]
_OTHER_ROOT = ROOT.__class__(f"arn:aws:iam::{OTHER}:root", OTHER, "root")
ORDER_CASES += [
    (
        "x-acct: other root, resource allows account",
        _OTHER_ROOT,
        {"resource": _res({"AWS": OTHER}), "resource_account": ACCT},
        True,
        None,
    ),
    (
        "x-acct: other root, no resource policy",
        _OTHER_ROOT,
        {"resource_account": ACCT},
        False,
        (False, PolicyType.RESOURCE),
    ),
]


@pytest.mark.parametrize(
    ("caller", "kwargs", "allowed", "reason"),
    [pytest.param(c, k, a, r, id=i) for i, c, k, a, r in ORDER_CASES],
)
def test_decision_order(
    caller: Any, kwargs: dict[str, Any], allowed: bool, reason: tuple[bool, PolicyType] | None
) -> None:
    d = evaluate(ctx(principal=caller), PolicySet(**kwargs))
    assert d.allowed is allowed
    if reason is None:
        assert d.reason is None
    else:
        assert d.reason is not None
        assert (d.reason.explicit, d.reason.policy_type) == reason


# --- role trust policies [NOTES §4.7] --------------------------------------------------------

ROLE_B = f"arn:aws:iam::{ACCT}:role/B"
ASSUME = "sts:AssumeRole"


def _assume(caller: Any, trust_policy: Any, **kw: Any) -> Decision:
    c = ctx(action=ASSUME, resource=ROLE_B, principal=caller, keys=kw.pop("keys", None))
    return evaluate(c, PolicySet(resource=trust_policy, is_trust_evaluation=True, **kw))


ASSUME_ID = pol(stmt(action="sts:AssumeRole", resource=ROLE_B))

TRUST_CASES: list[tuple[str, Any, Any, dict[str, Any], bool]] = [
    (
        "names user ARN: no identity policy needed",
        ALICE,
        trust(stmt(action=ASSUME, resource=None, Principal={"AWS": ALICE.arn})),
        {},
        True,
    ),
    (
        "names role ARN: its sessions",
        SESSION,
        trust(stmt(action=ASSUME, resource=None, Principal={"AWS": ROLE_ARN})),
        {},
        True,
    ),
    (
        "names account: identity needed",
        ALICE,
        trust(stmt(action=ASSUME, resource=None, Principal={"AWS": ACCT})),
        {},
        False,
    ),
    (
        "names account + identity allow",
        ALICE,
        trust(stmt(action=ASSUME, resource=None, Principal={"AWS": ACCT})),
        {"identity": [ASSUME_ID]},
        True,
    ),
    (
        "trust silent: identity allow is not enough",
        ALICE,
        trust(stmt(action=ASSUME, resource=None, Principal={"AWS": BOB_OTHER.arn})),
        {"identity": [ASSUME_ID]},
        False,
    ),
    (
        "cross-account: trust names account + identity",
        BOB_OTHER,
        trust(stmt(action=ASSUME, resource=None, Principal={"AWS": OTHER})),
        {"identity": [ASSUME_ID], "resource_account": ACCT},
        True,
    ),
    (
        "cross-account: trust names user, no identity",
        BOB_OTHER,
        trust(stmt(action=ASSUME, resource=None, Principal={"AWS": BOB_OTHER.arn})),
        {"resource_account": ACCT},
        False,
    ),
    (
        "web identity via Federated + aud condition",
        WEB,
        trust(
            stmt(
                action="sts:AssumeRoleWithWebIdentity",
                resource=None,
                Principal={"Federated": WEB.federated_provider},
                Condition={
                    "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
                },
            )
        ),
        {"keys": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}},
        True,
    ),
    (
        "service principal",
        EC2,
        trust(stmt(action=ASSUME, resource=None, Principal={"Service": "ec2.amazonaws.com"})),
        {},
        True,
    ),
    (
        "external id required",
        ALICE,
        trust(
            stmt(
                action=ASSUME,
                resource=None,
                Principal={"AWS": ALICE.arn},
                Condition={"StringEquals": {"sts:ExternalId": "x"}},
            )
        ),
        {},
        False,
    ),
    (
        "root of same account named by account",
        ROOT,
        trust(stmt(action=ASSUME, resource=None, Principal={"AWS": ACCT})),
        {},
        True,
    ),
    (
        "root not named",
        ROOT,
        trust(stmt(action=ASSUME, resource=None, Principal={"AWS": ALICE.arn})),
        {},
        False,
    ),
]


@pytest.mark.parametrize(
    ("caller", "trust_policy", "kw", "allowed"),
    [pytest.param(c, t, k, a, id=i) for i, c, t, k, a in TRUST_CASES],
)
def test_trust_policy(caller: Any, trust_policy: Any, kw: dict[str, Any], allowed: bool) -> None:
    if "web identity" in str(kw) or caller is WEB:
        c = ctx(
            action="sts:AssumeRoleWithWebIdentity",
            resource=ROLE_B,
            principal=caller,
            keys=kw.pop("keys", None),
        )
        d = evaluate(c, PolicySet(resource=trust_policy, is_trust_evaluation=True, **kw))
    else:
        d = _assume(caller, trust_policy, **kw)
    assert d.allowed is allowed


# --- messages ----------------------------------------------------------------------------------


def test_access_denied_messages() -> None:
    c = ctx(action="iam:CreateUser", resource=f"arn:aws:iam::{ACCT}:user/bob")
    d = decide(c, [ALLOW_S3])
    assert access_denied_message(c, d) == (
        f"User: arn:aws:iam::{ACCT}:user/alice is not authorized to perform: iam:CreateUser "
        f"on resource: arn:aws:iam::{ACCT}:user/bob because no identity-based policy allows "
        "the iam:CreateUser action"
    )
    d = decide(c, [ALLOW_ALL, pol(stmt("Deny", action="iam:*"))])
    assert access_denied_message(c, d).endswith("with an explicit deny in an identity-based policy")
    d = evaluate(c, PolicySet(identity=[ALLOW_ALL], scps=[[pol(stmt(), stmt("Deny"))]]))
    assert access_denied_message(c, d).endswith("with an explicit deny in a service control policy")
    d = evaluate(c, PolicySet(identity=[ALLOW_ALL], boundary=ALLOW_S3))
    assert access_denied_message(c, d).endswith(
        "because no permissions boundary allows the iam:CreateUser action"
    )
    sc = ctx(action="iam:CreateUser", resource="*", principal=SESSION)
    d = evaluate(sc, PolicySet(identity=[ALLOW_ALL], session=[ALLOW_S3]))
    assert access_denied_message(sc, d) == (
        f"User: {SESSION.arn} is not authorized to perform: iam:CreateUser on resource: * "
        "because no session policy allows the iam:CreateUser action"
    )
    d = _assume(ALICE, trust(stmt(action=ASSUME, resource=None, Principal={"AWS": OTHER})))
    assert access_denied_message(ctx(action=ASSUME, resource=ROLE_B), d) == (
        f"User: {ALICE.arn} is not authorized to perform: sts:AssumeRole on resource: {ROLE_B}"
    )
    wc = ctx(action="sts:AssumeRoleWithWebIdentity", resource=ROLE_B, principal=WEB)
    d = evaluate(
        wc,
        PolicySet(
            resource=trust(stmt(action="sts:*", resource=None, Principal={"AWS": ACCT})),
            is_trust_evaluation=True,
        ),
    )
    assert access_denied_message(wc, d) == "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    with pytest.raises(ValueError):
        access_denied_message(c, decide(c, [ALLOW_ALL]))


def test_matched_statements() -> None:
    p = pol(stmt(Sid="One", action="s3:*"), stmt(Sid="Two", action="iam:*"), label="arn:x")
    d = decide(ctx(), [p])
    assert [(m.policy_label, m.statement_index, m.sid, m.effect) for m in d.matched_statements] == [
        ("arn:x", 0, "One", "Allow")
    ]
    d = decide(ctx(), [p, pol(stmt("Deny", Sid="No"), label="deny")])
    assert [(m.policy_label, m.sid, m.effect) for m in d.matched_statements] == [
        ("deny", "No", "Deny")
    ]


def test_policy_group_equivalent_to_list() -> None:
    policies = [pol(stmt(action=f"svc{i}:Do*"), label=f"p{i}") for i in range(50)]
    policies.append(ALLOW_S3)
    group = PolicyGroup(policies)
    for action in ("s3:GetObject", "svc7:DoIt", "ec2:Run", "svc49:Nope"):
        c = ctx(action=action)
        assert decide(c, group) == decide(c, policies)
    assert len(group) == 51 and group[0] is policies[0]
