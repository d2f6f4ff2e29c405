"""Federated credential rule matching."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tessera.jose.jwk import PublicJwk
from tessera.jose.verify import verify
from tessera.verify.rules import FederatedCredentialRule, glob_match, match
from tessera.verify.tokens import UnverifiedToken, VerifiedClaims

ISS = "https://11111111-2222-3333-4444-555555555555.tokens.sts.global.api.aws"


_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def verified(payload: dict[str, Any]) -> VerifiedClaims:
    """Claims through the real path: sign ``payload``, verify it with the JOSE core
    (at its own ``iat``), wrap it. ``VerifiedClaims`` has no other constructor."""
    raw = jwt.encode(payload, _KEY, algorithm="RS256", headers={"kid": "RSA_0"})
    key = PublicJwk("RSA_0", "RSA", frozenset({"RS256"}), _KEY.public_key())
    aud = payload["aud"]
    core = verify(
        UnverifiedToken.parse(raw),
        [key],
        algorithms=["RS256"],
        issuer=payload["iss"],
        audiences=[aud] if isinstance(aud, str) else aud,
        leeway=0,
        now=payload["iat"],
    )
    return VerifiedClaims(core)


def claims(**aws: Any) -> VerifiedClaims:
    payload: dict[str, Any] = {
        "iss": ISS,
        "sub": aws.pop("sub", "arn:aws:iam::123456789012:role/ci-deploy"),
        "aud": aws.pop("aud", "https://rp.example"),
        "exp": 2,
        "iat": 1,
        "https://sts.amazonaws.com/": {
            "aws_account": "123456789012",
            "source_region": "us-east-1",
            **aws,
        },
    }
    return verified(payload)


def rule(**kw: Any) -> FederatedCredentialRule:
    base: dict[str, Any] = {
        "issuer": ISS,
        "subject": "arn:aws:iam::123456789012:role/ci-*",
        "audience": "https://rp.example",
    }
    base.update(kw)
    return FederatedCredentialRule(**base)


@pytest.mark.parametrize(
    ("pattern", "value", "ok"),
    [
        ("a", "a", True),
        ("a", "A", False),
        ("a*", "abc/def", True),
        ("a?c", "abc", True),
        ("a?c", "ac", False),
        ("arn:aws:iam::*:role/ci-*", "arn:aws:iam::1:role/ci-x", True),
        ("a.c", "abc", False),  # regex metacharacters are literal
        ("[ab]", "a", False),
        ("*", "", True),
    ],
)
def test_glob_match(pattern: str, value: str, ok: bool) -> None:
    assert glob_match(pattern, value) is ok


def test_basic_match_and_first_wins() -> None:
    r1, r2 = rule(name="one"), rule(name="two")
    assert match([r1, r2], claims()) is r1
    assert match([rule(subject="arn:aws:iam::123456789012:role/prod-*"), r2], claims()) is r2


def test_issuer_subject_audience() -> None:
    assert match([rule(issuer="https://other")], claims()) is None
    assert match([rule()], claims(sub="arn:aws:iam::123456789012:role/admin")) is None
    assert match([rule()], claims(aud=["x", "https://rp.example"])) is not None
    reasons = rule().mismatches(claims(aud="https://elsewhere"))
    assert reasons == ("audience 'https://rp.example' not in token audiences",)


def test_account_region_org_conditions() -> None:
    assert rule(accounts={"123456789012"}).matches(claims())
    assert not rule(accounts={"999999999999"}).matches(claims())
    assert rule(source_regions={"us-east-1", "eu-west-1"}).matches(claims())
    assert not rule(source_regions={"eu-west-1"}).matches(claims())
    assert rule(org_id="o-abc").matches(claims(org_id="o-abc"))
    assert not rule(org_id="o-abc").matches(claims())
    ou = claims(ou_path=["o-abc/r-ab12/ou-ab12-11111111/ou-ab12-22222222/"])
    assert rule(ou_paths=("o-abc/r-ab12/ou-ab12-11111111/*",)).matches(ou)
    assert not rule(ou_paths=("o-abc/r-ab12/ou-ab12-33333333/*",)).matches(ou)
    assert not rule(ou_paths=("*",)).matches(claims())  # no OU path at all


def test_tag_conditions() -> None:
    c = claims(principal_tags={"team": "platform", "env": "prod"}, request_tags={"job": "j-17"})
    assert rule(required_tags={"team": "platform"}).matches(c)
    assert rule(required_tags={"env": "pr*"}, required_request_tags={"job": "j-*"}).matches(c)
    r = rule(required_tags={"team": "data", "owner": "x"}, required_request_tags={"run": "*"})
    assert r.mismatches(c) == (
        "principal tag 'team'='platform' does not match 'data'",
        "principal tag 'owner' is missing",
        "request tag 'run' is missing",
    )


def test_rule_validation() -> None:
    with pytest.raises(ValueError):
        rule(audience="")
    with pytest.raises(TypeError):
        rule(accounts="123456789012")
    with pytest.raises(TypeError):
        rule(ou_paths="o-1/*")
    r = rule(accounts=["1", "2"], required_tags=MappingProxyType({"a": "b"}))
    assert r.accounts == frozenset({"1", "2"})


def test_glob_match_is_linear_time() -> None:
    """Rule patterns use the policy engine's linear-time glob: a pattern that made
    the old backtracking expression run for minutes answers at once."""
    import time

    from tessera.verify.rules import glob_match

    start = time.perf_counter()
    assert not glob_match("*?" * 20 + "X", "a" * 5000)
    assert glob_match("*?" * 20 + "X", "a" * 5000 + "X")
    assert time.perf_counter() - start < 2.0
