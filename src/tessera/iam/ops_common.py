"""Shared pieces of the IAM operations: AWS's entity-lookup errors, authorise-then-require
lookups, Marker/MaxItems pagination, tag handling (case-insensitive keys, the 50-tag
quota, the Tag/Untag/List*Tags operations), policy-document validation and the
URL-encoding IAM applies to every policy document it returns.

Message texts are tagged in comments: **[C]** seen verbatim in real AWS responses
quoted in public issue threads, **[I]** inferred (same family as a confirmed text,
or recalled but not found in a public capture)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import quote

from tessera import arn as arns
from tessera.auth.principal import PrincipalKind
from tessera.errors import (
    EntityAlreadyExists,
    InvalidInput,
    LimitExceeded,
    MalformedPolicyDocument,
    NoSuchEntity,
    ValidationError,
)
from tessera.iam import aws_managed
from tessera.iam.model import Group, ManagedPolicy, Page, Role, Tag, User
from tessera.iam.policy.parse import MSG, PolicyKind, inline_size_message, parse_policy, policy_size
from tessera.operation import ContextValue, OperationContext, Result
from tessera.protocol.query import Params
from tessera.registry import Operation, declare
from tessera.store.base import InvalidMarker
from tessera.store.records import Owner, decode_marker, encode_marker

T = TypeVar("T")

DEFAULT_MAX_ITEMS: Final = 100
MAX_TAGS: Final = 50
MAX_ACCESS_KEYS: Final = 2
MAX_ATTACHED_POLICIES: Final = 10
MAX_POLICY_VERSIONS: Final = 5

# Size quotas (characters, white space not counted).
USER_INLINE_LIMIT: Final = 2048
ROLE_INLINE_LIMIT: Final = 10240
GROUP_INLINE_LIMIT: Final = 5120
MANAGED_POLICY_LIMIT: Final = 6144
TRUST_POLICY_LIMIT: Final = 2048

_KIND_TITLE: Final = {
    "user": "User",
    "group": "Group",
    "role": "Role",
    "policy": "Policy",
    "oidc-provider": "OpenIdConnectProvider",
    "saml-provider": "SAMLProvider",
    "instance-profile": "InstanceProfile",
    "server-cert": "ServerCertificate",
    "mfa": "MFADevice",
}

# [C] "This policy contains invalid Json" (AWSCookbook/Security#2, CreateRole).
TRUST_INVALID_JSON: Final = "This policy contains invalid Json"
# [C] "Syntax errors in policy." (CreatePolicy with a trailing comma,
# aws-samples/amazon-ecs-firelens-examples#50; boto/boto3#180).
IDENTITY_INVALID_JSON: Final = MSG.SYNTAX


# --- small helpers ---------------------------------------------------------------------


def account_of(ctx: OperationContext) -> str:
    return ctx.caller.account_id


def now_of(ctx: OperationContext) -> datetime:
    """The request time at second precision (AWS's CreateDate has no fraction)."""
    return ctx.now.replace(microsecond=0)


def encode_document(document: str) -> str:
    """IAM returns policy documents URL-encoded (RFC 3986, nothing left unescaped but
    ``A-Za-z0-9-._~``); botocore's ``json_decode_policies`` handler decodes them."""
    return quote(document, safe="")


def path_or_default(value: str | None) -> str:
    return value if value is not None else "/"


def list_resource(ctx: OperationContext, kind: str, path_prefix: str | None) -> str:
    """The resource AWS names when authorising a List* call: ``arn:…:user/`` + prefix."""
    prefix = path_prefix or "/"
    return f"arn:{arns.PARTITION}:iam::{account_of(ctx)}:{kind}{prefix}"


def list_named(
    ctx: OperationContext,
    params: Params[Any],
    kind: str,
    result_key: str,
    fetch: Callable[[str, str, str | None, int], Page[T]],
    shape: Callable[[T], dict[str, object]],
    *,
    action: str | None = None,
) -> Result:
    """ListUsers / ListGroups / ListRoles / ListInstanceProfiles /
    ListServerCertificates: authorise ``action`` (``iam:List<result_key>`` unless
    given) on the path-prefix resource, then answer one page ordered by name."""
    prefix = params.get_str("PathPrefix")
    ctx.authorize(action or f"iam:List{result_key}", list_resource(ctx, kind, prefix))
    try:
        page = fetch(account_of(ctx), prefix or "/", marker(params), max_items(params))
    except InvalidMarker as exc:
        raise invalid_marker() from exc
    return with_truncation({result_key: [shape(x) for x in page.items]}, page.marker)


def require_user_credentials(ctx: OperationContext) -> str | None:
    """The caller's own user name for operations whose UserName defaults to the caller;
    ``None`` for the account root. Other callers must name the user."""
    caller = ctx.caller
    if caller.kind is PrincipalKind.USER:
        # by unique id: a session's user may have been renamed since it was issued
        user = ctx.store.get_user_by_id(caller.user_id)
        return caller.name if user is None else user.name
    if caller.is_root:
        return None
    # [C] "Must specify userName when calling with non-User credentials"
    raise ValidationError("Must specify userName when calling with non-User credentials")


# --- lookups with AWS's NoSuchEntity texts ------------------------------------------------


def no_such_user(name: str) -> NoSuchEntity:
    return NoSuchEntity(f"The user with name {name} cannot be found.")  # [C]


def no_such_group(name: str) -> NoSuchEntity:
    return NoSuchEntity(f"The group with name {name} cannot be found.")  # [C]


def no_such_role(name: str) -> NoSuchEntity:
    return NoSuchEntity(f"The role with name {name} cannot be found.")  # [C]


def no_such_policy(policy_arn: str) -> NoSuchEntity:
    return NoSuchEntity(f"Policy {policy_arn} was not found.")  # [C] GetPolicy / Detach*


def not_attachable(policy_arn: str) -> NoSuchEntity:
    # [C] pulumi/pulumi#7419: "Policy arn:… does not exist or is not attachable."
    return NoSuchEntity(f"Policy {policy_arn} does not exist or is not attachable.")


def no_such_version(policy_arn: str, version_id: str) -> NoSuchEntity:
    # [I] same family as the attach text
    return NoSuchEntity(
        f"Policy {policy_arn} version {version_id} does not exist or is not attachable."
    )


def no_such_access_key(access_key_id: str) -> NoSuchEntity:
    return NoSuchEntity(f"The Access Key with id {access_key_id} cannot be found.")  # [C]


def already_exists(kind: str, name: str) -> EntityAlreadyExists:
    # [C] "User with name X already exists." / "Role with name X already exists."
    return EntityAlreadyExists(f"{_KIND_TITLE[kind]} with name {name} already exists.")


def get_user(ctx: OperationContext, name: str) -> User:
    user = ctx.store.get_user(account_of(ctx), name)
    if user is None:
        raise no_such_user(name)
    return user


def get_group(ctx: OperationContext, name: str) -> Group:
    group = ctx.store.get_group(account_of(ctx), name)
    if group is None:
        raise no_such_group(name)
    return group


def get_role(ctx: OperationContext, name: str) -> Role:
    role = ctx.store.get_role(account_of(ctx), name)
    if role is None:
        raise no_such_role(name)
    return role


def find_policy(ctx: OperationContext, policy_arn: str) -> ManagedPolicy | None:
    """A customer managed policy of the caller's account or an AWS managed policy (its
    usage counted within the caller's account); other accounts' policies are not
    visible."""
    aws_policy = aws_managed.get(policy_arn)
    if aws_policy is not None:
        attached, bounded = ctx.store.policy_usage(account_of(ctx)).get(policy_arn, (0, 0))
        return aws_policy.as_managed(attached, bounded)
    policy = ctx.store.get_managed_policy(policy_arn)
    if policy is None or policy.account_id != account_of(ctx):
        return None
    return policy


def get_policy(ctx: OperationContext, policy_arn: str) -> ManagedPolicy:
    policy = find_policy(ctx, policy_arn)
    if policy is None:
        raise no_such_policy(policy_arn)
    return policy


def check_boundary(ctx: OperationContext, boundary_arn: str) -> None:
    """A permissions boundary must be an existing managed policy."""
    if find_policy(ctx, boundary_arn) is None:
        # [I] recalled AWS text for an unknown boundary policy
        raise NoSuchEntity(f"Scope ARN: {boundary_arn} does not exist or is not attachable.")


class _Resource(Protocol):
    """An IAM entity as the lookups see it: in an account, named by an ARN."""

    @property
    def account_id(self) -> str: ...

    @property
    def arn(self) -> str: ...


R = TypeVar("R", bound=_Resource)
R_co = TypeVar("R_co", bound=_Resource, covariant=True)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


def name_key(entity: _Named) -> str:
    """The key a named entity's tags are kept under: its name, lower-cased (IAM
    names are unique case-insensitively)."""
    return entity.name.lower()


def authorize_then_require(
    ctx: OperationContext,
    action: str,
    found: R | None,
    *,
    missing_arn: str,
    missing: NoSuchEntity,
    tag_type: str,
    tag_key: Callable[[R], str],
    request_keys: Mapping[str, ContextValue] | None = None,
) -> R:
    """Authorise ``action`` on ``found``'s ARN with its tags (on ``missing_arn``, no
    tags, when it does not exist, so a caller without permission learns nothing),
    then raise ``missing`` if there is no such entity."""
    if found is None:
        ctx.authorize(action, missing_arn, request_keys=request_keys, resource_tags=None)
        raise missing
    tags = resource_tags(ctx, tag_type, tag_key(found))
    ctx.authorize(action, found.arn, request_keys=request_keys, resource_tags=tags)
    return found


def owner(ctx: OperationContext, kind: str, name: str) -> Owner:
    return Owner(account_of(ctx), kind, name)


# --- pagination -------------------------------------------------------------------------


def max_items(params: Params[Any]) -> int:
    value = params.get_int("MaxItems")
    return DEFAULT_MAX_ITEMS if value is None else value


def marker(params: Params[Any]) -> str | None:
    return params.get_str("Marker")


def invalid_marker() -> ValidationError:
    return ValidationError("Invalid Marker.")  # [I]


def paginate(items: Sequence[T], params: Params[Any]) -> tuple[list[T], str | None]:
    """Offset pagination for lists the handler already holds in full (deterministic
    order). Returns the page and the next marker (``None`` when not truncated)."""
    start = 0
    raw = marker(params)
    if raw is not None:
        try:
            decoded = decode_marker(raw)
            start = int(decoded or "")
        except (InvalidMarker, ValueError) as exc:
            raise invalid_marker() from exc
        if start < 0 or start > len(items):
            raise invalid_marker()
    limit = max_items(params)
    end = start + limit
    page = list(items[start:end])
    return page, (encode_marker(str(end)) if end < len(items) else None)


def with_truncation(result: dict[str, object], next_marker: str | None) -> dict[str, object]:
    result["IsTruncated"] = next_marker is not None
    if next_marker is not None:
        result["Marker"] = next_marker
    return result


# --- tags -------------------------------------------------------------------------------


def tags_from(params: Params[Any], name: str = "Tags") -> list[Tag]:
    """The request's tags; duplicate keys (compared case-insensitively) are rejected."""
    raw = params.get_list(name) or []
    tags: list[Tag] = []
    seen: set[str] = set()
    for item in raw:
        assert isinstance(item, Mapping)
        key, value = str(item["Key"]), str(item["Value"])
        if key.lower() in seen:
            # [I] moto's text, mirroring AWS
            raise InvalidInput(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive."
            )
        seen.add(key.lower())
        tags.append(Tag(key, value))
    return tags


def tag_request_keys(tags: Sequence[Tag]) -> dict[str, ContextValue]:
    keys: dict[str, ContextValue] = {f"aws:RequestTag/{t.key}": t.value for t in tags}
    if tags:
        keys["aws:TagKeys"] = tuple(t.key for t in tags)
    return keys


def check_tag_quota(existing: Sequence[Tag], new: Sequence[Tag], kind: str) -> None:
    keys = {t.key.lower() for t in existing} | {t.key.lower() for t in new}
    if len(keys) > MAX_TAGS:
        # [I] quota-style text like the confirmed PoliciesPerRole one
        raise LimitExceeded(f"Cannot exceed quota for TagsPer{_KIND_TITLE[kind]}: {MAX_TAGS}")


def resource_tags(
    ctx: OperationContext, resource_type: str, resource_key: str | None
) -> dict[str, str] | None:
    """The resource's tags for ``aws:ResourceTag/*`` conditions (None: no resource)."""
    if resource_key is None:
        return None
    return {
        t.key: t.value for t in ctx.store.get_tags(account_of(ctx), resource_type, resource_key)
    }


def render_tags(tags: Sequence[Tag]) -> list[dict[str, object]]:
    return [{"Key": t.key, "Value": t.value} for t in tags]


def tag_resource(
    ctx: OperationContext, resource_type: str, resource_key: str, tags: Sequence[Tag]
) -> None:
    existing = ctx.store.get_tags(account_of(ctx), resource_type, resource_key)
    check_tag_quota(existing, tags, resource_type)
    ctx.store.set_tags(account_of(ctx), resource_type, resource_key, tags)


# (ctx, action, identifier from the request, request keys) -> (account id, tag key):
# authorises ``action`` on the resource and requires it to exist
Locate = Callable[[OperationContext, str, str, Mapping[str, ContextValue] | None], tuple[str, str]]


class GetFor(Protocol[R_co]):
    """A ``get_<entity>_for`` lookup: authorise the action, then require the entity."""

    def __call__(
        self,
        ctx: OperationContext,
        action: str,
        identifier: str,
        /,
        *,
        request_keys: Mapping[str, ContextValue] | None = ...,
    ) -> R_co: ...


def locate_with(get_for: GetFor[R], tag_key: Callable[[R], str]) -> Locate:
    """The :data:`Locate` of an entity found by ``get_for`` and tagged under
    ``tag_key`` of it."""

    def locate(
        ctx: OperationContext, action: str, identifier: str, keys: Mapping[str, ContextValue] | None
    ) -> tuple[str, str]:
        found = get_for(ctx, action, identifier, request_keys=keys)
        return found.account_id, tag_key(found)

    return locate


def tag_operations(
    noun: str, id_param: str, resource_type: str, locate: Locate
) -> tuple[Operation, ...]:
    """Declare ``Tag<noun>``, ``Untag<noun>`` and ``List<noun>Tags`` for one taggable
    kind of IAM resource (users, roles, policies, OIDC and SAML providers): the tag action
    carries ``aws:RequestTag/*`` + ``aws:TagKeys``, the untag action ``aws:TagKeys``,
    and tagging keeps the per-resource quota."""

    def tag(ctx: OperationContext, params: Params[Any]) -> Result:
        tags = tags_from(params)
        account, key = locate(
            ctx, f"iam:Tag{noun}", params.req_str(id_param), tag_request_keys(tags)
        )
        check_tag_quota(ctx.store.get_tags(account, resource_type, key), tags, resource_type)
        ctx.store.set_tags(account, resource_type, key, tags)
        return None

    def untag(ctx: OperationContext, params: Params[Any]) -> Result:
        keys = params.get_str_list("TagKeys") or []
        account, key = locate(
            ctx, f"iam:Untag{noun}", params.req_str(id_param), {"aws:TagKeys": tuple(keys)}
        )
        ctx.store.remove_tags(account, resource_type, key, keys)
        return None

    def list_tags(ctx: OperationContext, params: Params[Any]) -> Result:
        account, key = locate(ctx, f"iam:List{noun}Tags", params.req_str(id_param), None)
        page, nxt = paginate(ctx.store.get_tags(account, resource_type, key), params)
        return with_truncation({"Tags": render_tags(page)}, nxt)

    return tuple(
        declare(Operation("iam", name, handler, action=f"iam:{name}"))
        for name, handler in (
            (f"Tag{noun}", tag),
            (f"Untag{noun}", untag),
            (f"List{noun}Tags", list_tags),
        )
    )


def list_tags_result(
    ctx: OperationContext, params: Params[Any], resource_type: str, resource_key: str
) -> dict[str, object]:
    tags = ctx.store.get_tags(account_of(ctx), resource_type, resource_key)
    page, nxt = paginate(tags, params)
    return with_truncation({"Tags": render_tags(page)}, nxt)


# --- policy documents -------------------------------------------------------------------

_KINDS: Final = {
    "trust": PolicyKind.TRUST,
    "user": PolicyKind.IDENTITY,
    "group": PolicyKind.IDENTITY,
    "role": PolicyKind.IDENTITY,
    "managed": PolicyKind.IDENTITY,
    "identity": PolicyKind.IDENTITY,
}


def validate_policy_document(document: str, kind: str, max_size: int) -> None:
    """Check a policy document as IAM does before storing it.

    ``kind`` is ``"trust"`` (a role's AssumeRolePolicyDocument), ``"managed"`` (a
    managed policy version) or ``"user"``/``"group"``/``"role"`` (an inline policy).
    Raises ``MalformedPolicyDocument`` for text that is not a JSON object (AWS's texts
    differ for trust and identity policies) and for grammar errors (the full validator
    in ``tessera.iam.policy.parse``), and ``LimitExceeded`` when the document alone is
    over ``max_size`` characters, white space not counted. Inline callers check the
    per-entity aggregate with :func:`check_inline_quota`.
    """
    policy_kind = _KINDS.get(kind)
    if policy_kind is None:
        raise ValueError(f"unknown policy document kind {kind!r}")
    invalid_json = TRUST_INVALID_JSON if kind == "trust" else IDENTITY_INVALID_JSON
    try:
        raw = json.loads(document)
    except (ValueError, RecursionError) as exc:
        raise MalformedPolicyDocument(invalid_json) from exc
    if not isinstance(raw, dict):
        raise MalformedPolicyDocument(invalid_json if kind == "trust" else MSG.SYNTAX)
    size = policy_size(document)
    if size > max_size:
        if kind == "trust":
            # [I] recalled: "Cannot exceed quota for ACLSizePerRole: 2048"
            raise LimitExceeded(f"Cannot exceed quota for ACLSizePerRole: {max_size}")
        if kind == "managed":
            # [C] "Cannot exceed quota for PolicySize: 6144"
            raise LimitExceeded(f"Cannot exceed quota for PolicySize: {max_size}")
        raise LimitExceeded(f"Maximum policy size of {max_size} bytes exceeded")
    parse_policy(document, policy_kind, require_current_version=False)


def check_inline_quota(
    ctx: OperationContext, target: Owner, policy_name: str, document: str, limit: int
) -> None:
    """The inline quota is the aggregate size of all of an entity's inline policies."""
    total = policy_size(document)
    for existing in ctx.store.list_inline_policies(target):
        if existing.name.lower() != policy_name.lower():
            total += policy_size(existing.document)
    if total > limit:
        # [C] "Maximum policy size of 2048 bytes exceeded for user <name>"
        raise LimitExceeded(inline_size_message(target.kind, target.name, limit))


def boundary_shape(boundary_arn: str | None) -> dict[str, object] | None:
    if boundary_arn is None:
        return None
    return {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary_arn}
