"""Compact JWS signing for issuer tokens, assembled by hand.

Owns: ``sign_jwt`` / ``sign_payload`` (header ``{"kid":…,"typ":"JWT","alg":…}`` in
that member order — precomputed per key — then base64url payload and signature)
and ``issue_token`` (claims → size check → signed token). RS256 is
RSASSA-PKCS1-v1_5/SHA-256; ES384 is ECDSA P-384/SHA-384 with the DER signature
converted to the JWS raw ``R||S`` form (48 + 48 bytes). Nothing else happens per
call, so signing runs at close to the raw cryptography rate.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tessera.oidc.claims import (
    MAX_PAYLOAD_BYTES,
    TokenContext,
    build_claims,
    encode_payload,
    new_jti,
)
from tessera.oidc.keys import EC_COORDINATE_BYTES, SigningKey
from tessera.sensitive import Secret

_PKCS1: Final = padding.PKCS1v15()
_SHA256: Final = hashes.SHA256()
_ECDSA_SHA384: Final = ec.ECDSA(hashes.SHA384())
_b64 = base64.urlsafe_b64encode


def _b64url(data: bytes) -> bytes:
    return _b64(data).rstrip(b"=")


def sign_payload(payload: bytes, key: SigningKey) -> str:
    """Sign already-serialised JSON ``payload`` bytes with ``key``; compact JWS."""
    signing_input = key.header_b64 + b"." + _b64url(payload)
    pk = key.private_key
    if isinstance(pk, rsa.RSAPrivateKey):
        signature = pk.sign(signing_input, _PKCS1, _SHA256)
    else:
        r, s = decode_dss_signature(pk.sign(signing_input, _ECDSA_SHA384))
        signature = r.to_bytes(EC_COORDINATE_BYTES, "big") + s.to_bytes(EC_COORDINATE_BYTES, "big")
    return (signing_input + b"." + _b64url(signature)).decode("ascii")


def sign_jwt(claims: Mapping[str, Any], key: SigningKey) -> str:
    """Serialise ``claims`` as compact JSON (at most ``MAX_PAYLOAD_BYTES``, else
    ``errors.JWTPayloadSizeExceeded``) and sign it with ``key``."""
    return sign_payload(encode_payload(claims), key)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A signed web identity token and the facts the STS response needs."""

    token: Secret[str]
    kid: str
    jti: str
    issued_at: datetime
    expires_at: datetime


def issue_token(
    ctx: TokenContext,
    key: SigningKey,
    *,
    now: datetime,
    duration: timedelta | int,
    jti_factory: Callable[[], str] = new_jti,
    max_payload_bytes: int = MAX_PAYLOAD_BYTES,
) -> IssuedToken:
    """Build the claims for ``ctx``, enforce the payload limit and sign with ``key``.
    ``expires_at`` is ``iat + duration`` (whole seconds), as in the ``exp`` claim."""
    claims = build_claims(ctx, issued_at=now, duration=duration, jti_factory=jti_factory)
    token = sign_payload(encode_payload(claims, limit=max_payload_bytes), key)
    iat = now.replace(microsecond=0)
    return IssuedToken(
        token=Secret(token),
        kid=key.kid,
        jti=claims["jti"],
        issued_at=iat,
        expires_at=iat + timedelta(seconds=claims["exp"] - claims["iat"]),
    )
