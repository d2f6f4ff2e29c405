"""Roles Anywhere subjects and tags: ListSubjects, GetSubject (every certificate
that authenticated through CreateSession, newest first, with failures marked),
TagResource, UntagResource, ListTagsForResource (trust anchors, profiles and CRLs;
at most 50 tags per resource, keys case-insensitive)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tessera.iam.model import Tag
from tessera.operation import OperationContext
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.rolesanywhere.errors import TooManyTagsException, ValidationException
from tessera.rolesanywhere.model import TAG_TYPES, ResourceRef, parse_resource_arn
from tessera.rolesanywhere.service import (
    MAX_TAGS,
    authorize,
    next_token,
    not_found,
    page_request,
    parse_tags,
    resolve,
    subject_detail,
    subject_summary,
    tags_shape,
)

if TYPE_CHECKING:
    from tessera.protocol.inputs import (
        GetSubjectMembers,
        ListSubjectsMembers,
        RolesAnywhereListTagsForResourceMembers,
        RolesAnywhereTagResourceMembers,
        RolesAnywhereUntagResourceMembers,
    )


@operation("rolesanywhere", "ListSubjects", action="rolesanywhere:ListSubjects")
def list_subjects(ctx: OperationContext, params: Params[ListSubjectsMembers]) -> dict[str, object]:
    authorize(ctx, None)
    after, size = page_request(params)
    page = ctx.store.list_ra_subjects(ctx.caller.account_id, ctx.region, after=after, limit=size)
    out: dict[str, object] = {"subjects": [subject_summary(s) for s in page]}
    token = next_token(page, size, page[-1].subject_id if page else None)
    if token is not None:
        out["nextToken"] = token
    return out


@operation("rolesanywhere", "GetSubject", action="rolesanywhere:GetSubject")
def get_subject(ctx: OperationContext, params: Params[GetSubjectMembers]) -> dict[str, object]:
    ref = resolve(ctx, "subject", params.req_str("subjectId"))
    authorize(ctx, ref)
    subject = ctx.store.get_ra_subject(ref.account_id, ref.region, ref.resource_id)
    if subject is None:
        raise not_found("subject")
    return {"subject": subject_detail(subject)}


def _taggable(ctx: OperationContext, arn: str) -> ResourceRef:
    """The existing trust anchor, profile or CRL ``arn`` names (authorised first)."""
    ref = parse_resource_arn(arn)
    if ref is None or ref.kind not in TAG_TYPES:
        raise ValidationException(
            f"Invalid resourceArn: {arn} (trust anchors, profiles and CRLs have tags)."
        )
    ref = resolve(ctx, ref.kind, arn)
    return ref


def _exists(ctx: OperationContext, ref: ResourceRef) -> None:
    store = ctx.store
    if ref.kind == "trust-anchor":
        found: object = store.get_ra_trust_anchor(ref.account_id, ref.region, ref.resource_id)
    elif ref.kind == "profile":
        found = store.get_ra_profile(ref.account_id, ref.region, ref.resource_id)
    else:
        found = store.get_ra_crl(ref.account_id, ref.region, ref.resource_id)
    if found is None:
        raise not_found(ref.kind)


@operation("rolesanywhere", "TagResource", action="rolesanywhere:TagResource")
def tag_resource(
    ctx: OperationContext, params: Params[RolesAnywhereTagResourceMembers]
) -> dict[str, object]:
    ref = _taggable(ctx, params.req_str("resourceArn"))
    tags = parse_tags(params, "tags")
    authorize(ctx, ref, request_tags=tags)
    _exists(ctx, ref)
    kind_type = TAG_TYPES[ref.kind]
    current = ctx.store.get_tags(ref.account_id, kind_type, ref.resource_id)
    keys = {t.key.lower() for t in current} | {t.key.lower() for t in tags}
    if len(keys) > MAX_TAGS:
        raise TooManyTagsException(f"A resource can have at most {MAX_TAGS} tags.")
    ctx.store.set_tags(ref.account_id, kind_type, ref.resource_id, tags)
    return {}


@operation("rolesanywhere", "UntagResource", action="rolesanywhere:UntagResource")
def untag_resource(
    ctx: OperationContext, params: Params[RolesAnywhereUntagResourceMembers]
) -> dict[str, object]:
    ref = _taggable(ctx, params.req_str("resourceArn"))
    keys = params.get_str_list("tagKeys") or []
    ctx.authorize(
        "rolesanywhere:UntagResource",
        ref.arn,
        request_keys={"aws:TagKeys": tuple(keys)},
        resource_account=ref.account_id,
        resource_tags={
            t.key: t.value
            for t in ctx.store.get_tags(ref.account_id, TAG_TYPES[ref.kind], ref.resource_id)
        },
    )
    _exists(ctx, ref)
    ctx.store.remove_tags(ref.account_id, TAG_TYPES[ref.kind], ref.resource_id, keys)
    return {}


@operation("rolesanywhere", "ListTagsForResource", action="rolesanywhere:ListTagsForResource")
def list_tags_for_resource(
    ctx: OperationContext, params: Params[RolesAnywhereListTagsForResourceMembers]
) -> dict[str, object]:
    ref = _taggable(ctx, params.req_str("resourceArn"))
    authorize(ctx, ref)
    _exists(ctx, ref)
    tags: list[Tag] = ctx.store.get_tags(ref.account_id, TAG_TYPES[ref.kind], ref.resource_id)
    return {"tags": tags_shape(tags)}
