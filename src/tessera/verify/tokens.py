"""Verification state in the type (DESIGN convention 2): a token arrives as an
``UnverifiedToken`` (the JOSE core's, ``tessera.jose.token``: header, and an
explicitly untrusted peek at ``iss``); only ``Verifier.verify`` returns
``VerifiedClaims`` — the relying-party view (AWS members typed) of the core's
``tessera.jose.verify.VerifiedClaims``, which only the core verifier can create.
``VerifiedClaims(core_claims)`` is therefore its only constructor."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, NoReturn

from tessera.jose.errors import MalformedToken
from tessera.jose.token import MAX_TOKEN_CHARS, UnverifiedToken, b64url_decode
from tessera.jose.verify import VerifiedClaims as CoreVerifiedClaims

__all__ = [
    "AWS_CLAIMS_KEY",
    "MAX_TOKEN_CHARS",
    "UnverifiedToken",
    "VerifiedClaims",
    "b64url_decode",
]

AWS_CLAIMS_KEY: Final = "https://sts.amazonaws.com/"


def _str_map(value: object, name: str) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise MalformedToken(f"claim {name} is not an object of strings")
    return MappingProxyType(dict(value))


def _opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedToken(f"claim {key} is not a string")
    return value


class VerifiedClaims:
    """Claims of a token whose signature, issuer, audience and lifetime were checked.

    The AWS-specific members come from the ``"https://sts.amazonaws.com/"`` object
    and are ``None``/empty for tokens of other issuers. ``raw`` is the full payload.
    Built only from the core's ``VerifiedClaims`` (raises ``MalformedToken`` when an
    AWS member is mistyped); immutable.
    """

    __slots__ = (
        "account",
        "algorithm",
        "audiences",
        "expires_at",
        "issued_at",
        "issuer",
        "jti",
        "kid",
        "org_id",
        "origin_issuer",
        "origin_provider_arn",
        "origin_subject_type",
        "ou_path",
        "principal_id",
        "principal_tags",
        "raw",
        "request_tags",
        "scopes",
        "source_identity",
        "source_region",
        "subject",
        "subject_mode",
    )

    issuer: str
    subject: str
    audiences: tuple[str, ...]
    expires_at: datetime
    issued_at: datetime
    jti: str | None
    kid: str
    algorithm: str
    account: str | None
    source_region: str | None
    principal_id: str | None
    org_id: str | None
    ou_path: tuple[str, ...]
    principal_tags: Mapping[str, str]
    request_tags: Mapping[str, str]
    source_identity: str | None
    #: "AWSIdentity" (``sub`` is an AWS principal ARN) or "OriginIdentity" (``sub`` is
    #: the origin identity's subject, issued by ``origin_issuer``); None for tokens
    #: without the AWS claims object
    subject_mode: str | None
    origin_issuer: str | None
    origin_provider_arn: str | None
    origin_subject_type: str | None
    #: the top-level ``scope`` claim split into its tokens (empty: no scope)
    scopes: tuple[str, ...]
    raw: Mapping[str, Any]

    def __init__(self, verified: CoreVerifiedClaims) -> None:
        if type(verified) is not CoreVerifiedClaims:
            raise TypeError("VerifiedClaims are built from tessera.jose.verify results only")
        payload = verified.claims
        aws_obj = payload.get(AWS_CLAIMS_KEY, {})
        if not isinstance(aws_obj, dict):
            raise MalformedToken(f"claim {AWS_CLAIMS_KEY} is not an object")
        ou = aws_obj.get("ou_path")
        if ou is None:
            ou_path: tuple[str, ...] = ()
        elif isinstance(ou, str):
            ou_path = (ou,)  # the AWS docs show a string, real tokens an array
        elif isinstance(ou, list) and all(isinstance(p, str) for p in ou):
            ou_path = tuple(ou)
        else:
            raise MalformedToken("claim ou_path is not a string array")
        mode = _opt_str(aws_obj, "subject_mode")
        if mode is None and aws_obj:
            mode = "AWSIdentity"
        origin = aws_obj.get("origin_identity", {})
        if not isinstance(origin, dict):
            raise MalformedToken("claim origin_identity is not an object")
        if mode == "OriginIdentity" and not (
            _opt_str(origin, "issuer") or _opt_str(origin, "federated_provider_arn")
        ):
            raise MalformedToken("an OriginIdentity token names no origin issuer")
        scope = _opt_str(payload, "scope")
        values: dict[str, Any] = {
            "issuer": verified.issuer,
            "subject": verified.subject,
            "audiences": verified.audiences,
            "expires_at": datetime.fromtimestamp(verified.expires_at, UTC),
            "issued_at": datetime.fromtimestamp(verified.issued_at, UTC),
            "jti": _opt_str(payload, "jti"),
            "kid": verified.kid or "",
            "algorithm": verified.algorithm,
            "account": _opt_str(aws_obj, "aws_account"),
            "source_region": _opt_str(aws_obj, "source_region"),
            "principal_id": _opt_str(aws_obj, "principal_id"),
            "org_id": _opt_str(aws_obj, "org_id"),
            "ou_path": ou_path,
            "principal_tags": _str_map(aws_obj.get("principal_tags"), "principal_tags"),
            "request_tags": _str_map(aws_obj.get("request_tags"), "request_tags"),
            "source_identity": _opt_str(aws_obj, "source_identity"),
            "subject_mode": mode,
            "origin_issuer": _opt_str(origin, "issuer"),
            "origin_provider_arn": _opt_str(origin, "federated_provider_arn"),
            "origin_subject_type": _opt_str(origin, "subject_type"),
            "scopes": tuple(scope.split(" ")) if scope else (),
            "raw": payload,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("VerifiedClaims are immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("VerifiedClaims are immutable")

    def __reduce__(self) -> NoReturn:
        raise TypeError("VerifiedClaims cannot be pickled or copied")

    def __repr__(self) -> str:
        return (
            f"VerifiedClaims(issuer={self.issuer!r}, subject={self.subject!r}, "
            f"audiences={self.audiences!r}, kid={self.kid!r}, algorithm={self.algorithm!r})"
        )

    @property
    def aws(self) -> Mapping[str, Any]:
        """The raw ``"https://sts.amazonaws.com/"`` object (empty if absent)."""
        value = self.raw.get(AWS_CLAIMS_KEY)
        return MappingProxyType(value) if isinstance(value, dict) else MappingProxyType({})

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-ready summary plus the raw claims (used by the CLI)."""
        return {
            "issuer": self.issuer,
            "subject": self.subject,
            "audiences": list(self.audiences),
            "issued_at": self.issued_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "expires_at": self.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "jti": self.jti,
            "kid": self.kid,
            "algorithm": self.algorithm,
            "account": self.account,
            "source_region": self.source_region,
            "principal_id": self.principal_id,
            "org_id": self.org_id,
            "ou_path": list(self.ou_path),
            "principal_tags": dict(self.principal_tags),
            "request_tags": dict(self.request_tags),
            "source_identity": self.source_identity,
            "subject_mode": self.subject_mode,
            "origin_issuer": self.origin_issuer,
            "origin_provider_arn": self.origin_provider_arn,
            "origin_subject_type": self.origin_subject_type,
            "scopes": list(self.scopes),
            "claims": _plain(self.raw),
        }


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
