"""The instance registry's automation API: what ``tessera instance …`` does, as
SigV4-signed REST-JSON calls (service ``rolesanywhere`` in the signature scope,
paths under ``/tessera/instances``), each authorised by the policy engine with
the EC2 action that means the same thing on AWS, on the instance ARN
``arn:aws:ec2:<region>:<account>:instance/<id>`` (``…/instance/*`` to create):

* ``POST /tessera/instances`` (CreateInstance) — ``ec2:RunInstances``, and
  ``iam:PassRole`` on the instance profile's role (AWS checks it when an instance
  profile is given to an instance). Body ``instanceProfileName``, optional
  ``name``, ``privateIpv4``, ``network``, ``joinTokenTtlSeconds`` (60-604800,
  default 600); the region is the signature's. Answers ``instanceId``,
  ``joinToken`` (once; stored only as a hash), ``joinTokenExpires``,
  ``caFingerprint``.
* ``GET /tessera/instances[?maxResults=&nextToken=]`` (ListInstances) and
  ``GET /tessera/instances/{instanceId}`` (GetInstance) — ``ec2:DescribeInstances``.
* ``POST /tessera/instances/{instanceId}/disable`` / ``/enable`` —
  ``ec2:StopInstances`` / ``ec2:StartInstances``.
* ``DELETE /tessera/instances/{instanceId}`` — ``ec2:TerminateInstances``.

Callers see their own account's instances only (another account's answers
``ResourceNotFoundException``, as a missing one does)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from tessera.iam.ops_instance_profiles import profile_role
from tessera.instances import model, registry
from tessera.instances.model import InstanceError
from tessera.operation import OperationContext
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.rolesanywhere.errors import ResourceNotFoundException, ValidationException
from tessera.store.instances import InstanceRecord

if TYPE_CHECKING:
    from tessera.protocol.inputs import (
        CreateInstanceMembers,
        DeleteInstanceMembers,
        DisableInstanceMembers,
        EnableInstanceMembers,
        GetInstanceMembers,
        ListInstancesMembers,
    )

DEFAULT_PAGE: Final = 100


def _camel(doc: dict[str, object]) -> dict[str, object]:
    def camel(key: str) -> str:
        head, *rest = key.split("_")
        return head + "".join(p.capitalize() for p in rest)

    return {camel(k): v for k, v in doc.items()}


def _instance(ctx: OperationContext, action: str, raw_id: str) -> InstanceRecord:
    account = ctx.caller.account_id
    if model.INSTANCE_ID_RE.fullmatch(raw_id) is None:
        raise ValidationException(f"Invalid instanceId: {raw_id[:40]}")
    inst = ctx.store.get_instance(raw_id)
    region = inst.region if inst is not None else ctx.region
    ctx.authorize(action, model.instance_arn(region, account, raw_id))
    if inst is None or inst.account_id != account:
        raise ResourceNotFoundException(f"Instance {raw_id} not found.")
    return inst


@operation("rolesanywhere", "CreateInstance", action="ec2:RunInstances")
def create_instance(
    ctx: OperationContext, params: Params[CreateInstanceMembers]
) -> dict[str, object]:
    account = ctx.caller.account_id
    profile_name = params.req_str("instanceProfileName")
    ttl = params.get_int("joinTokenTtlSeconds")
    req = registry.NewInstance(
        account_id=account,
        instance_profile=profile_name,
        region=ctx.region,
        name=params.get_str("name"),
        private_ipv4=params.get_str("privateIpv4"),
        network=params.get_str("network"),
        ttl_seconds=model.DEFAULT_TOKEN_TTL if ttl is None else ttl,
    )
    ctx.authorize("ec2:RunInstances", model.instance_arn(ctx.region, account, "*"))
    profile = ctx.store.get_instance_profile(account, profile_name)
    if profile is None:
        raise ResourceNotFoundException(f"Instance profile {profile_name} not found.")
    role = profile_role(ctx.store, profile)
    if role is not None:
        ctx.authorize(
            "iam:PassRole",
            role.arn,
            request_keys={"iam:PassedToService": "ec2.amazonaws.com"},
        )
    try:
        created = registry.create_instance(ctx.store, req, ctx.now)
    except InstanceError as exc:
        raise ValidationException(str(exc)) from None
    ctx.response_status = 201
    return _camel(created)


@operation("rolesanywhere", "ListInstances", action="ec2:DescribeInstances")
def list_instances(
    ctx: OperationContext, params: Params[ListInstancesMembers]
) -> dict[str, object]:
    account = ctx.caller.account_id
    after = params.get_str("nextToken")
    limit = params.get_int("maxResults") or DEFAULT_PAGE
    if after is not None and model.INSTANCE_ID_RE.fullmatch(after) is None:
        raise ValidationException("Invalid nextToken.")
    ctx.authorize("ec2:DescribeInstances", model.instance_arn(ctx.region, account, "*"))
    page = ctx.store.list_instances(account, after=after, limit=limit + 1)
    out: dict[str, object] = {
        "instances": [_camel(registry.describe(ctx.store, i)) for i in page[:limit]]
    }
    if len(page) > limit:
        out["nextToken"] = page[limit - 1].instance_id
    return out


@operation("rolesanywhere", "GetInstance", action="ec2:DescribeInstances")
def get_instance(ctx: OperationContext, params: Params[GetInstanceMembers]) -> dict[str, object]:
    inst = _instance(ctx, "ec2:DescribeInstances", params.req_str("instanceId"))
    return {"instance": _camel(registry.describe(ctx.store, inst))}


@operation("rolesanywhere", "DisableInstance", action="ec2:StopInstances")
def disable_instance(
    ctx: OperationContext, params: Params[DisableInstanceMembers]
) -> dict[str, object]:
    inst = _instance(ctx, "ec2:StopInstances", params.req_str("instanceId"))
    if not ctx.store.set_instance_state(inst.instance_id, "disabled"):
        raise ResourceNotFoundException(f"Instance {inst.instance_id} not found.")
    return {
        "instance": _camel(registry.describe(ctx.store, registry.get(ctx.store, inst.instance_id)))
    }


@operation("rolesanywhere", "EnableInstance", action="ec2:StartInstances")
def enable_instance(
    ctx: OperationContext, params: Params[EnableInstanceMembers]
) -> dict[str, object]:
    inst = _instance(ctx, "ec2:StartInstances", params.req_str("instanceId"))
    if not ctx.store.set_instance_state(inst.instance_id, "enabled"):
        raise ResourceNotFoundException(f"Instance {inst.instance_id} not found.")
    return {
        "instance": _camel(registry.describe(ctx.store, registry.get(ctx.store, inst.instance_id)))
    }


@operation("rolesanywhere", "DeleteInstance", action="ec2:TerminateInstances")
def delete_instance(
    ctx: OperationContext, params: Params[DeleteInstanceMembers]
) -> dict[str, object]:
    inst = _instance(ctx, "ec2:TerminateInstances", params.req_str("instanceId"))
    if not ctx.store.delete_instance(inst.instance_id):
        raise ResourceNotFoundException(f"Instance {inst.instance_id} not found.")
    return {"instanceId": inst.instance_id, "deleted": True}
