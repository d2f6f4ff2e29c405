"""Roles Anywhere CRLs: ImportCrl, GetCrl, ListCrls, UpdateCrl, Enable/DisableCrl,
DeleteCrl. A CRL (PEM or DER, ≤ 300,000 bytes) is bound to one trust anchor of the
caller's account and stored as DER; every enabled CRL of an anchor is checked on
each CreateSession against the certificates of the path whose issuer it names (its
signature verified against that issuer there)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from tessera import ids
from tessera.operation import OperationContext
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.rolesanywhere.errors import ValidationException
from tessera.rolesanywhere.model import TAG_TYPES, Crl, ResourceRef
from tessera.rolesanywhere.ops_anchors import ALIAS_REFUSAL
from tessera.rolesanywhere.service import (
    authorize,
    crl_detail,
    next_token,
    not_found,
    page_request,
    parse_tags,
    resolve,
)
from tessera.rolesanywhere.x509chain import CertificateRejected, crl_der, load_crl

if TYPE_CHECKING:
    from tessera.protocol.inputs import (
        DeleteCrlMembers,
        DisableCrlMembers,
        EnableCrlMembers,
        GetCrlMembers,
        ImportCrlMembers,
        ListCrlsMembers,
        UpdateCrlMembers,
    )


def _der(data: bytes) -> bytes:
    try:
        return crl_der(load_crl(data))
    except CertificateRejected as exc:
        raise ValidationException(exc.message) from None


def _load(ctx: OperationContext, identifier: str) -> tuple[ResourceRef, Crl]:
    ref = resolve(ctx, "crl", identifier)
    authorize(ctx, ref)
    crl = ctx.store.get_ra_crl(ref.account_id, ref.region, ref.resource_id)
    if crl is None:
        raise not_found("crl")
    return ref, crl


@operation("rolesanywhere", "ImportCrl", action="rolesanywhere:ImportCrl")
def import_crl(ctx: OperationContext, params: Params[ImportCrlMembers]) -> dict[str, object]:
    tags = parse_tags(params, "tags")
    ref = ResourceRef("crl", ctx.region, ctx.caller.account_id, ids.uuid4_text())
    authorize(ctx, ref, request_tags=tags, existing=False)
    params.refuse("aliasName", ALIAS_REFUSAL)
    anchor_ref = resolve(ctx, "trust-anchor", params.req_str("trustAnchorArn"))
    anchor = ctx.store.get_ra_trust_anchor(
        anchor_ref.account_id, anchor_ref.region, anchor_ref.resource_id
    )
    if anchor is None:
        raise not_found("trust-anchor")
    data = params.get_bytes("crlData")
    if data is None:
        raise ValidationException("crlData is required.")
    now = ctx.now
    crl = Crl(
        account_id=ref.account_id,
        region=ref.region,
        crl_id=ref.resource_id,
        name=params.req_str("name"),
        crl_der=_der(data),
        trust_anchor_arn=anchor.arn,
        enabled=bool(params.get_bool("enabled")),
        created_at=now,
        updated_at=now,
    )
    ctx.store.put_ra_crl(crl)
    if tags:
        ctx.store.set_tags(ref.account_id, TAG_TYPES["crl"], ref.resource_id, tags)
    return {"crl": crl_detail(crl)}


@operation("rolesanywhere", "GetCrl", action="rolesanywhere:GetCrl")
def get_crl(ctx: OperationContext, params: Params[GetCrlMembers]) -> dict[str, object]:
    _, crl = _load(ctx, params.req_str("crlId"))
    return {"crl": crl_detail(crl)}


@operation("rolesanywhere", "ListCrls", action="rolesanywhere:ListCrls")
def list_crls(ctx: OperationContext, params: Params[ListCrlsMembers]) -> dict[str, object]:
    authorize(ctx, None)
    after, size = page_request(params)
    page = ctx.store.list_ra_crls(ctx.caller.account_id, ctx.region, after=after, limit=size)
    out: dict[str, object] = {"crls": [crl_detail(c) for c in page]}
    token = next_token(page, size, page[-1].crl_id if page else None)
    if token is not None:
        out["nextToken"] = token
    return out


@operation("rolesanywhere", "UpdateCrl", action="rolesanywhere:UpdateCrl")
def update_crl(ctx: OperationContext, params: Params[UpdateCrlMembers]) -> dict[str, object]:
    _, crl = _load(ctx, params.req_str("crlId"))
    params.refuse("aliasName", ALIAS_REFUSAL)
    name = params.get_str("name")
    data = params.get_bytes("crlData")
    updated = replace(
        crl,
        name=name if name is not None else crl.name,
        crl_der=_der(data) if data is not None else crl.crl_der,
        updated_at=ctx.now,
    )
    ctx.store.put_ra_crl(updated)
    return {"crl": crl_detail(updated)}


def _set_enabled(ctx: OperationContext, identifier: str, enabled: bool) -> dict[str, object]:
    _, crl = _load(ctx, identifier)
    updated = replace(crl, enabled=enabled, updated_at=ctx.now)
    ctx.store.put_ra_crl(updated)
    return {"crl": crl_detail(updated)}


@operation("rolesanywhere", "EnableCrl", action="rolesanywhere:EnableCrl")
def enable_crl(ctx: OperationContext, params: Params[EnableCrlMembers]) -> dict[str, object]:
    return _set_enabled(ctx, params.req_str("crlId"), True)


@operation("rolesanywhere", "DisableCrl", action="rolesanywhere:DisableCrl")
def disable_crl(ctx: OperationContext, params: Params[DisableCrlMembers]) -> dict[str, object]:
    return _set_enabled(ctx, params.req_str("crlId"), False)


@operation("rolesanywhere", "DeleteCrl", action="rolesanywhere:DeleteCrl")
def delete_crl(ctx: OperationContext, params: Params[DeleteCrlMembers]) -> dict[str, object]:
    ref, crl = _load(ctx, params.req_str("crlId"))
    if not ctx.store.delete_ra_crl(ref.account_id, ref.region, ref.resource_id):
        raise not_found("crl")
    return {"crl": crl_detail(crl)}
