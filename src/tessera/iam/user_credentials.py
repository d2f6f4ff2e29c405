"""Shared pieces of the operations on an IAM user's credentials of other kinds
(signing certificates, SSH public keys, service-specific credentials): whose
credentials a call is about (``UserName``, else the calling user), and
DeleteUser's refusal while a user still has any (``credentials_conflict``).

Texts: **[I]** inferred (the family of AWS's confirmed DeleteUser texts)."""

from __future__ import annotations

from typing import Any, Final

from tessera import arn as arns
from tessera.errors import DeleteConflict, InvalidInput
from tessera.iam.model import User
from tessera.iam.ops_common import account_of, require_user_credentials
from tessera.iam.ops_users import get_user_for
from tessera.operation import OperationContext
from tessera.protocol.query import Params

MUST_DELETE_SIGNING_CERTIFICATES: Final = (
    "Cannot delete entity, must delete signing certificates first."
)
MUST_DELETE_SSH_KEYS: Final = "Cannot delete entity, must delete SSH public keys first."
MUST_DELETE_SERVICE_CREDENTIALS: Final = (
    "Cannot delete entity, must delete service specific credentials first."
)
NO_ROOT_CREDENTIALS: Final = (
    "The parameter UserName is not supported by Tessera when absent for the account root: "
    "Tessera keeps signing certificates, SSH keys and service-specific credentials for "
    "IAM users only; name the user."
)


def credential_user(
    ctx: OperationContext, params: Params[Any], action: str, *, root_allowed: bool = False
) -> User | None:
    """The user named by ``UserName`` (else the calling user), after authorising
    ``action`` on it. For the account root without ``UserName``: ``None`` when
    ``root_allowed`` (list calls: the root has none), else a clear refusal."""
    name = params.get_str("UserName")
    if name is None:
        name = require_user_credentials(ctx)
    if name is None:
        ctx.authorize(action, arns.root_arn(account_of(ctx)))
        if root_allowed:
            return None
        raise InvalidInput(NO_ROOT_CREDENTIALS)
    return get_user_for(ctx, action, name)


def credentials_conflict(ctx: OperationContext, user: User) -> None:
    """DeleteUser: refuse while the user (by unique id) has any of these credentials."""
    store = ctx.store
    if store.list_signing_certificates(user.account_id, user.user_id):
        raise DeleteConflict(MUST_DELETE_SIGNING_CERTIFICATES)
    if store.list_ssh_public_keys(user.account_id, user.user_id):
        raise DeleteConflict(MUST_DELETE_SSH_KEYS)
    if store.list_service_specific_credentials(user.account_id, user_id=user.user_id):
        raise DeleteConflict(MUST_DELETE_SERVICE_CREDENTIALS)
