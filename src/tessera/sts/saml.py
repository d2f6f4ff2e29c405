"""STS ``AssumeRoleWithSAML`` (docs/wire-facts.md §4.2, §4.9): an unsigned call that trades a
SAML 2.0 Response from an IdP registered as an IAM SAML provider for a role session.

Order of checks:

1. ``RoleArn`` / ``PrincipalArn`` syntax (``ValidationError``); the provider named by
   ``PrincipalArn`` must exist ("Specified provider doesn't exist" [C]) and its
   metadata must not be past ``ValidUntil`` [I].
2. The Response itself (``tessera.federation.saml.response``: hardened XML, exactly one
   assertion, signatures against the metadata certificates, Issuer, times,
   Audience and Recipient). Accepted Recipient / Audience values — AWS's sign-in
   endpoints and Tessera's own (see ``accepted_endpoints``):
   ``https://signin.aws.amazon.com/saml``, ``https://<region>.signin.aws.amazon.com/saml``
   (and the ``/static/saml`` forms [I]), ``<public-url>/saml``; as Audience also
   ``urn:amazon:webservices`` (Keycloak's default, accepted by AWS [I]).
3. The ``https://aws.amazon.com/SAML/Attributes/Role`` values: ``role,provider`` pairs in
   either order, one must be exactly (RoleArn, PrincipalArn) — else
   "SAML Assertion doesn't contain the requested Role and Metadata in the attributes"
   [C]. Then ``RoleSessionName`` [C texts], ``SourceIdentity`` [C text],
   ``PrincipalTag:*`` and ``TransitiveTagKeys`` (session tags), ``SessionDuration``.
4. The role (missing, or no NameID in the assertion: "Not authorized to perform
   sts:AssumeRoleWithSAML" [C]), ``DurationSeconds`` against the role's maximum,
   session policies, and the trust decision through
   ``Authorizer.authorize_federated`` with the ``saml:*`` keys (``saml:aud`` =
   Recipient, ``saml:iss``, ``saml:sub``, ``saml:sub_type``, ``saml:namequalifier``,
   ``saml:doc`` and the eduPerson/eduOrg/X.500 attribute keys), ``sts:RoleSessionName``,
   ``sts:SourceIdentity``, ``sts:TransitiveTagKeys``, ``aws:RequestTag/*``,
   ``aws:TagKeys`` — plus ``sts:TagSession`` when the assertion carries tags and
   ``sts:SetSourceIdentity`` when it carries a source identity (AWS answers those
   denials with the same AssumeRoleWithSAML text).
5. The packed size, then the replay cache: the assertion ID is recorded for the
   provider (atomic insert-or-fail in the store) until the assertion expires; a
   second use is refused [I: AWS documents no replay check].

The session lasts ``DurationSeconds`` (default: the ``SessionDuration`` attribute
capped at the role's maximum [I], else 3600 s), and never past the assertion's
``SessionNotOnOrAfter``. It carries ``federated_provider`` = the provider ARN and the
``saml:namequalifier`` / ``saml:sub`` / ``saml:sub_type`` values for permission
policies. The SAML response is never logged."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Sequence
from typing import Final

import regex

from tessera import arn as arns
from tessera.errors import (
    AccessDenied,
    ExpiredTokenException,
    InvalidIdentityToken,
    InvalidParameterValue,
    ValidationError,
)
from tessera.federation.saml.encryption import decryptor_for
from tessera.federation.saml.metadata import IdpMetadata, MetadataError, parse_metadata
from tessera.federation.saml.response import RelyingParty, VerifiedAssertion, verify_response
from tessera.iam.model import Role, Tag
from tessera.iam.ops_saml import ProviderRef, parse_provider_arn, private_key_objects
from tessera.iam.policy import PrincipalInfo
from tessera.iam.saml_model import SamlProvider
from tessera.iam.tip_model import BadValue, MissingSubject, render_context, saml_key_hash
from tessera.iam.tip_model import session_keys as tip_session_keys
from tessera.operation import ContextValue, OperationContext, Result
from tessera.protocol.inputs import AssumeRoleWithSAMLMembers
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

log = logging.getLogger("tessera.sts.saml")

ACTION: Final = "sts:AssumeRoleWithSAML"
ATTRIBUTES: Final = "https://aws.amazon.com/SAML/Attributes/"
ROLE_ATTRIBUTE: Final = ATTRIBUTES + "Role"
SESSION_NAME_ATTRIBUTE: Final = ATTRIBUTES + "RoleSessionName"
SOURCE_IDENTITY_ATTRIBUTE: Final = ATTRIBUTES + "SourceIdentity"
SESSION_DURATION_ATTRIBUTE: Final = ATTRIBUTES + "SessionDuration"
TRANSITIVE_ATTRIBUTE: Final = ATTRIBUTES + "TransitiveTagKeys"
PRINCIPAL_TAG_PREFIX: Final = ATTRIBUTES + "PrincipalTag:"
NAMEID_PREFIX: Final = "urn:oasis:names:tc:SAML:2.0:nameid-format:"
UNSPECIFIED_FORMAT: Final = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"

AWS_SIGNIN: Final = "https://signin.aws.amazon.com/saml"
AWS_AUDIENCE_URN: Final = "urn:amazon:webservices"
_REGIONAL_SIGNIN: Final = re.compile(
    r"^https://(?:[a-z]{2}(?:-[a-z]+)+-\d+\.)?signin\.aws\.amazon\.com/(?:static/)?saml$"
)

# --- AWS's texts ----------------------------------------------------------------------------
# [C] real STS answers quoted in public threads / AWS's SAML troubleshooting guide
NOT_AUTHORIZED: Final = "Not authorized to perform sts:AssumeRoleWithSAML"
NO_SUCH_PROVIDER: Final = "Specified provider doesn't exist"
ROLE_NOT_IN_ASSERTION: Final = (
    "SAML Assertion doesn't contain the requested Role and Metadata in the attributes"
)
SESSION_NAME_REQUIRED: Final = "RoleSessionName is required in AuthnResponse"
SESSION_NAME_INVALID: Final = "RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}"
# [C] with {2,64}; AWS raised the limit to 256 (botocore 1.44.8), the new text is [I]
SOURCE_IDENTITY_INVALID: Final = (
    'Source Identity must match [a-zA-Z_0-9+=,.@-]{2,256} and not begin with "aws:"'
)
REQUEST_ARN_INVALID: Final = "Request ARN is invalid"
# [I]
PROVIDER_EXPIRED: Final = "The metadata of the specified provider has expired (ValidUntil)."
SESSION_DURATION_INVALID: Final = (
    "SessionDuration in AuthnResponse must be an integer between 900 and 43200"
)
TAG_INVALID: Final = "The SAML assertion contains an invalid session tag: {detail}"
SESSION_ENDED: Final = "The SAML session has ended (SessionNotOnOrAfter)"
REPLAYED: Final = "The SAML assertion has already been used"

_SESSION_NAME: Final = re.compile(r"^[A-Za-z0-9_+=,.@-]{2,64}$")
_SOURCE_IDENTITY: Final = re.compile(r"[A-Za-z0-9_+=,.@-]{2,256}")
_TAG_TEXT: Final = regex.compile(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$")
MAX_TAG_KEY: Final = 128
MAX_TAG_VALUE: Final = 256
SESSION_DURATION_MIN: Final = 900
SESSION_DURATION_MAX: Final = 43_200

# SAML attribute names AWS turns into ``saml:*`` trust-policy keys [I: the key names are
# documented, the attribute names are the standard eduPerson / eduOrg / X.500 OIDs]
ATTRIBUTE_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.1": ("saml:edupersonaffiliation",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.2": ("saml:edupersonnickname",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.3": ("saml:edupersonorgdn",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.4": ("saml:edupersonorgunitdn",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.5": ("saml:edupersonprimaryaffiliation",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.6": ("saml:edupersonprincipalname",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.7": ("saml:edupersonentitlement",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.8": ("saml:edupersonprimaryorgunitdn",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.9": ("saml:edupersonscopedaffiliation",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.10": ("saml:edupersontargetedid",),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.11": ("saml:edupersonassurance",),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.2": ("saml:eduorghomepageuri",),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.3": ("saml:eduorgidentityauthnpolicyuri",),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.4": ("saml:eduorglegalname",),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.5": ("saml:eduorgsuperioruri",),
    "urn:oid:1.3.6.1.4.1.5923.1.2.1.6": ("saml:eduorgwhitepagesuri",),
    "urn:oid:2.5.4.3": ("saml:cn", "saml:commonName"),
    "urn:oid:2.5.4.4": ("saml:surname",),
    "urn:oid:2.5.4.41": ("saml:name",),
    "urn:oid:2.5.4.42": ("saml:givenName",),
    "urn:oid:2.5.4.45": ("saml:x500UniqueIdentifier",),
    "urn:oid:0.9.2342.19200300.100.1.1": ("saml:uid",),
    "urn:oid:0.9.2342.19200300.100.1.3": ("saml:mail",),
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/primarygroupsid": (
        "saml:primaryGroupSID",
    ),
}


def accepted_endpoints(public_url: str) -> tuple[frozenset[str], frozenset[str]]:
    """(extra Recipient values, extra Audience values) Tessera accepts besides AWS's
    sign-in endpoints: its own ``<public-url>/saml``."""
    own = public_url.rstrip("/") + "/saml"
    return frozenset({own}), frozenset({own, AWS_AUDIENCE_URN})


def relying_party(ctx: OperationContext) -> RelyingParty:
    recipients, audiences = accepted_endpoints(ctx.config.effective_public_url)

    def recipient_ok(value: str) -> bool:
        return value in recipients or bool(_REGIONAL_SIGNIN.match(value))

    def audience_ok(value: str) -> bool:
        return value in audiences or bool(_REGIONAL_SIGNIN.match(value))

    return RelyingParty(now=ctx.now, accept_recipient=recipient_ok, accept_audience=audience_ok)


def name_qualifier(issuer: str, account_id: str, provider_name: str) -> str:
    """BASE64(SHA1(Issuer + AccountID + "/" + ProviderName)) [M docs]."""
    digest = hashlib.sha1(  # noqa: S324 - AWS's documented identifier, not a security use
        f"{issuer}{account_id}/{provider_name}".encode()
    ).digest()
    return base64.b64encode(digest).decode()


def subject_type(name_format: str | None) -> str:
    """AWS's ``SubjectType``: the NameID Format without the SAML 2.0 nameid-format prefix
    (``persistent``, ``transient``); other formats unchanged [M docs]. No Format is the
    SAML default, ``…:1.1:nameid-format:unspecified`` [I]."""
    fmt = name_format or UNSPECIFIED_FORMAT
    return fmt[len(NAMEID_PREFIX) :] if fmt.startswith(NAMEID_PREFIX) else fmt


def _provider(ctx: OperationContext, principal_arn: str) -> tuple[ProviderRef, SamlProvider]:
    if arns.parse_arn(principal_arn) is None:
        raise ValidationError(REQUEST_ARN_INVALID)
    ref = parse_provider_arn(principal_arn)
    provider = None if ref is None else ctx.store.get_saml_provider(ref.account_id, ref.name)
    if ref is None or provider is None or provider.arn != principal_arn:
        raise InvalidIdentityToken(NO_SUCH_PROVIDER)
    if provider.valid_until <= ctx.now:
        raise InvalidIdentityToken(PROVIDER_EXPIRED)
    return ref, provider


def role_pairs(values: Sequence[str]) -> list[tuple[str, str]]:
    """(role ARN, provider ARN) of each ``Role`` attribute value, whichever order the
    IdP wrote them in; values that are not such a pair are skipped."""
    pairs: list[tuple[str, str]] = []
    for value in values:
        parts = [p.strip() for p in value.split(",")]
        if len(parts) != 2:
            continue
        first, second = parts
        if ":saml-provider/" in first and ":role/" in second:
            first, second = second, first
        if ":role/" in first and ":saml-provider/" in second:
            pairs.append((first, second))
    return pairs


def _single(assertion: VerifiedAssertion, name: str) -> str | None:
    values = assertion.values(name)
    if not values:
        return None
    return values[0]


def _session_tags(assertion: VerifiedAssertion) -> session_tags.SessionTags:
    requested: list[Tag] = []
    for attribute in assertion.attributes:
        if not attribute.name.startswith(PRINCIPAL_TAG_PREFIX):
            continue
        key = attribute.name[len(PRINCIPAL_TAG_PREFIX) :]
        if not key or len(key) > MAX_TAG_KEY or not _TAG_TEXT.match(key):
            raise InvalidIdentityToken(TAG_INVALID.format(detail=f"key {key!r}"))
        if len(attribute.values) != 1:
            raise InvalidIdentityToken(TAG_INVALID.format(detail=f"{key} needs exactly one value"))
        value = attribute.values[0]
        if len(value) > MAX_TAG_VALUE or not _TAG_TEXT.match(value):
            raise InvalidIdentityToken(TAG_INVALID.format(detail=f"value of {key}"))
        requested.append(Tag(key, value))
    transitive = list(assertion.values(TRANSITIVE_ATTRIBUTE) or ())
    try:
        return session_tags.build_session_tags(requested, transitive)
    except InvalidParameterValue as exc:  # the assertion is at fault, not the request
        raise InvalidIdentityToken(exc.message) from exc


def _session_duration(assertion: VerifiedAssertion) -> int | None:
    raw = _single(assertion, SESSION_DURATION_ATTRIBUTE)
    if raw is None:
        return None
    if not raw.isdigit() or not SESSION_DURATION_MIN <= int(raw) <= SESSION_DURATION_MAX:
        raise InvalidIdentityToken(SESSION_DURATION_INVALID)
    return int(raw)


def _source_identity(assertion: VerifiedAssertion) -> str | None:
    value = _single(assertion, SOURCE_IDENTITY_ATTRIBUTE)
    if value is None:
        return None
    if not _SOURCE_IDENTITY.fullmatch(value) or value.lower().startswith("aws:"):
        raise InvalidIdentityToken(SOURCE_IDENTITY_INVALID)
    return value


def attribute_keys(assertion: VerifiedAssertion) -> dict[str, ContextValue]:
    keys: dict[str, ContextValue] = {}
    for attribute_name, key_names in ATTRIBUTE_KEYS.items():
        values = assertion.values(attribute_name)
        if not values:
            continue
        value: ContextValue = values[0] if len(values) == 1 else tuple(values)
        for key in key_names:
            keys[key] = value
    return keys


def _role(ctx: OperationContext, role_arn: str) -> Role:
    ref = parse_role_arn(role_arn)  # ValidationError for a malformed ARN
    if ref is None:
        raise ValidationError(REQUEST_ARN_INVALID)
    role = ctx.store.get_role(ref.account_id, ref.name)
    if role is None or role.path != ref.path or role.arn != role_arn:
        raise AccessDenied(NOT_AUTHORIZED)
    return role


# --- trusted identity propagation -------------------------------------------------------------

#: the SAML source key naming the assertion's NameID (AWS's recommended subject source)
NAME_ID_SOURCE: Final = "Subject/NameID"


def _verified(
    ctx: OperationContext, encoded: str, provider: SamlProvider, metadata: IdpMetadata
) -> tuple[VerifiedAssertion, str | None]:
    """The verified assertion and, for a provider with a ContextProvider, the hash
    (``tip_model.saml_key_hash``) of the metadata key that verified it: with several
    signing keys each is tried alone, so the hash names the key that signed."""
    decrypt = decryptor_for(private_key_objects(ctx, provider))
    required = provider.encryption_mode == "Required"
    candidates = metadata.certificates if provider.context_provider is not None else ()
    if len(candidates) <= 1:
        assertion = verify_response(
            encoded, metadata, relying_party(ctx), decrypt=decrypt, require_encryption=required
        )
        return assertion, saml_key_hash(candidates[0]) if candidates else None
    failure: InvalidIdentityToken | None = None
    for cert in candidates:
        single = IdpMetadata(metadata.entity_id, (cert,), metadata.valid_until)
        try:
            assertion = verify_response(
                encoded, single, relying_party(ctx), decrypt=decrypt, require_encryption=required
            )
        except InvalidIdentityToken as exc:
            failure = exc
            continue
        return assertion, saml_key_hash(cert)
    assert failure is not None
    raise failure


def _tip_context(
    provider: SamlProvider, assertion: VerifiedAssertion, key_hash: str | None
) -> tuple[tuple[str, str], ...]:
    """The TIP keys of the session (reference §1.4). Source keys name an attribute
    of the assertion, or ``Subject/NameID`` its NameID; ``aws:OriginIdentity/Issuer``
    is the hash of the signing key (as in ``SAMLKeyHashes``). A missing subject
    refuses the call ("Not authorized to perform sts:AssumeRoleWithSAML", as for a
    missing NameID [I]); a multi-valued or > 128-character value is
    ``InvalidIdentityToken`` [I]."""
    cp = provider.context_provider
    if cp is None or key_hash is None:
        return ()
    lookup: dict[str, object] = {a.name: list(a.values) for a in assertion.attributes}
    if assertion.name_id is not None:
        lookup[NAME_ID_SOURCE] = assertion.name_id
    try:
        return tip_session_keys(cp, lookup, issuer=key_hash, provider_arn=provider.arn)
    except MissingSubject:
        raise AccessDenied(NOT_AUTHORIZED) from None
    except BadValue as exc:
        raise InvalidIdentityToken(
            f"Invalid SAML response: the value of {exc.source!r} named by the provider's "
            "ContextProvider must be a single string of 1-128 characters."
        ) from None


@operation("sts", "AssumeRoleWithSAML", action="sts:AssumeRoleWithSAML", signed=False)
def assume_role_with_saml(
    ctx: OperationContext, params: Params[AssumeRoleWithSAMLMembers]
) -> Result:
    role_arn = params.req_str("RoleArn")
    principal_arn = params.req_str("PrincipalArn")
    parse_role_arn(role_arn)  # malformed ARNs fail before anything else
    ref, provider = _provider(ctx, principal_arn)
    try:
        metadata = parse_metadata(provider.metadata_document)
    except MetadataError as exc:  # stored documents parsed when uploaded
        log.warning("stored metadata of %s no longer parses", provider.arn)
        raise InvalidIdentityToken(NO_SUCH_PROVIDER) from exc
    assertion, key_hash = _verified(ctx, params.req_str("SAMLAssertion"), provider, metadata)

    # --- what the assertion says ---------------------------------------------------------
    if (role_arn, principal_arn) not in role_pairs(assertion.values(ROLE_ATTRIBUTE) or ()):
        raise InvalidIdentityToken(ROLE_NOT_IN_ASSERTION)
    session_name = _single(assertion, SESSION_NAME_ATTRIBUTE)
    if session_name is None:
        raise InvalidIdentityToken(SESSION_NAME_REQUIRED)
    if not _SESSION_NAME.match(session_name):
        raise InvalidIdentityToken(SESSION_NAME_INVALID)
    source_identity = _source_identity(assertion)
    tagset = _session_tags(assertion)
    session_duration = _session_duration(assertion)
    if assertion.name_id is None:
        raise AccessDenied(NOT_AUTHORIZED)
    subject = assertion.name_id
    sub_type = subject_type(assertion.name_id_format)
    qualifier = name_qualifier(assertion.issuer, ref.account_id, provider.name)
    tip = _tip_context(provider, assertion, key_hash)

    # --- the role, durations, session policies ----------------------------------------------
    role = _role(ctx, role_arn)
    requested = params.get_int("DurationSeconds")
    if requested is not None:
        seconds = durations.assume_role_seconds(requested, role.max_session_duration, False)
    elif session_duration is not None:
        seconds = min(session_duration, role.max_session_duration)
    else:
        seconds = durations.ASSUME_ROLE_DEFAULT
    if assertion.session_not_on_or_after is not None:
        remaining = int((assertion.session_not_on_or_after - ctx.now).total_seconds())
        if remaining <= 0:
            raise ExpiredTokenException(SESSION_ENDED)
        seconds = min(seconds, remaining)
    policy, policy_arns = session_policy_from(ctx, params, role.account_id)

    # --- the trust decision ------------------------------------------------------------------
    keys: dict[str, ContextValue] = {
        "saml:aud": assertion.recipient,
        "saml:iss": assertion.issuer,
        "saml:doc": f"{ref.account_id}/{provider.name}",
        "saml:namequalifier": qualifier,
        "saml:sub": subject,
        "saml:sub_type": sub_type,
        "sts:RoleSessionName": session_name,
        **attribute_keys(assertion),
    }
    keys.update(tip)  # the trust policy of this very call can test the TIP keys
    if source_identity is not None:
        keys["sts:SourceIdentity"] = source_identity
    if tagset.requested_transitive:
        keys["sts:TransitiveTagKeys"] = tuple(tagset.requested_transitive)
    request_tags = {t.key: t.value for t in tagset.tags} or None
    principal = PrincipalInfo(
        arn=provider.arn, account=ref.account_id, kind="saml", federated_provider=provider.arn
    )
    authorizer = ctx.authorizer
    authorizer.authorize_federated(
        ctx, ACTION, role, principal, request_keys=keys, request_tags=request_tags
    )
    extra_actions = []
    if tagset.tags:
        extra_actions.append("sts:TagSession")
    if source_identity is not None:
        extra_actions.append("sts:SetSourceIdentity")
    for action in extra_actions:
        try:
            authorizer.authorize_federated(
                ctx, action, role, principal, request_keys=keys, request_tags=request_tags
            )
        except AccessDenied:
            raise AccessDenied(NOT_AUTHORIZED) from None

    # --- replay, then issue ----------------------------------------------------------------
    if not ctx.store.use_saml_assertion(
        provider.arn, assertion.assertion_id, assertion.replay_expires_at, ctx.now
    ):
        log.warning("replayed SAML assertion refused provider=%s", provider.arn)
        raise InvalidIdentityToken(REPLAYED)
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
            federated_provider=provider.arn,
            web_identity_claims=(
                ("saml:namequalifier", qualifier),
                ("saml:sub", subject),
                ("saml:sub_type", sub_type),
            ),
            min_token_size=packing.minimum_token_size(params),
            tip_context=tip,
        ),
    )
    context = render_context(tip)
    if context is not None and not assertion.encrypted:
        # sensitive: returned, never logged; AWS omits it for encrypted assertions
        result["TrustedIdentityPropagationContext"] = context
    log.info(
        "AssumeRoleWithSAML role=%s provider=%s session=%s",
        role.arn,
        provider.arn,
        session_name,
    )
    return {
        **result,
        "Subject": subject,
        "SubjectType": sub_type,
        "Issuer": assertion.issuer,
        "Audience": assertion.recipient,
        "NameQualifier": qualifier,
    }
