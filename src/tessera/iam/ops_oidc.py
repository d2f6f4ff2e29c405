"""IAM OpenID Connect providers: Create/Get/List/Delete, thumbprints, client ids
(audiences) and tags — the trust anchors AssumeRoleWithWebIdentity looks tokens'
``iss`` up in (``tessera.sts.web_identity_federation``).

Every operation authorises ``iam:<Operation>`` on the provider ARN
``arn:aws:iam::ACCT:oidc-provider/<host/path>`` (with ``aws:ResourceTag/*`` of an
existing provider and ``aws:RequestTag/*`` / ``aws:TagKeys`` for tags) before it
looks anything up, so callers without permission learn nothing about which
providers exist. ListOpenIDConnectProviders authorises on ``*``.

URLs: ``https://`` required (IAM's rule); plain ``http://`` is accepted for
loopback hosts (127.0.0.0/8, ::1, localhost — local IdPs and a Tessera issuer on
the same machine) and, when the server runs with ``insecure_oidc_http``, for any
host. Thumbprints are optional (as in IAM today), at most 5, 40 hex characters;
they are stored and returned but Tessera trusts IdP endpoints through CA
verification (system store plus ``oidc_ca_bundle``) — see the README.

Texts: **[C]** seen verbatim in real AWS answers quoted in public threads,
**[M]** moto's text (which mirrors AWS), **[I]** inferred."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Final

from tessera.errors import (
    EntityAlreadyExists,
    InvalidInput,
    LimitExceeded,
    NoSuchEntity,
    ValidationError,
)
from tessera.iam.oidc_model import (
    MAX_CLIENT_IDS,
    MAX_THUMBPRINTS,
    TAG_RESOURCE_TYPE,
    OidcProvider,
    ProviderUrlError,
    is_loopback_host,
    parse_provider_arn,
    parse_provider_url,
    provider_arn,
)
from tessera.iam.ops_common import (
    account_of,
    check_tag_quota,
    locate_with,
    now_of,
    render_tags,
    tag_operations,
    tag_request_keys,
    tags_from,
)
from tessera.iam.tip_model import (
    IC_WITHOUT_CONTEXT,
    NOTHING_TO_UPDATE,
    configuration_keys,
    context_provider_members,
    parse_context_provider,
    parse_identity_center_arn,
    plan_update,
)
from tessera.operation import ContextValue, OperationContext, Result
from tessera.protocol.inputs import (
    AddClientIDToOpenIDConnectProviderMembers,
    CreateOpenIDConnectProviderMembers,
    DeleteOpenIDConnectProviderMembers,
    GetOpenIDConnectProviderMembers,
    ListOpenIDConnectProvidersMembers,
    RemoveClientIDFromOpenIDConnectProviderMembers,
    UpdateOpenIDConnectProviderMembers,
    UpdateOpenIDConnectProviderThumbprintMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.store.base import AlreadyExists

# [M] moto (tests/test_iam/test_iam_oidc.py)
INVALID_URL: Final = "Invalid Open ID Connect Provider URL"
TOO_MANY_THUMBPRINTS: Final = f"Thumbprint list must contain fewer than {MAX_THUMBPRINTS} entries."
TOO_MANY_CLIENT_IDS: Final = (
    f"Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}"
)
# [I] IAM documents the rule ("The URL must begin with https://"); the text is ours
HTTPS_REQUIRED: Final = (
    "The URL must begin with https://. Plain http:// is accepted only for loopback "
    "issuers (127.0.0.0/8, ::1, localhost) or when the server runs with --insecure-oidc-http."
)
# [I]
BAD_THUMBPRINT: Final = "Thumbprints must be 40 hexadecimal characters."

_HEX: Final = frozenset(string.hexdigits)


def already_exists(url: str) -> EntityAlreadyExists:
    # [C] "Provider with url https://token.actions.githubusercontent.com already exists."
    return EntityAlreadyExists(f"Provider with url {url} already exists.")


def not_found(arn: str) -> NoSuchEntity:
    return NoSuchEntity(f"OpenIDConnect Provider not found for arn {arn}")  # [M]


def _thumbprints(values: Sequence[str]) -> tuple[str, ...]:
    if len(values) > MAX_THUMBPRINTS:
        raise InvalidInput(TOO_MANY_THUMBPRINTS)
    out: list[str] = []
    for value in values:
        if len(value) != 40 or not set(value) <= _HEX:
            raise InvalidInput(BAD_THUMBPRINT)
        if value not in out:
            out.append(value)
    return tuple(out)


def _client_ids(values: Sequence[str]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(values))  # the order given, each once
    if len(out) > MAX_CLIENT_IDS:
        raise LimitExceeded(TOO_MANY_CLIENT_IDS)
    return out


def _provider_for(
    ctx: OperationContext,
    action: str,
    arn: str,
    *,
    request_keys: Mapping[str, ContextValue] | None = None,
) -> OidcProvider:
    """Authorise ``action`` on ``arn`` (with the provider's tags), then require it."""
    account = account_of(ctx)
    ref = parse_provider_arn(arn)
    if ref is None:
        ctx.authorize(action, arn, request_keys=request_keys)
        raise InvalidInput(f"Invalid ARN: {arn}")  # [I] same form as the Simulate APIs
    owner, url = ref
    provider = ctx.store.get_oidc_provider(account, url) if owner == account else None
    tags = (
        None
        if provider is None
        else {t.key: t.value for t in ctx.store.get_tags(account, TAG_RESOURCE_TYPE, url)}
    )
    ctx.authorize(action, arn, request_keys=request_keys, resource_tags=tags)
    if provider is None:
        raise not_found(arn)
    return provider


# --- operations -----------------------------------------------------------------------


@operation("iam", "CreateOpenIDConnectProvider", action="iam:CreateOpenIDConnectProvider")
def create_open_id_connect_provider(
    ctx: OperationContext, params: Params[CreateOpenIDConnectProviderMembers]
) -> Result:
    account = account_of(ctx)
    raw_url = params.req_str("Url")
    tags = tags_from(params)
    try:
        parsed = parse_provider_url(raw_url)
    except ProviderUrlError as exc:
        raise ValidationError(INVALID_URL) from exc
    arn = provider_arn(account, parsed.url)
    context_provider = parse_context_provider(context_provider_members(params))
    ic_arn = parse_identity_center_arn(params.get_str("IdentityCenterInstanceArn"))
    if ic_arn is not None and context_provider is None:
        raise InvalidInput(IC_WITHOUT_CONTEXT)
    request_keys: dict[str, ContextValue] = dict(tag_request_keys(tags))
    request_keys.update(
        configuration_keys(
            context_provider=context_provider,
            identity_center_arn=ic_arn,
            request_issuers=(f"{parsed.scheme}://{parsed.url}",),
            resource_issuers=None,
            resource_identity_center_arn=None,
            enabling=True,
        )
    )
    ctx.authorize("iam:CreateOpenIDConnectProvider", arn, request_keys=request_keys or None)
    if (
        parsed.scheme != "https"
        and not is_loopback_host(parsed.host)
        and not ctx.config.insecure_oidc_http
    ):
        raise InvalidInput(HTTPS_REQUIRED)
    thumbprints = _thumbprints(params.get_str_list("ThumbprintList") or [])
    client_ids = _client_ids(params.get_str_list("ClientIDList") or [])
    check_tag_quota((), tags, TAG_RESOURCE_TYPE)
    provider = OidcProvider(
        account_id=account,
        url=parsed.url,
        scheme=parsed.scheme,
        created_at=now_of(ctx),
        client_ids=client_ids,
        thumbprints=thumbprints,
        context_provider=context_provider,
        identity_center_arn=ic_arn,
    )
    try:
        ctx.store.create_oidc_provider(provider)
    except AlreadyExists as exc:
        raise already_exists(raw_url) from exc
    if tags:
        ctx.store.set_tags(account, TAG_RESOURCE_TYPE, parsed.url, tags)
    result: dict[str, object] = {"OpenIDConnectProviderArn": arn}
    if tags:
        result["Tags"] = render_tags(tags)
    return result


@operation("iam", "GetOpenIDConnectProvider", action="iam:GetOpenIDConnectProvider")
def get_open_id_connect_provider(
    ctx: OperationContext, params: Params[GetOpenIDConnectProviderMembers]
) -> Result:
    arn = params.req_str("OpenIDConnectProviderArn")
    provider = _provider_for(ctx, "iam:GetOpenIDConnectProvider", arn)
    result: dict[str, object] = {
        "Url": provider.url,
        "ClientIDList": list(provider.client_ids),
        "ThumbprintList": list(provider.thumbprints),
        "CreateDate": provider.created_at,
    }
    if provider.context_provider is not None:
        result["ContextProvider"] = provider.context_provider.render()
    if provider.identity_center_arn is not None:
        # IdentityStoreArn is not returned: Tessera has no Identity Center to resolve it
        result["IdentityCenterInstanceArn"] = provider.identity_center_arn
    tags = ctx.store.get_tags(provider.account_id, TAG_RESOURCE_TYPE, provider.url)
    if tags:
        result["Tags"] = render_tags(tags)
    return result


@operation("iam", "ListOpenIDConnectProviders", action="iam:ListOpenIDConnectProviders")
def list_open_id_connect_providers(
    ctx: OperationContext, params: Params[ListOpenIDConnectProvidersMembers]
) -> Result:
    ctx.authorize("iam:ListOpenIDConnectProviders", "*")
    providers = ctx.store.list_oidc_providers(account_of(ctx))
    return {"OpenIDConnectProviderList": [{"Arn": p.arn} for p in providers]}


@operation("iam", "DeleteOpenIDConnectProvider", action="iam:DeleteOpenIDConnectProvider")
def delete_open_id_connect_provider(
    ctx: OperationContext, params: Params[DeleteOpenIDConnectProviderMembers]
) -> Result:
    """Idempotent (IAM API reference: "does not fail or return an error if you call
    the operation for a provider that does not exist")."""
    arn = params.req_str("OpenIDConnectProviderArn")
    account = account_of(ctx)
    ref = parse_provider_arn(arn)
    url = ref[1] if ref is not None and ref[0] == account else None
    tags = (
        None
        if url is None
        else {t.key: t.value for t in ctx.store.get_tags(account, TAG_RESOURCE_TYPE, url)}
    )
    ctx.authorize("iam:DeleteOpenIDConnectProvider", arn, resource_tags=tags)
    if ref is None:
        raise InvalidInput(f"Invalid ARN: {arn}")  # [I]
    if url is not None:
        ctx.store.delete_oidc_provider(account, url)
    return None


@operation(
    "iam",
    "UpdateOpenIDConnectProviderThumbprint",
    action="iam:UpdateOpenIDConnectProviderThumbprint",
)
def update_open_id_connect_provider_thumbprint(
    ctx: OperationContext, params: Params[UpdateOpenIDConnectProviderThumbprintMembers]
) -> Result:
    arn = params.req_str("OpenIDConnectProviderArn")
    provider = _provider_for(ctx, "iam:UpdateOpenIDConnectProviderThumbprint", arn)
    thumbprints = _thumbprints(params.get_str_list("ThumbprintList") or [])
    if not ctx.store.set_oidc_thumbprints(provider.account_id, provider.url, thumbprints):
        raise not_found(arn)  # deleted in between
    return None


@operation("iam", "UpdateOpenIDConnectProvider", action="iam:UpdateOpenIDConnectProvider")
def update_open_id_connect_provider(
    ctx: OperationContext, params: Params[UpdateOpenIDConnectProviderMembers]
) -> Result:
    """The trusted-identity-propagation configuration (reference §1.2): a request
    changes either the ContextProvider or the Identity Center association; a value
    and its Remove flag exclude each other; the ContextProvider cannot be removed
    while an association exists. Authorised with ``iam:EnableIdentityPropagation``,
    ``iam:EnableIdentityCenterAssociation``, ``iam:RequestIdentityCenterInstanceArn``
    and the provider's ``iam:ResourceIdentityProviderIssuers`` /
    ``iam:ResourceIdentityCenterInstanceArn``."""
    arn = params.req_str("OpenIDConnectProviderArn")
    raw_context = context_provider_members(params)
    raw_ic = params.get_str("IdentityCenterInstanceArn")
    remove_context = bool(params.get_bool("RemoveContextProvider"))
    remove_ic = bool(params.get_bool("RemoveIdentityCenterInstance"))
    account = account_of(ctx)
    ref = parse_provider_arn(arn)
    current = (
        ctx.store.get_oidc_provider(account, ref[1])
        if ref is not None and ref[0] == account
        else None
    )
    keys = configuration_keys(
        context_provider=raw_context,
        identity_center_arn=raw_ic,
        request_issuers=None,
        resource_issuers=(current.issuer,) if current is not None else None,
        resource_identity_center_arn=current.identity_center_arn if current else None,
        enabling=True,
    )
    provider = _provider_for(ctx, "iam:UpdateOpenIDConnectProvider", arn, request_keys=keys)
    change = plan_update(
        raw_context,
        raw_ic,
        remove_context,
        remove_ic,
        provider.context_provider,
        provider.identity_center_arn,
    )
    if change.empty:
        raise InvalidInput(NOTHING_TO_UPDATE)
    if not ctx.store.set_oidc_tip(
        provider.account_id, provider.url, change.context_provider, change.identity_center_arn
    ):
        raise not_found(arn)
    return None


@operation(
    "iam", "AddClientIDToOpenIDConnectProvider", action="iam:AddClientIDToOpenIDConnectProvider"
)
def add_client_id_to_open_id_connect_provider(
    ctx: OperationContext, params: Params[AddClientIDToOpenIDConnectProviderMembers]
) -> Result:
    """Idempotent: adding a client id that is already registered changes nothing."""
    arn = params.req_str("OpenIDConnectProviderArn")
    client_id = params.req_str("ClientID")
    provider = _provider_for(ctx, "iam:AddClientIDToOpenIDConnectProvider", arn)

    def add(current: tuple[str, ...]) -> tuple[str, ...]:
        if client_id in current:
            return current
        return _client_ids((*current, client_id))

    if ctx.store.change_oidc_client_ids(provider.account_id, provider.url, add) is None:
        raise not_found(arn)
    return None


@operation(
    "iam",
    "RemoveClientIDFromOpenIDConnectProvider",
    action="iam:RemoveClientIDFromOpenIDConnectProvider",
)
def remove_client_id_from_open_id_connect_provider(
    ctx: OperationContext, params: Params[RemoveClientIDFromOpenIDConnectProviderMembers]
) -> Result:
    """Idempotent: removing a client id that is not registered is not an error."""
    arn = params.req_str("OpenIDConnectProviderArn")
    client_id = params.req_str("ClientID")
    provider = _provider_for(ctx, "iam:RemoveClientIDFromOpenIDConnectProvider", arn)

    def remove(current: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(c for c in current if c != client_id)

    if ctx.store.change_oidc_client_ids(provider.account_id, provider.url, remove) is None:
        raise not_found(arn)
    return None


tag_operations(
    "OpenIDConnectProvider",
    "OpenIDConnectProviderArn",
    TAG_RESOURCE_TYPE,
    locate_with(_provider_for, lambda provider: provider.url),
)
