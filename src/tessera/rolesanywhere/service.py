"""What the Roles Anywhere operation handlers share: resolving a resource id (UUID
or ARN) in the caller's account and region, authorising the declared action on the
resource's ARN (with its tags and the request's tags), the wire shapes of each
resource (``TrustAnchorDetail``, ``ProfileDetail``, ``CrlDetail``,
``SubjectSummary`` / ``SubjectDetail``), tag validation and pagination."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any, Final

from tessera.iam.model import Tag
from tessera.operation import ContextValue, OperationContext
from tessera.protocol.query import Params
from tessera.rolesanywhere.errors import (
    ResourceNotFoundException,
    TooManyTagsException,
    ValidationException,
)
from tessera.rolesanywhere.model import (
    TAG_TYPES,
    Crl,
    Profile,
    ResourceKind,
    ResourceRef,
    Subject,
    TrustAnchor,
    is_uuid,
    parse_resource_arn,
)

MAX_TAGS: Final = 50
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 100
_LABEL: Final[Mapping[ResourceKind, str]] = {
    "trust-anchor": "Trust anchor",
    "profile": "Profile",
    "crl": "CRL",
    "subject": "Subject",
}


def not_found(kind: ResourceKind) -> ResourceNotFoundException:
    # [I] AWS's text is not published; the SDK shows the exception name and this text
    return ResourceNotFoundException(f"{_LABEL[kind]} not found.")


def resolve(ctx: OperationContext, kind: ResourceKind, identifier: str) -> ResourceRef:
    """The resource ``identifier`` (a UUID, or this kind's ARN) names in the caller's
    account; the region is the request's for a UUID, the ARN's for an ARN. Alias
    ARNs are refused (Tessera has no aliases)."""
    account = ctx.caller.account_id
    if is_uuid(identifier):
        return ResourceRef(kind, ctx.region, account, identifier)
    if f":alias/{kind}/" in identifier:
        raise ValidationException(
            "Aliases are not supported by Tessera: name the resource by its id or ARN."
        )
    ref = parse_resource_arn(identifier)
    if ref is None or ref.kind != kind:
        raise ValidationException(f"Invalid {_LABEL[kind].lower()} identifier: {identifier}")
    if ref.account_id != account:
        # another account's resource is never visible (authorised first, like any ARN)
        authorize(ctx, ref)
        raise not_found(kind)
    return ref


def resource_tags(ctx: OperationContext, ref: ResourceRef) -> dict[str, str]:
    kind_type = TAG_TYPES.get(ref.kind)
    if kind_type is None:
        return {}
    return {t.key: t.value for t in ctx.store.get_tags(ref.account_id, kind_type, ref.resource_id)}


def authorize(
    ctx: OperationContext,
    ref: ResourceRef | None,
    *,
    request_tags: Sequence[Tag] | None = None,
    existing: bool = True,
) -> None:
    """Authorise the operation's declared action (``rolesanywhere:<Operation>``) on
    ``ref``'s ARN (``*`` for list operations), with the resource's tags when it
    exists and the request's tags (``aws:RequestTag/*``, ``aws:TagKeys``)."""
    keys: dict[str, ContextValue] = {}
    if request_tags is not None:
        for tag in request_tags:
            keys[f"aws:RequestTag/{tag.key}"] = tag.value
        keys["aws:TagKeys"] = tuple(t.key for t in request_tags)
    tags = resource_tags(ctx, ref) if ref is not None and existing else None
    ctx.authorize(
        f"rolesanywhere:{ctx.operation}",
        ref.arn if ref is not None else "*",
        request_keys=keys,
        resource_account=ref.account_id if ref is not None else None,
        resource_tags=tags,
    )


# --- tags ----------------------------------------------------------------------------


def parse_tags(params: Params[Any], name: str) -> list[Tag]:
    """The request's ``tags`` (key/value structures, already checked by the model):
    at most 50, no ``aws:`` prefix, no duplicate keys (case-insensitive)."""
    out: list[Tag] = []
    seen: set[str] = set()
    for item in params.get_struct_list(name) or []:
        key = item.get_str("key") or ""
        value = item.get_str("value") or ""
        if key.lower().startswith("aws:"):
            raise ValidationException("Tag keys cannot start with the reserved prefix 'aws:'.")
        if key.lower() in seen:
            raise ValidationException(f"Duplicate tag key: {key}")
        seen.add(key.lower())
        out.append(Tag(key, value))
    if len(out) > MAX_TAGS:
        raise TooManyTagsException(f"A resource can have at most {MAX_TAGS} tags.")
    return out


def tags_shape(tags: Sequence[Tag]) -> list[dict[str, str]]:
    return [{"key": t.key, "value": t.value} for t in tags]


# --- pagination ----------------------------------------------------------------------


def page_request(params: Params[Any]) -> tuple[str | None, int]:
    """(the id after which the page starts, the page size) from ``nextToken`` and
    ``pageSize``."""
    size = params.get_int("pageSize")
    if size is None:
        size = DEFAULT_PAGE_SIZE
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValidationException(
            f"1 validation error detected: Value '{size}' at 'pageSize' failed to satisfy "
            f"constraint: Member must have value between 1 and {MAX_PAGE_SIZE}"
        )
    token = params.get_str("nextToken")
    if token is None:
        return None, size
    try:
        after = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii")
    except (binascii.Error, ValueError, UnicodeError):
        after = ""
    if not is_uuid(after):
        raise ValidationException("Invalid nextToken.")
    return after, size


def next_token(page: Sequence[Any], size: int, last_id: str | None) -> str | None:
    """The token of the next page: set when this page is full."""
    if len(page) < size or last_id is None:
        return None
    return base64.urlsafe_b64encode(last_id.encode("ascii")).decode("ascii")


# --- wire shapes ---------------------------------------------------------------------


def anchor_detail(anchor: TrustAnchor) -> dict[str, object]:
    return {
        "trustAnchorId": anchor.anchor_id,
        "trustAnchorArn": anchor.arn,
        "name": anchor.name,
        "source": {
            "sourceType": "CERTIFICATE_BUNDLE",
            "sourceData": {"x509CertificateData": anchor.certificate_data},
        },
        "enabled": anchor.enabled,
        "crlDpRevocationEnabled": False,
        "createdAt": anchor.created_at,
        "updatedAt": anchor.updated_at,
        "notificationSettings": [n.detail() for n in anchor.notification_settings],
    }


def profile_detail(profile: Profile) -> dict[str, object]:
    out: dict[str, object] = {
        "profileId": profile.profile_id,
        "profileArn": profile.arn,
        "name": profile.name,
        "requireInstanceProperties": profile.require_instance_properties,
        "enabled": profile.enabled,
        "createdBy": profile.created_by,
        "roleArns": list(profile.role_arns),
        "managedPolicyArns": list(profile.managed_policy_arns),
        "createdAt": profile.created_at,
        "updatedAt": profile.updated_at,
        "durationSeconds": profile.duration_seconds,
        "acceptRoleSessionName": profile.accept_role_session_name,
        "attributeMappings": [m.detail() for m in profile.attribute_mappings],
    }
    if profile.session_policy is not None:
        out["sessionPolicy"] = profile.session_policy
    return out


def crl_detail(crl: Crl) -> dict[str, object]:
    return {
        "crlId": crl.crl_id,
        "crlArn": crl.arn,
        "name": crl.name,
        "enabled": crl.enabled,
        "crlData": crl.crl_der,
        "trustAnchorArn": crl.trust_anchor_arn,
        "createdAt": crl.created_at,
        "updatedAt": crl.updated_at,
    }


def subject_summary(subject: Subject) -> dict[str, object]:
    return {
        "subjectArn": subject.arn,
        "subjectId": subject.subject_id,
        "enabled": subject.enabled,
        "x509Subject": subject.x509_subject,
        "lastSeenAt": subject.last_seen_at,
        "createdAt": subject.created_at,
        "updatedAt": subject.updated_at,
    }


def subject_detail(subject: Subject) -> dict[str, object]:
    out = subject_summary(subject)
    out["credentials"] = [
        {
            "seenAt": c.seen_at,
            "serialNumber": c.serial_number,
            "issuer": c.issuer,
            "enabled": True,
            "x509CertificateData": c.certificate_pem,
            "failed": c.failed,
        }
        for c in subject.credentials
    ]
    out["instanceProperties"] = []
    return out
