"""Why a token was rejected. Every failure of ``Verifier.verify`` is a
``VerificationError`` subclass with a stable machine-readable ``reason`` and a
human message; relying parties map them to their own responses (the example
token endpoint answers ``invalid_client``). This tree is separate from
``tessera.errors`` on purpose: it is for relying parties, not the STS wire.

The classes are the JOSE core's (``tessera.jose.errors``) under this library's
documented names, so the server and relying parties reject tokens for the same
reasons; only ``InsecureIssuer`` (a construction-time ``ValueError``) is this
library's own."""

from __future__ import annotations

from tessera.jose.errors import (
    BadSignature,
    DisallowedAlgorithm,
    DiscoveryMismatch,
    JoseError,
    KeySetUnavailable,
    MalformedToken,
    TokenExpired,
    TokenNotYetValid,
    UnknownKid,
    WrongAudience,
    WrongIssuer,
)

__all__ = [
    "BadSignature",
    "DisallowedAlgorithm",
    "DiscoveryMismatch",
    "InsecureIssuer",
    "IssuerUnavailable",
    "MalformedToken",
    "TokenExpired",
    "TokenNotYetValid",
    "UnknownKid",
    "VerificationError",
    "WrongAudience",
    "WrongIssuer",
]

#: Base class: the token must not be trusted.
VerificationError = JoseError
#: Discovery or JWKS could not be fetched or used (network, status, size, JSON,
#: a refused target); ``DiscoveryMismatch`` is one kind.
IssuerUnavailable = KeySetUnavailable


class InsecureIssuer(ValueError):
    """Raised at construction: a plain-http issuer or JWKS URI that is not loopback
    (and ``insecure_allow_http`` was not given)."""
