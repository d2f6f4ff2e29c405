"""STS ``GetScopedCredentials`` (botocore 1.44.8; ``aws-2026-additions.md`` §3): new
temporary credentials for the *same* session, narrowed by a scope-down policy and/or
a shorter lifetime.

* Only temporary credentials may call it (role sessions, federated users,
  GetSessionToken sessions); long-term keys and root keys get
  ``InvalidSubjectCredentials``. The caller is authorised for
  ``sts:GetScopedCredentials`` (resource ``*``) first, so a caller denied the
  action learns nothing; a scoped session's own call is limited by its layers.
* ``Policy`` and/or ``DurationSeconds`` (at least one, else ``ValidationError``).
  The policy is validated like AssumeRole's session policy (2,048 characters,
  ``MalformedPolicyDocument``); the whole token, layers included, must fit the
  session-token limit (``PackedPolicyTooLarge``, ``SessionCodec.issue``), and is
  padded to ``MinimumSessionTokenSize``; ``SessionTokenSize`` and
  ``SessionTokenUtilization`` describe the returned token (``sts.packing``).
* Duration: omitted → the caller's expiry; more than the caller's remaining
  lifetime → ``InsufficientSessionLifetime`` (a session is never extended).
* Layers: each call with a ``Policy`` appends one scope-down layer to the session
  (``Session.scope_policies``, sealed in the token); every layer must allow a
  request (``iam.policy.evaluate`` step 3b), so permissions are the intersection
  of the session's and every layer's. At most ``MAX_LAYERS`` (3): a 4th ``Policy``
  is ``AccessDenied``; a duration-only call adds no layer and is allowed at 3.
  Layers do not carry into a role session assumed from a scoped session (like
  session policies, ``aws-2026-additions.md`` §3.3), but the AssumeRole call
  itself must be allowed by every layer.
* Everything else of the session is kept (``dataclasses.replace``): identity,
  session name, tags and transitive keys, source identity, MFA, chain depth,
  web-identity claims and any other session keys, so GetCallerIdentity and the
  request context look like the parent's. ``aws:TokenIssueTime`` is the new
  issue time ([I]).
* ``SessionInfo.ScopedSessionId`` is the caller's ``UserId`` (the same principal)
  followed by ``:scoped-`` and 16 random hex digits, unique per call ([I]); it and
  ``ScopedSessionDescription`` are sealed in the token (``ss``/``sd``) and written
  to the log line of the call, for audit.

Texts are **[I]**: AWS has not published the messages of these errors; they are
taken from the model's documentation of each error.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from datetime import timedelta
from typing import Final

from tessera.errors import (
    AccessDenied,
    InsufficientSessionLifetime,
    InvalidSubjectCredentials,
    ValidationError,
)
from tessera.operation import OperationContext, Result
from tessera.protocol.inputs import GetScopedCredentialsMembers
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.sts import packing
from tessera.sts.assume import credentials_shape

log = logging.getLogger("tessera.sts.scoped")

MAX_LAYERS: Final = 3

NOT_A_SESSION: Final = (
    "The session used to call GetScopedCredentials is not a valid session. "
    "GetScopedCredentials can only be called with temporary security credentials."
)
NEEDS_POLICY_OR_DURATION: Final = (
    "A request must provide at least one of Policy or DurationSeconds."
)
TOO_MANY_LAYERS: Final = (
    "The session already has the maximum of 3 GetScopedCredentials scope down policies; "
    "a fourth scope down policy cannot be added."
)


def insufficient_lifetime_message(requested: int, remaining: int) -> str:
    return (
        f"The requested DurationSeconds ({requested}) is greater than the remaining "
        f"lifetime of the calling session ({remaining} seconds). GetScopedCredentials "
        "cannot extend a session beyond its original expiration."
    )


@operation("sts", "GetScopedCredentials", action="sts:GetScopedCredentials", inline=True)
def get_scoped_credentials(
    ctx: OperationContext, params: Params[GetScopedCredentialsMembers]
) -> Result:
    caller = ctx.caller
    policy = params.get_str("Policy")
    duration = params.get_int("DurationSeconds")
    minimum_size = packing.minimum_token_size(params)
    description = params.get_str("ScopedSessionDescription")

    ctx.authorize("sts:GetScopedCredentials", "*")
    session = caller.session
    if session is None:
        raise InvalidSubjectCredentials(NOT_A_SESSION)
    if policy is None and duration is None:
        raise ValidationError(NEEDS_POLICY_OR_DURATION)

    layers = session.scope_policies
    if policy is not None:
        packing.validate_session_policy(policy, ())  # MalformedPolicyDocument
        if len(layers) >= MAX_LAYERS:
            raise AccessDenied(TOO_MANY_LAYERS)
        layers = (*layers, packing.canonical_policy(policy))

    now = ctx.now.replace(microsecond=0)
    expires = session.expires_at
    if duration is not None:
        remaining = int((session.expires_at - ctx.now).total_seconds())
        if now + timedelta(seconds=duration) > session.expires_at:
            raise InsufficientSessionLifetime(
                insufficient_lifetime_message(duration, max(0, remaining))
            )
        expires = now + timedelta(seconds=duration)

    scoped_id = f"{caller.user_id}:scoped-{secrets.token_hex(8)}"
    scoped = dataclasses.replace(
        session,
        issued_at=now,
        expires_at=expires,
        scope_policies=layers,
        scoped_session_id=scoped_id,
        scoped_description=description,
    )
    # padded to MinimumSessionTokenSize; PackedPolicyTooLarge above the token limit
    issued = ctx.sessions.issue(scoped, now, min_size=minimum_size)
    log.info(
        "scoped session %s for %s: layers=%d expires=%s description=%r",
        scoped_id,
        caller.arn,
        len(layers),
        expires.isoformat(),
        description,
    )
    result: dict[str, object] = {
        "Credentials": credentials_shape(issued),
        "SessionInfo": {"ScopedSessionId": scoped_id, "Arn": caller.arn},
        **packing.token_size_fields(issued, packed_policy_size=False),
        "ScopedPoliciesCount": len(layers),
    }
    if session.source_identity is not None:
        result["SourceIdentity"] = session.source_identity
    return result
