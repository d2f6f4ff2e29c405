"""The IAM service's public surface: ``validate_policy_document``, the one check
every stored policy document passes. The operations are declared beside their
handlers (``ops_users``, ``ops_roles``, ``ops_policies``, ``mfa``, ``ops_oidc``,
``ops_saml``, ``simulate``, ``outbound``) with ``tessera.registry.operation``.

All entities live in the caller's account; accounts are fully isolated. Every handler
authorises first (``ctx.authorize("iam:<Action>", <resource ARN>)``) and then applies
AWS's semantic checks; model validation (required members, lengths, patterns, ranges)
has already run in ``tessera.protocol.query``."""

from __future__ import annotations

from tessera.iam.ops_common import validate_policy_document

__all__ = ["validate_policy_document"]
