"""IAM SAML providers: Create/Update/Get/List/Delete, their tags, and the newer
assertion-encryption settings (``AssertionEncryptionMode``, ``AddPrivateKey`` /
``RemovePrivateKey``, ``PrivateKeyList``). ARNs are
``arn:aws:iam::ACCT:saml-provider/NAME``; names are unique per account regardless of
case [I: as for other IAM entities]. The metadata document is parsed on every write
(``tessera.federation.saml.metadata``) and stored exactly as uploaded; ``ValidUntil`` is the
metadata's ``validUntil``, or 100 years after creation when it has none [I].

Private keys (PEM, RSA ≥ 2048 bits [I]) are sealed under the KEK (purpose
``saml-keys:<SAMLProviderUUID>``), never returned and never logged; ``KeyId`` and
``SAMLProviderUUID`` are random upper-case identifiers matching the model's
``[A-Z0-9]+`` (26 / 32 characters) [I].

Texts: **[C]** seen verbatim in AWS answers (LocalStack's snapshot of real AWS) or in
AWS's SAML troubleshooting guide, **[I]** inferred."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tessera import arn as arns
from tessera import ids
from tessera.errors import EntityAlreadyExists, InvalidInput, LimitExceeded, NoSuchEntity
from tessera.federation.saml.metadata import IdpMetadata, MetadataError, parse_metadata
from tessera.iam.ops_common import (
    account_of,
    check_tag_quota,
    locate_with,
    name_key,
    now_of,
    render_tags,
    tag_operations,
    tag_request_keys,
    tags_from,
)
from tessera.iam.saml_model import RESOURCE_TYPE, SamlProvider, saml_provider_arn
from tessera.iam.tip_model import (
    IC_WITHOUT_CONTEXT,
    configuration_keys,
    context_provider_members,
    parse_context_provider,
    parse_identity_center_arn,
    plan_update,
    saml_key_hash,
)
from tessera.operation import ContextValue, OperationContext, Result
from tessera.protocol.inputs import (
    CreateSAMLProviderMembers,
    DeleteSAMLProviderMembers,
    GetSAMLProviderMembers,
    ListSAMLProvidersMembers,
    UpdateSAMLProviderMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.sensitive import Secret
from tessera.store.base import AlreadyExists

MAX_PROVIDERS: Final = 100  # IAM quota "SAML providers per account" [I: documented 100]
MAX_PRIVATE_KEYS: Final = 2
MIN_PRIVATE_KEY_BITS: Final = 2048
DEFAULT_VALIDITY: Final = timedelta(days=36525)  # 100 years [I]
MODE_REQUIRED: Final = "Required"
MODE_ALLOWED: Final = "Allowed"
_ALNUM: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

# [C] AWS's SAML troubleshooting guide (error headings)
COULD_NOT_PARSE: Final = "Could not parse metadata."
INVALID_PRIVATE_KEY: Final = "Invalid private key."
REMOVE_FAILED: Final = "Failed to remove private key."
REMOVE_NO_MATCH: Final = (
    "Failed to remove private key because the Key ID does not match a private key."
)
NO_UPDATES: Final = (
    "Unable to update identity provider. No updates are defined for metadata or encryption "
    "assertion."
)
REQUIRED_WITHOUT_KEY: Final = (
    "Unable to set assertion encryption mode to Required because no private key is provided."
)
ADD_AND_REMOVE: Final = (
    "Unable to add and remove private keys in the same request. Set a value for only one of "
    "the two parameters."
)
KEY_LIMIT: Final = "Private key limit of 2 is reached."
# [I] reference §1.2: a request changes the ContextProvider or the provider metadata
CONTEXT_AND_METADATA: Final = (
    "A request can change either the ContextProvider or the provider metadata (metadata "
    "document, AssertionEncryptionMode, private keys, Identity Center association), not both."
)


def _issuers_of(document: str | None) -> tuple[str, ...] | None:
    """The issuer entity id of a metadata document (``iam:*IdentityProviderIssuers``);
    None when it does not parse (the operation refuses it after authorising)."""
    if document is None:
        return None
    try:
        return (parse_metadata(document).entity_id,)
    except MetadataError:
        return None


def key_hashes(document: str) -> list[dict[str, object]]:
    """``SAMLKeyHashes``: the hashes (``tip_model.saml_key_hash``) of the signing keys
    of the metadata, under its entity id."""
    try:
        meta = parse_metadata(document)
    except MetadataError:
        return []
    return [
        {
            "IssuerURL": meta.entity_id,
            "KeyHashes": list(dict.fromkeys(saml_key_hash(c) for c in meta.certificates)),
        }
    ]


def not_found(provider_arn: str) -> NoSuchEntity:
    return NoSuchEntity(f"Manifest not found for arn {provider_arn}")  # [C]


def already_exists(name: str) -> EntityAlreadyExists:
    return EntityAlreadyExists(f"SAMLProvider with name {name} already exists.")  # [I]


@dataclass(frozen=True, slots=True)
class ProviderRef:
    account_id: str
    name: str


def parse_provider_arn(value: str) -> ProviderRef | None:
    """``arn:aws:iam::ACCT:saml-provider/NAME`` → its parts; None for anything else."""
    parsed = arns.parse_arn(value)
    if parsed is None or parsed.service != "iam" or parsed.region:
        return None
    if not ids.is_account_id(parsed.account):
        return None
    prefix = RESOURCE_TYPE + "/"
    if not parsed.resource.startswith(prefix):
        return None
    name = parsed.resource[len(prefix) :]
    if not name or "/" in name:
        return None
    return ProviderRef(parsed.account, name)


def _metadata(document: str) -> IdpMetadata:
    try:
        return parse_metadata(document)
    except MetadataError as exc:
        raise InvalidInput(COULD_NOT_PARSE) from exc


def _valid_until(meta: IdpMetadata, created: datetime) -> datetime:
    if meta.valid_until is not None:
        return meta.valid_until.replace(microsecond=0)
    return created + DEFAULT_VALIDITY


# --- private keys -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProviderKey:
    key_id: str
    created_at: datetime
    pem: Secret[str]


def _keys_context(provider_uuid: str) -> str:
    return f"saml-keys:{provider_uuid}"


def provider_keys(ctx: OperationContext, provider: SamlProvider) -> list[ProviderKey]:
    if provider.private_keys_sealed is None:
        return []
    raw = ctx.store.kek.open(provider.private_keys_sealed, _keys_context(provider.provider_uuid))
    return [
        ProviderKey(item["KeyId"], datetime.fromisoformat(item["Timestamp"]), Secret(item["Pem"]))
        for item in json.loads(raw)
    ]


def private_key_objects(ctx: OperationContext, provider: SamlProvider) -> list[rsa.RSAPrivateKey]:
    """The provider's decryption keys (for AssumeRoleWithSAML)."""
    out: list[rsa.RSAPrivateKey] = []
    for key in provider_keys(ctx, provider):
        loaded = serialization.load_pem_private_key(key.pem.reveal().encode(), password=None)
        if isinstance(loaded, rsa.RSAPrivateKey):
            out.append(loaded)
    return out


def _seal_keys(
    ctx: OperationContext, provider_uuid: str, keys: Sequence[ProviderKey]
) -> bytes | None:
    if not keys:
        return None
    doc = [
        {"KeyId": k.key_id, "Timestamp": k.created_at.isoformat(), "Pem": k.pem.reveal()}
        for k in keys
    ]
    return ctx.store.kek.seal(json.dumps(doc).encode(), _keys_context(provider_uuid))


def _new_key(pem: str, now: datetime) -> ProviderKey:
    try:
        loaded = serialization.load_pem_private_key(pem.encode("latin-1"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise InvalidInput(INVALID_PRIVATE_KEY) from exc
    if not isinstance(loaded, rsa.RSAPrivateKey) or loaded.key_size < MIN_PRIVATE_KEY_BITS:
        raise InvalidInput(INVALID_PRIVATE_KEY)
    normalised = loaded.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key_id = "".join(secrets.choice(_ALNUM) for _ in range(26))
    return ProviderKey(key_id, now, Secret(normalised))


# --- lookups --------------------------------------------------------------------------------


def _resource_tags(ctx: OperationContext, provider: SamlProvider | None) -> dict[str, str] | None:
    if provider is None:
        return None
    tags = ctx.store.get_tags(provider.account_id, RESOURCE_TYPE, provider.name.lower())
    return {t.key: t.value for t in tags}


def get_provider_for(
    ctx: OperationContext,
    action: str,
    provider_arn: str,
    *,
    request_keys: Mapping[str, ContextValue] | None = None,
) -> SamlProvider:
    """Authorise ``action`` on the provider ARN, then require the provider to exist in
    the caller's account."""
    ref = parse_provider_arn(provider_arn)
    provider = None
    if ref is not None and ref.account_id == account_of(ctx):
        provider = ctx.store.get_saml_provider(ref.account_id, ref.name)
    ctx.authorize(
        action,
        provider.arn if provider is not None else provider_arn,
        request_keys=request_keys,
        resource_tags=_resource_tags(ctx, provider),
    )
    if provider is None:
        raise not_found(provider_arn)
    return provider


# --- operations -------------------------------------------------------------------------------


@operation("iam", "CreateSAMLProvider", action="iam:CreateSAMLProvider")
def create_saml_provider(
    ctx: OperationContext, params: Params[CreateSAMLProviderMembers]
) -> Result:
    account = account_of(ctx)
    name = params.req_str("Name")
    document = params.req_str("SAMLMetadataDocument")
    tags = tags_from(params)
    provider_arn = saml_provider_arn(account, name)
    raw_context = context_provider_members(params)
    raw_ic = params.get_str("IdentityCenterInstanceArn")
    request_keys: dict[str, ContextValue] = dict(tag_request_keys(tags))
    request_keys.update(
        configuration_keys(
            context_provider=raw_context,
            identity_center_arn=raw_ic,
            request_issuers=_issuers_of(document),
            resource_issuers=None,
            resource_identity_center_arn=None,
            enabling=True,
        )
    )
    ctx.authorize("iam:CreateSAMLProvider", provider_arn, request_keys=request_keys or None)
    context_provider = parse_context_provider(raw_context)
    ic_arn = parse_identity_center_arn(raw_ic)
    if ic_arn is not None and context_provider is None:
        raise InvalidInput(IC_WITHOUT_CONTEXT)
    meta = _metadata(document)
    now = now_of(ctx)
    mode = params.get_str("AssertionEncryptionMode")
    added = params.get_str("AddPrivateKey")
    keys = [_new_key(added, now)] if added is not None else []
    if mode == MODE_REQUIRED and not keys:
        raise InvalidInput(REQUIRED_WITHOUT_KEY)
    if ctx.store.get_saml_provider(account, name) is not None:
        raise already_exists(name)
    if len(ctx.store.list_saml_providers(account)) >= MAX_PROVIDERS:
        # [I] quota-style text
        raise LimitExceeded(f"Cannot exceed quota for SAMLProvidersPerAccount: {MAX_PROVIDERS}")
    provider_uuid = uuid.uuid4().hex.upper()
    provider = SamlProvider(
        account_id=account,
        name=name,
        provider_uuid=provider_uuid,
        metadata_document=document,
        valid_until=_valid_until(meta, now),
        created_at=now,
        encryption_mode=mode,
        private_keys_sealed=_seal_keys(ctx, provider_uuid, keys),
        context_provider=context_provider,
        identity_center_arn=ic_arn,
    )
    try:
        ctx.store.create_saml_provider(provider)
    except AlreadyExists as exc:
        raise already_exists(name) from exc
    if tags:
        check_tag_quota((), tags, RESOURCE_TYPE)
        ctx.store.set_tags(provider.account_id, RESOURCE_TYPE, provider.name.lower(), tags)
    result: dict[str, object] = {"SAMLProviderArn": provider.arn}
    if tags:
        result["Tags"] = render_tags(tags)
    return result


@operation("iam", "UpdateSAMLProvider", action="iam:UpdateSAMLProvider")
def update_saml_provider(
    ctx: OperationContext, params: Params[UpdateSAMLProviderMembers]
) -> Result:
    arn = params.req_str("SAMLProviderArn")
    document = params.get_str("SAMLMetadataDocument")
    mode = params.get_str("AssertionEncryptionMode")
    added = params.get_str("AddPrivateKey")
    removed = params.get_str("RemovePrivateKey")
    raw_context = context_provider_members(params)
    raw_ic = params.get_str("IdentityCenterInstanceArn")
    remove_context = bool(params.get_bool("RemoveContextProvider"))
    remove_ic = bool(params.get_bool("RemoveIdentityCenterInstance"))
    ref = parse_provider_arn(arn)
    current = (
        ctx.store.get_saml_provider(ref.account_id, ref.name)
        if ref is not None and ref.account_id == account_of(ctx)
        else None
    )
    keys_for_tip = configuration_keys(
        context_provider=raw_context,
        identity_center_arn=raw_ic,
        request_issuers=_issuers_of(document),
        resource_issuers=_issuers_of(current.metadata_document) if current else None,
        resource_identity_center_arn=current.identity_center_arn if current else None,
        enabling=True,
    )
    provider = get_provider_for(ctx, "iam:UpdateSAMLProvider", arn, request_keys=keys_for_tip)
    tip = plan_update(
        raw_context,
        raw_ic,
        remove_context,
        remove_ic,
        provider.context_provider,
        provider.identity_center_arn,
    )
    metadata_change = any(v is not None for v in (document, mode, added, removed))
    if tip.changes_context and (metadata_change or tip.changes_association):
        raise InvalidInput(CONTEXT_AND_METADATA)
    if not metadata_change and tip.empty:
        raise InvalidInput(NO_UPDATES)
    if tip.changes_context or tip.changes_association:
        if not ctx.store.set_saml_tip(
            provider.account_id, provider.name, tip.context_provider, tip.identity_center_arn
        ):
            raise not_found(provider.arn)
        if not metadata_change:
            return {"SAMLProviderArn": provider.arn}
    if added is not None and removed is not None:
        raise InvalidInput(ADD_AND_REMOVE)
    valid_until = None
    if document is not None:
        valid_until = _valid_until(_metadata(document), provider.created_at)
    keys = provider_keys(ctx, provider)
    keys_changed = False
    if added is not None:
        if len(keys) >= MAX_PRIVATE_KEYS:
            raise LimitExceeded(KEY_LIMIT)
        keys.append(_new_key(added, now_of(ctx)))
        keys_changed = True
    if removed is not None:
        remaining = [k for k in keys if k.key_id != removed]
        if len(remaining) == len(keys):
            raise InvalidInput(REMOVE_NO_MATCH)
        keys, keys_changed = remaining, True
    effective_mode = mode or provider.encryption_mode
    if effective_mode == MODE_REQUIRED and not keys:
        # [I] removing the last key of a provider that requires encryption
        raise InvalidInput(REMOVE_FAILED if removed is not None else REQUIRED_WITHOUT_KEY)
    store = ctx.store
    if keys_changed:
        store.update_saml_provider(
            provider.account_id,
            provider.name,
            metadata_document=document,
            valid_until=valid_until,
            encryption_mode=mode,
            private_keys_sealed=_seal_keys(ctx, provider.provider_uuid, keys),
        )
    else:
        store.update_saml_provider(
            provider.account_id,
            provider.name,
            metadata_document=document,
            valid_until=valid_until,
            encryption_mode=mode,
        )
    return {"SAMLProviderArn": provider.arn}


@operation("iam", "GetSAMLProvider", action="iam:GetSAMLProvider")
def get_saml_provider(ctx: OperationContext, params: Params[GetSAMLProviderMembers]) -> Result:
    provider = get_provider_for(ctx, "iam:GetSAMLProvider", params.req_str("SAMLProviderArn"))
    tags = ctx.store.get_tags(provider.account_id, RESOURCE_TYPE, provider.name.lower())
    tip: dict[str, object] = {}
    if provider.context_provider is not None:
        tip["ContextProvider"] = provider.context_provider.render()
        tip["SAMLKeyHashes"] = key_hashes(provider.metadata_document)
    if provider.identity_center_arn is not None:
        # IdentityStoreArn is not returned: Tessera has no Identity Center to resolve it
        tip["IdentityCenterInstanceArn"] = provider.identity_center_arn
    return {
        **tip,
        "SAMLProviderUUID": provider.provider_uuid,
        "SAMLMetadataDocument": provider.metadata_document,
        "CreateDate": provider.created_at,
        "ValidUntil": provider.valid_until,
        "Tags": render_tags(tags),
        "AssertionEncryptionMode": provider.encryption_mode or MODE_ALLOWED,
        "PrivateKeyList": [
            {"KeyId": k.key_id, "Timestamp": k.created_at} for k in provider_keys(ctx, provider)
        ],
    }


@operation("iam", "ListSAMLProviders", action="iam:ListSAMLProviders")
def list_saml_providers(ctx: OperationContext, params: Params[ListSAMLProvidersMembers]) -> Result:
    ctx.authorize("iam:ListSAMLProviders", "*")
    providers = ctx.store.list_saml_providers(account_of(ctx))
    return {
        "SAMLProviderList": [
            {"Arn": p.arn, "ValidUntil": p.valid_until, "CreateDate": p.created_at}
            for p in providers
        ]
    }


@operation("iam", "DeleteSAMLProvider", action="iam:DeleteSAMLProvider")
def delete_saml_provider(
    ctx: OperationContext, params: Params[DeleteSAMLProviderMembers]
) -> Result:
    provider = get_provider_for(ctx, "iam:DeleteSAMLProvider", params.req_str("SAMLProviderArn"))
    if not ctx.store.delete_saml_provider(provider.account_id, provider.name):
        raise not_found(provider.arn)
    return None


tag_operations(
    "SAMLProvider",
    "SAMLProviderArn",
    RESOURCE_TYPE,
    locate_with(get_provider_for, name_key),
)
