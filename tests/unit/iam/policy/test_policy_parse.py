"""Validation of policy documents with AWS's exact MalformedPolicyDocument texts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from policy_helpers import ACCT, doc, stmt

from tessera.errors import LimitExceeded, MalformedPolicyDocument
from tessera.iam.policy import (
    MSG,
    PolicyKind,
    PolicyTooLarge,
    inline_size_message,
    parse_policy,
    policy_size,
)

IDN = PolicyKind.IDENTITY
T = PolicyKind.TRUST
R = PolicyKind.RESOURCE


def _trust(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"},
    }
    base.update(extra)
    return base


BAD: list[tuple[str, str, PolicyKind, str]] = [
    ("not json", "{", IDN, MSG.SYNTAX),
    ("not an object", "[]", IDN, MSG.SYNTAX),
    (
        "NaN",
        '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":NaN}}',
        IDN,
        MSG.SYNTAX,
    ),
    (
        "unknown top-level field",
        json.dumps({"Version": "2012-10-17", "Foo": 1, "Statement": [stmt()]}),
        IDN,
        MSG.SYNTAX,
    ),
    ("unknown statement field", doc({**stmt(), "Foo": "bar"}), IDN, MSG.SYNTAX),
    ("bad Version", doc(stmt(), version="2020-01-01"), IDN, MSG.SYNTAX),
    ("no Statement", json.dumps({"Version": "2012-10-17"}), IDN, MSG.SYNTAX),
    ("empty Statement", json.dumps({"Version": "2012-10-17", "Statement": []}), IDN, MSG.SYNTAX),
    ("Action and NotAction", doc({**stmt(), "NotAction": "s3:*"}), IDN, MSG.SYNTAX),
    ("bad Effect", doc(stmt("Maybe")), IDN, MSG.SYNTAX),
    ("Effect wrong case", doc(stmt("allow")), IDN, MSG.LEGACY),
    ("Action not a string", doc(stmt(action=5)), IDN, MSG.SYNTAX),
    (
        "unknown condition operator",
        doc(stmt(Condition={"StringEqualz": {"k": "v"}})),
        IDN,
        MSG.SYNTAX,
    ),
    ("NullIfExists", doc(stmt(Condition={"NullIfExists": {"k": "true"}})), IDN, MSG.SYNTAX),
    (
        "condition value object",
        doc(stmt(Condition={"StringEquals": {"k": {"a": 1}}})),
        IDN,
        MSG.SYNTAX,
    ),
    (
        "bad date value",
        doc(stmt(Condition={"DateLessThan": {"aws:CurrentTime": "yesterday"}})),
        IDN,
        MSG.LEGACY,
    ),
    ("duplicate Sid", doc(stmt(Sid="A"), stmt(Sid="A")), IDN, MSG.DUPLICATE_SID),
    ("no Action", doc({"Effect": "Allow", "Resource": "*"}), IDN, MSG.NO_ACTIONS),
    ("empty Action list", doc(stmt(action=[])), IDN, MSG.NO_ACTIONS),
    ("no Resource", doc(stmt(resource=None)), IDN, MSG.NO_RESOURCES),
    (
        "Resource not ARN",
        doc(stmt(resource="my-bucket")),
        IDN,
        'Resource my-bucket must be in ARN format or "*".',
    ),
    (
        "IAM resource with region",
        doc(stmt(resource="arn:aws:iam:us-east-1:123456789012:user/x")),
        IDN,
        "IAM resource arn:aws:iam:us-east-1:123456789012:user/x cannot contain region information.",
    ),
    ("short ARN with empty part", doc(stmt(resource="arn:aws:iam::*")), IDN, MSG.LEGACY),
    ("action without vendor", doc(stmt(action="GetObject")), IDN, MSG.VENDOR),
    ("action with two colons", doc(stmt(action="s3:Get:Object")), IDN, MSG.ONE_COLON),
    ("bad vendor", doc(stmt(action="s3 x:Get")), IDN, "Vendor s3 x is not valid"),
    ("Principal in identity policy", doc(stmt(Principal="*")), IDN, MSG.NO_PRINCIPAL_ALLOWED),
    (
        "NotPrincipal in boundary",
        doc(stmt(NotPrincipal={"AWS": ACCT})),
        PolicyKind.BOUNDARY,
        MSG.NO_PRINCIPAL_ALLOWED,
    ),
    (
        "Principal in session policy",
        doc(stmt(Principal="*")),
        PolicyKind.SESSION,
        MSG.NO_PRINCIPAL_ALLOWED,
    ),
    ("Principal in SCP", doc(stmt(Principal="*")), PolicyKind.SCP, MSG.ORG_POLICY_TYPE),
    ("RCP without Principal *", doc(stmt()), PolicyKind.RCP, MSG.ORG_POLICY_TYPE),
    ("trust with Resource", doc(_trust(Resource="*")), T, "Has prohibited field Resource"),
    ("trust with NotResource", doc(_trust(NotResource="*")), T, MSG.TRUST_NOT_RESOURCE),
    (
        "trust with NotPrincipal",
        doc({k: v for k, v in _trust(NotPrincipal={"AWS": ACCT}).items() if k != "Principal"}),
        T,
        MSG.TRUST_NOT_PRINCIPAL,
    ),
    (
        "trust without Principal",
        doc({"Effect": "Allow", "Action": "sts:AssumeRole"}),
        T,
        MSG.TRUST_NO_PRINCIPAL,
    ),
    (
        "trust Principal *",
        doc(_trust(Principal="*")),
        T,
        'AssumeRolepolicy contained an invalid principal: "STAR":"*".',
    ),
    ("resource policy without Principal", doc(stmt()), R, MSG.MISSING_PRINCIPAL),
    (
        "principal wildcard inside ARN",
        doc(_trust(Principal={"AWS": f"arn:aws:iam::{ACCT}:role/*"})),
        T,
        f'Invalid principal in policy: "AWS":"arn:aws:iam::{ACCT}:role/*"',
    ),
    (
        "principal not an ARN",
        doc(_trust(Principal={"AWS": "alice"})),
        T,
        'Invalid principal in policy: "AWS":"alice"',
    ),
    ("principal bad type", doc(_trust(Principal={"Robot": "x"})), T, MSG.SYNTAX),
    ("principal string not *", doc(_trust(Principal="alice")), T, MSG.SYNTAX),
    (
        "Federated bad ARN",
        doc(_trust(Principal={"Federated": f"arn:aws:iam::{ACCT}:user/x"})),
        T,
        f'Invalid principal in policy: "Federated":"arn:aws:iam::{ACCT}:user/x"',
    ),
]


@pytest.mark.parametrize(
    ("document", "kind", "message"), [pytest.param(d, k, m, id=i) for i, d, k, m in BAD]
)
def test_malformed(document: str, kind: PolicyKind, message: str) -> None:
    with pytest.raises(MalformedPolicyDocument) as info:
        parse_policy(document, kind)
    assert info.value.message == message
    assert info.value.code == "MalformedPolicyDocument"


GOOD: list[tuple[str, str, PolicyKind]] = [
    ("minimal", doc(stmt()), IDN),
    ("statement object", json.dumps({"Version": "2012-10-17", "Statement": stmt()}), IDN),
    ("no Version (2008 default)", doc(stmt(), version=None), IDN),
    ("2008 version", doc(stmt(), version="2008-10-17"), IDN),
    ("Id field", json.dumps({"Version": "2012-10-17", "Id": "x", "Statement": [stmt()]}), IDN),
    (
        "NotAction NotResource",
        doc({"Effect": "Deny", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::b"}),
        IDN,
    ),
    ("short ARN", doc(stmt(resource="arn:aws:logs:*")), IDN),
    ("unknown operator with empty block", doc(stmt(Condition={"Whatever": {}})), IDN),
    (
        "numbers and bools in conditions",
        doc(stmt(Condition={"NumericLessThan": {"k": [1, 2.5]}, "Bool": {"b": True}})),
        IDN,
    ),
    (
        "date with variable",
        doc(stmt(Condition={"DateLessThan": {"k": "${aws:TokenIssueTime}"}})),
        IDN,
    ),
    (
        "trust all forms",
        doc(
            _trust(
                Principal={
                    "AWS": [
                        ACCT,
                        f"arn:aws:iam::{ACCT}:user/p/a",
                        f"arn:aws:iam::{ACCT}:role/r",
                        f"arn:aws:sts::{ACCT}:assumed-role/r/s",
                        f"arn:aws:sts::{ACCT}:federated-user/f",
                        "AIDAEXAMPLE00000000",
                        "*",
                    ],
                    "Service": "ec2.amazonaws.com",
                    "Federated": [
                        "cognito-identity.amazonaws.com",
                        f"arn:aws:iam::{ACCT}:oidc-provider/x.example.com",
                        f"arn:aws:iam::{ACCT}:saml-provider/Okta",
                    ],
                }
            )
        ),
        T,
    ),
    ("trust without Version", doc(_trust(), version=None), T),
    ("resource policy", doc(stmt(Principal={"AWS": ACCT})), R),
    ("resource NotPrincipal", doc(stmt("Deny", NotPrincipal={"AWS": ACCT})), R),
    ("rcp", doc(stmt(Principal="*")), PolicyKind.RCP),
    ("scp", doc(stmt()), PolicyKind.SCP),
    (
        "whitespace everywhere",
        '  {\n "Version" : "2012-10-17",\n "Statement":[ {"Effect":"Allow","Action":"*","Resource":"*"} ] }\n',  # noqa: E501
        IDN,
    ),
]


@pytest.mark.parametrize(("document", "kind"), [pytest.param(d, k, id=i) for i, d, k in GOOD])
def test_valid(document: str, kind: PolicyKind) -> None:
    policy = parse_policy(document, kind, label="x")
    assert policy.kind is kind and policy.statements


def test_version_required_for_managed_policies() -> None:
    with pytest.raises(MalformedPolicyDocument) as info:
        parse_policy(doc(stmt(), version=None), IDN, require_current_version=True)
    assert info.value.message == "Policy document must be version 2012-10-17 or greater."
    parse_policy(doc(stmt()), IDN, require_current_version=True)


def test_size_ignores_whitespace() -> None:
    compact = doc(stmt())
    spaced = json.dumps(json.loads(compact), indent=8)
    assert policy_size(compact) == policy_size(spaced) == len(compact.replace(" ", ""))
    parse_policy(spaced, IDN, max_size=policy_size(compact))


def test_size_limit() -> None:
    document = doc(stmt(resource=[f"arn:aws:s3:::bucket-{i}/*" for i in range(300)]))
    with pytest.raises(PolicyTooLarge) as info:
        parse_policy(document, IDN, max_size=6144)
    err = info.value
    assert isinstance(err, LimitExceeded) and err.code == "LimitExceeded" and err.status == 409
    assert err.message == "Cannot exceed quota for PolicySize: 6144"
    assert err.limit == 6144 and err.size == policy_size(document)
    trust_doc = doc(
        _trust(Principal={"AWS": [f"arn:aws:iam::{ACCT}:user/u{i}" for i in range(80)]})
    )
    with pytest.raises(PolicyTooLarge) as info:
        parse_policy(trust_doc, T, max_size=2048)
    assert info.value.message == "Cannot exceed quota for ACLSizePerRole: 2048"
    assert (
        inline_size_message("user", "alice", 2048)
        == "Maximum policy size of 2048 bytes exceeded for user alice"
    )


def test_policies_are_hashable_and_relabelable() -> None:
    a = parse_policy(doc(stmt()), IDN, label="a")
    b = parse_policy(doc(stmt()), IDN, label="a")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    c = a.relabel("c")
    assert c.label == "c" and c != a and c.statements is a.statements


def test_action_index_skips_unrelated_statements() -> None:
    p = parse_policy(
        doc(
            stmt(action="s3:GetObject"),
            stmt(action="s3:Put*"),
            stmt(action="iam:*"),
            {"Effect": "Allow", "NotAction": "ec2:*", "Resource": "*"},
            stmt(action="*"),
        ),
        IDN,
    )
    assert [s.index for s in p.candidates("s3:getobject")] == [0, 3, 4]
    assert [s.index for s in p.candidates("s3:putobject")] == [1, 3, 4]
    assert [s.index for s in p.candidates("ec2:runinstances")] == [4]
    assert [s.index for s in p.candidates("iam:getuser")] == [2, 3, 4]
