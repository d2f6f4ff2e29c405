"""The claim set of an outbound web identity token (``GetWebIdentityToken``).

Owns: ``TokenContext`` (everything known about the caller that ends up in the
token), ``build_claims`` (the AWS claim layout: ``iss, aud, sub, iat, exp, jti``
plus the ``"https://sts.amazonaws.com/"`` object), the omission rules (keys that do
not apply are left out: no nulls, no empty strings, no empty tag objects), and
the payload size limit.

Payload size limit: AWS does not publish the limit behind
``JWTPayloadSizeExceededException``. Tessera uses ``MAX_PAYLOAD_BYTES`` = 16 KiB of
serialised (compact, UTF-8) JSON payload, before base64url. A typical token is
~1 KB; 50 request tags at their maximum key/value lengths (128 + 256 chars) would
be ~20 KB, so — as with AWS — the remedy is fewer or shorter request tags.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from tessera import errors
from tessera.ids import uuid4_text

AWS_CLAIMS_KEY: Final = "https://sts.amazonaws.com/"
MAX_PAYLOAD_BYTES: Final = 16 * 1024

CLAIMS_SUPPORTED: Final[tuple[str, ...]] = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "jti",
    AWS_CLAIMS_KEY,
)


@dataclass(frozen=True, slots=True)
class TokenContext:
    """The caller of ``GetWebIdentityToken`` and its session, as claims will show it.

    ``subject`` is the IAM principal ARN (for a role session: the role ARN with its
    path). Optional fields left as ``None`` (or empty) are omitted from the token.
    """

    issuer: str
    audiences: Sequence[str]
    subject: str
    account: str
    source_region: str
    principal_id: str
    org_id: str | None = None
    ou_path: Sequence[str] = ()
    principal_tags: Mapping[str, str] = field(default_factory=dict)
    request_tags: Mapping[str, str] = field(default_factory=dict)
    original_session_exp: datetime | None = None
    federated_provider: str | None = None
    source_identity: str | None = None
    # compute / session context
    ec2_source_instance_arn: str | None = None
    ec2_instance_source_vpc: str | None = None
    ec2_instance_source_private_ipv4: str | None = None
    ec2_role_delivery: str | None = None
    lambda_source_function_arn: str | None = None
    identity_store_user_id: str | None = None
    identity_store_arn: str | None = None
    glue_credential_issuing_service: str | None = None
    # GetWebIdentityToken SubjectMode=OriginIdentity (tessera.sts.subject_mode): the
    # AWS object gains subject_mode and origin_identity; Scope: a top-level scope
    subject_mode: str | None = None
    origin_identity: Mapping[str, str] = field(default_factory=dict)
    scope: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.audiences, str):
            raise TypeError("audiences must be a sequence of strings, not a string")
        if not self.audiences:
            raise ValueError("at least one audience is required")
        if isinstance(self.ou_path, str):
            raise TypeError("ou_path must be a sequence of strings, not a string")
        if self.original_session_exp is not None and self.original_session_exp.tzinfo is None:
            raise ValueError("original_session_exp must be timezone-aware")


# Optional string members of the AWS claims object, in the order they are emitted.
_OPTIONAL_STRINGS: Final[tuple[str, ...]] = (
    "federated_provider",
    "identity_store_user_id",
    "identity_store_arn",
    "ec2_source_instance_arn",
    "ec2_instance_source_vpc",
    "ec2_instance_source_private_ipv4",
    "ec2_role_delivery",
    "source_identity",
    "lambda_source_function_arn",
    "glue_credential_issuing_service",
)


def new_jti() -> str:
    """A random UUID, lowercase 8-4-4-4-12."""
    return uuid4_text()


def format_session_exp(when: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def aws_claims(ctx: TokenContext) -> dict[str, Any]:
    """The ``"https://sts.amazonaws.com/"`` object for ``ctx``."""
    out: dict[str, Any] = {
        "aws_account": ctx.account,
        "source_region": ctx.source_region,
        "principal_id": ctx.principal_id,
    }
    if ctx.org_id:
        out["org_id"] = ctx.org_id
    if ctx.ou_path:
        out["ou_path"] = list(ctx.ou_path)
    if ctx.original_session_exp is not None:
        out["original_session_exp"] = format_session_exp(ctx.original_session_exp)
    for name in _OPTIONAL_STRINGS:
        value = getattr(ctx, name)
        if value:
            out[name] = value
    if ctx.principal_tags:
        out["principal_tags"] = dict(ctx.principal_tags)
    if ctx.request_tags:
        out["request_tags"] = dict(ctx.request_tags)
    if ctx.subject_mode:
        out["subject_mode"] = ctx.subject_mode
    if ctx.origin_identity:
        out["origin_identity"] = dict(ctx.origin_identity)
    return out


def build_claims(
    ctx: TokenContext,
    *,
    issued_at: datetime,
    duration: timedelta | int,
    jti: str | None = None,
    jti_factory: Callable[[], str] = new_jti,
) -> dict[str, Any]:
    """The full claim set. ``iat`` is ``issued_at`` truncated to whole seconds and
    ``exp = iat + duration``; ``aud`` is a string for one audience, else an array.
    Member order follows real AWS tokens (``aud, sub, <aws>, iss, exp, iat, jti``)."""
    if issued_at.tzinfo is None:
        raise ValueError("issued_at must be timezone-aware")
    seconds = int(duration.total_seconds()) if isinstance(duration, timedelta) else int(duration)
    if seconds <= 0:
        raise ValueError("duration must be positive")
    iat = int(issued_at.timestamp())
    audiences = list(ctx.audiences)
    claims: dict[str, Any] = {
        "aud": audiences[0] if len(audiences) == 1 else audiences,
        "sub": ctx.subject,
        AWS_CLAIMS_KEY: aws_claims(ctx),
        "iss": ctx.issuer,
        "exp": iat + seconds,
        "iat": iat,
        "jti": jti if jti is not None else jti_factory(),
    }
    if ctx.scope is not None:
        claims["scope"] = ctx.scope  # top level, verbatim (RFC 6749 §3.3 / RFC 8693)
    return claims


_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def encode_payload(claims: Mapping[str, Any], *, limit: int = MAX_PAYLOAD_BYTES) -> bytes:
    """Compact UTF-8 JSON of ``claims``; raises ``JWTPayloadSizeExceeded`` when the
    result is longer than ``limit`` bytes."""
    obj = claims if isinstance(claims, dict) else dict(claims)
    payload = _encoder.encode(obj).encode("utf-8")
    if len(payload) > limit:
        raise errors.JWTPayloadSizeExceeded(
            f"The JWT payload is {len(payload)} bytes, which exceeds the maximum of {limit} "
            "bytes. Reduce the number or size of request tags and try again."
        )
    return payload
