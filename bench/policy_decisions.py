"""Benchmark: policy decisions per second for one principal with 1 and 1,000 policies.

Not part of the test run.  ``python bench/policy_decisions.py [--seconds N]``

The 1,000-policy principal has 999 policies about unrelated services plus the
one that matters; thanks to the action index those cost a dict lookup each
(plain list) or nothing at all (a :class:`PolicyGroup` built once).

AWS managed policies: AWS's ReadOnlyAccess (the largest commonly attached one,
thousands of action patterns) and AdministratorAccess, as identity policies and
ReadOnlyAccess as a permissions boundary over AdministratorAccess, from the packaged
data (``tessera.iam.aws_managed``). The server parses each document once
(``tessera.iam.authz.compiled`` caches by document text); the benchmark also times
that first parse and a cached lookup.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from tessera.iam import aws_managed
from tessera.iam.authz import compiled
from tessera.iam.policy import (
    PolicyGroup,
    PolicyKind,
    PolicySet,
    PrincipalInfo,
    RequestContext,
    evaluate,
    parse_policy,
)

ACCT = "123456789012"


def _policy(i: int, service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": f"S{i}a",
                    "Effect": "Allow",
                    "Action": [f"{service}:Get*", f"{service}:List*", f"{service}:Describe{i}"],
                    "Resource": f"arn:aws:{service}:::res-{i}/${{aws:username}}/*",
                },
                {
                    "Sid": f"S{i}b",
                    "Effect": "Deny",
                    "Action": f"{service}:Delete*",
                    "Resource": "*",
                    "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}},
                },
            ],
        }
    )


RELEVANT = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": "arn:aws:s3:::bucket/${aws:username}/*",
                "Condition": {
                    "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
                    "Bool": {"aws:SecureTransport": "true"},
                },
            }
        ],
    }
)


def _measure(fn: Callable[[], object], seconds: float) -> float:
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(200):
            fn()
        n += 200
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()

    principal = PrincipalInfo(f"arn:aws:iam::{ACCT}:user/alice", ACCT, "user")
    relevant = parse_policy(RELEVANT, PolicyKind.IDENTITY, label="relevant")
    services = [f"svc{i % 97}" for i in range(999)]
    unrelated = [
        parse_policy(_policy(i, s), PolicyKind.IDENTITY, label=f"p{i}")
        for i, s in enumerate(services)
    ]
    keys = {
        "aws:username": "alice",
        "aws:SourceIp": "10.1.2.3",
        "aws:SecureTransport": "true",
    }
    allow_ctx = RequestContext.build(
        "s3:GetObject", "arn:aws:s3:::bucket/alice/report.csv", principal, keys
    )
    deny_ctx = RequestContext.build(
        "ec2:RunInstances", "arn:aws:ec2:us-east-1:123456789012:instance/*", principal, keys
    )

    t0 = time.perf_counter()
    for i, s in enumerate(services[:200]):
        parse_policy(_policy(i, s), PolicyKind.IDENTITY)
    parse_rate = 200 / (time.perf_counter() - t0)

    cases = [
        ("1 policy", [relevant]),
        ("1,000 policies (list)", [*unrelated, relevant]),
        ("1,000 policies (PolicyGroup)", PolicyGroup([*unrelated, relevant])),
    ]
    print(f"{'identity policies':<30} {'allow decisions/s':>18} {'deny decisions/s':>18}")
    for name, identity in cases:
        ps = PolicySet(identity=identity)
        assert evaluate(allow_ctx, ps).allowed
        assert not evaluate(deny_ctx, ps).allowed
        allow_rate = _measure(lambda ps=ps: evaluate(allow_ctx, ps), args.seconds)
        deny_rate = _measure(lambda ps=ps: evaluate(deny_ctx, ps), args.seconds)
        print(f"{name:<30} {allow_rate:>18,.0f} {deny_rate:>18,.0f}")
    print(f"\nparse+compile: {parse_rate:,.0f} policies/s")
    _aws_managed(principal, keys, args.seconds)


def _aws_managed(principal: PrincipalInfo, keys: dict[str, str], seconds: float) -> None:
    ro_arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    ro_doc = aws_managed.default_document(ro_arn)
    admin_doc = aws_managed.default_document("arn:aws:iam::aws:policy/AdministratorAccess")
    assert ro_doc is not None and admin_doc is not None
    t0 = time.perf_counter()
    read_only = parse_policy(ro_doc, PolicyKind.IDENTITY, label=ro_arn)
    parse_ms = (time.perf_counter() - t0) * 1000
    admin = parse_policy(admin_doc, PolicyKind.IDENTITY, label="admin")
    boundary = parse_policy(ro_doc, PolicyKind.BOUNDARY, label=ro_arn)
    compiled(ro_doc, PolicyKind.IDENTITY, ro_arn)  # fill the server's parse cache
    cached_rate = _measure(lambda: compiled(ro_doc, PolicyKind.IDENTITY, ro_arn), seconds)

    read_ctx = RequestContext.build(
        "s3:GetObject", "arn:aws:s3:::bucket/alice/report.csv", principal, keys
    )
    write_ctx = RequestContext.build(
        "s3:PutObject", "arn:aws:s3:::bucket/alice/report.csv", principal, keys
    )
    cases = [
        ("ReadOnlyAccess", PolicySet(identity=[read_only]), True),
        ("ReadOnlyAccess (PolicyGroup)", PolicySet(identity=PolicyGroup([read_only])), True),
        ("AdministratorAccess", PolicySet(identity=[admin]), False),
        ("Admin + ReadOnly boundary", PolicySet(identity=[admin], boundary=boundary), True),
    ]
    print(f"\n{'AWS managed':<30} {'read decisions/s':>18} {'write decisions/s':>18}")
    for name, ps, write_denied in cases:
        assert evaluate(read_ctx, ps).allowed
        assert evaluate(write_ctx, ps).allowed is not write_denied
        read_rate = _measure(lambda ps=ps: evaluate(read_ctx, ps), seconds)
        write_rate = _measure(lambda ps=ps: evaluate(write_ctx, ps), seconds)
        print(f"{name:<30} {read_rate:>18,.0f} {write_rate:>18,.0f}")
    size = len(ro_doc)
    print(
        f"\nReadOnlyAccess ({size:,} characters): first parse+compile {parse_ms:.1f} ms, "
        f"cached lookup {cached_rate:,.0f}/s"
    )


if __name__ == "__main__":
    main()
