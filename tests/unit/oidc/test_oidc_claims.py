"""Claim set layout, omission rules and the payload size limit."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tessera import errors
from tessera.oidc import claims as C
from tessera.oidc.claims import TokenContext

NOW = datetime(2026, 4, 21, 7, 32, 10, 987654, tzinfo=UTC)
ROLE = "arn:aws:iam::123456789012:role/service-role/example"


def ctx(**kw: object) -> TokenContext:
    base: dict[str, object] = {
        "issuer": "https://a103a2cc-b461-473d-84fe-6c4f6d45af88.tokens.sts.global.api.aws",
        "audiences": ["https://api.example.com"],
        "subject": ROLE,
        "account": "123456789012",
        "source_region": "us-west-2",
        "principal_id": ROLE,
    }
    base.update(kw)
    return TokenContext(**base)  # type: ignore[arg-type]


def test_minimal_claims_exact() -> None:
    c = C.build_claims(ctx(), issued_at=NOW, duration=300, jti="j-1")
    assert c == {
        "aud": "https://api.example.com",
        "sub": ROLE,
        "https://sts.amazonaws.com/": {
            "aws_account": "123456789012",
            "source_region": "us-west-2",
            "principal_id": ROLE,
        },
        "iss": "https://a103a2cc-b461-473d-84fe-6c4f6d45af88.tokens.sts.global.api.aws",
        "exp": 1776756730 + 300,
        "iat": 1776756730,
        "jti": "j-1",
    }
    assert list(c) == ["aud", "sub", "https://sts.amazonaws.com/", "iss", "exp", "iat", "jti"]
    assert "nbf" not in c


def test_multiple_audiences_are_an_array() -> None:
    c = C.build_claims(ctx(audiences=("a", "b")), issued_at=NOW, duration=60)
    assert c["aud"] == ["a", "b"]


def test_audience_validation() -> None:
    with pytest.raises(ValueError):
        ctx(audiences=[])
    with pytest.raises(TypeError):
        ctx(audiences="https://api.example.com")
    with pytest.raises(TypeError):
        ctx(ou_path="o-1/r-1/")


def test_jti_is_lowercase_uuid4() -> None:
    c = C.build_claims(ctx(), issued_at=NOW, duration=300)
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", c["jti"]
    )
    other = C.build_claims(ctx(), issued_at=NOW, duration=300)
    assert other["jti"] != c["jti"]
    fixed = C.build_claims(ctx(), issued_at=NOW, duration=300, jti_factory=lambda: "x")
    assert fixed["jti"] == "x"


def test_duration_forms_and_validation() -> None:
    c = C.build_claims(ctx(), issued_at=NOW, duration=timedelta(hours=1))
    assert c["exp"] - c["iat"] == 3600
    with pytest.raises(ValueError):
        C.build_claims(ctx(), issued_at=NOW, duration=0)
    with pytest.raises(ValueError):
        C.build_claims(ctx(), issued_at=NOW.replace(tzinfo=None), duration=60)


def test_all_optional_claims_present_when_given() -> None:
    exp = datetime(2025, 12, 28, 12, 45, 29, 500, tzinfo=timezone(timedelta(hours=2)))
    full = ctx(
        org_id="o-anih79mrvn",
        ou_path=["o-anih79mrvn/r-amv9/ou-amv9-ndi0nlgq/"],
        principal_tags={"team": "data"},
        request_tags={"job-id": "job-2024-001"},
        original_session_exp=exp,
        federated_provider="arn:aws:iam::111122223333:oidc-provider/example.com",
        source_identity="admin-user",
        ec2_source_instance_arn="arn:aws:ec2:eu-north-1:123456789012:instance/i-0abc",
        ec2_instance_source_vpc="vpc-abc123",
        ec2_instance_source_private_ipv4="172.31.1.146",
        ec2_role_delivery="2.0",
        lambda_source_function_arn="arn:aws:lambda:us-west-2:123456789012:function:f",
        identity_store_user_id="265222f4-f041-7008-6e0c-2d3993b555bf",
        identity_store_arn="arn:aws:identitystore::123456789012:identitystore/d-abc1234567",
        glue_credential_issuing_service="glue.amazonaws.com",
    )
    aws = C.build_claims(full, issued_at=NOW, duration=300)["https://sts.amazonaws.com/"]
    assert aws["original_session_exp"] == "2025-12-28T10:45:29Z"
    assert aws["ou_path"] == ["o-anih79mrvn/r-amv9/ou-amv9-ndi0nlgq/"]
    assert aws["principal_tags"] == {"team": "data"}
    assert aws["request_tags"] == {"job-id": "job-2024-001"}
    assert set(aws) == {
        "aws_account", "source_region", "principal_id", "org_id", "ou_path",
        "original_session_exp", "federated_provider", "source_identity",
        "ec2_source_instance_arn", "ec2_instance_source_vpc",
        "ec2_instance_source_private_ipv4", "ec2_role_delivery",
        "lambda_source_function_arn", "identity_store_user_id", "identity_store_arn",
        "glue_credential_issuing_service", "principal_tags", "request_tags",
    }  # fmt: skip


def test_empty_values_are_omitted_not_null() -> None:
    c = C.build_claims(
        ctx(org_id="", ou_path=[], principal_tags={}, request_tags={}, source_identity=""),
        issued_at=NOW,
        duration=300,
    )
    aws = c["https://sts.amazonaws.com/"]
    assert set(aws) == {"aws_account", "source_region", "principal_id"}
    assert "null" not in C.encode_payload(c).decode()


def test_naive_session_exp_rejected() -> None:
    with pytest.raises(ValueError):
        ctx(original_session_exp=datetime(2026, 1, 1))


def test_encode_payload_is_compact_utf8() -> None:
    c = C.build_claims(ctx(principal_tags={"équipe": "données"}), issued_at=NOW, duration=300)
    raw = C.encode_payload(c)
    assert b" " not in raw
    assert "équipe".encode() in raw
    assert json.loads(raw) == c


def test_payload_limit_is_16_kib() -> None:
    assert C.MAX_PAYLOAD_BYTES == 16384


def test_payload_size_boundary() -> None:
    base = C.build_claims(ctx(request_tags={"k": ""}), issued_at=NOW, duration=300, jti="j")
    size = len(C.encode_payload(base))
    pad = C.MAX_PAYLOAD_BYTES - size
    at_limit = C.build_claims(
        ctx(request_tags={"k": "v" * pad}), issued_at=NOW, duration=300, jti="j"
    )
    assert len(C.encode_payload(at_limit)) == C.MAX_PAYLOAD_BYTES
    over = C.build_claims(
        ctx(request_tags={"k": "v" * (pad + 1)}), issued_at=NOW, duration=300, jti="j"
    )
    with pytest.raises(errors.JWTPayloadSizeExceeded) as info:
        C.encode_payload(over)
    assert info.value.code == "JWTPayloadSizeExceededException"
    assert info.value.status == 400 and info.value.sender_fault
    assert "16384" in info.value.message and "request tags" in info.value.message


def test_payload_limit_counts_utf8_bytes() -> None:
    tags = {f"k{i}": "é" * 200 for i in range(50)}  # 50 tags * 400 bytes > 16 KiB
    c = C.build_claims(ctx(request_tags=tags), issued_at=NOW, duration=300)
    with pytest.raises(errors.JWTPayloadSizeExceeded):
        C.encode_payload(c)
    assert C.encode_payload(c, limit=10**6)
