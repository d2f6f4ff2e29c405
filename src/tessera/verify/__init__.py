"""Relying-party verification of Tessera (and AWS) outbound identity tokens,
usable without the server: ``Verifier`` (discovery + JWKS of one pinned issuer,
PyJWT decoding), ``UnverifiedToken`` → ``VerifiedClaims``, the
``VerificationError`` tree, and ``rules`` for matching federated credentials."""

from tessera.verify.errors import (
    BadSignature,
    DisallowedAlgorithm,
    DiscoveryMismatch,
    InsecureIssuer,
    IssuerUnavailable,
    MalformedToken,
    TokenExpired,
    TokenNotYetValid,
    UnknownKid,
    VerificationError,
    WrongAudience,
    WrongIssuer,
)
from tessera.verify.rules import FederatedCredentialRule, match
from tessera.verify.tokens import UnverifiedToken, VerifiedClaims
from tessera.verify.verifier import SUPPORTED_ALGORITHMS, Verifier

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "BadSignature",
    "DisallowedAlgorithm",
    "DiscoveryMismatch",
    "FederatedCredentialRule",
    "InsecureIssuer",
    "IssuerUnavailable",
    "MalformedToken",
    "TokenExpired",
    "TokenNotYetValid",
    "UnknownKid",
    "UnverifiedToken",
    "VerificationError",
    "VerifiedClaims",
    "Verifier",
    "WrongAudience",
    "WrongIssuer",
    "match",
]
