"""GetSessionToken and GetFederationToken (docs/wire-facts.md §4.2–§4.7): long-term
credentials only, 900 s … 36 h (root clamped to 1 h), MFA for GetSessionToken,
federated-user identities, session policies and non-transitive tags for
GetFederationToken. A federation session without any session policy has no
permissions (the policy engine's session-policy step, docs/wire-facts.md §6.1 step 8)."""

from __future__ import annotations

from datetime import timedelta

from tessera import arn as arns
from tessera.auth.principal import Session, SessionKind
from tessera.errors import AccessDenied
from tessera.iam.mfa import check_mfa
from tessera.operation import OperationContext, Result
from tessera.protocol.inputs import GetFederationTokenMembers, GetSessionTokenMembers
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.sts import durations, packing
from tessera.sts import tags as session_tags
from tessera.sts.assume import credentials_shape, session_policy_from
from tessera.sts.restrictions import session_credentials_message


@operation("sts", "GetSessionToken", action=None, inline=True)
def get_session_token(ctx: OperationContext, params: Params[GetSessionTokenMembers]) -> Result:
    """No IAM permission is needed to call GetSessionToken (AWS documents it can't be
    restricted), so this handler does not authorise."""
    caller = ctx.caller
    if caller.temporary:
        raise AccessDenied(session_credentials_message("GetSessionToken"))
    seconds = durations.token_seconds(params.get_int("DurationSeconds"), caller.is_root)
    mfa = check_mfa(ctx, params.get_str("SerialNumber"), params.get_str("TokenCode"))
    now = ctx.now.replace(microsecond=0)
    mfa_time = mfa.consume() if mfa is not None else None
    expires = now + timedelta(seconds=seconds)
    session = Session(
        kind=SessionKind.SESSION_TOKEN,
        account_id=caller.account_id,
        issued_at=now,
        expires_at=expires,
        source_arn=caller.arn,
        source_id=caller.user_id,
        source_name=caller.name,
        mfa_authenticated=mfa is not None,
        mfa_auth_time=mfa_time,
        original_expires_at=expires,
    )
    issued = ctx.sessions.issue(session, now, min_size=packing.minimum_token_size(params))
    return {
        "Credentials": credentials_shape(issued),
        **packing.token_size_fields(issued, packed_policy_size=False),
    }


@operation("sts", "GetFederationToken", action="sts:GetFederationToken", inline=True)
def get_federation_token(
    ctx: OperationContext, params: Params[GetFederationTokenMembers]
) -> Result:
    caller = ctx.caller
    if caller.temporary:
        raise AccessDenied(session_credentials_message("GetFederationToken"))
    account = caller.account_id
    name = params.req_str("Name")
    fed_arn = arns.federated_user_arn(account, name)
    policy, policy_arns = session_policy_from(ctx, params, account)
    tagset = session_tags.build_session_tags(session_tags.parse_tags(params.get_list("Tags")), None)
    keys = session_tags.request_keys(tagset.requested)
    ctx.authorize("sts:GetFederationToken", fed_arn, request_keys=keys or None)
    if tagset.tags:
        ctx.authorize("sts:TagSession", fed_arn, request_keys=keys)
    seconds = durations.token_seconds(params.get_int("DurationSeconds"), caller.is_root)
    now = ctx.now.replace(microsecond=0)
    expires = now + timedelta(seconds=seconds)
    session = Session(
        kind=SessionKind.FEDERATION,
        account_id=account,
        issued_at=now,
        expires_at=expires,
        source_arn=caller.arn,
        source_id=caller.user_id,
        source_name=caller.name,
        session_name=name,
        session_policy=policy,
        policy_arns=policy_arns,
        tags=tagset.tags,
        original_expires_at=expires,
    )
    issued = ctx.sessions.issue(session, now, min_size=packing.minimum_token_size(params))
    return {
        "Credentials": credentials_shape(issued),
        "FederatedUser": {"FederatedUserId": f"{account}:{name}", "Arn": fed_arn},
        # PackedPolicySize is now the token's utilization (issue #14 §5)
        **packing.token_size_fields(issued, packed_policy_size=True),
    }
