"""IAM outbound web identity federation operations (docs/wire-facts.md §3.1):
``EnableOutboundWebIdentityFederation``, ``DisableOutboundWebIdentityFederation``
and ``GetOutboundWebIdentityFederationInfo``, declared with
``requires="issuers"`` (served when outbound federation is configured). Each
authorises ``iam:<Operation>`` on ``"*"``.

Behaviour where AWS is unconfirmed (documented choice): the issuer id is a random
UUID generated on the first enable and kept for the account's life, so disable and
re-enable keep the same issuer URL. ``GetOutboundWebIdentityFederationInfo``
answers ``FeatureDisabled`` (404) only for an account that never enabled the
feature; after a disable it returns the issuer with ``JwtVendingEnabled=false``.
"""

from __future__ import annotations

from tessera.oidc.issuers import IssuerService
from tessera.operation import OperationContext, Result
from tessera.protocol.inputs import (
    DisableOutboundWebIdentityFederationMembers,
    EnableOutboundWebIdentityFederationMembers,
    GetOutboundWebIdentityFederationInfoMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation


def issuer_service(ctx: OperationContext) -> IssuerService:
    return ctx.issuers


@operation(
    "iam",
    "EnableOutboundWebIdentityFederation",
    action="iam:EnableOutboundWebIdentityFederation",
    requires="issuers",
)
def enable_outbound_web_identity_federation(
    ctx: OperationContext, params: Params[EnableOutboundWebIdentityFederationMembers]
) -> Result:
    ctx.authorize("iam:EnableOutboundWebIdentityFederation", "*")
    issuer = issuer_service(ctx).enable(ctx.caller.account_id)
    return {"IssuerIdentifier": issuer}


@operation(
    "iam",
    "DisableOutboundWebIdentityFederation",
    action="iam:DisableOutboundWebIdentityFederation",
    requires="issuers",
)
def disable_outbound_web_identity_federation(
    ctx: OperationContext, params: Params[DisableOutboundWebIdentityFederationMembers]
) -> Result:
    ctx.authorize("iam:DisableOutboundWebIdentityFederation", "*")
    issuer_service(ctx).disable(ctx.caller.account_id)
    return None


@operation(
    "iam",
    "GetOutboundWebIdentityFederationInfo",
    action="iam:GetOutboundWebIdentityFederationInfo",
    requires="issuers",
)
def get_outbound_web_identity_federation_info(
    ctx: OperationContext, params: Params[GetOutboundWebIdentityFederationInfoMembers]
) -> Result:
    ctx.authorize("iam:GetOutboundWebIdentityFederationInfo", "*")
    info = issuer_service(ctx).info(ctx.caller.account_id)
    return {"IssuerIdentifier": info.issuer, "JwtVendingEnabled": info.enabled}
