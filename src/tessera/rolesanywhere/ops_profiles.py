"""Roles Anywhere profiles: CreateProfile, GetProfile, ListProfiles, UpdateProfile,
Enable/DisableProfile, DeleteProfile, Put/DeleteAttributeMapping.

A profile's roles are bound by unique id when the profile is written (as trust
policies bind principals): each role ARN must name an existing role of the
caller's account, and CreateSession later accepts the role only while it still
has that id — a role deleted and re-created under the same name is not trusted
until the profile is written again (AWS compares names; Tessera chooses the
binding so a re-created role never inherits a profile silently). The session
policies (inline ``sessionPolicy`` and ``managedPolicyArns``) are validated as
AssumeRole's are, so every session the profile issues carries them.
``requireInstanceProperties`` is refused when true (Tessera's CreateSession takes
no instance properties), as are ``aliasName`` and ``tipConfiguration``."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from tessera import ids
from tessera.errors import MalformedPolicyDocument, ValidationError
from tessera.operation import OperationContext
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.rolesanywhere.errors import ValidationException
from tessera.rolesanywhere.mappings import normalise_specifier
from tessera.rolesanywhere.model import (
    DEFAULT_MAPPINGS,
    TAG_TYPES,
    AttributeMapping,
    Profile,
    ResourceRef,
)
from tessera.rolesanywhere.ops_anchors import ALIAS_REFUSAL
from tessera.rolesanywhere.service import (
    authorize,
    next_token,
    not_found,
    page_request,
    parse_tags,
    profile_detail,
    resolve,
)
from tessera.sts import packing
from tessera.sts.assume import parse_role_arn
from tessera.sts.durations import ASSUME_ROLE_DEFAULT

if TYPE_CHECKING:
    from tessera.protocol.inputs import (
        CreateProfileMembers,
        DeleteAttributeMappingMembers,
        DeleteProfileMembers,
        DisableProfileMembers,
        EnableProfileMembers,
        GetProfileMembers,
        ListProfilesMembers,
        PutAttributeMappingMembers,
        UpdateProfileMembers,
    )

TIP_REFUSAL: Final = "Tessera's Roles Anywhere sessions do not carry Identity Center context."
INSTANCE_PROPERTIES_REFUSAL: Final = (
    "Tessera's CreateSession does not take instance properties, so none can be required."
)
MAX_SPECIFIERS: Final = 50


def _roles(ctx: OperationContext, arns: list[str]) -> tuple[tuple[str, str], ...]:
    """Each role ARN bound to its role's unique id (refused unless it names an
    existing role of the caller's account)."""
    account = ctx.caller.account_id
    out: list[tuple[str, str]] = []
    for arn in arns:
        try:
            ref = parse_role_arn(arn)
        except ValidationError:
            ref = None
        if ref is None:
            raise ValidationException(f"Invalid role ARN: {arn}")
        if ref.account_id != account:
            raise ValidationException(
                f"The role {arn} is not in this account; a profile lists roles of its own account."
            )
        role = ctx.store.get_role(ref.account_id, ref.name)
        if role is None or role.path != ref.path:
            raise ValidationException(
                f"The role {arn} does not exist. Create the role first: profiles bind each "
                "role by its unique id."
            )
        if arn not in (a for a, _ in out):
            out.append((arn, role.role_id))
    return tuple(out)


def _session_policies(
    ctx: OperationContext, policy: str | None, arns: list[str]
) -> tuple[str | None, tuple[str, ...]]:
    """The inline session policy (canonical) and managed policy ARNs, checked with
    AssumeRole's rules (grammar, 10 ARNs, 2,048 characters; the managed policies
    must exist in the caller's account)."""
    try:
        packing.validate_session_policy(policy, arns)
    except (ValidationError, MalformedPolicyDocument) as exc:
        raise ValidationException(f"Invalid session policy: {exc.message}") from None
    for arn in arns:
        found = ctx.store.get_managed_policy(arn)
        if found is None or found.account_id != ctx.caller.account_id:
            raise ValidationException(f"The managed policy {arn} does not exist in this account.")
    return (packing.canonical_policy(policy) if policy is not None else None), tuple(
        dict.fromkeys(arns)
    )


def _load(ctx: OperationContext, identifier: str) -> tuple[ResourceRef, Profile]:
    ref = resolve(ctx, "profile", identifier)
    authorize(ctx, ref)
    profile = ctx.store.get_ra_profile(ref.account_id, ref.region, ref.resource_id)
    if profile is None:
        raise not_found("profile")
    return ref, profile


@operation("rolesanywhere", "CreateProfile", action="rolesanywhere:CreateProfile")
def create_profile(
    ctx: OperationContext, params: Params[CreateProfileMembers]
) -> dict[str, object]:
    tags = parse_tags(params, "tags")
    ref = ResourceRef("profile", ctx.region, ctx.caller.account_id, ids.uuid4_text())
    authorize(ctx, ref, request_tags=tags, existing=False)
    params.refuse("aliasName", ALIAS_REFUSAL)
    params.refuse("tipConfiguration", TIP_REFUSAL)
    if params.get_bool("requireInstanceProperties"):
        params.refuse("requireInstanceProperties", INSTANCE_PROPERTIES_REFUSAL)
    roles = _roles(ctx, params.get_str_list("roleArns") or [])
    policy, policy_arns = _session_policies(
        ctx, params.get_str("sessionPolicy"), params.get_str_list("managedPolicyArns") or []
    )
    duration = params.get_int("durationSeconds")
    now = ctx.now
    profile = Profile(
        account_id=ref.account_id,
        region=ref.region,
        profile_id=ref.resource_id,
        name=params.req_str("name"),
        enabled=bool(params.get_bool("enabled")),
        roles=roles,
        managed_policy_arns=policy_arns,
        session_policy=policy,
        duration_seconds=duration if duration is not None else ASSUME_ROLE_DEFAULT,
        accept_role_session_name=bool(params.get_bool("acceptRoleSessionName")),
        attribute_mappings=DEFAULT_MAPPINGS,
        created_by=ctx.caller.arn,
        created_at=now,
        updated_at=now,
    )
    ctx.store.put_ra_profile(profile)
    if tags:
        ctx.store.set_tags(ref.account_id, TAG_TYPES["profile"], ref.resource_id, tags)
    return {"profile": profile_detail(profile)}


@operation("rolesanywhere", "GetProfile", action="rolesanywhere:GetProfile")
def get_profile(ctx: OperationContext, params: Params[GetProfileMembers]) -> dict[str, object]:
    _, profile = _load(ctx, params.req_str("profileId"))
    return {"profile": profile_detail(profile)}


@operation("rolesanywhere", "ListProfiles", action="rolesanywhere:ListProfiles")
def list_profiles(ctx: OperationContext, params: Params[ListProfilesMembers]) -> dict[str, object]:
    authorize(ctx, None)
    after, size = page_request(params)
    page = ctx.store.list_ra_profiles(ctx.caller.account_id, ctx.region, after=after, limit=size)
    out: dict[str, object] = {"profiles": [profile_detail(p) for p in page]}
    token = next_token(page, size, page[-1].profile_id if page else None)
    if token is not None:
        out["nextToken"] = token
    return out


@operation("rolesanywhere", "UpdateProfile", action="rolesanywhere:UpdateProfile")
def update_profile(
    ctx: OperationContext, params: Params[UpdateProfileMembers]
) -> dict[str, object]:
    _, profile = _load(ctx, params.req_str("profileId"))
    params.refuse("aliasName", ALIAS_REFUSAL)
    params.refuse("tipConfiguration", TIP_REFUSAL)
    name = params.get_str("name")
    role_arns = params.get_str_list("roleArns")
    new_policy = params.get_str("sessionPolicy")
    new_arns = params.get_str_list("managedPolicyArns")
    policy, policy_arns = profile.session_policy, profile.managed_policy_arns
    if new_policy is not None or new_arns is not None:
        policy, policy_arns = _session_policies(
            ctx,
            new_policy if new_policy is not None else profile.session_policy,
            new_arns if new_arns is not None else list(profile.managed_policy_arns),
        )
    duration = params.get_int("durationSeconds")
    accept = params.get_bool("acceptRoleSessionName")
    updated = replace(
        profile,
        name=name if name is not None else profile.name,
        roles=_roles(ctx, role_arns) if role_arns is not None else profile.roles,
        session_policy=policy,
        managed_policy_arns=policy_arns,
        duration_seconds=duration if duration is not None else profile.duration_seconds,
        accept_role_session_name=(
            accept if accept is not None else profile.accept_role_session_name
        ),
        updated_at=ctx.now,
    )
    ctx.store.put_ra_profile(updated)
    return {"profile": profile_detail(updated)}


def _set_enabled(ctx: OperationContext, identifier: str, enabled: bool) -> dict[str, object]:
    _, profile = _load(ctx, identifier)
    updated = replace(profile, enabled=enabled, updated_at=ctx.now)
    ctx.store.put_ra_profile(updated)
    return {"profile": profile_detail(updated)}


@operation("rolesanywhere", "EnableProfile", action="rolesanywhere:EnableProfile")
def enable_profile(
    ctx: OperationContext, params: Params[EnableProfileMembers]
) -> dict[str, object]:
    return _set_enabled(ctx, params.req_str("profileId"), True)


@operation("rolesanywhere", "DisableProfile", action="rolesanywhere:DisableProfile")
def disable_profile(
    ctx: OperationContext, params: Params[DisableProfileMembers]
) -> dict[str, object]:
    return _set_enabled(ctx, params.req_str("profileId"), False)


@operation("rolesanywhere", "DeleteProfile", action="rolesanywhere:DeleteProfile")
def delete_profile(
    ctx: OperationContext, params: Params[DeleteProfileMembers]
) -> dict[str, object]:
    ref, profile = _load(ctx, params.req_str("profileId"))
    if not ctx.store.delete_ra_profile(ref.account_id, ref.region, ref.resource_id):
        raise not_found("profile")
    return {"profile": profile_detail(profile)}


def _specifiers(field: str, raw: list[str]) -> list[str]:
    out: list[str] = []
    for specifier in raw:
        normal = normalise_specifier(field, specifier)
        if normal is None:
            raise ValidationException(
                f"Unsupported specifier '{specifier}' for {field}. Supported: "
                + (
                    "*, CN, OU, O, C, L, ST, DC"
                    if field != "x509SAN"
                    else "DNS, URI, Name/*, Name/<CN|OU|O|C|L|ST|DC>"
                )
                + "."
            )
        if normal not in out:
            out.append(normal)
    return out


@operation("rolesanywhere", "PutAttributeMapping", action="rolesanywhere:PutAttributeMapping")
def put_attribute_mapping(
    ctx: OperationContext, params: Params[PutAttributeMappingMembers]
) -> dict[str, object]:
    _, profile = _load(ctx, params.req_str("profileId"))
    field = params.req_str("certificateField")
    rules = params.get_struct_list("mappingRules") or []
    added = _specifiers(field, [r.get_str("specifier") or "" for r in rules])
    mappings = list(profile.attribute_mappings)
    current = next((m for m in mappings if m.certificate_field == field), None)
    merged = list(current.specifiers) if current is not None else []
    merged += [s for s in added if s not in merged]
    if len(merged) > MAX_SPECIFIERS:
        raise ValidationException(f"A certificate field has at most {MAX_SPECIFIERS} specifiers.")
    mappings = [m for m in mappings if m.certificate_field != field]
    mappings.append(AttributeMapping(field, tuple(merged)))
    mappings.sort(key=lambda m: m.certificate_field)
    updated = replace(profile, attribute_mappings=tuple(mappings), updated_at=ctx.now)
    ctx.store.put_ra_profile(updated)
    return {"profile": profile_detail(updated)}


@operation("rolesanywhere", "DeleteAttributeMapping", action="rolesanywhere:DeleteAttributeMapping")
def delete_attribute_mapping(
    ctx: OperationContext, params: Params[DeleteAttributeMappingMembers]
) -> dict[str, object]:
    _, profile = _load(ctx, params.req_str("profileId"))
    field = params.req_str("certificateField")
    raw: Any = params.get_str_list("specifiers")
    mappings = list(profile.attribute_mappings)
    if raw is None:  # no specifiers: the whole field's mapping goes
        mappings = [m for m in mappings if m.certificate_field != field]
    else:
        dropped = set(_specifiers(field, raw))
        kept: list[AttributeMapping] = []
        for m in mappings:
            if m.certificate_field == field:
                rest = tuple(s for s in m.specifiers if s not in dropped)
                if rest:
                    kept.append(AttributeMapping(field, rest))
            else:
                kept.append(m)
        mappings = kept
    updated = replace(profile, attribute_mappings=tuple(mappings), updated_at=ctx.now)
    ctx.store.put_ra_profile(updated)
    return {"profile": profile_detail(updated)}
