"""The small STS operations, GetCallerIdentity and GetAccessKeyInfo (AssumeRole is in
``sts.assume``, GetSessionToken and GetFederationToken in ``sts.tokens``). Each is a
plain function ``(ctx, params) -> result`` whose result keys are the output shape's
member names, declared with ``tessera.registry.operation``."""

from __future__ import annotations

from tessera.errors import InvalidParameterValue
from tessera.ids import account_from_access_key_id
from tessera.operation import OperationContext, Result
from tessera.protocol.inputs import GetAccessKeyInfoMembers, GetCallerIdentityMembers
from tessera.protocol.query import Params
from tessera.registry import operation


@operation("sts", "GetCallerIdentity", action=None, inline=True)
def get_caller_identity(ctx: OperationContext, params: Params[GetCallerIdentityMembers]) -> Result:
    """Always allowed: an explicit deny on sts:GetCallerIdentity has no effect."""
    caller = ctx.caller
    return {"UserId": caller.user_id, "Account": caller.account_id, "Arn": caller.arn}


@operation("sts", "GetAccessKeyInfo", action="sts:GetAccessKeyInfo", inline=True)
def get_access_key_info(ctx: OperationContext, params: Params[GetAccessKeyInfoMembers]) -> Result:
    ctx.authorize("sts:GetAccessKeyInfo", "*")
    akid = params.req_str("AccessKeyId")
    key = ctx.store.get_access_key(akid)
    account = key.account_id if key is not None else account_from_access_key_id(akid)
    if account is None:
        raise InvalidParameterValue("The access key ID provided is not valid.")
    return {"Account": account}
