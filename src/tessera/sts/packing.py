"""Session-policy limits, the session-token size fields, and the (pre-2026) packed size
(docs/wire-facts.md §4.4, issue #14 §5).

Token size (since AWS's 2026-09-15 change; ``tessera.sts.token_size``): the one
limit is the whole session token, 4,096 bytes, enforced by ``SessionCodec.issue``
on the real encoded token (``PackedPolicyTooLarge`` naming both sizes). Every
credential-issuing operation answers ``SessionTokenSize`` and
``SessionTokenUtilization`` and, where its output has the member,
``PackedPolicySize`` with the utilization (``token_size_fields``), and honours
``MinimumSessionTokenSize`` (``minimum_token_size``; 0–4,096, checked by the
model decoder).

The pre-2026 packed size below is kept for callers not yet moved to the token
limit; the credential-issuing operations no longer use it:

AWS compresses the session policy, the policy ARNs and the session tags into a
"packed binary format that has a separate limit" and reports the share of that
limit a request uses as ``PackedPolicySize`` (a percentage; above 100 the call
fails with ``PackedPolicyTooLarge``). The format and the limit are unpublished,
so Tessera documents its own:

* the *packed form* is ``zlib.compress(body, 9)`` where ``body`` is the UTF-8 of
  the canonical inline policy (the JSON re-serialised without white space, key
  order kept), a NUL, the policy ARNs joined by ``\\n``, a NUL, and the tags as
  ``key=value`` lines (transitive marking is not counted, as on AWS);
* ``PACKED_LIMIT`` is 1,024 bytes of that output;
* ``PackedPolicySize = ceil(100 * len(packed) / PACKED_LIMIT)``.

The limit keeps the session token — which carries the same data, compressed —
under about 2 KB even for a session at 100 %: the size budget of presigned
GetCallerIdentity URLs and of Kubernetes authenticator tokens (4 KB).

When only the tags are over the limit AWS uses a different message, so the tag
part is measured on its own as well.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from tessera.errors import PackedPolicyTooLarge, ValidationError
from tessera.iam.model import Tag
from tessera.iam.policy.parse import PolicyKind, parse_policy
from tessera.protocol.query import Params
from tessera.sts import token_size
from tessera.sts.sessions import IssuedCredentials

PACKED_LIMIT: Final = 1024
MAX_POLICY_ARNS: Final = 10
PLAINTEXT_LIMIT: Final = 2048  # inline policy + managed ARNs, characters
MIN_TOKEN_MEMBER: Final = "MinimumSessionTokenSize"


def minimum_token_size(params: Params[Any]) -> int:
    """``MinimumSessionTokenSize`` (0 when absent). The model decoder already refuses
    a value outside 0–4,096 with AWS's ValidationError; this repeats the check for
    callers that build ``Params`` themselves."""
    value = params.get_int(MIN_TOKEN_MEMBER)
    if value is None:
        return 0
    if not 0 <= value <= token_size.MAX_TOKEN_SIZE:
        bound = "greater than or equal to 0" if value < 0 else "less than or equal to 4096"
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at 'minimumSessionTokenSize' "
            f"failed to satisfy constraint: Member must have value {bound}"
        )
    return value


def token_size_fields(issued: IssuedCredentials, *, packed_policy_size: bool) -> dict[str, int]:
    """``SessionTokenSize`` and ``SessionTokenUtilization`` for ``issued``, plus
    ``PackedPolicySize`` (the same percentage) when the operation's output has it
    (AssumeRole, AssumeRoleWithSAML, AssumeRoleWithWebIdentity, GetFederationToken;
    not GetSessionToken, GetScopedCredentials or AssumeRoot)."""
    size = issued.token_size
    pct = token_size.utilization(size)
    fields = {"SessionTokenSize": size, "SessionTokenUtilization": pct}
    if packed_policy_size:
        fields["PackedPolicySize"] = pct
    return fields


def policy_too_large_message(pct: int) -> str:
    # [C] AWS re:Post "iam-role-aws-sts-error"
    return f"Packed policy consumes {pct}% of allotted space, please use smaller policy."


def tags_too_large_message(pct: int) -> str:
    # [C] AWS re:Post "iam-role-aws-sts-error"; aws-actions/configure-aws-credentials#1803
    return f"Packed size of session tags consumes {pct}% of allotted space."


# [I] AWS's text for an over-long combined session policy is not published; this is
# the model-validation wording AWS uses for the same limit on GetFederationToken.
def plaintext_too_large_message(policy: str) -> str:
    shown = policy if len(policy) <= 100 else policy[:100] + "..."
    return (
        f"1 validation error detected: Value '{shown}' at 'policy' failed to satisfy "
        f"constraint: Member must have length less than or equal to {PLAINTEXT_LIMIT}"
    )


def canonical_policy(document: str) -> str:
    """The inline policy without insignificant white space (key order preserved)."""
    return json.dumps(json.loads(document), separators=(",", ":"), ensure_ascii=False)


def _tag_lines(tags: Sequence[Tag]) -> str:
    return "".join(f"{t.key}={t.value}\n" for t in tags)


def _pct(body: str) -> int:
    if not body:
        return 0
    return math.ceil(100 * len(zlib.compress(body.encode(), 9)) / PACKED_LIMIT)


@dataclass(frozen=True, slots=True)
class Packed:
    percent: int
    tags_percent: int


def packed_size(policy: str | None, policy_arns: Sequence[str], tags: Sequence[Tag]) -> Packed:
    body_policy = canonical_policy(policy) if policy is not None else ""
    tag_text = _tag_lines(tags)
    body = "\0".join((body_policy, "\n".join(policy_arns), tag_text))
    empty = not body_policy and not policy_arns and not tags
    return Packed(0 if empty else _pct(body), _pct(tag_text) if tags else 0)


def check_packed(packed: Packed) -> None:
    """Raise ``PackedPolicyTooLarge`` (with AWS's texts) when over 100 %."""
    if packed.tags_percent > 100:
        raise PackedPolicyTooLarge(tags_too_large_message(packed.tags_percent))
    if packed.percent > 100:
        raise PackedPolicyTooLarge(policy_too_large_message(packed.percent))


def validate_session_policy(policy: str | None, policy_arns: Sequence[str]) -> None:
    """Grammar of the inline session policy and the 2,048-character plaintext limit
    on the inline policy plus the managed policy ARNs."""
    if len(policy_arns) > MAX_POLICY_ARNS:
        # [I] model-validation wording for a list over its maximum
        raise ValidationError(
            "1 validation error detected: Value at 'policyArns' failed to satisfy "
            f"constraint: Member must have length less than or equal to {MAX_POLICY_ARNS}"
        )
    if policy is None:
        if sum(len(a) for a in policy_arns) > PLAINTEXT_LIMIT:
            raise ValidationError(plaintext_too_large_message(",".join(policy_arns)))
        return
    if len(policy) + sum(len(a) for a in policy_arns) > PLAINTEXT_LIMIT:
        raise ValidationError(plaintext_too_large_message(policy))
    parse_policy(policy, PolicyKind.SESSION)
