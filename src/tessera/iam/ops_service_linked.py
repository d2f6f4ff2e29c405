"""Service-linked roles: CreateServiceLinkedRole (the role AWS names for the service,
under ``/aws-service-role/<service>/``, trusting the service principal, with the
service's ``/aws-service-role/`` AWS managed policy attached), DeleteServiceLinkedRole
and GetServiceLinkedRoleDeletionStatus. The services are the table of
``tessera.iam.service_linked``; ordinary role operations refuse to change these roles
(``ops_roles.refuse_service_linked``).

Deletion: AWS deletes a service-linked role asynchronously after checking that the
service no longer uses it. No AWS service runs inside Tessera, so nothing can use the
role: the task deletes it at once and is recorded SUCCEEDED, and its status stays
queryable by its id.

Message texts are tagged as in ``ops_common``: **[C]** seen in real AWS responses,
**[I]** inferred."""

from __future__ import annotations

from tessera import arn as arns
from tessera.errors import InvalidInput, NoSuchEntity
from tessera.iam.model import Role
from tessera.iam.ops_common import account_of, now_of
from tessera.iam.ops_roles import DEFAULT_MAX_SESSION_DURATION, full_role_shape, get_role_for
from tessera.iam.service_linked import (
    DeletionTask,
    deletion_task_id,
    is_deletion_task_id,
    linked_service,
)
from tessera.ids import ROLE_PREFIX, new_unique_id, uuid4_text
from tessera.operation import OperationContext, Result
from tessera.protocol.inputs import (
    CreateServiceLinkedRoleMembers,
    DeleteServiceLinkedRoleMembers,
    GetServiceLinkedRoleDeletionStatusMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.store.base import AlreadyExists

#: the longest role name IAM accepts
_MAX_ROLE_NAME = 64


@operation("iam", "CreateServiceLinkedRole", action="iam:CreateServiceLinkedRole")
def create_service_linked_role(
    ctx: OperationContext, params: Params[CreateServiceLinkedRoleMembers]
) -> Result:
    account = account_of(ctx)
    principal = params.req_str("AWSServiceName")
    suffix = params.get_str("CustomSuffix")
    description = params.get_str("Description")
    service = linked_service(principal)
    path = f"/aws-service-role/{principal}/"
    resource = (
        arns.role_arn(account, path, service.role_name_with(suffix))
        if service is not None
        else arns.role_arn(account, path, "")
    )
    ctx.authorize(
        "iam:CreateServiceLinkedRole", resource, request_keys={"iam:AWSServiceName": principal}
    )
    if service is None:
        # [I] AWS's text for a service without service-linked roles is not public
        raise InvalidInput(
            f"Unrecognized service name: {principal}. It does not support service-linked roles."
        )
    if suffix is not None and not service.custom_suffix:
        # [C] "Custom suffix is not allowed for es.amazonaws.com"
        # (terraform-community-modules/tf_aws_elasticsearch#23)
        raise InvalidInput(f"Custom suffix is not allowed for {principal}")
    name = service.role_name_with(suffix)
    if len(name) > _MAX_ROLE_NAME:
        # [I]
        raise InvalidInput(
            f"Service role name {name} is longer than {_MAX_ROLE_NAME} characters, "
            "please try a shorter suffix."
        )
    role = Role(
        account_id=account,
        name=name,
        path=service.path,
        role_id=new_unique_id(ROLE_PREFIX),
        created_at=now_of(ctx),
        trust_policy=service.trust_policy(),
        description=description,
        max_session_duration=DEFAULT_MAX_SESSION_DURATION,
    )
    if ctx.store.get_role(account, name) is not None:
        raise _name_taken(name)
    try:
        ctx.store.create_service_linked_role(role, principal, [service.policy_arn])
    except AlreadyExists as exc:
        raise _name_taken(name) from exc
    shape = full_role_shape(ctx, role)
    del shape["RoleLastUsed"]
    return {"Role": shape}


def _name_taken(name: str) -> InvalidInput:
    # [C] "Service role name AWSServiceRoleForECS has been taken in this account, please
    # try a different suffix." (Rayraegah/terraform-aws-hasura#17)
    return InvalidInput(
        f"Service role name {name} has been taken in this account, please try a different suffix."
    )


@operation("iam", "DeleteServiceLinkedRole", action="iam:DeleteServiceLinkedRole")
def delete_service_linked_role(
    ctx: OperationContext, params: Params[DeleteServiceLinkedRoleMembers]
) -> Result:
    role = get_role_for(ctx, "iam:DeleteServiceLinkedRole", params.req_str("RoleName"))
    principal = ctx.store.service_linked_role_service(role.account_id, role.role_id)
    if principal is None:
        # [I] NoSuchEntity is the error AWS's API reference lists for this case
        raise NoSuchEntity(f"The role with name {role.name} is not a service-linked role.")
    task = DeletionTask(
        account_id=role.account_id,
        task_id=deletion_task_id(principal, role.name, uuid4_text()),
        role_name=role.name,
        status="SUCCEEDED",
        created_at=now_of(ctx),
    )
    ctx.store.delete_service_linked_role(role.account_id, role, task)
    return {"DeletionTaskId": task.task_id}


@operation(
    "iam", "GetServiceLinkedRoleDeletionStatus", action="iam:GetServiceLinkedRoleDeletionStatus"
)
def get_service_linked_role_deletion_status(
    ctx: OperationContext, params: Params[GetServiceLinkedRoleDeletionStatusMembers]
) -> Result:
    account = account_of(ctx)
    task_id = params.req_str("DeletionTaskId")
    well_formed = is_deletion_task_id(task_id)
    if well_formed:
        _, _, principal, role_name, _ = task_id.split("/")
        resource = arns.role_arn(account, f"/aws-service-role/{principal}/", role_name)
    else:
        resource = "*"
    ctx.authorize("iam:GetServiceLinkedRoleDeletionStatus", resource)
    if not well_formed:
        # [I]
        raise InvalidInput(f"Invalid deletion task id: {task_id}")
    task = ctx.store.get_deletion_task(account, task_id)
    if task is None:
        # [I]
        raise NoSuchEntity(f"Deletion task {task_id} does not exist.")
    result: dict[str, object] = {"Status": task.status}
    if task.reason is not None:
        result["Reason"] = {"Reason": task.reason}
    return result
