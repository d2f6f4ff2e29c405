"""STS operations (AssumeRole in ``sts.assume``, GetSessionToken and
GetFederationToken in ``sts.tokens``). Each is a plain function ``(ctx, params) -> result`` whose
result keys are the output shape's member names; ``OPERATIONS`` registers them."""

from __future__ import annotations

from tessera.errors import InvalidParameterValue
from tessera.ids import account_from_access_key_id
from tessera.operation import Handler, OperationContext, Result
from tessera.protocol.query import Params
from tessera.sts.assume import assume_role
from tessera.sts.authz_messages import decode_authorization_message
from tessera.sts.tokens import get_federation_token, get_session_token


def get_caller_identity(ctx: OperationContext, params: Params) -> Result:
    """Always allowed: an explicit deny on sts:GetCallerIdentity has no effect."""
    caller = ctx.caller
    return {"UserId": caller.user_id, "Account": caller.account_id, "Arn": caller.arn}


def get_access_key_info(ctx: OperationContext, params: Params) -> Result:
    ctx.authorize("sts:GetAccessKeyInfo", "*")
    akid = params.req_str("AccessKeyId")
    key = ctx.store.get_access_key(akid)
    account = key.account_id if key is not None else account_from_access_key_id(akid)
    if account is None:
        raise InvalidParameterValue("The access key ID provided is not valid.")
    return {"Account": account}


OPERATIONS: dict[str, Handler] = {
    "GetCallerIdentity": get_caller_identity,
    "GetAccessKeyInfo": get_access_key_info,
    "AssumeRole": assume_role,
    "GetSessionToken": get_session_token,
    "GetFederationToken": get_federation_token,
    "DecodeAuthorizationMessage": decode_authorization_message,
}
