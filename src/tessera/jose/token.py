"""Parsing a compact JWS without trusting it: :class:`UnverifiedToken`.

Hand-written on purpose (PyJWT's parser is lenient where this one must not be, and
routing needs the header and ``iss`` before any key is known):

* size-bounded (``MAX_TOKEN_CHARS``) before any decoding;
* strict base64url: only ``[A-Za-z0-9_-]``, no padding, no whitespace, no length
  that cannot be base64 — Python's decoder would silently skip foreign characters;
* strict JSON: header and payload are objects, duplicate member names and the
  non-standard constants ``NaN``/``Infinity`` are refused (no parser differential
  between this parse and what the signature covers), nesting is bounded by
  ``json``'s recursion limit;
* ``crit`` header extensions are refused (none are understood).

The signing input and signature bytes are kept exactly as received, so the
signature is checked over the very bytes whose claims were parsed. Nothing here is
verified: ``claims`` may be forged until a verifier (``tessera.jose.verify``)
returns ``VerifiedClaims``. The repr never shows the token.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from tessera.jose.errors import MalformedToken, UnsecuredToken
from tessera.sensitive import Secret

__all__ = ["MAX_TOKEN_CHARS", "UnverifiedToken", "b64url_decode", "strict_json_object"]

#: Longer tokens are refused before decoding (the STS wire limit is 20,000 chars).
MAX_TOKEN_CHARS: Final = 64 * 1024
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]+")


def b64url_decode(segment: str) -> bytes:
    """Decode unpadded base64url strictly; raises ``MalformedToken``."""
    if not segment or not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise MalformedToken("token segment is not base64url without padding")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - the regex guards
        raise MalformedToken("token segment is not valid base64url") from exc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise MalformedToken(f"duplicate member {key[:64]!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise MalformedToken(f"non-standard JSON constant {name}")


def strict_json_object(data: bytes, what: str) -> dict[str, Any]:
    """``data`` as a JSON object (UTF-8, no duplicate names, no NaN/Infinity)."""
    try:
        obj = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
        )
    except MalformedToken as exc:
        raise MalformedToken(f"{what} is not valid JSON: {exc.message}") from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedToken(f"{what} is not valid JSON") from exc
    if not isinstance(obj, dict):
        raise MalformedToken(f"{what} is not a JSON object")
    return obj


@dataclass(frozen=True, slots=True)
class UnverifiedToken:
    """A compact JWS that has NOT been verified. Its repr never shows the token."""

    raw: Secret[str] = field(repr=False)
    header: Mapping[str, Any] = field(repr=False)
    claims: Mapping[str, Any] = field(repr=False)
    alg: str | None
    kid: str | None
    signing_input: bytes = field(repr=False)
    signature: bytes = field(repr=False)

    @classmethod
    def parse(cls, token: str | bytes, *, max_chars: int = MAX_TOKEN_CHARS) -> UnverifiedToken:
        """Split and decode header, payload and signature; raises ``MalformedToken``."""
        if isinstance(token, bytes):
            try:
                token = token.decode("ascii")
            except UnicodeDecodeError as exc:
                raise MalformedToken("token is not ASCII") from exc
        token = token.strip()
        if len(token) > max_chars:
            raise MalformedToken(f"token is longer than {max_chars} characters")
        parts = token.split(".")
        if len(parts) != 3:
            raise MalformedToken("token is not a compact JWS (expected three dot-separated parts)")
        header = strict_json_object(b64url_decode(parts[0]), "token header")
        alg, kid = header.get("alg"), header.get("kid")
        if alg is not None and not isinstance(alg, str):
            raise MalformedToken("header alg is not a string")
        if not parts[2]:
            if alg == "none":
                raise UnsecuredToken("algorithm 'none' is not allowed (unsecured JWS)")
            raise MalformedToken("token has no signature")
        claims = strict_json_object(b64url_decode(parts[1]), "token payload")
        signature = b64url_decode(parts[2])
        if kid is not None and not isinstance(kid, str):
            raise MalformedToken("header kid is not a string")
        if "crit" in header:
            raise MalformedToken("critical header extensions are not supported")
        return cls(
            raw=Secret(token),
            header=MappingProxyType(header),
            claims=MappingProxyType(claims),
            alg=alg,
            kid=kid,
            signing_input=f"{parts[0]}.{parts[1]}".encode("ascii"),
            signature=signature,
        )

    def peek_issuer(self) -> str | None:
        """The ``iss`` claim WITHOUT any verification — only for choosing which
        verifier to run. Never authorise anything on it."""
        iss = self.claims.get("iss")
        return iss if isinstance(iss, str) else None
