"""Session tags (docs/wire-facts.md §4.5): validation of the ``Tags`` and
``TransitiveTagKeys`` of AssumeRole / GetFederationToken, inheritance of the
caller's transitive tags along a role chain, and the condition keys a tagged
request carries. Keys are case-insensitive and case-preserving.

Message texts: **[C]** recorded from real AWS by LocalStack's snapshot tests
(``tests/aws/services/sts/test_sts.snapshot.json``), **[I]** inferred."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from tessera.errors import InvalidParameterValue
from tessera.iam.model import Tag
from tessera.operation import ContextValue

MAX_SESSION_TAGS: Final = 50

# [C] all three: InvalidParameterValue, HTTP 400
DUPLICATE_KEYS: Final = "Duplicate tag keys found. Please note that Tag keys are case insensitive."
TRANSITIVE_NOT_IN_TAGS: Final = (
    "The specified transitive tag key must be included in the requested tags."
)
CONFLICTS_WITH_INHERITED: Final = (
    "One of the specified transitive tag keys can't be set because it conflicts with a "
    "transitive tag key from the calling session."
)
# [I] the aws: prefix is documented as reserved; the text is ours
RESERVED_PREFIX: Final = "Tag keys cannot start with the reserved prefix 'aws:'."
# [I] the limit is documented (50 tags including inherited transitive tags)
TOO_MANY: Final = f"The number of session tags exceeds the limit of {MAX_SESSION_TAGS}."


@dataclass(frozen=True, slots=True)
class SessionTags:
    """The tags of a new session: inherited transitive tags first, then the request's."""

    tags: tuple[Tag, ...] = ()
    transitive_keys: tuple[str, ...] = ()
    requested: tuple[Tag, ...] = ()  # only the tags passed in this request
    requested_transitive: tuple[str, ...] = ()

    @property
    def carried(self) -> tuple[Tag, ...]:
        """The transitive tags inherited from the calling session."""
        return self.tags[: len(self.tags) - len(self.requested)]


def parse_tags(raw: Sequence[object] | None) -> list[Tag]:
    """The request's ``Tags`` (list of ``{Key, Value}`` mappings) as ``Tag`` values."""
    out: list[Tag] = []
    for item in raw or ():
        if not isinstance(item, Mapping):
            raise InvalidParameterValue("Tags must be key/value pairs.")
        out.append(Tag(str(item.get("Key", "")), str(item.get("Value", ""))))
    return out


def build_session_tags(
    requested: Sequence[Tag],
    transitive_keys: Sequence[str] | None,
    inherited: Sequence[Tag] = (),
    inherited_transitive: Sequence[str] = (),
) -> SessionTags:
    """Validate the request's tags against each other and against the transitive tags
    the calling session passes on, and return the new session's tag set."""
    seen: set[str] = set()
    for tag in requested:
        low = tag.key.lower()
        if low in seen:
            raise InvalidParameterValue(DUPLICATE_KEYS)
        seen.add(low)
        if low.startswith("aws:"):
            raise InvalidParameterValue(RESERVED_PREFIX)
    by_lower = {t.key.lower(): t.key for t in requested}
    new_transitive: list[str] = []
    for key in transitive_keys or ():
        actual = by_lower.get(key.lower())
        if actual is None:
            raise InvalidParameterValue(TRANSITIVE_NOT_IN_TAGS)
        if actual not in new_transitive:
            new_transitive.append(actual)
    inherited_lower = {k.lower() for k in inherited_transitive}
    carried = [t for t in inherited if t.key.lower() in inherited_lower]
    if any(t.key.lower() in inherited_lower for t in requested):
        raise InvalidParameterValue(CONFLICTS_WITH_INHERITED)
    all_tags = (*carried, *requested)
    if len(all_tags) > MAX_SESSION_TAGS:
        raise InvalidParameterValue(TOO_MANY)
    return SessionTags(
        tags=tuple(all_tags),
        transitive_keys=(*(t.key for t in carried), *new_transitive),
        requested=tuple(requested),
        requested_transitive=tuple(new_transitive),
    )


def request_keys(tags: Sequence[Tag], transitive: Sequence[str] = ()) -> dict[str, ContextValue]:
    """``aws:RequestTag/<k>``, ``aws:TagKeys`` and ``sts:TransitiveTagKeys``."""
    keys: dict[str, ContextValue] = {f"aws:RequestTag/{t.key}": t.value for t in tags}
    if tags:
        keys["aws:TagKeys"] = tuple(t.key for t in tags)
    if transitive:
        keys["sts:TransitiveTagKeys"] = tuple(transitive)
    return keys


def principal_tags(identity_tags: Sequence[Tag], session_tags: Sequence[Tag]) -> dict[str, str]:
    """``aws:PrincipalTag`` values of a session: the role's (or user's) IAM tags,
    overridden case-insensitively by session tags."""
    merged: dict[str, Tag] = {t.key.lower(): t for t in identity_tags}
    for tag in session_tags:
        merged[tag.key.lower()] = tag
    return {t.key: t.value for t in merged.values()}
