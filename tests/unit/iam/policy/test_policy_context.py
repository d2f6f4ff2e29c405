"""Request-context helpers: key normalisation and the global-keys builder."""

from __future__ import annotations

from datetime import UTC, datetime

from policy_helpers import ALICE, SESSION, pol, stmt

from tessera.iam.policy import PolicySet, RequestContext, evaluate, global_keys, normalize_keys


def test_normalize_keys() -> None:
    keys = normalize_keys(
        {
            "AWS:SecureTransport": True,
            "aws:EpochTime": 5,
            "aws:TagKeys": ["a", "b"],
            "aws:CurrentTime": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            "gone": None,
        }
    )
    assert keys == {
        "aws:securetransport": "true",
        "aws:epochtime": "5",
        "aws:tagkeys": ("a", "b"),
        "aws:currenttime": "2024-01-02T03:04:05Z",
    }


def test_context_normalises_raw_keys() -> None:
    c = RequestContext("s3:GetObject", "*", ALICE, {"AWS:UserName": "alice"})
    assert c.keys == {"aws:username": "alice"}


def test_global_keys_for_role_session() -> None:
    keys = global_keys(
        SESSION,
        current_time=datetime(2024, 1, 1, tzinfo=UTC),
        source_ip="10.0.0.1",
        principal_tags={"Team": "red"},
        request_tags={"Project": "x"},
        mfa_present=False,
    )
    assert keys["aws:principalarn"] == SESSION.role_arn
    assert keys["aws:principalaccount"] == SESSION.account
    assert keys["aws:principaltag/team"] == "red"
    assert keys["aws:tagkeys"] == ("Project",)
    assert keys["aws:multifactorauthpresent"] == "false"
    assert keys["aws:epochtime"] == "1704067200"
    p = pol(
        stmt(
            Condition={
                "StringEquals": {"aws:PrincipalTag/Team": "red"},
                "DateGreaterThan": {"aws:CurrentTime": "2023-12-31T00:00:00Z"},
                "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
            }
        )
    )
    c = RequestContext("s3:GetObject", "*", SESSION, keys)
    assert evaluate(c, PolicySet(identity=[p])).allowed
