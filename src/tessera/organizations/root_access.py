"""Centralized root access (aws-2026-additions.md §5): IAM's
``EnableOrganizationsRootCredentialsManagement``, ``EnableOrganizationsRootSessions``,
their ``Disable…`` and ``ListOrganizationsFeatures``, and ``sts:AssumeRoot``.

* The features live in the organization's settings (``IAMFeature/<name>``) and
  need trusted access for IAM (``EnableAWSServiceAccess`` with
  ``iam.amazonaws.com``; else ``ServiceAccessNotEnabledException``). Enabling is for
  the management account (``CallerIsNotManagementAccountException``); disabling
  and listing also for the IAM delegated administrator
  (``AccountNotManagementOrDelegatedAdministratorException``). Outside an
  organization: ``OrganizationNotFoundException``. Organizations here always have
  all features, so ``OrganizationNotInAllFeaturesModeException`` never applies.
* ``AssumeRoot``: an IAM user or role (never a root) of the management account or
  of the IAM delegated administrator, with ``sts:AssumeRoot`` allowed on
  ``arn:aws:iam::<member>:root`` (condition key ``sts:TaskPolicyArn``), the
  ``RootSessions`` feature on, a target that is an active member account (not the
  management account) and one of the five ``root-task`` policies. Every unmet
  condition answers ``AccessDenied`` as AWS does. The session is the member
  account's root (``GetCallerIdentity`` → ``arn:aws:iam::<member>:root``, UserId the
  account id, [I] as §5 says) limited to the task policy: the root's ``Allow *``
  with the task policy's denies is the session's one scope-down layer, which
  every request must pass whatever else grants it; SCPs of the member still apply, and in STS only
  ``GetCallerIdentity`` may be called (``tessera.sts.restrictions``).

The task policies are AWS's own documents (``tessera.iam.aws_managed``): each
denies every action but its task's, and the task's actions on anything but the
root user (audit root credentials, create a root password, delete root
credentials, unlock an S3 bucket policy, unlock an SQS queue policy)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Final

from tessera import arn as arns
from tessera import ids
from tessera.auth.principal import PrincipalKind, Session, SessionKind
from tessera.errors import AccessDenied
from tessera.iam import aws_managed
from tessera.iam.authz import denial_message
from tessera.iam.org_model import Organization
from tessera.operation import OperationContext, Result
from tessera.organizations import errors as e
from tessera.organizations.service import OrganizationsApi, service_access_setting
from tessera.protocol.inputs import (
    AssumeRootMembers,
    DisableOrganizationsRootCredentialsManagementMembers,
    DisableOrganizationsRootSessionsMembers,
    EnableOrganizationsRootCredentialsManagementMembers,
    EnableOrganizationsRootSessionsMembers,
    ListOrganizationsFeaturesMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.sts import packing
from tessera.sts.assume import credentials_shape

IAM_SERVICE: Final = "iam.amazonaws.com"
ROOT_CREDENTIALS_MANAGEMENT: Final = "RootCredentialsManagement"
ROOT_SESSIONS: Final = "RootSessions"
FEATURES: Final = (ROOT_CREDENTIALS_MANAGEMENT, ROOT_SESSIONS)
MAX_ROOT_SESSION: Final = 900
TASK_POLICY_PREFIX: Final = "arn:aws:iam::aws:policy/root-task/"


#: the five task policies (aws-2026-additions.md §5)
TASK_POLICY_NAMES: Final = frozenset(
    {
        "IAMAuditRootUserCredentials",
        "IAMCreateRootUserPassword",
        "IAMDeleteRootUserCredentials",
        "S3UnlockBucketPolicy",
        "SQSUnlockQueuePolicy",
    }
)
_ROOT_ALLOWS: Final = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def task_scope(task_arn: str) -> str | None:
    """The scope-down layer of a root session for the task policy ``task_arn``
    (``None`` unless it is one of the five). AWS's task policies are deny-only
    (everything but the task, and the task on anything but the root user), applied
    to a root session that may otherwise do everything: the layer is the root's
    ``Allow *`` with the task policy's statements."""
    if not task_arn.startswith(TASK_POLICY_PREFIX):
        return None
    if task_arn[len(TASK_POLICY_PREFIX) :] not in TASK_POLICY_NAMES:
        return None
    document = aws_managed.default_document(task_arn)
    if document is None:  # pragma: no cover - the snapshot holds all five
        return None
    statements = json.loads(document)["Statement"]
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [_ROOT_ALLOWS, *statements]},
        separators=(",", ":"),
    )


def feature_setting(feature: str) -> str:
    return f"IAMFeature/{feature}"


def _org(api: OrganizationsApi, account_id: str) -> Organization:
    try:
        return api.org_of(account_id)
    except e.NotInUse as exc:
        raise e.OrganizationNotFound() from exc


def _enabled(api: OrganizationsApi, org: Organization) -> list[str]:
    settings = set(api.settings(org))
    return [f for f in FEATURES if feature_setting(f) in settings]


def _answer(api: OrganizationsApi, org: Organization) -> Result:
    return {"OrganizationId": org.org_id, "EnabledFeatures": _enabled(api, org)}


def _checked(
    ctx: OperationContext, action: str, *, enable: bool
) -> tuple[OrganizationsApi, Organization]:
    ctx.authorize(action, "*")
    api = OrganizationsApi(ctx.store)
    account = ctx.caller.account_id
    org = _org(api, account)
    if org.management_account_id != account:
        if enable:
            raise e.CallerIsNotManagementAccount()
        if not api.is_delegated_admin(org, account, IAM_SERVICE):
            raise e.AccountNotManagementOrDelegatedAdministrator()
    if service_access_setting(IAM_SERVICE) not in api.settings(org):
        raise e.ServiceAccessNotEnabled()
    return api, org


def _switch(ctx: OperationContext, name: str, feature: str, on: bool) -> Result:
    api, org = _checked(ctx, f"iam:{name}", enable=on)
    if on:
        ctx.store.enable_org_setting(org.org_id, feature_setting(feature), ctx.now)
    else:
        ctx.store.disable_org_setting(org.org_id, feature_setting(feature))
    return _answer(api, org)


@operation(
    "iam",
    "EnableOrganizationsRootCredentialsManagement",
    action="iam:EnableOrganizationsRootCredentialsManagement",
)
def enable_root_credentials_management(
    ctx: OperationContext, params: Params[EnableOrganizationsRootCredentialsManagementMembers]
) -> Result:
    return _switch(
        ctx, "EnableOrganizationsRootCredentialsManagement", ROOT_CREDENTIALS_MANAGEMENT, True
    )


@operation(
    "iam",
    "DisableOrganizationsRootCredentialsManagement",
    action="iam:DisableOrganizationsRootCredentialsManagement",
)
def disable_root_credentials_management(
    ctx: OperationContext, params: Params[DisableOrganizationsRootCredentialsManagementMembers]
) -> Result:
    return _switch(
        ctx, "DisableOrganizationsRootCredentialsManagement", ROOT_CREDENTIALS_MANAGEMENT, False
    )


@operation("iam", "EnableOrganizationsRootSessions", action="iam:EnableOrganizationsRootSessions")
def enable_root_sessions(
    ctx: OperationContext, params: Params[EnableOrganizationsRootSessionsMembers]
) -> Result:
    return _switch(ctx, "EnableOrganizationsRootSessions", ROOT_SESSIONS, True)


@operation("iam", "DisableOrganizationsRootSessions", action="iam:DisableOrganizationsRootSessions")
def disable_root_sessions(
    ctx: OperationContext, params: Params[DisableOrganizationsRootSessionsMembers]
) -> Result:
    return _switch(ctx, "DisableOrganizationsRootSessions", ROOT_SESSIONS, False)


@operation("iam", "ListOrganizationsFeatures", action="iam:ListOrganizationsFeatures")
def list_organizations_features(
    ctx: OperationContext, params: Params[ListOrganizationsFeaturesMembers]
) -> Result:
    api, org = _checked(ctx, "iam:ListOrganizationsFeatures", enable=False)
    return _answer(api, org)


def _target_account(value: str) -> str | None:
    """``TargetPrincipal``: a member account id or its root ARN."""
    if ids.is_account_id(value):
        return value
    parsed = arns.parse_arn(value)
    if (
        parsed is not None
        and parsed.service == "iam"
        and parsed.resource == "root"
        and ids.is_account_id(parsed.account)
    ):
        return parsed.account
    return None


@operation("sts", "AssumeRoot", action="sts:AssumeRoot")
def assume_root(ctx: OperationContext, params: Params[AssumeRootMembers]) -> Result:
    caller = ctx.caller
    target_text = params.req_str("TargetPrincipal")
    task = params.get_struct("TaskPolicyArn")
    task_arn = task.get_str("arn") if task is not None else None
    duration = params.get_int("DurationSeconds")
    minimum_size = packing.minimum_token_size(params)
    target = _target_account(target_text)
    resource = arns.root_arn(target) if target is not None else target_text
    request_keys = {"sts:TaskPolicyArn": task_arn} if task_arn else None
    ctx.authorize("sts:AssumeRoot", resource, request_keys=request_keys)

    def refuse(why: str) -> AccessDenied:
        # AWS answers every unmet prerequisite with AccessDenied (§5)
        return AccessDenied(
            f"{denial_message(caller.arn, 'sts:AssumeRoot', resource, '').rstrip()} {why}"
        )

    if caller.kind is PrincipalKind.ROOT:
        raise refuse("The root user cannot call AssumeRoot.")
    document = task_scope(task_arn) if task_arn is not None else None
    if document is None:
        raise refuse("TaskPolicyArn must be one of the root-task policies.")
    if duration is not None and not 0 <= duration <= MAX_ROOT_SESSION:
        raise refuse("DurationSeconds must be between 0 and 900.")  # the model checks first
    api = OrganizationsApi(ctx.store)
    try:
        org = api.org_of(caller.account_id)
    except e.NotInUse:
        raise refuse("The caller's account is not in an organization.") from None
    if org.management_account_id != caller.account_id and not api.is_delegated_admin(
        org, caller.account_id, IAM_SERVICE
    ):
        raise refuse("The caller is not in the management or IAM delegated administrator account.")
    settings = api.settings(org)
    if service_access_setting(IAM_SERVICE) not in settings:
        raise refuse("Trusted access for IAM is not enabled in the organization.")
    if feature_setting(ROOT_SESSIONS) not in settings:
        raise refuse("The RootSessions feature is not enabled in the organization.")
    if target is None or target == org.management_account_id:
        raise refuse("TargetPrincipal must be a member account of the organization.")
    try:
        member = api.member(org, target)
    except e.AccountNotFound:
        raise refuse("TargetPrincipal must be a member account of the organization.") from None
    if member.status != "ACTIVE":
        raise refuse("The target account is not active.")

    now = ctx.now.replace(microsecond=0)
    seconds = MAX_ROOT_SESSION if duration is None else duration
    source_identity = caller.session.source_identity if caller.session is not None else None
    session = Session(
        kind=SessionKind.ROOT,
        account_id=target,
        issued_at=now,
        expires_at=now + timedelta(seconds=seconds),
        source_arn=arns.root_arn(target),
        source_id=target,
        source_name="",
        source_identity=source_identity,
        scope_policies=(document,),
    )
    issued = ctx.sessions.issue(session, now, min_size=minimum_size)
    result: dict[str, object] = {
        "Credentials": credentials_shape(issued),
        **packing.token_size_fields(issued, packed_policy_size=False),
    }
    if source_identity is not None:
        result["SourceIdentity"] = source_identity
    return result
