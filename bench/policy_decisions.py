"""Benchmark: policy decisions per second for one principal with 1 and 1,000 policies.

Not part of the test run.  ``python bench/policy_decisions.py [--seconds N]``

The 1,000-policy principal has 999 policies about unrelated services plus the
one that matters; thanks to the action index those cost a dict lookup each
(plain list) or nothing at all (a :class:`PolicyGroup` built once).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

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


if __name__ == "__main__":
    main()
