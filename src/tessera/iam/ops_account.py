"""Account-wide IAM operations: the account alias (Create/Delete/ListAccountAliases;
one per account, unique across the accounts this server holds), GetAccountSummary
(real counts and AWS's default quotas) and SetSecurityTokenServicePreferences (the
STS global endpoint token version, stored per account and reported by
GetAccountSummary).

Texts: **[C]** seen verbatim in real AWS answers, **[I]** inferred."""

from __future__ import annotations

from typing import Final

from tessera.errors import EntityAlreadyExists, NoSuchEntity
from tessera.iam.ops_common import (
    GROUP_INLINE_LIMIT,
    MANAGED_POLICY_LIMIT,
    MAX_ACCESS_KEYS,
    MAX_ATTACHED_POLICIES,
    MAX_POLICY_VERSIONS,
    ROLE_INLINE_LIMIT,
    TRUST_POLICY_LIMIT,
    USER_INLINE_LIMIT,
    account_of,
    paginate,
    with_truncation,
)
from tessera.operation import OperationContext, Result
from tessera.protocol.inputs import (
    CreateAccountAliasMembers,
    DeleteAccountAliasMembers,
    GetAccountSummaryMembers,
    ListAccountAliasesMembers,
    SetSecurityTokenServicePreferencesMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.store.base import AlreadyExists

#: AWS's default IAM quotas (IAM User Guide, "IAM and AWS STS quotas"), as
#: GetAccountSummary reports them; the size and per-entity ones are the limits
#: Tessera enforces (tessera.iam.ops_common)
QUOTAS: Final[dict[str, int]] = {
    "UsersQuota": 5000,
    "GroupsQuota": 300,
    "RolesQuota": 1000,
    "PoliciesQuota": 1500,
    "PolicyVersionsInUseQuota": 10000,
    "ServerCertificatesQuota": 20,
    "InstanceProfilesQuota": 1000,
    "GroupsPerUserQuota": 10,
    "SigningCertificatesPerUserQuota": 2,
    "AccessKeysPerUserQuota": MAX_ACCESS_KEYS,
    "AttachedPoliciesPerUserQuota": MAX_ATTACHED_POLICIES,
    "AttachedPoliciesPerGroupQuota": MAX_ATTACHED_POLICIES,
    "AttachedPoliciesPerRoleQuota": MAX_ATTACHED_POLICIES,
    "VersionsPerPolicyQuota": MAX_POLICY_VERSIONS,
    "PolicySizeQuota": MANAGED_POLICY_LIMIT,
    "UserPolicySizeQuota": USER_INLINE_LIMIT,
    "GroupPolicySizeQuota": GROUP_INLINE_LIMIT,
    "RolePolicySizeQuota": ROLE_INLINE_LIMIT,
    "AssumeRolePolicySizeQuota": TRUST_POLICY_LIMIT,
}
#: GlobalEndpointTokenVersion → the number GetAccountSummary reports
TOKEN_VERSIONS: Final = {"v1Token": 1, "v2Token": 2}
DEFAULT_TOKEN_VERSION: Final = "v1Token"


# --- aliases --------------------------------------------------------------------------


@operation("iam", "CreateAccountAlias", action="iam:CreateAccountAlias")
def create_account_alias(
    ctx: OperationContext, params: Params[CreateAccountAliasMembers]
) -> Result:
    """An account has one alias: a new one replaces it (as the console's "Edit")."""
    alias = params.req_str("AccountAlias")
    ctx.authorize("iam:CreateAccountAlias", "*")
    account = account_of(ctx)
    if ctx.store.get_account_alias(account) == alias:
        return None
    try:
        ctx.store.set_account_alias(account, alias)
    except AlreadyExists as exc:
        # [I] another account of this server has it
        raise EntityAlreadyExists(f"The account alias {alias} already exists.") from exc
    return None


@operation("iam", "DeleteAccountAlias", action="iam:DeleteAccountAlias")
def delete_account_alias(
    ctx: OperationContext, params: Params[DeleteAccountAliasMembers]
) -> Result:
    alias = params.req_str("AccountAlias")
    ctx.authorize("iam:DeleteAccountAlias", "*")
    if not ctx.store.delete_account_alias(account_of(ctx), alias):
        raise NoSuchEntity(f"The account alias {alias} cannot be found.")  # [I]
    return None


@operation("iam", "ListAccountAliases", action="iam:ListAccountAliases")
def list_account_aliases(
    ctx: OperationContext, params: Params[ListAccountAliasesMembers]
) -> Result:
    ctx.authorize("iam:ListAccountAliases", "*")
    alias = ctx.store.get_account_alias(account_of(ctx))
    page, nxt = paginate([] if alias is None else [alias], params)
    return with_truncation({"AccountAliases": page}, nxt)


# --- summary and STS preferences ------------------------------------------------------


@operation("iam", "GetAccountSummary", action="iam:GetAccountSummary")
def get_account_summary(ctx: OperationContext, params: Params[GetAccountSummaryMembers]) -> Result:
    ctx.authorize("iam:GetAccountSummary", "*")
    account = account_of(ctx)
    counts = ctx.store.account_counts(account)
    version = ctx.store.get_sts_token_version(account) or DEFAULT_TOKEN_VERSION
    summary: dict[str, int] = {
        "Users": counts.users,
        "Groups": counts.groups,
        "Roles": counts.roles,
        "Policies": counts.policies,
        "PolicyVersionsInUse": counts.policy_versions,
        "MFADevices": counts.mfa_devices,
        "MFADevicesInUse": counts.mfa_devices_in_use,
        "Providers": counts.providers,
        # the account root: its access keys are Tessera's; it has no MFA device,
        # console password or signing certificate here
        "AccountAccessKeysPresent": int(counts.root_access_keys > 0),
        "AccountMFAEnabled": 0,
        "AccountPasswordPresent": 0,
        "AccountSigningCertificatesPresent": 0,
        # not stored by this server (yet): always none
        "ServerCertificates": 0,
        "InstanceProfiles": 0,
        "GlobalEndpointTokenVersion": TOKEN_VERSIONS[version],
        **QUOTAS,
    }
    return {"SummaryMap": summary}


@operation(
    "iam", "SetSecurityTokenServicePreferences", action="iam:SetSecurityTokenServicePreferences"
)
def set_security_token_service_preferences(
    ctx: OperationContext, params: Params[SetSecurityTokenServicePreferencesMembers]
) -> Result:
    """Stored and reported by GetAccountSummary. Tessera's session tokens are valid
    in every region whatever the setting (it serves one endpoint, no regions to opt
    into), which is what v2Token means on AWS."""
    version = params.req_str("GlobalEndpointTokenVersion")  # the model's enum checked it
    ctx.authorize("iam:SetSecurityTokenServicePreferences", "*")
    ctx.store.set_sts_token_version(account_of(ctx), version)
    return None
