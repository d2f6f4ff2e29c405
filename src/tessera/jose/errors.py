"""Why a JOSE token or an issuer's key set was rejected: one exception tree for
every verifier in Tessera (inbound OIDC on the server, ``tessera.verify`` for
relying parties).

Each class has a stable machine-readable ``reason`` and a human ``message``
(``str()`` is ``"<reason>: <message>"``, meant for logs and the relying-party
CLI, never for STS callers: the STS operation maps these classes to AWS's codes
and texts). ``tessera.verify.errors`` re-exports these very classes under its
documented names (``VerificationError`` is :class:`JoseError`, ``IssuerUnavailable``
is :class:`KeySetUnavailable`, ``UnknownKid`` is :class:`UnknownKid`, …).
"""

from __future__ import annotations

from typing import ClassVar


class JoseError(Exception):
    """Base class: the token (or the issuer's keys) must not be trusted."""

    reason: ClassVar[str] = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


# --- the token ---------------------------------------------------------------------------


class MalformedToken(JoseError):
    """Not a compact JWS, bad base64url/JSON, or a claim missing or mistyped."""

    reason = "malformed"


class MissingClaim(MalformedToken):
    """A required claim is absent (``claim`` names it)."""

    def __init__(self, claim: str) -> None:
        super().__init__(f"token has no {claim!r} claim")
        self.claim = claim


class InvalidClaim(MalformedToken):
    """A claim has the wrong type or shape (``claim`` names it)."""

    def __init__(self, claim: str, message: str) -> None:
        super().__init__(message)
        self.claim = claim

    def __reduce__(self) -> tuple[object, ...]:  # pragma: no cover - pickling only
        return (type(self), (self.claim, self.message))


class DisallowedAlgorithm(JoseError):
    """``alg`` not in the allow-list (``none``, ``HS*``, …) or not bound to the key."""

    reason = "disallowed_alg"


class UnsecuredToken(MalformedToken, DisallowedAlgorithm):
    """An unsecured JWS (``alg: none``, empty signature): both malformed for every
    verifier here and a disallowed algorithm."""

    reason = "disallowed_alg"


class UnknownKid(JoseError):
    """No key of the issuer can verify the token, even after a refresh."""

    reason = "unknown_kid"


class BadSignature(JoseError):
    reason = "bad_signature"


class TokenExpired(JoseError):
    """``exp`` (plus the leeway) has passed; ``exp`` and ``now`` are kept for callers
    that word their own message."""

    reason = "expired"

    def __init__(self, message: str, *, exp: int = 0, now: float = 0.0) -> None:
        super().__init__(message)
        self.exp, self.now = exp, now


class TokenNotYetValid(JoseError):
    """``iat`` or ``nbf`` (``claim``) lies in the future beyond the leeway."""

    reason = "not_yet_valid"

    def __init__(self, message: str, *, claim: str = "iat", value: int = 0, now: float = 0.0):
        super().__init__(message)
        self.claim, self.value, self.now = claim, value, now


class WrongAudience(JoseError):
    reason = "wrong_audience"


class WrongIssuer(JoseError):
    reason = "wrong_issuer"


# --- the issuer's key set ------------------------------------------------------------------


class KeySetUnavailable(JoseError):
    """Discovery or JWKS could not be fetched or used (network, status, size, JSON)."""

    reason = "issuer_unavailable"


class Unreachable(KeySetUnavailable):
    """Network failure, timeout, a 5xx/429 answer, or a refused target: worth
    retrying later."""


class TargetRefused(Unreachable):
    """The URL resolves to an address that may not be fetched from for this issuer.
    Answered like an unreachable issuer on purpose (no map of open local ports)."""


class Busy(Unreachable):
    """Too many callers already wait on issuer fetches (or too many are in flight)."""


class DocumentError(KeySetUnavailable):
    """The issuer answered, but not with usable discovery/JWKS documents."""


class CertificateError(DocumentError):
    """The issuer's TLS certificate did not verify."""


class DiscoveryMismatch(DocumentError):
    """The discovery document names a different issuer than the expected one."""

    reason = "discovery_issuer_mismatch"
