"""Roles Anywhere trust anchors: CreateTrustAnchor, GetTrustAnchor,
ListTrustAnchors, UpdateTrustAnchor, Enable/DisableTrustAnchor, DeleteTrustAnchor,
Put/ResetNotificationSettings.

Only ``CERTIFICATE_BUNDLE`` sources exist here (one or more PEM CA certificates,
checked by ``tessera.rolesanywhere.x509chain.load_ca_bundle``): ``AWS_ACM_PCA``
needs AWS Private CA and ``SELF_SIGNED_REPOSITORY`` an AWS-managed repository,
neither of which a self-hosted service has, so both are refused with a
ValidationException saying so. Notification settings are stored and returned
(``configuredBy`` the caller for changed ones); Tessera sends no expiry
notifications itself (AWS delivers them through EventBridge and Health)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tessera import ids
from tessera.operation import OperationContext
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.rolesanywhere.errors import ValidationException
from tessera.rolesanywhere.model import (
    CERTIFICATE_BUNDLE,
    DEFAULT_NOTIFICATIONS,
    TAG_TYPES,
    NotificationSetting,
    ResourceRef,
    TrustAnchor,
)
from tessera.rolesanywhere.service import (
    anchor_detail,
    authorize,
    next_token,
    not_found,
    page_request,
    parse_tags,
    resolve,
)
from tessera.rolesanywhere.x509chain import CertificateRejected, load_ca_bundle

if TYPE_CHECKING:
    from tessera.protocol.inputs import (
        CreateTrustAnchorMembers,
        DeleteTrustAnchorMembers,
        DisableTrustAnchorMembers,
        EnableTrustAnchorMembers,
        GetTrustAnchorMembers,
        ListTrustAnchorsMembers,
        PutNotificationSettingsMembers,
        ResetNotificationSettingsMembers,
        UpdateTrustAnchorMembers,
    )

ALIAS_REFUSAL = "Tessera has no resource aliases; name resources by id or ARN."
CRL_DP_REFUSAL = (
    "Tessera never fetches CRL distribution points (a server-side fetch of a URL "
    "taken from a certificate); import CRLs with ImportCrl instead."
)


def _bundle(source: Params[Any] | None) -> str:
    """The PEM bundle of a ``source``, validated; other source types refused."""
    if source is None:
        raise ValidationException("The source of a trust anchor is required.")
    source_type = source.get_str("sourceType")
    data = source.get_struct("sourceData")
    if source_type is not None and source_type != CERTIFICATE_BUNDLE:
        raise ValidationException(
            f"Trust anchors of type {source_type} are not supported by Tessera: AWS_ACM_PCA "
            "needs AWS Private CA and SELF_SIGNED_REPOSITORY an AWS-managed repository. "
            "Use CERTIFICATE_BUNDLE with your CA certificates in PEM."
        )
    if data is not None and data.get_str("acmPcaArn") is not None:
        raise ValidationException(
            "acmPcaArn is not supported by Tessera (no AWS Private CA): use "
            "CERTIFICATE_BUNDLE with x509CertificateData."
        )
    pem = data.get_str("x509CertificateData") if data is not None else None
    if pem is None:
        raise ValidationException(
            "A CERTIFICATE_BUNDLE trust anchor needs sourceData.x509CertificateData."
        )
    try:
        certs = load_ca_bundle(pem)
    except CertificateRejected as exc:
        raise ValidationException(exc.message) from None
    if not certs:
        raise ValidationException("The x509CertificateData holds no certificate.")
    return pem


def _notifications(
    current: tuple[NotificationSetting, ...], items: list[Params[Any]], configured_by: str
) -> tuple[NotificationSetting, ...]:
    """``current`` with each (event, channel) in ``items`` replaced."""
    merged = list(current)
    for item in items:
        event = item.get_str("event") or ""
        channel = item.get_str("channel") or "ALL"
        threshold = item.get_int("threshold")
        enabled = bool(item.get_bool("enabled"))
        default = next((d for d in DEFAULT_NOTIFICATIONS if d.event == event), None)
        setting = NotificationSetting(
            event,
            enabled,
            threshold if threshold is not None else (default.threshold if default else 45),
            channel,
            configured_by,
        )
        merged = [n for n in merged if (n.event, n.channel) != (event, channel)]
        merged.append(setting)
    order = {d.event: i for i, d in enumerate(DEFAULT_NOTIFICATIONS)}
    merged.sort(key=lambda n: (order.get(n.event, 99), n.channel))
    return tuple(merged)


def _load(ctx: OperationContext, identifier: str) -> tuple[ResourceRef, TrustAnchor]:
    ref = resolve(ctx, "trust-anchor", identifier)
    authorize(ctx, ref)
    anchor = ctx.store.get_ra_trust_anchor(ref.account_id, ref.region, ref.resource_id)
    if anchor is None:
        raise not_found("trust-anchor")
    return ref, anchor


@operation("rolesanywhere", "CreateTrustAnchor", action="rolesanywhere:CreateTrustAnchor")
def create_trust_anchor(
    ctx: OperationContext, params: Params[CreateTrustAnchorMembers]
) -> dict[str, object]:
    tags = parse_tags(params, "tags")
    ref = ResourceRef("trust-anchor", ctx.region, ctx.caller.account_id, ids.uuid4_text())
    authorize(ctx, ref, request_tags=tags, existing=False)
    params.refuse("aliasName", ALIAS_REFUSAL)
    if params.get_bool("crlDpRevocationEnabled"):
        params.refuse("crlDpRevocationEnabled", CRL_DP_REFUSAL)
    pem = _bundle(params.get_struct("source"))
    now = ctx.now
    anchor = TrustAnchor(
        account_id=ref.account_id,
        region=ref.region,
        anchor_id=ref.resource_id,
        name=params.req_str("name"),
        certificate_data=pem,
        enabled=bool(params.get_bool("enabled")),
        created_at=now,
        updated_at=now,
        notification_settings=_notifications(
            DEFAULT_NOTIFICATIONS,
            params.get_struct_list("notificationSettings") or [],
            ctx.caller.arn,
        ),
    )
    ctx.store.put_ra_trust_anchor(anchor)
    if tags:
        ctx.store.set_tags(ref.account_id, TAG_TYPES["trust-anchor"], ref.resource_id, tags)
    return {"trustAnchor": anchor_detail(anchor)}


@operation("rolesanywhere", "GetTrustAnchor", action="rolesanywhere:GetTrustAnchor")
def get_trust_anchor(
    ctx: OperationContext, params: Params[GetTrustAnchorMembers]
) -> dict[str, object]:
    _, anchor = _load(ctx, params.req_str("trustAnchorId"))
    return {"trustAnchor": anchor_detail(anchor)}


@operation("rolesanywhere", "ListTrustAnchors", action="rolesanywhere:ListTrustAnchors")
def list_trust_anchors(
    ctx: OperationContext, params: Params[ListTrustAnchorsMembers]
) -> dict[str, object]:
    authorize(ctx, None)
    after, size = page_request(params)
    page = ctx.store.list_ra_trust_anchors(
        ctx.caller.account_id, ctx.region, after=after, limit=size
    )
    out: dict[str, object] = {"trustAnchors": [anchor_detail(a) for a in page]}
    token = next_token(page, size, page[-1].anchor_id if page else None)
    if token is not None:
        out["nextToken"] = token
    return out


@operation("rolesanywhere", "UpdateTrustAnchor", action="rolesanywhere:UpdateTrustAnchor")
def update_trust_anchor(
    ctx: OperationContext, params: Params[UpdateTrustAnchorMembers]
) -> dict[str, object]:
    _, anchor = _load(ctx, params.req_str("trustAnchorId"))
    params.refuse("aliasName", ALIAS_REFUSAL)
    if params.get_bool("crlDpRevocationEnabled"):
        params.refuse("crlDpRevocationEnabled", CRL_DP_REFUSAL)
    source = params.get_struct("source")
    name = params.get_str("name")
    updated = replace(
        anchor,
        name=name if name is not None else anchor.name,
        certificate_data=_bundle(source) if source is not None else anchor.certificate_data,
        updated_at=ctx.now,
    )
    ctx.store.put_ra_trust_anchor(updated)
    return {"trustAnchor": anchor_detail(updated)}


def _set_enabled(ctx: OperationContext, identifier: str, enabled: bool) -> dict[str, object]:
    _, anchor = _load(ctx, identifier)
    updated = replace(anchor, enabled=enabled, updated_at=ctx.now)
    ctx.store.put_ra_trust_anchor(updated)
    return {"trustAnchor": anchor_detail(updated)}


@operation("rolesanywhere", "EnableTrustAnchor", action="rolesanywhere:EnableTrustAnchor")
def enable_trust_anchor(
    ctx: OperationContext, params: Params[EnableTrustAnchorMembers]
) -> dict[str, object]:
    return _set_enabled(ctx, params.req_str("trustAnchorId"), True)


@operation("rolesanywhere", "DisableTrustAnchor", action="rolesanywhere:DisableTrustAnchor")
def disable_trust_anchor(
    ctx: OperationContext, params: Params[DisableTrustAnchorMembers]
) -> dict[str, object]:
    return _set_enabled(ctx, params.req_str("trustAnchorId"), False)


@operation("rolesanywhere", "DeleteTrustAnchor", action="rolesanywhere:DeleteTrustAnchor")
def delete_trust_anchor(
    ctx: OperationContext, params: Params[DeleteTrustAnchorMembers]
) -> dict[str, object]:
    ref, anchor = _load(ctx, params.req_str("trustAnchorId"))
    if not ctx.store.delete_ra_trust_anchor(ref.account_id, ref.region, ref.resource_id):
        raise not_found("trust-anchor")
    return {"trustAnchor": anchor_detail(anchor)}


@operation(
    "rolesanywhere", "PutNotificationSettings", action="rolesanywhere:PutNotificationSettings"
)
def put_notification_settings(
    ctx: OperationContext, params: Params[PutNotificationSettingsMembers]
) -> dict[str, object]:
    _, anchor = _load(ctx, params.req_str("trustAnchorId"))
    items = params.get_struct_list("notificationSettings") or []
    updated = replace(
        anchor,
        notification_settings=_notifications(anchor.notification_settings, items, ctx.caller.arn),
        updated_at=ctx.now,
    )
    ctx.store.put_ra_trust_anchor(updated)
    return {"trustAnchor": anchor_detail(updated)}


@operation(
    "rolesanywhere",
    "ResetNotificationSettings",
    action="rolesanywhere:ResetNotificationSettings",
)
def reset_notification_settings(
    ctx: OperationContext, params: Params[ResetNotificationSettingsMembers]
) -> dict[str, object]:
    _, anchor = _load(ctx, params.req_str("trustAnchorId"))
    settings = list(anchor.notification_settings)
    for key in params.get_struct_list("notificationSettingKeys") or []:
        event = key.get_str("event") or ""
        channel = key.get_str("channel") or "ALL"
        settings = [n for n in settings if (n.event, n.channel) != (event, channel)]
        default = next((d for d in DEFAULT_NOTIFICATIONS if d.event == event), None)
        if default is not None and channel == default.channel:
            settings.append(default)
    order = {d.event: i for i, d in enumerate(DEFAULT_NOTIFICATIONS)}
    settings.sort(key=lambda n: (order.get(n.event, 99), n.channel))
    updated = replace(anchor, notification_settings=tuple(settings), updated_at=ctx.now)
    ctx.store.put_ra_trust_anchor(updated)
    return {"trustAnchor": anchor_detail(updated)}
