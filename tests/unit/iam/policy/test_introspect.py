"""Statement positions and context key names as AWS's simulator reports them."""

from __future__ import annotations

import json

from tessera.iam.policy.introspect import (
    Position,
    context_key_names,
    merge_key_names,
    statement_spans,
)

# AWS CLI documentation, simulate-custom-policy example 1: Column 38 → Column 167
DYNAMO = (
    '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*",'
    '"Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}'
)

# simulate-principal-policy example 1: a pretty-printed policy, line 3 col 19 → line 9 col 10
PRETTY = """{
    "Version": "2012-10-17",
    "Statement": {
        "Sid": "Grant-Access-To-CodeCommit-ListRepo",
        "Effect": "Allow",
        "Action": "codecommit:ListRepositories",
        "Resource": "*",
        "Condition": {}
        }
}"""


def test_object_statement_positions_match_awss_documented_example() -> None:
    assert statement_spans(DYNAMO) == ((Position(1, 38), Position(1, 167)),)


def test_pretty_printed_statement_positions() -> None:
    assert statement_spans(PRETTY) == ((Position(3, 19), Position(9, 10)),)
    crlf = PRETTY.replace("\n", "\r\n")
    assert statement_spans(crlf) == ((Position(3, 19), Position(9, 10)),)


def test_array_statements_start_at_the_brace() -> None:
    # recorded: a compact {"Statement":[{... document answered Column 15 (the "{")
    doc = json.dumps(
        {
            "Statement": [
                {"Action": "s3:GetObject", "Effect": "Allow", "Resource": "*"},
                {"Action": "s3:Put*", "Effect": "Deny", "Resource": 'arn:aws:s3:::b/}\\"x'},
            ],
            "Version": "2012-10-17",
        },
        separators=(",", ":"),
    )
    first, second = statement_spans(doc)
    assert first[0] == Position(1, 15)
    assert doc[first[1].column - 2] == "}"
    assert doc[second[0].column - 1] == "{" and doc[second[1].column - 2] == "}"
    assert second[0].column > first[1].column


def test_last_statement_member_counts_and_nesting_is_skipped() -> None:
    doc = (
        '{"Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}, "Id": "x",'
        ' "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",'
        ' "Condition": {"StringEquals": {"aws:a": ["[", "{"]}}}]}'
    )
    ((start, end),) = statement_spans(doc)
    assert doc[start.column - 1] == "{" and doc[end.column - 2 : end.column] == "}]"


def test_context_keys_match_awss_documented_example() -> None:
    doc = (
        '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*",'
        '"Resource":"arn:aws:dynamodb:us-west-2:123456789012:table/${aws:username}",'
        '"Condition":{"DateGreaterThan":{"aws:CurrentTime":"2015-08-16T12:00:00Z"}}}}'
    )
    assert context_key_names(doc) == ["aws:username", "aws:CurrentTime"]


def test_context_keys_order_case_defaults_and_escapes() -> None:
    doc = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:*",
                    "Resource": ["arn:aws:s3:::b/${aws:PrincipalTag/team, 'none'}/${*}"],
                    "Condition": {
                        "StringEquals": {"s3:prefix": "${aws:userid}", "AWS:USERNAME": "x"},
                        "Bool": {"aws:MultiFactorAuthPresent": "true"},
                    },
                },
                {
                    "Effect": "Deny",
                    "NotAction": "s3:*",
                    "NotResource": "*",
                    "Condition": {"StringLike": {"aws:principaltag/TEAM": "x"}},
                },
            ],
        }
    )
    assert context_key_names(doc) == [
        "aws:PrincipalTag/team",
        "s3:prefix",
        "aws:userid",
        "AWS:USERNAME",
        "aws:MultiFactorAuthPresent",
    ]


def test_variables_only_in_2012_documents() -> None:
    doc = json.dumps(
        {
            "Version": "2008-10-17",
            "Statement": {
                "Effect": "Allow",
                "Action": "s3:*",
                "Resource": "arn:aws:s3:::b/${aws:username}",
                "Condition": {"StringEquals": {"aws:SourceVpc": "${aws:userid}"}},
            },
        }
    )
    assert context_key_names(doc) == ["aws:SourceVpc"]


def test_merge_keeps_first_spelling() -> None:
    assert merge_key_names(["a:B", "a:b", "c:d", "A:b"]) == ["a:B", "c:d"]
