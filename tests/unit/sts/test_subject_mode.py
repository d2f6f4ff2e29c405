"""tessera.sts.subject_mode: SubjectMode / Scope validation, the origin-subject
character rules and the OriginIdentity preconditions; tessera.oidc.claims places
subject_mode / origin_identity in the AWS object and scope at the top level."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tessera.auth.principal import Session, SessionKind
from tessera.errors import ValidationError
from tessera.oidc.claims import AWS_CLAIMS_KEY, TokenContext, build_claims
from tessera.sts import subject_mode as m

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _session(**tip: str) -> Session:
    names = {
        "subject": "aws:OriginIdentity/Subject",
        "issuer": "aws:OriginIdentity/Issuer",
        "provider": "aws:OriginIdentity/FederatedProviderArn",
        "type": "aws:OriginIdentity/SubjectType",
    }
    return Session(
        kind=SessionKind.ASSUMED_ROLE,
        account_id="111111111111",
        issued_at=NOW,
        expires_at=NOW,
        source_arn="arn:aws:iam::111111111111:role/r",
        source_id="AROAEXAMPLE",
        source_name="r",
        tip_context=tuple((names[k], v) for k, v in tip.items()),
    )


def test_mode() -> None:
    assert m.parse_mode(None) == "AWSIdentity"
    assert m.parse_mode("OriginIdentity") == "OriginIdentity"
    with pytest.raises(ValidationError):
        m.parse_mode("originidentity")


def test_scope_ok() -> None:
    assert m.parse_scope(None, "AWSIdentity", ["a", "b"]) == ()
    assert m.parse_scope("read write READ", "OriginIdentity", ["a"]) == ("read", "write", "READ")
    assert m.parse_scope("a!#$%&'()*+-./:;<=>?@[]^_`{|}~", "OriginIdentity", ["a"])


@pytest.mark.parametrize(
    ("scope", "mode", "auds"),
    [
        ("read", "AWSIdentity", ["a"]),
        ("read", "OriginIdentity", ["a", "b"]),
        ("read", "OriginIdentity", []),
        ("read read", "OriginIdentity", ["a"]),
        (" read", "OriginIdentity", ["a"]),
        ("read ", "OriginIdentity", ["a"]),
        ("read  write", "OriginIdentity", ["a"]),
        ("", "OriginIdentity", ["a"]),
        ('a"b', "OriginIdentity", ["a"]),
        ("a,b", "OriginIdentity", ["a"]),
        ("a\\b", "OriginIdentity", ["a"]),
        ("caf\u00e9", "OriginIdentity", ["a"]),
        ("x" * 257, "OriginIdentity", ["a"]),
    ],
)
def test_scope_refused(scope: str, mode: str, auds: list[str]) -> None:
    with pytest.raises(ValidationError):
        m.parse_scope(scope, mode, auds)


@pytest.mark.parametrize("subject", ["alice", "alice smith", "ü@example", "a-b_c"])
def test_subjects_allowed(subject: str) -> None:
    assert m.subject_allowed(subject)


@pytest.mark.parametrize(
    "subject",
    [
        "",
        "   ",
        "arn:aws:iam::1:root",
        "ARN:x",
        "Arn:",
        " a",
        "a ",
        "a\tb",
        "a\nb",
        "a\x00b",
        "a\u200bb",
        "a\u2028b",
        "a\u2029b",
        "a\u00a0b",
        "a\u3000b",
        "a\ufeffb",
        "a\x7fb",
    ],
)
def test_subjects_refused(subject: str) -> None:
    assert not m.subject_allowed(subject)


def test_origin_identity_preconditions() -> None:
    with pytest.raises(ValidationError):
        m.origin_identity(None)
    with pytest.raises(ValidationError):
        m.origin_identity(_session())
    with pytest.raises(ValidationError):
        m.origin_identity(_session(subject="alice"))  # neither issuer nor provider
    with pytest.raises(ValidationError):
        m.origin_identity(_session(subject=" ", issuer="i"))
    got = m.origin_identity(_session(subject="alice", provider="arn:p"))
    assert got.claim() == {"federated_provider_arn": "arn:p"}
    got = m.origin_identity(_session(subject="alice", issuer="i", type="user"))
    assert (got.subject, got.claim()) == ("alice", {"issuer": "i", "subject_type": "user"})


def _ctx(**kw: object) -> TokenContext:
    return TokenContext(
        issuer="https://iss",
        audiences=("rp",),
        subject="alice",
        account="111111111111",
        source_region="us-east-1",
        principal_id="arn:aws:iam::111111111111:role/r",
        **kw,  # type: ignore[arg-type]
    )


def test_claim_placement() -> None:
    plain = build_claims(_ctx(), issued_at=NOW, duration=300, jti="j")
    assert "scope" not in plain and "subject_mode" not in plain[AWS_CLAIMS_KEY]
    origin = build_claims(
        _ctx(subject_mode="OriginIdentity", origin_identity={"issuer": "i"}, scope="read write"),
        issued_at=NOW,
        duration=300,
        jti="j",
    )
    assert origin["scope"] == "read write" and origin["sub"] == "alice"
    assert origin[AWS_CLAIMS_KEY]["subject_mode"] == "OriginIdentity"
    assert origin[AWS_CLAIMS_KEY]["origin_identity"] == {"issuer": "i"}
    assert origin[AWS_CLAIMS_KEY]["principal_id"] == "arn:aws:iam::111111111111:role/r"
