"""The pure IAM policy engine: parse and compile policy documents, decide requests.

No I/O happens here.  Callers parse documents once (:func:`parse_policy`),
keep the compiled :class:`Policy` objects (they are immutable and hashable),
assemble a :class:`PolicySet` per request and call :func:`evaluate`.
"""

from tessera.iam.policy.context import (
    ContextValue,
    PrincipalInfo,
    PrincipalKind,
    RequestContext,
    add_moment_keys,
    global_keys,
    normalize_keys,
    principal_keys,
)
from tessera.iam.policy.evaluate import (
    Decision,
    DenyReason,
    MatchedStatement,
    PolicyGroup,
    PolicySet,
    PolicyType,
    access_denied_message,
    evaluate,
)
from tessera.iam.policy.parse import (
    MSG,
    Policy,
    PolicyKind,
    PolicyTooLarge,
    Statement,
    inline_size_message,
    parse_policy,
    policy_size,
)

__all__ = [
    "MSG",
    "ContextValue",
    "Decision",
    "DenyReason",
    "MatchedStatement",
    "Policy",
    "PolicyGroup",
    "PolicyKind",
    "PolicySet",
    "PolicyTooLarge",
    "PolicyType",
    "PrincipalInfo",
    "PrincipalKind",
    "RequestContext",
    "Statement",
    "access_denied_message",
    "add_moment_keys",
    "evaluate",
    "global_keys",
    "inline_size_message",
    "normalize_keys",
    "parse_policy",
    "policy_size",
    "principal_keys",
]
