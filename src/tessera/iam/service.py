"""The IAM service: every IAM operation Tessera implements, registered by name in
``OPERATIONS`` (handlers live in ``ops_users``, ``ops_roles`` and ``ops_policies``),
and ``validate_policy_document``, the one check every stored policy document passes.

All entities live in the caller's account; accounts are fully isolated. Every handler
authorises first (``ctx.authorize("iam:<Action>", <resource ARN>)``) and then applies
AWS's semantic checks; model validation (required members, lengths, patterns, ranges)
has already run in ``tessera.protocol.query``."""

from __future__ import annotations

from tessera.iam import ops_policies, ops_roles, ops_users
from tessera.iam.ops_common import validate_policy_document
from tessera.operation import Handler

__all__ = ["OPERATIONS", "validate_policy_document"]

OPERATIONS: dict[str, Handler] = {
    **ops_users.OPERATIONS,
    **ops_roles.OPERATIONS,
    **ops_policies.OPERATIONS,
}
