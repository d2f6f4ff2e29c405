"""Encoded authorization messages and STS ``DecodeAuthorizationMessage``.

When the policy engine denies a request, the ``AccessDenied`` error carries, next
to AWS's plain message, an *encoded authorization message*: the decision's
details (allowed, explicit deny, the matched statements, which policy type
failed, the principal, action, resource and condition keys) sealed with
AES-GCM so only principals allowed ``sts:DecodeAuthorizationMessage`` can read
them — the same contract as AWS's encoded failure messages. botocore exposes
it as ``error.response["Error"]["EncodedAuthorizationMessage"]``.

Format: ``base64url(version | key id | nonce | AES-GCM(zlib(JSON)))``, under a
key derived (HKDF-SHA256) from the server's session key with the same key id, so
session-key rotation rotates it too and every replica can decode what another
encoded. The account of the denied request is bound into the payload: a message
decodes only in that account [I] (AWS does not document cross-account
decoding). The decoded JSON follows the shape of AWS's decoded messages:
``{"allowed", "explicitDeny", "matchedStatements": {"items": [...]},
"failures": {"items": [...]}, "context": {"principal", "action", "resource",
"conditions": {"items": [{"key", "values": {"items": [{"value"}]}}]}}}``."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import struct
import zlib
from datetime import datetime
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tessera.errors import InvalidAuthorizationMessage
from tessera.iam.policy import Decision, RequestContext
from tessera.operation import OperationContext, Result
from tessera.protocol.inputs import DecodeAuthorizationMessageMembers
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.sts.sessions import SessionKey, SessionKeyRing

VERSION: Final = 1
MAX_ENCODED: Final = 10_240  # the EncodedMessage limit of the STS model
_HEADER = struct.Struct(">BH")
_INFO = b"tessera/authorization-message/v1"
# [C] botocore's STS model documents the exception; the text is ours [I]
INVALID_MESSAGE: Final = "The encoded authorization message is invalid."


def _values(value: str | tuple[str, ...]) -> dict[str, object]:
    items = [value] if isinstance(value, str) else list(value)
    return {"items": [{"value": v} for v in items]}


def decision_document(request: RequestContext, decision: Decision) -> dict[str, Any]:
    """The decoded-message JSON for one decision (see the module docstring)."""
    principal = request.principal
    who: dict[str, str] = {"arn": principal.arn}
    if principal.unique_id:
        who["id"] = principal.unique_id
    matched = [
        {
            "statementId": m.sid or "",
            "effect": m.effect.upper(),
            "sourcePolicyId": m.policy_label,
            "sourcePolicyType": m.policy_type.value,
            "statementIndex": m.statement_index,
        }
        for m in decision.matched_statements
    ]
    failures: list[dict[str, str]] = []
    if decision.reason is not None:
        failures.append(
            {
                "policyType": decision.reason.policy_type.value,
                "explicitDeny": "true" if decision.reason.explicit else "false",
            }
        )
    conditions = [
        {"key": key, "values": _values(value)} for key, value in sorted(request.keys.items())
    ]
    return {
        "allowed": decision.allowed,
        "explicitDeny": decision.explicit_deny,
        "matchedStatements": {"items": matched},
        "failures": {"items": failures},
        "context": {
            "principal": who,
            "action": request.action,
            "resource": request.resource,
            "conditions": {"items": conditions},
        },
    }


class AuthorizationMessages:
    """Seals decision details into encoded messages and opens them again."""

    def __init__(self, ring: SessionKeyRing) -> None:
        self.ring = ring
        self._aeads: dict[int, AESGCM] = {}

    def _aead(self, key: SessionKey) -> AESGCM:
        aead = self._aeads.get(key.kid)
        if aead is None:
            derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
                key.key
            )
            aead = AESGCM(derived)
            self._aeads[key.kid] = aead
        return aead

    def _seal(self, key: SessionKey, account_id: str, doc: dict[str, Any]) -> str:
        raw = zlib.compress(
            json.dumps({"a": account_id, "d": doc}, separators=(",", ":")).encode(), 9
        )
        header = _HEADER.pack(VERSION, key.kid)
        nonce = secrets.token_bytes(12)
        sealed = self._aead(key).encrypt(nonce, raw, header)
        return base64.urlsafe_b64encode(header + nonce + sealed).decode().rstrip("=")

    def encode(
        self, account_id: str, request: RequestContext, decision: Decision, now: datetime
    ) -> str:
        doc = decision_document(request, decision)
        key = self.ring.active(now)
        encoded = self._seal(key, account_id, doc)
        if len(encoded) > MAX_ENCODED:
            # keep the message decodable within the API's limit: drop the condition
            # keys first (the largest part), marking that they were left out
            doc["context"]["conditions"] = {"items": [], "truncated": True}
            encoded = self._seal(key, account_id, doc)
        return encoded

    def decode(self, account_id: str, encoded: str) -> dict[str, Any]:
        """The decoded JSON document; ``InvalidAuthorizationMessageException`` for
        anything that is not a message of this account sealed by this server."""
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError) as exc:
            raise InvalidAuthorizationMessage(INVALID_MESSAGE) from exc
        if len(raw) < _HEADER.size + 12 + 16:
            raise InvalidAuthorizationMessage(INVALID_MESSAGE)
        version, kid = _HEADER.unpack_from(raw)
        key = self.ring.get(kid) if version == VERSION else None
        if key is None:
            raise InvalidAuthorizationMessage(INVALID_MESSAGE)
        header = raw[: _HEADER.size]
        nonce = raw[_HEADER.size : _HEADER.size + 12]
        try:
            blob = self._aead(key).decrypt(nonce, raw[_HEADER.size + 12 :], header)
            payload = json.loads(zlib.decompress(blob))
        except (InvalidTag, ValueError, zlib.error) as exc:
            raise InvalidAuthorizationMessage(INVALID_MESSAGE) from exc
        if not isinstance(payload, dict) or payload.get("a") != account_id:
            raise InvalidAuthorizationMessage(INVALID_MESSAGE)
        doc = payload.get("d")
        if not isinstance(doc, dict):
            raise InvalidAuthorizationMessage(INVALID_MESSAGE)
        return doc


@operation(
    "sts", "DecodeAuthorizationMessage", action="sts:DecodeAuthorizationMessage", inline=True
)
def decode_authorization_message(
    ctx: OperationContext, params: Params[DecodeAuthorizationMessageMembers]
) -> Result:
    """STS DecodeAuthorizationMessage: needs ``sts:DecodeAuthorizationMessage``
    (resource ``*``); answers ``DecodedMessage`` (a JSON string)."""
    encoded = params.req_str("EncodedMessage")
    ctx.authorize("sts:DecodeAuthorizationMessage", "*")
    messages = ctx.authz_messages
    if messages is None:
        raise InvalidAuthorizationMessage(INVALID_MESSAGE)
    doc = messages.decode(ctx.caller.account_id, encoded)
    return {"DecodedMessage": json.dumps(doc, separators=(",", ":"))}
