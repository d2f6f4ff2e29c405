"""Issuer documents: the OpenID discovery document, the JWKS, and their ETags.

Owns the exact bytes served at ``<issuer>/.well-known/openid-configuration`` (AWS's
five fields, nothing more) and ``<issuer>/.well-known/jwks.json``. Both are
deterministic for the same input (sorted keys, compact separators), so the HTTP
layer can cache the bytes and answer conditional requests with a strong ETag.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from typing import Final

from tessera.oidc.claims import CLAIMS_SUPPORTED
from tessera.oidc.keys import ALGORITHMS, SigningKey, public_jwk

DISCOVERY_PATH: Final = "/.well-known/openid-configuration"
JWKS_PATH: Final = "/.well-known/jwks.json"
CONTENT_TYPE: Final = "application/json"


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + DISCOVERY_PATH


def jwks_uri(issuer: str) -> str:
    return issuer.rstrip("/") + JWKS_PATH


def discovery_document(issuer: str) -> bytes:
    """Exactly AWS's discovery document: ``claims_supported``,
    ``id_token_signing_alg_values_supported``, ``issuer``, ``jwks_uri``,
    ``subject_types_supported``."""
    return _dumps(
        {
            "claims_supported": list(CLAIMS_SUPPORTED),
            "id_token_signing_alg_values_supported": list(ALGORITHMS),
            "issuer": issuer,
            "jwks_uri": jwks_uri(issuer),
            "subject_types_supported": ["public"],
        }
    )


def jwks_document(keys: Iterable[SigningKey]) -> bytes:
    """``{"keys":[…]}`` with one public JWK per key, in the order given (pass
    ``KeyRing.published(now)``)."""
    return _dumps({"keys": [public_jwk(k) for k in keys]})


def strong_etag(body: bytes) -> str:
    """A strong ETag (quoted) derived from the SHA-256 of ``body``."""
    digest = hashlib.sha256(body).digest()[:18]
    return '"' + base64.urlsafe_b64encode(digest).decode("ascii") + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """True when an ``If-None-Match`` header value matches ``etag`` (→ 304).
    Handles ``*``, lists, and weak validators (weak comparison, RFC 9110 §13.1.2)."""
    if not if_none_match:
        return False
    value = if_none_match.strip()
    if value == "*":
        return True
    opaque = etag.removeprefix("W/")
    for candidate in value.split(","):
        if candidate.strip().removeprefix("W/") == opaque:
            return True
    return False
