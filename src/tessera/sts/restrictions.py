"""What each kind of temporary credential may call (docs/wire-facts.md §4.7).

* GetSessionToken sessions: in STS only ``AssumeRole``, ``GetCallerIdentity``,
  ``GetScopedCredentials``, ``GetWebIdentityToken`` and ``GetDelegatedAccessToken``
  (botocore 1.44.8's GetSessionToken documentation; ``GetWebIdentityToken`` was
  refused before AWS changed this, issue #14 §3); IAM only when the session was
  created with MFA.
* GetFederationToken sessions: in STS only ``GetCallerIdentity``,
  ``GetScopedCredentials`` and ``GetDelegatedAccessToken`` (still **not**
  ``GetWebIdentityToken``); no IAM at all.
* AssumeRole* sessions: never ``GetSessionToken`` or ``GetFederationToken``.
* AssumeRoot sessions: in STS only ``GetCallerIdentity`` (no role chaining, no
  further sessions) [I]; elsewhere their task policy decides.

``session_restriction`` is consulted by the request pipeline after
authentication and before the operation runs; it returns the error to answer
with, or ``None`` when the session kind allows the call.

Texts: **[C]** "Cannot call GetSessionToken with session credentials" and
"Cannot call GetFederationToken with session credentials" (AccessDenied) are
seen verbatim in many SDK issue threads (aws-sdk-net#1704, hashicorp/vault#4108,
fwdcloudsec/granted#151). IAM called with GetSessionToken credentials without MFA
answers ``InvalidClientTokenId`` "The security token included in the request is
invalid" **[C]** (99designs/aws-vault#15, cloudyr/aws.iam#15). The same answer for
federated-user sessions at IAM, and the "Cannot call …" wording for the other
refused STS operations, are **[I]**.
"""

from __future__ import annotations

from typing import Final

from tessera.auth.principal import Principal, SessionKind
from tessera.errors import AccessDenied, InvalidClientTokenId, TesseraError

SESSION_TOKEN_STS: Final = frozenset(
    {
        "AssumeRole",
        "GetCallerIdentity",
        "GetScopedCredentials",
        "GetWebIdentityToken",
        "GetDelegatedAccessToken",
    }
)
FEDERATION_STS: Final = frozenset(
    {"GetCallerIdentity", "GetScopedCredentials", "GetDelegatedAccessToken"}
)
#: what an AssumeRoot session may call in STS (no role chaining, no new sessions)
ROOT_SESSION_STS: Final = frozenset({"GetCallerIdentity"})
NOT_FROM_SESSIONS: Final = frozenset({"GetSessionToken", "GetFederationToken"})


def session_credentials_message(operation: str) -> str:
    return f"Cannot call {operation} with session credentials"


def session_restriction(principal: Principal, service: str, operation: str) -> TesseraError | None:
    """The error a call by ``principal`` to ``service``:``operation`` must fail with
    because of the kind of its temporary credentials, or ``None``."""
    session = principal.session
    if session is None:
        return None
    if service == "sts" and operation in NOT_FROM_SESSIONS:
        return AccessDenied(session_credentials_message(operation))
    if session.kind is SessionKind.SESSION_TOKEN:
        if service == "iam" and not session.mfa_authenticated:
            return InvalidClientTokenId("The security token included in the request is invalid")
        if service == "sts" and operation not in SESSION_TOKEN_STS:
            return AccessDenied(session_credentials_message(operation))
        return None
    if session.kind is SessionKind.ROOT:
        if service == "sts" and operation not in ROOT_SESSION_STS:
            return AccessDenied(session_credentials_message(operation))
        return None
    if session.kind is SessionKind.FEDERATION:
        if service == "iam":
            return InvalidClientTokenId("The security token included in the request is invalid")
        if service == "sts" and operation not in FEDERATION_STS:
            return AccessDenied(session_credentials_message(operation))
    return None
