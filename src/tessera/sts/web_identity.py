"""STS ``GetWebIdentityToken`` (docs/wire-facts.md §3.2, §3.5, §3.6): trade the caller's
credentials for a short-lived JWT signed by the account's issuer.

Order of checks: model validation (already done by the protocol layer: audience
count/length, duration range, tag count), ``SigningAlgorithm`` ∈ {RS256, ES384}
(``ValidationError``), request-tag sanity (duplicate keys, ``aws:`` prefix:
``InvalidParameterValue``), authorisation (``sts:GetWebIdentityToken`` and, with
tags, ``sts:TagGetWebIdentityToken``, with ``sts:IdentityTokenAudience``,
``sts:DurationSeconds`` — the effective value, 300 when omitted —
``sts:SigningAlgorithm``, ``aws:RequestTag/*`` and ``aws:TagKeys``), then the
account's feature state (``OutboundWebIdentityFederationDisabledException``), the
session-escalation check for temporary credentials
(``SessionDurationEscalationException`` when ``now + duration`` is after the
session's expiry) and finally the payload limit (``JWTPayloadSizeExceededException``
above ``tessera.oidc.claims.MAX_PAYLOAD_BYTES`` = 16 KiB of claim JSON).

``SubjectMode`` / ``Scope`` (#14 §3): see ``tessera.sts.subject_mode`` — syntax is
checked before authorisation, ``sts:SubjectMode`` / ``sts:IdentityTokenScope`` are
request keys, ``Scope`` needs ``sts:SetWebIdentityTokenScope`` too, and the
session's origin identity is checked after authorisation.

The token itself is never logged; only its ``jti`` and ``kid`` are.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Final

from tessera.auth.principal import Principal, PrincipalKind, Session
from tessera.errors import OutboundWebIdentityFederationDisabled, SessionDurationEscalation
from tessera.errors import ValidationError as ModelValidationError
from tessera.iam.model import Tag
from tessera.iam.outbound import issuer_service
from tessera.oidc.claims import TokenContext
from tessera.oidc.jwt import issue_token
from tessera.oidc.keys import ALGORITHMS, Algorithm
from tessera.operation import ContextValue, OperationContext, Result
from tessera.protocol.inputs import GetWebIdentityTokenMembers
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.sts import subject_mode as modes
from tessera.sts import tags as session_tags

log = logging.getLogger("tessera.sts.web_identity")

DEFAULT_DURATION_SECONDS: Final = 300


def _subject_and_tags(ctx: OperationContext, caller: Principal) -> tuple[str, dict[str, str]]:
    """``sub`` (role ARN with path / user ARN / caller ARN) and the principal tags
    (IAM tags of the user or role, overridden by session tags)."""
    session = caller.session
    store = ctx.store
    acct = caller.account_id
    sess_tags: tuple[Tag, ...] = session.tags if session is not None else ()
    identity_tags: list[Tag] = []
    subject = caller.principal_arn
    if caller.kind is PrincipalKind.ROLE_SESSION and session is not None:
        role = store.get_role(acct, session.source_name)
        if role is not None and role.role_id == session.source_id:
            subject = role.arn
            identity_tags = store.get_tags(acct, "role", role.name.lower())
        else:
            subject = session.source_arn
    elif caller.kind is PrincipalKind.USER:
        identity_tags = store.get_tags(acct, "user", caller.name.lower())
    elif caller.kind is PrincipalKind.FEDERATED_USER and session is not None:
        subject = caller.arn
        if session.source_name:
            identity_tags = store.get_tags(acct, "user", session.source_name.lower())
    return subject, session_tags.principal_tags(identity_tags, sess_tags)


@operation(
    "sts", "GetWebIdentityToken", action="sts:GetWebIdentityToken", inline=True, requires="issuers"
)
def get_web_identity_token(
    ctx: OperationContext, params: Params[GetWebIdentityTokenMembers]
) -> Result:
    caller = ctx.caller
    audiences = params.get_str_list("Audience") or []
    algorithm = params.req_str("SigningAlgorithm")
    if algorithm not in ALGORITHMS:
        raise ModelValidationError(
            "1 validation error detected: "
            f"Value '{algorithm}' at 'signingAlgorithm' failed to satisfy constraint: "
            "Member must satisfy enum value set: [RS256, ES384]"
        )
    alg: Algorithm = algorithm
    duration = params.get_int("DurationSeconds")
    seconds = DEFAULT_DURATION_SECONDS if duration is None else duration
    requested = session_tags.parse_tags(params.get_list("Tags"))
    tagset = session_tags.build_session_tags(requested, None)
    mode = modes.parse_mode(params.get_str("SubjectMode"))
    raw_scope = params.get_str("Scope")
    scope_tokens = modes.parse_scope(raw_scope, mode, audiences)

    tag_keys = session_tags.request_keys(tagset.requested)
    keys: dict[str, ContextValue] = {
        "sts:IdentityTokenAudience": tuple(audiences),
        "sts:DurationSeconds": str(seconds),
        "sts:SigningAlgorithm": alg,
        "sts:SubjectMode": mode,  # the effective mode, also when defaulted
        **tag_keys,
    }
    if scope_tokens:
        keys["sts:IdentityTokenScope"] = scope_tokens
    ctx.authorize("sts:GetWebIdentityToken", "*", request_keys=keys)
    if tagset.requested:
        ctx.authorize("sts:TagGetWebIdentityToken", "*", request_keys=tag_keys)
    if scope_tokens:
        ctx.authorize("sts:SetWebIdentityTokenScope", "*", request_keys=keys)
    origin = modes.origin_identity(caller.session) if mode == modes.ORIGIN_IDENTITY else None

    service = issuer_service(ctx)
    account = ctx.store.get_account(caller.account_id)
    if account is None or not account.outbound_enabled or account.issuer_id is None:
        raise OutboundWebIdentityFederationDisabled(
            "Outbound web identity federation is disabled for this account. Enable it with "
            "EnableOutboundWebIdentityFederation before requesting web identity tokens."
        )
    now = ctx.now
    session = caller.session
    # compare the token's own exp (whole seconds) with the session's expiry
    if session is not None and now.replace(microsecond=0) + timedelta(seconds=seconds) > (
        session.expires_at
    ):
        raise SessionDurationEscalation(
            "The requested DurationSeconds would make the web identity token outlive the "
            "session credentials used to request it. Request a shorter duration."
        )
    subject, principal_tags = _subject_and_tags(ctx, caller)
    token_ctx = TokenContext(
        issuer=service.issuer_url(account.issuer_id),
        audiences=tuple(audiences),
        subject=origin.subject if origin is not None else subject,
        account=caller.account_id,
        source_region=ctx.region,
        principal_id=subject,
        org_id=account.org_id,
        ou_path=(account.ou_path,) if account.ou_path else (),
        principal_tags=principal_tags,
        request_tags={t.key: t.value for t in tagset.requested},
        original_session_exp=session.expires_at if session is not None else None,
        federated_provider=session.federated_provider if session is not None else None,
        source_identity=session.source_identity if session is not None else None,
        **_compute_claims(session),
        subject_mode=modes.ORIGIN_IDENTITY if origin is not None else None,
        origin_identity=origin.claim() if origin is not None else {},
        scope=raw_scope if scope_tokens else None,
    )
    key = service.signing_key(caller.account_id, alg, now)
    issued = issue_token(token_ctx, key, now=now, duration=seconds)
    log.info(
        "issued web identity token jti=%s kid=%s account=%s",
        issued.jti,
        issued.kid,
        account.account_id,
    )
    return {"WebIdentityToken": issued.token.reveal(), "Expiration": issued.expires_at}


def _compute_claims(session: Session | None) -> dict[str, str | None]:
    """The ``ec2_*`` claims of a session delivered to an enrolled instance (#16)."""
    compute = session.compute if session is not None else None
    if compute is None:
        return {}
    return {
        "ec2_source_instance_arn": compute.instance_arn,
        "ec2_instance_source_vpc": compute.source_vpc,
        "ec2_instance_source_private_ipv4": compute.private_ipv4,
        "ec2_role_delivery": compute.role_delivery,
    }
