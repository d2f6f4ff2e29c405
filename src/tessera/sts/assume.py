"""AssumeRole (docs/wire-facts.md §4.2–§4.8): role lookup in the role's own account,
RoleSessionName, durations and role chaining, session policies and the packed
size, session tags and their propagation along a chain, ExternalId,
SourceIdentity, MFA, and the trust decision — which goes through
``ctx.authorize(..., trust=True)`` with the role's trust policy, the request's
condition keys and the role's tags, so the policy engine decides same- and
cross-account calls exactly as AWS does (trust policy *and*, across accounts or
for account principals, the caller's identity policies).

Texts: **[C]** confirmed in real AWS answers (see the modules they come from),
**[I]** inferred."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache, partial
from typing import Any, Final

from tessera import arn as arns
from tessera import ids
from tessera.auth.principal import Principal, PrincipalKind, Session, SessionKind
from tessera.errors import (
    AccessDenied,
    InvalidContextAssertion,
    InvalidParameterValue,
    ValidationError,
)
from tessera.iam import aws_managed
from tessera.iam.authz import denial_message
from tessera.iam.mfa import check_mfa
from tessera.iam.model import Role, Tag
from tessera.operation import ContextValue, OperationContext, Result
from tessera.protocol.inputs import AssumeRoleMembers
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.sts import durations, packing
from tessera.sts import tags as session_tags
from tessera.sts.sessions import IssuedCredentials

# [C] AssumeRole with root credentials (many SDK issue threads)
ROOT_CANNOT_ASSUME: Final = "Roles may not be assumed by root accounts."
# [I] AWS documents that a chained call passing a different SourceIdentity fails
SOURCE_IDENTITY_IMMUTABLE: Final = (
    "The source identity of the calling session cannot be changed in a role chain."
)
# [I] "aws:" is documented as reserved for SourceIdentity values
SOURCE_IDENTITY_RESERVED: Final = "SourceIdentity cannot start with the reserved prefix 'aws:'."
_LAST_USED_EVERY: Final = timedelta(seconds=60)
# [I] AWS: "malformed, has expired, or does not match a trusted context provider"
PROVIDED_CONTEXT_UNVERIFIABLE: Final = (
    "The context assertion does not match a trusted context provider: this STS has no "
    "trusted context provider, so ProvidedContexts cannot be verified."
)


def credentials_shape(issued: IssuedCredentials) -> dict[str, object]:
    return {
        "AccessKeyId": issued.access_key_id,
        "SecretAccessKey": issued.secret_access_key,
        "SessionToken": issued.session_token,
        "Expiration": issued.expiration,
    }


def _invalid_arn(value: str) -> ValidationError:
    return ValidationError(f"{value} is invalid")  # [C] LocalStack snapshot of AWS


@dataclass(frozen=True, slots=True)
class RoleRef:
    account_id: str
    path: str
    name: str


@lru_cache(maxsize=1024)  # a pure function of the text, asked for on every AssumeRole
def parse_role_arn(value: str) -> RoleRef | None:
    """``arn:aws:iam::ACCT:role/<path>Name`` → its parts. ``ValidationError`` for a
    malformed ARN, ``None`` for a well-formed ARN that cannot name a role."""
    parsed = arns.parse_arn(value)
    if (
        parsed is None
        or not parsed.partition
        or not parsed.service
        or not parsed.resource
        or value.count(":") < 5
    ):
        raise _invalid_arn(value)
    if parsed.service != "iam" or not ids.is_account_id(parsed.account):
        return None
    if not parsed.resource.startswith("role/"):
        return None
    rest = parsed.resource[len("role") :]
    path, _, name = rest.rpartition("/")
    if not name:
        return None
    return RoleRef(parsed.account, path + "/", name)


def _denied(caller: Principal, action: str, resource: str) -> AccessDenied:
    # [C] docs/wire-facts.md §4.12 (unknown roles answer exactly like a refused trust policy)
    return AccessDenied(denial_message(caller.arn, action, resource, "").rstrip())


def session_policy_from(
    ctx: OperationContext, params: Params[Any], account_id: str
) -> tuple[str | None, tuple[str, ...]]:
    """The validated inline session policy (canonical form) and policy ARNs; the ARNs
    must name managed policies of ``account_id`` or AWS managed policies."""
    policy = params.get_str("Policy")
    arn_list: list[str] = []
    for item in params.get_struct_list("PolicyArns") or []:
        value = item.get_str("arn")
        if value is None:
            raise InvalidParameterValue("PolicyArns entries must contain an arn.")  # [I]
        arn_list.append(value)
    packing.validate_session_policy(policy, arn_list)
    for policy_arn in arn_list:
        if aws_managed.get(policy_arn) is not None:
            continue  # an AWS managed policy: every account may use it
        found = ctx.store.get_managed_policy(policy_arn)
        if found is None or found.account_id != account_id:
            # [I] STS's text for a missing managed session policy is not published
            raise InvalidParameterValue(f"Policy {policy_arn} does not exist or is not attachable.")
    return (
        packing.canonical_policy(policy) if policy is not None else None,
        tuple(arn_list),
    )


def _effective_resource_tags(role_tags: list[Tag], inherited: tuple[Tag, ...]) -> dict[str, str]:
    """Incoming transitive tags replace the role's ``aws:ResourceTag`` values."""
    return session_tags.principal_tags(role_tags, inherited)


@operation("sts", "AssumeRole", action="sts:AssumeRole", inline=True)
def assume_role(ctx: OperationContext, params: Params[AssumeRoleMembers]) -> Result:
    caller = ctx.caller
    role_arn = params.req_str("RoleArn")
    session_name = params.req_str("RoleSessionName")
    ref = parse_role_arn(role_arn)  # malformed ARNs fail before anything else
    if caller.is_root:
        raise AccessDenied(ROOT_CANNOT_ASSUME)
    caller_session = caller.session
    chained = caller.kind is PrincipalKind.ROLE_SESSION
    role = None if ref is None else ctx.store.get_role(ref.account_id, ref.name)
    if role is None or ref is None or role.path != ref.path:
        raise _denied(caller, "sts:AssumeRole", role_arn)

    seconds = durations.assume_role_seconds(
        params.get_int("DurationSeconds"), role.max_session_duration, chained
    )
    policy, policy_arns = session_policy_from(ctx, params, role.account_id)

    inherited_tags = caller_session.tags if caller_session else ()
    inherited_transitive = caller_session.transitive_tag_keys if caller_session else ()
    tagset = session_tags.build_session_tags(
        session_tags.parse_tags(params.get_list("Tags")),
        params.get_str_list("TransitiveTagKeys"),
        inherited_tags,
        inherited_transitive,
    )

    requested_identity = params.get_str("SourceIdentity")
    inherited_identity = caller_session.source_identity if caller_session else None
    if requested_identity is not None and requested_identity.lower().startswith("aws:"):
        raise ValidationError(SOURCE_IDENTITY_RESERVED)
    if (
        requested_identity is not None
        and inherited_identity is not None
        and requested_identity != inherited_identity
    ):
        raise AccessDenied(SOURCE_IDENTITY_IMMUTABLE)
    source_identity = inherited_identity or requested_identity

    mfa = check_mfa(ctx, params.get_str("SerialNumber"), params.get_str("TokenCode"))

    # --- the trust decision ----------------------------------------------------------
    keys: dict[str, ContextValue] = {"sts:RoleSessionName": session_name}
    external_id = params.get_str("ExternalId")
    if external_id is not None:
        keys["sts:ExternalId"] = external_id
    if requested_identity is not None:
        keys["sts:SourceIdentity"] = requested_identity
    keys.update(session_tags.request_keys(tagset.requested, tagset.requested_transitive))
    if mfa is not None:
        keys["aws:MultiFactorAuthPresent"] = "true"
        keys["aws:MultiFactorAuthAge"] = "0"
    role_tags = ctx.store.get_tags(role.account_id, "role", role.name.lower())
    resource_tags = _effective_resource_tags(role_tags, tagset.carried)

    def authorize(action: str) -> None:
        ctx.authorize(
            action,
            role.arn,
            request_keys=keys,
            resource_account=role.account_id,
            resource_policy=role.trust,
            resource_tags=resource_tags,
            trust=True,
        )

    authorize("sts:AssumeRole")
    if params.get_list("ProvidedContexts"):
        # Identity Center context assertions: sts:SetContext is authorised first (as
        # AWS documents), then every assertion is refused — Tessera has no trusted
        # context provider, so it can verify none of them
        authorize("sts:SetContext")
        raise InvalidContextAssertion(PROVIDED_CONTEXT_UNVERIFIABLE)
    if tagset.tags:  # new tags or incoming transitive tags
        authorize("sts:TagSession")
    if requested_identity is not None:
        authorize("sts:SetSourceIdentity")

    # --- issue -----------------------------------------------------------------------
    # the MFA code is spent only once the token is built and fits (issue_role_session
    # calls on_issued), so a refused PackedPolicyTooLarge does not burn it
    mfa_time: datetime | None = mfa.time if mfa is not None else None
    mfa_authenticated = mfa is not None
    if mfa_time is None and caller_session is not None and caller_session.mfa_authenticated:
        mfa_authenticated, mfa_time = True, caller_session.mfa_auth_time
    return issue_role_session(
        ctx,
        role,
        RoleSessionRequest(
            session_name=session_name,
            seconds=seconds,
            policy=policy,
            policy_arns=policy_arns,
            tags=tagset.tags,
            transitive_tag_keys=tagset.transitive_keys,
            source_identity=source_identity,
            mfa_authenticated=mfa_authenticated,
            mfa_auth_time=mfa_time,
            chain_depth=(caller_session.chain_depth + 1) if chained and caller_session else 0,
            min_token_size=packing.minimum_token_size(params),
            on_issued=mfa.consume if mfa is not None else None,
            # TIP keys travel along the chain unchanged (same and cross account)
            tip_context=caller_session.tip_context if caller_session else (),
        ),
    )


@dataclass(frozen=True, slots=True)
class RoleSessionRequest:
    """Everything a role session is made of once the trust decision allowed it
    (AssumeRole, AssumeRoleWithWebIdentity and AssumeRoleWithSAML share it)."""

    session_name: str
    seconds: int
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    tags: tuple[Tag, ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str | None = None
    mfa_authenticated: bool = False
    mfa_auth_time: datetime | None = None
    chain_depth: int = 0
    federated_provider: str | None = None
    web_identity_claims: tuple[tuple[str, str], ...] = ()
    min_token_size: int = 0  # MinimumSessionTokenSize
    # called once the token is built and within the size limit (spends an MFA code)
    on_issued: Callable[[], object] | None = None
    # trusted identity propagation keys (tessera.iam.tip_model), copied unchanged
    tip_context: tuple[tuple[str, str], ...] = ()


def issue_role_session(
    ctx: OperationContext, role: Role, req: RoleSessionRequest
) -> dict[str, object]:
    """Issue the session's credentials (padded to ``min_token_size``; refused with
    ``PackedPolicyTooLarge`` above the token limit), note the role's last use
    (written behind the request, at most once a minute), and answer with the fields
    every AssumeRole* response shares (Credentials, AssumedRoleUser,
    PackedPolicySize, SessionTokenSize, SessionTokenUtilization, SourceIdentity)."""
    now = ctx.now.replace(microsecond=0)
    expires = now + timedelta(seconds=req.seconds)
    session = Session(
        kind=SessionKind.ASSUMED_ROLE,
        account_id=role.account_id,
        issued_at=now,
        expires_at=expires,
        source_arn=role.arn,
        source_id=role.role_id,
        source_name=role.name,
        session_name=req.session_name,
        session_policy=req.policy,
        policy_arns=req.policy_arns,
        tags=req.tags,
        transitive_tag_keys=req.transitive_tag_keys,
        source_identity=req.source_identity,
        mfa_authenticated=req.mfa_authenticated,
        mfa_auth_time=req.mfa_auth_time,
        chain_depth=req.chain_depth,
        federated_provider=req.federated_provider,
        original_expires_at=expires,
        web_identity_claims=req.web_identity_claims,
        tip_context=req.tip_context,
    )
    issued = ctx.sessions.issue(session, now, min_size=req.min_token_size)
    if req.on_issued is not None:
        req.on_issued()
    if role.last_used_at is None or now - role.last_used_at >= _LAST_USED_EVERY:
        ctx.record_use(
            ("role", role.account_id, role.name.lower()),
            partial(
                ctx.store.update_role,
                role.account_id,
                role.name,
                last_used_at=now,
                last_used_region=ctx.region,
            ),
        )
    result: dict[str, object] = {
        "Credentials": credentials_shape(issued),
        "AssumedRoleUser": {
            "AssumedRoleId": f"{role.role_id}:{req.session_name}",
            "Arn": arns.assumed_role_arn(role.account_id, role.name, req.session_name),
        },
        # PackedPolicySize (now the token's utilization) only where AWS sent it before
        **packing.token_size_fields(
            issued, packed_policy_size=bool(req.policy is not None or req.policy_arns or req.tags)
        ),
    }
    if req.source_identity is not None:
        result["SourceIdentity"] = req.source_identity
    return result
