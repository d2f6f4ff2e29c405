"""STS ``AssumeRoleWithWebIdentity`` for OpenID Connect ID tokens (docs/wire-facts.md
§4.8, §4.10, §4.5): trade a token from an IdP the role's account trusts (an IAM
OpenID Connect provider, ``tessera.iam.ops_oidc``) for role credentials. Unsigned
(the pipeline lets it through without SigV4; a signature, if present, is ignored).
Not to be confused with ``sts.web_identity`` — the *outbound* GetWebIdentityToken.

Order of checks (cheap and token-local first; nothing about the role is revealed
before the token has verified, so unauthenticated callers cannot probe roles):

1. ``RoleArn`` well-formed (``ValidationError``); ``ProviderId`` is refused (OAuth
   2.0 providers are not supported).
2. The token parses as a compact JWS with an allowed ``alg`` (RS256/384/512,
   ES256/384/512) and a string ``iss`` → else ``InvalidIdentityToken`` "The ID Token
   provided is not a valid JWT…".
3. An IAM OIDC provider in the *role's* account whose URL is ``iss`` (without the
   scheme; the scheme must match too) → else "No OpenIDConnect provider found in
   your account for <iss>".
4. ``aud`` (string or array) present and one of its values among the provider's
   client ids → "Missing a required claim: aud" / "Incorrect token audience".
5. Keys from discovery + JWKS (``tessera.federation.oidc``, cached): unreachable /
   timeouts / 5xx → ``IDPCommunicationError``; unusable documents, no key for the
   ``kid`` → ``InvalidIdentityToken`` "Couldn't retrieve verification key…"; TLS
   certificate failure → "OpenIDConnect provider's HTTPS certificate doesn't match
   configured thumbprint".
6. Signature (the key's algorithm bound to the token's) → ``InvalidIdentityToken``.
7. Claims: ``sub`` string, NumericDate ``exp``/``iat``/``nbf`` integers; ``exp`` +
   5 min (IAM's documented clock-skew allowance) in the past →
   ``ExpiredTokenException`` "Token expired: current date/time <now> must be before
   the expiration date/time <exp>"; ``iat`` / ``nbf`` more than 5 min in the future
   → ``InvalidIdentityToken``.
8. Session tags from ``https://aws.amazon.com/tags`` (``principal_tags`` with
   single-element array values, ``transitive_tag_keys``) and the source identity
   from ``https://aws.amazon.com/source_identity``; malformed → ``IDPRejectedClaim``.
9. The role (unknown role → the same ``AccessDenied`` as a refused trust policy),
   ``DurationSeconds`` against its maximum (no role-chaining cap: a web-identity
   session is not chained; assuming a role *from* it is), session policies.
10. The trust decision (``Authorizer.authorize_federated``, principal kind
    ``web-identity`` whose ``federated_provider`` is the provider ARN) for
    ``sts:AssumeRoleWithWebIdentity`` with ``<provider>:aud``, ``<provider>:sub``,
    ``<provider>:amr``, ``sts:RoleSessionName``, ``aws:FederatedProvider`` and the
    tag keys; plus ``sts:TagSession`` when the token carries tags and
    ``sts:SetSourceIdentity`` when it carries a source identity → ``AccessDenied``
    "Not authorized to perform <action>".
11. ``issue_role_session``: the session remembers the provider ARN
    (``aws:FederatedProvider`` on later requests, ``federated_provider`` in later
    outbound tokens) and the ``<provider>:aud`` / ``<provider>:sub`` values.

Texts: **[C]** seen verbatim in real AWS answers (issue threads quoted in the
comments), **[I]** inferred. The token is never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

import regex

from tessera import arn as arns
from tessera.errors import (
    AccessDenied,
    ExpiredTokenException,
    IDPCommunicationError,
    IDPRejectedClaim,
    InvalidIdentityToken,
    InvalidParameterValue,
)
from tessera.federation.oidc import (
    ALGORITHMS,
    IdpCertificateError,
    IdpDocumentError,
    IdpUnreachable,
    InboundOidc,
    MalformedToken,
    UnknownSigningKey,
    UnverifiedToken,
    VerifiedClaims,
)
from tessera.iam.model import Tag
from tessera.iam.oidc_model import OidcProvider, ProviderUrlError, parse_provider_url
from tessera.iam.policy import PrincipalInfo
from tessera.iam.tip_model import BadValue, MissingSubject, render_context
from tessera.iam.tip_model import session_keys as tip_session_keys
from tessera.jose.errors import (
    BadSignature,
    InvalidClaim,
    JoseError,
    MissingClaim,
    TokenExpired,
    TokenNotYetValid,
    WrongAudience,
)
from tessera.operation import ContextValue, OperationContext, Result
from tessera.protocol.inputs import AssumeRoleWithWebIdentityMembers
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.sts import durations, packing
from tessera.sts import tags as session_tags
from tessera.sts.assume import (
    RoleSessionRequest,
    issue_role_session,
    parse_role_arn,
    session_policy_from,
)

log = logging.getLogger("tessera.sts.web_identity_federation")

ACTION: Final = "sts:AssumeRoleWithWebIdentity"
TAGS_CLAIM: Final = "https://aws.amazon.com/tags"
SOURCE_IDENTITY_CLAIM: Final = "https://aws.amazon.com/source_identity"
# IAM User Guide, "OIDC federation": IAM allows five minutes past ``exp`` for clock skew.
EXP_LEEWAY_SECONDS: Final = 300
# [I] the same allowance for ``iat`` / ``nbf`` in the future
FUTURE_LEEWAY_SECONDS: Final = 300

# [C] hashicorp/vault issue logs, Cognito docs: InvalidIdentityToken for a non-JWT
NOT_A_JWT: Final = (
    "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)"
)
# [C] awslabs/amazon-eks-irsa-cfn#18, aws-actions/configure-aws-credentials#775
INCORRECT_AUDIENCE: Final = "Incorrect token audience"
# [C] docs/wire-facts.md §4.10 (the double space is AWS's)
NO_VERIFICATION_KEY: Final = (
    "Couldn't retrieve verification key from your identity provider,  please reference "
    "AssumeRoleWithWebIdentity documentation for requirements"
)
# [C] EKS / GitHub Actions troubleshooting guides quoting STS
THUMBPRINT_MISMATCH: Final = (
    "OpenIDConnect provider's HTTPS certificate doesn't match configured thumbprint"
)
# [I] AWS's text for an unreachable IdP is not published
IDP_UNREACHABLE: Final = (
    "Couldn't retrieve verification key from your identity provider: the identity "
    "provider could not be reached. Retry the request later."
)
# [I]
SIGNATURE_INVALID: Final = "The signature of the web identity token could not be verified."
# [I] ProviderId is for the OAuth 2.0 providers www.amazon.com / graph.facebook.com
PROVIDER_ID_UNSUPPORTED: Final = (
    "ProviderId is only for OAuth 2.0 access tokens of www.amazon.com and graph.facebook.com, "
    "which this STS does not support; omit it for OpenID Connect ID tokens."
)

_TAG_KEY = regex.compile(r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+")
_TAG_VALUE = regex.compile(r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*")
_SOURCE_IDENTITY = regex.compile(r"[\w+=,.@-]*")


def no_provider(iss: str) -> InvalidIdentityToken:
    # [C] "No OpenIDConnect provider found in your account for https://sts.windows.net/…/"
    return InvalidIdentityToken(f"No OpenIDConnect provider found in your account for {iss}")


def missing_claim(name: str) -> InvalidIdentityToken:
    # [C] for aud (aws/aws-sdk-ruby#2698); the same form for the others [I]
    return InvalidIdentityToken(f"Missing a required claim: {name}")


def expired(now: int, exp: int) -> ExpiredTokenException:
    # [C] aws/aws-sdk-java-v2#5709 (2024; older answers lacked the last space)
    return ExpiredTokenException(
        f"Token expired: current date/time {now} must be before the expiration date/time {exp}"
    )


def _denied(action: str = ACTION) -> AccessDenied:
    return AccessDenied(f"Not authorized to perform {action}")  # [C] docs/wire-facts.md §4.10


# --- token claims -------------------------------------------------------------------------


def _audiences(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if aud is None:
        raise missing_claim("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return list(aud)
    raise InvalidIdentityToken(INCORRECT_AUDIENCE)


def _sts_error(exc: JoseError) -> InvalidIdentityToken | ExpiredTokenException:
    """The AWS error for a token ``tessera.jose.verify`` rejected (after the keys
    were found; NumericDates must be integers, as IAM requires)."""
    if isinstance(exc, TokenExpired):
        return expired(int(exc.now), exc.exp)
    if isinstance(exc, TokenNotYetValid) and exc.claim == "nbf":
        # [I]
        return InvalidIdentityToken(
            f"Token not yet valid: current date/time {int(exc.now)} must be after the "
            f"not-before date/time {exc.value}"
        )
    if isinstance(exc, TokenNotYetValid):
        # [I]
        return InvalidIdentityToken(
            f"Token used before issued: current date/time {int(exc.now)} must be after the "
            f"issued-at date/time {exc.value}"
        )
    if isinstance(exc, MissingClaim):
        return missing_claim(exc.claim)
    if isinstance(exc, InvalidClaim) and exc.claim in ("exp", "iat", "nbf"):
        # IAM: "Timestamps in the token must be formatted as either an integer or a long integer"
        return InvalidIdentityToken(
            f"Invalid {exc.claim} claim: it must be an integer NumericDate."
        )
    if isinstance(exc, InvalidClaim) and exc.claim == "sub":
        return InvalidIdentityToken("Invalid sub claim: it must be a non-empty string.")  # [I]
    if isinstance(exc, WrongAudience | InvalidClaim):
        return InvalidIdentityToken(INCORRECT_AUDIENCE)
    if isinstance(exc, BadSignature):
        return InvalidIdentityToken(SIGNATURE_INVALID)
    return InvalidIdentityToken(NOT_A_JWT)  # wrong alg/issuer: excluded before the keys


def _rejected(message: str) -> IDPRejectedClaim:
    return IDPRejectedClaim(message)  # [I] texts: AWS publishes none for these claims


def _tag_value(key: str, raw: object) -> str:
    # AWS documents single-element arrays ({"Project": ["Automation"]}); a plain
    # string is accepted as well [I]
    if isinstance(raw, list) and len(raw) == 1:
        raw = raw[0]
    if not isinstance(raw, str):
        raise _rejected(
            f"The session tag {key!r} in the {TAGS_CLAIM} claim must have exactly one string value."
        )
    if len(raw) > 256 or not _TAG_VALUE.fullmatch(raw):
        raise _rejected(f"The value of session tag {key!r} in the {TAGS_CLAIM} claim is invalid.")
    return raw


def session_tags_from(claims: Mapping[str, Any]) -> session_tags.SessionTags:
    """The session tags and transitive keys a token carries (``IDPRejectedClaim`` when
    the claim is malformed or breaks a session-tag rule)."""
    raw = claims.get(TAGS_CLAIM)
    if raw is None:
        return session_tags.SessionTags()
    if not isinstance(raw, dict):
        raise _rejected(f"The {TAGS_CLAIM} claim must be a JSON object.")
    principal = raw.get("principal_tags", {})
    transitive = raw.get("transitive_tag_keys", [])
    if not isinstance(principal, dict):
        raise _rejected(f"principal_tags in the {TAGS_CLAIM} claim must be a JSON object.")
    if not isinstance(transitive, list) or not all(isinstance(k, str) for k in transitive):
        raise _rejected(
            f"transitive_tag_keys in the {TAGS_CLAIM} claim must be an array of strings."
        )
    tags: list[Tag] = []
    for key, value in principal.items():
        if not 1 <= len(key) <= 128 or not _TAG_KEY.fullmatch(key):
            raise _rejected(f"The session tag key {key!r} in the {TAGS_CLAIM} claim is invalid.")
        tags.append(Tag(key, _tag_value(key, value)))
    try:
        return session_tags.build_session_tags(tags, transitive)
    except InvalidParameterValue as exc:
        raise _rejected(exc.message) from exc


def source_identity_from(claims: Mapping[str, Any]) -> str | None:
    value = claims.get(SOURCE_IDENTITY_CLAIM)
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not 2 <= len(value) <= 256
        or not _SOURCE_IDENTITY.fullmatch(value)
        or value.lower().startswith("aws:")
    ):
        raise _rejected(
            f"The {SOURCE_IDENTITY_CLAIM} claim must be 2-256 characters of [\\w+=,.@-] "
            "and must not start with 'aws:'."
        )
    return value


# --- verification ---------------------------------------------------------------------------


def _client(ctx: OperationContext) -> InboundOidc:
    return ctx.inbound_oidc


def _provider_for(ctx: OperationContext, account_id: str, iss: str) -> OidcProvider:
    """The provider whose URL is ``iss`` (host compared case-insensitively, scheme and
    path exactly)."""
    try:
        parsed = parse_provider_url(iss)
    except ProviderUrlError as exc:
        raise no_provider(iss) from exc
    provider = ctx.store.get_oidc_provider(account_id, parsed.url)
    if provider is None or provider.scheme != parsed.scheme:
        raise no_provider(iss)
    return provider


def verify_token(
    ctx: OperationContext, account_id: str, raw_token: str
) -> tuple[OidcProvider, VerifiedClaims]:
    """Steps 2–7: the provider and the claims ``tessera.jose`` verified (its
    ``audience`` is the first token audience among the provider's client ids)."""
    try:
        token = UnverifiedToken.parse(raw_token)
    except MalformedToken as exc:
        raise InvalidIdentityToken(NOT_A_JWT) from exc
    if token.alg not in ALGORITHMS:  # none, HS*, anything unknown
        raise InvalidIdentityToken(NOT_A_JWT)
    iss = token.claims.get("iss")
    if not isinstance(iss, str) or not iss:
        raise InvalidIdentityToken(NOT_A_JWT)
    provider = _provider_for(ctx, account_id, iss)
    audiences = _audiences(token.claims)
    matched = next((a for a in audiences if a in provider.client_ids), None)
    if matched is None:
        raise InvalidIdentityToken(INCORRECT_AUDIENCE)
    try:
        verified = _client(ctx).verify(
            token,
            issuer=iss,
            audiences=provider.client_ids,
            leeway=EXP_LEEWAY_SECONDS,  # == FUTURE_LEEWAY_SECONDS: exp, iat and nbf
            now=ctx.now.timestamp(),
        )
    except IdpUnreachable as exc:
        log.info("IdP %s unreachable: %s", iss, exc)
        raise IDPCommunicationError(IDP_UNREACHABLE) from exc
    except IdpCertificateError as exc:
        log.info("IdP %s certificate: %s", iss, exc)
        raise InvalidIdentityToken(THUMBPRINT_MISMATCH) from exc
    except (IdpDocumentError, UnknownSigningKey) as exc:
        log.info("no verification key from %s: %s", iss, exc)
        raise InvalidIdentityToken(NO_VERIFICATION_KEY) from exc
    except JoseError as exc:
        raise _sts_error(exc) from exc
    return provider, verified


# --- trusted identity propagation -----------------------------------------------------------


def _tip_context(provider: OidcProvider, claims: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The TIP keys of the session when the provider has a ContextProvider
    (reference §1.4): ``aws:OriginIdentity/Issuer`` is the token's ``iss`` without
    its scheme (the provider URL), ``FederatedProviderArn`` the provider ARN. A
    missing subject claim refuses the call (``InvalidIdentityToken`` "Missing a
    required claim: <SubjectSourceKey>"); a non-string, multi-valued or
    > 128-character value is ``IDPRejectedClaim`` [I: refused, never truncated]."""
    cp = provider.context_provider
    if cp is None:
        return ()
    try:
        return tip_session_keys(cp, claims, issuer=provider.url, provider_arn=provider.arn)
    except MissingSubject as exc:
        raise missing_claim(str(exc)) from None
    except BadValue as exc:
        raise _rejected(
            f"The claim {exc.source!r} named by the provider's ContextProvider must be a "
            "string of 1-128 characters."
        ) from None


# --- the operation ------------------------------------------------------------------------


def _amr(value: object) -> ContextValue | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


@operation(
    "sts",
    "AssumeRoleWithWebIdentity",
    action="sts:AssumeRoleWithWebIdentity",
    signed=False,
    requires="inbound_oidc",
)
def assume_role_with_web_identity(
    ctx: OperationContext, params: Params[AssumeRoleWithWebIdentityMembers]
) -> Result:
    role_arn = params.req_str("RoleArn")
    session_name = params.req_str("RoleSessionName")
    raw_token = params.req_str("WebIdentityToken")
    ref = parse_role_arn(role_arn)  # ValidationError for a malformed ARN
    if params.get_str("ProviderId") is not None:
        raise InvalidIdentityToken(PROVIDER_ID_UNSUPPORTED)
    if ref is None:
        raise _denied()
    provider, verified = verify_token(ctx, ref.account_id, raw_token)
    audience, subject, claims = verified.audience, verified.subject, verified.claims
    tagset = session_tags_from(claims)
    source_identity = source_identity_from(claims)

    role = ctx.store.get_role(ref.account_id, ref.name)
    if role is None or role.path != ref.path:
        raise _denied()
    seconds = durations.assume_role_seconds(
        params.get_int("DurationSeconds"), role.max_session_duration, chained=False
    )
    policy, policy_arns = session_policy_from(ctx, params, role.account_id)

    tip = _tip_context(provider, claims)
    prefix = provider.url
    keys: dict[str, ContextValue] = {
        f"{prefix}:aud": audience,
        f"{prefix}:sub": subject,
        "sts:RoleSessionName": session_name,
    }
    amr = _amr(claims.get("amr"))
    if amr is not None:
        keys[f"{prefix}:amr"] = amr
    if source_identity is not None:
        keys["sts:SourceIdentity"] = source_identity
    keys.update(session_tags.request_keys(tagset.requested, tagset.requested_transitive))
    keys.update(tip)  # the trust policy of this very call can test the TIP keys
    principal = PrincipalInfo(
        arn=provider.arn, account=None, kind="web-identity", federated_provider=provider.arn
    )
    authz = ctx.authorizer
    authz.authorize_federated(ctx, ACTION, role, principal, request_keys=keys)
    if tagset.tags:
        authz.authorize_federated(ctx, "sts:TagSession", role, principal, request_keys=keys)
    if source_identity is not None:
        authz.authorize_federated(ctx, "sts:SetSourceIdentity", role, principal, request_keys=keys)

    result = issue_role_session(
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
            chain_depth=0,
            federated_provider=provider.arn,
            web_identity_claims=((f"{prefix}:aud", audience), (f"{prefix}:sub", subject)),
            min_token_size=packing.minimum_token_size(params),
            tip_context=tip,
        ),
    )
    context = render_context(tip)
    if context is not None:  # sensitive: returned, never logged
        result["TrustedIdentityPropagationContext"] = context
    result["SubjectFromWebIdentityToken"] = subject
    result["Audience"] = audience
    result["Provider"] = provider.arn
    log.info(
        "web identity session for %s from %s (sub=%s)",
        arns.assumed_role_arn(role.account_id, role.name, session_name),
        provider.arn,
        subject[:255],
    )
    return result
