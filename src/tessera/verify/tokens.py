"""Verification state in the type (DESIGN convention 2): a token arrives as an
``UnverifiedToken`` (parsed just enough to route it: header, and an explicitly
untrusted peek at ``iss``); only ``Verifier.verify`` returns ``VerifiedClaims``."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

from tessera.sensitive import Secret
from tessera.verify.errors import MalformedToken

AWS_CLAIMS_KEY: Final = "https://sts.amazonaws.com/"
MAX_TOKEN_CHARS: Final = 64 * 1024


def b64url_decode(segment: str) -> bytes:
    if not segment or any(c in segment for c in "=+/ \t\r\n"):
        raise MalformedToken("token segment is not base64url without padding")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MalformedToken("token segment is not valid base64url") from exc


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedToken(f"{what} is not valid JSON") from exc
    if not isinstance(obj, dict):
        raise MalformedToken(f"{what} is not a JSON object")
    return obj


@dataclass(frozen=True, slots=True)
class UnverifiedToken:
    """A compact JWS that has NOT been verified. Its repr never shows the token."""

    raw: Secret[str] = field(repr=False)
    header: Mapping[str, Any]
    kid: str | None
    alg: str | None

    @classmethod
    def parse(cls, token: str | bytes) -> UnverifiedToken:
        """Split and decode the header; raises ``MalformedToken``."""
        if isinstance(token, bytes):
            try:
                token = token.decode("ascii")
            except UnicodeDecodeError as exc:
                raise MalformedToken("token is not ASCII") from exc
        token = token.strip()
        if len(token) > MAX_TOKEN_CHARS:
            raise MalformedToken(f"token is longer than {MAX_TOKEN_CHARS} characters")
        parts = token.split(".")
        if len(parts) != 3:
            raise MalformedToken("token is not a compact JWS (expected three dot-separated parts)")
        header = _json_object(b64url_decode(parts[0]), "token header")
        kid = header.get("kid")
        alg = header.get("alg")
        if kid is not None and not isinstance(kid, str):
            raise MalformedToken("header kid is not a string")
        if alg is not None and not isinstance(alg, str):
            raise MalformedToken("header alg is not a string")
        return cls(raw=Secret(token), header=MappingProxyType(header), kid=kid, alg=alg)

    def peek_issuer(self) -> str | None:
        """The ``iss`` claim WITHOUT any verification — only for choosing which
        verifier to run. Never authorise anything on it."""
        payload = _json_object(b64url_decode(self.raw.reveal().split(".")[1]), "token payload")
        iss = payload.get("iss")
        return iss if isinstance(iss, str) else None


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


@dataclass(frozen=True, slots=True)
class VerifiedClaims:
    """Claims of a token whose signature, issuer, audience and lifetime were checked.

    The AWS-specific members come from the ``"https://sts.amazonaws.com/"`` object
    and are ``None``/empty for tokens of other issuers. ``raw`` is the full payload.
    """

    issuer: str
    subject: str
    audiences: tuple[str, ...]
    expires_at: datetime
    issued_at: datetime
    jti: str | None
    kid: str
    algorithm: str
    account: str | None = None
    source_region: str | None = None
    principal_id: str | None = None
    org_id: str | None = None
    ou_path: tuple[str, ...] = ()
    principal_tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    request_tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    source_identity: str | None = None
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False)

    @property
    def aws(self) -> Mapping[str, Any]:
        """The raw ``"https://sts.amazonaws.com/"`` object (empty if absent)."""
        value = self.raw.get(AWS_CLAIMS_KEY)
        return MappingProxyType(value) if isinstance(value, dict) else MappingProxyType({})

    @classmethod
    def from_payload(
        cls, payload: Mapping[str, Any], *, kid: str, algorithm: str
    ) -> VerifiedClaims:
        """Build from a payload whose signature and registered claims were already
        validated (only ``Verifier`` calls this). Type-checks every member."""
        iss, sub = payload.get("iss"), payload.get("sub")
        if not isinstance(iss, str) or not isinstance(sub, str):
            raise MalformedToken("iss and sub must be strings")
        aud = payload.get("aud")
        if isinstance(aud, str):
            audiences: tuple[str, ...] = (aud,)
        elif isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
            audiences = tuple(aud)
        else:
            raise MalformedToken("aud must be a string or a non-empty array of strings")
        exp, iat = payload.get("exp"), payload.get("iat")
        if isinstance(exp, bool) or not isinstance(exp, int):
            raise MalformedToken("exp must be an integer NumericDate")
        if isinstance(iat, bool) or not isinstance(iat, int):
            raise MalformedToken("iat must be an integer NumericDate")
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
        return cls(
            issuer=iss,
            subject=sub,
            audiences=audiences,
            expires_at=datetime.fromtimestamp(exp, UTC),
            issued_at=datetime.fromtimestamp(iat, UTC),
            jti=_opt_str(payload, "jti"),
            kid=kid,
            algorithm=algorithm,
            account=_opt_str(aws_obj, "aws_account"),
            source_region=_opt_str(aws_obj, "source_region"),
            principal_id=_opt_str(aws_obj, "principal_id"),
            org_id=_opt_str(aws_obj, "org_id"),
            ou_path=ou_path,
            principal_tags=_str_map(aws_obj.get("principal_tags"), "principal_tags"),
            request_tags=_str_map(aws_obj.get("request_tags"), "request_tags"),
            source_identity=_opt_str(aws_obj, "source_identity"),
            raw=MappingProxyType(dict(payload)),
        )

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
            "claims": _plain(self.raw),
        }


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
