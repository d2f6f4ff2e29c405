"""The one JOSE core every Tessera verifier uses — inbound OIDC on the server
(``tessera.federation.oidc``, AssumeRoleWithWebIdentity) and the relying-party
library ``tessera.verify``:

* ``token``     — :class:`UnverifiedToken`: size-bounded, strict base64url/JSON parse;
* ``jwk``       — RSA/EC JWKs and key sets, the algorithm ↔ key-type binding
  (RS/ES 256/384/512 only; no ``none``, no ``HS*``);
* ``fetch``     — where an issuer fetch may connect (resolve, decide, pin);
* ``documents`` — the fetch policy: checked URLs, bounded GETs, discovery → JWKS;
* ``keyset``    — per-issuer key cache: TTL, refresh cooldown, single-flight pool;
* ``verify``    — ``verify(...) -> VerifiedClaims`` (signature, iss, aud,
  exp/nbf/iat with an explicit leeway); only it can create ``VerifiedClaims``;
* ``errors``    — the exception tree (stable ``reason`` codes).

Hand-written code is kept where a library would be laxer or cannot be injected:
the token parser (strictness, pre-verification routing), JWK number decoding
(fixed coordinate lengths), the claim checks (injected clock, the failing claim by
name) and the fetch policy (SSRF rules). Signatures are verified by PyJWT's
algorithm objects over ``cryptography``; no crypto is written here.
"""

from tessera.jose.errors import (
    BadSignature,
    Busy,
    CertificateError,
    DisallowedAlgorithm,
    DiscoveryMismatch,
    DocumentError,
    InvalidClaim,
    JoseError,
    KeySetUnavailable,
    MalformedToken,
    MissingClaim,
    TargetRefused,
    TokenExpired,
    TokenNotYetValid,
    UnknownKid,
    Unreachable,
    WrongAudience,
    WrongIssuer,
)
from tessera.jose.jwk import ALGORITHMS, PublicJwk, parse_jwk, parse_jwks
from tessera.jose.token import UnverifiedToken
from tessera.jose.verify import VerifiedClaims, verify, verify_signature

__all__ = [
    "ALGORITHMS",
    "BadSignature",
    "Busy",
    "CertificateError",
    "DisallowedAlgorithm",
    "DiscoveryMismatch",
    "DocumentError",
    "InvalidClaim",
    "JoseError",
    "KeySetUnavailable",
    "MalformedToken",
    "MissingClaim",
    "PublicJwk",
    "TargetRefused",
    "TokenExpired",
    "TokenNotYetValid",
    "UnknownKid",
    "Unreachable",
    "UnverifiedToken",
    "VerifiedClaims",
    "WrongAudience",
    "WrongIssuer",
    "parse_jwk",
    "parse_jwks",
    "verify",
    "verify_signature",
]
