"""Why a token was rejected. Every failure of ``Verifier.verify`` is a
``VerificationError`` subclass with a stable machine-readable ``reason`` and a
human message; relying parties map them to their own responses (the example
token endpoint answers ``invalid_client``). This tree is separate from
``tessera.errors`` on purpose: it is for relying parties, not the STS wire."""

from __future__ import annotations

from typing import ClassVar


class VerificationError(Exception):
    """Base class: the token must not be trusted."""

    reason: ClassVar[str] = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


class MalformedToken(VerificationError):
    """Not a compact JWS, bad base64/JSON, or a required claim missing or mistyped."""

    reason = "malformed"


class DisallowedAlgorithm(VerificationError):
    """``alg`` not in the allow-list (``none``, ``HS*``, …) or not matching the key type."""

    reason = "disallowed_alg"


class UnknownKid(VerificationError):
    """No key with the token's ``kid`` in the issuer's JWKS, even after a refresh."""

    reason = "unknown_kid"


class BadSignature(VerificationError):
    reason = "bad_signature"


class TokenExpired(VerificationError):
    reason = "expired"


class TokenNotYetValid(VerificationError):
    """``iat`` (or ``nbf``) lies in the future beyond the leeway."""

    reason = "not_yet_valid"


class WrongAudience(VerificationError):
    reason = "wrong_audience"


class WrongIssuer(VerificationError):
    reason = "wrong_issuer"


class IssuerUnavailable(VerificationError):
    """Discovery or JWKS could not be fetched or parsed (network, status, size, JSON)."""

    reason = "issuer_unavailable"


class DiscoveryMismatch(IssuerUnavailable):
    """The discovery document names a different issuer than the pinned one."""

    reason = "discovery_issuer_mismatch"


class InsecureIssuer(ValueError):
    """Raised at construction: a plain-http issuer or JWKS URI that is not loopback
    (and ``insecure_allow_http`` was not given)."""
