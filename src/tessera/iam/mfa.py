"""Virtual MFA devices: the IAM operations (declared with
``tessera.registry.operation``) and ``authenticate_mfa``, the check AssumeRole and
GetSessionToken run on ``SerialNumber`` + ``TokenCode``.

Seeds are sealed under the KEK (purpose ``mfa-seed:<serial>``) and never logged.
``Base32StringSeed`` is a blob whose bytes are the base32 *text* of the seed (what
AWS returns: botocore base64-decodes the wire value to those bytes) and
``QRCodePNG`` a real PNG of the ``otpauth://`` URI. Codes are RFC 6238 TOTP
(:mod:`tessera.iam.totp`), ±1 step; a code whose time step was already used for
the device is refused (atomic compare-and-set in the store, so replicas agree).

Texts: **[C]** seen verbatim in real AWS answers quoted in public threads,
**[M]** moto's text (which mirrors AWS), **[I]** inferred.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import datetime
from typing import Final

import qrcode

from tessera.auth.principal import Principal, PrincipalKind
from tessera.errors import (
    AccessDenied,
    DeleteConflict,
    EntityAlreadyExists,
    InvalidAuthenticationCode,
    LimitExceeded,
    NoSuchEntity,
)
from tessera.iam import totp
from tessera.iam.mfa_model import MfaDevice, mfa_serial
from tessera.iam.model import User
from tessera.iam.ops_common import (
    account_of,
    list_resource,
    now_of,
    paginate,
    path_or_default,
    render_tags,
    require_user_credentials,
    resource_tags,
    tag_operations,
    tag_request_keys,
    tag_resource,
    tags_from,
    with_truncation,
)
from tessera.iam.ops_users import get_user_for, user_shape
from tessera.operation import ContextValue, OperationContext, Result
from tessera.protocol.inputs import (
    CreateVirtualMFADeviceMembers,
    DeactivateMFADeviceMembers,
    DeleteVirtualMFADeviceMembers,
    EnableMFADeviceMembers,
    GetMFADeviceMembers,
    ListMFADevicesMembers,
    ListVirtualMFADevicesMembers,
    ResyncMFADeviceMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.store.base import AlreadyExists

TAG_RESOURCE_TYPE: Final = "mfa"
MAX_DEVICES_PER_USER: Final = 8
QR_ISSUER: Final = "Tessera"

# [C] IAM EnableMFADevice / ResyncMFADevice with wrong codes
INVALID_CODE: Final = "Authentication code for device is not valid."
# [M] moto
ALREADY_EXISTS: Final = "MFADevice entity at the same path and name already exists."
STILL_IN_USE: Final = "MFA device is still in use."
# [I]
IN_USE: Final = "MFA Device is already in use."
# [C] AccessDenied on AssumeRole / GetSessionToken (lonelyplanet/aws-mfa#21, aws-cli#6325)
STS_INVALID_CODE: Final = "MultiFactorAuthentication failed with invalid MFA one time pass code."
STS_UNKNOWN_DEVICE: Final = (
    "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA "
    "serial number is valid and associated with this user."
)


def no_such_device(serial: str) -> NoSuchEntity:
    return NoSuchEntity(f"VirtualMFADevice with serial number {serial} doesn't exist.")  # [M]


def _seed(ctx: OperationContext, device: MfaDevice) -> str:
    return ctx.store.kek.open(device.seed_sealed, f"mfa-seed:{device.serial_number}").decode()


def _qr_png(uri: str) -> bytes:
    image = qrcode.make(uri)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _device_in_account(ctx: OperationContext, serial: str) -> MfaDevice | None:
    device = ctx.store.get_mfa_device(serial)
    if device is None or device.account_id != account_of(ctx):
        return None
    return device


# --- operations ---------------------------------------------------------------------------


@operation("iam", "CreateVirtualMFADevice", action="iam:CreateVirtualMFADevice")
def create_virtual_mfa_device(
    ctx: OperationContext, params: Params[CreateVirtualMFADeviceMembers]
) -> Result:
    account = account_of(ctx)
    name = params.req_str("VirtualMFADeviceName")
    path = path_or_default(params.get_str("Path"))
    tags = tags_from(params)
    serial = mfa_serial(account, path, name)
    ctx.authorize("iam:CreateVirtualMFADevice", serial, request_keys=tag_request_keys(tags) or None)
    seed = totp.new_seed()
    device = MfaDevice(
        account_id=account,
        serial_number=serial,
        path=path,
        name=name,
        seed_sealed=ctx.store.kek.seal(seed.encode(), f"mfa-seed:{serial}"),
        created_at=now_of(ctx),
    )
    try:
        ctx.store.create_mfa_device(device)
    except AlreadyExists as exc:
        raise EntityAlreadyExists(ALREADY_EXISTS) from exc
    if tags:
        tag_resource(ctx, TAG_RESOURCE_TYPE, serial, tags)
    uri = totp.provisioning_uri(seed, f"{name}@{account}", QR_ISSUER)
    shape: dict[str, object] = {
        "SerialNumber": serial,
        "Base32StringSeed": seed.encode(),
        "QRCodePNG": _qr_png(uri),
    }
    if tags:
        shape["Tags"] = render_tags(tags)
    return {"VirtualMFADevice": shape}


@operation("iam", "EnableMFADevice", action="iam:EnableMFADevice")
def enable_mfa_device(ctx: OperationContext, params: Params[EnableMFADeviceMembers]) -> Result:
    user = get_user_for(ctx, "iam:EnableMFADevice", params.req_str("UserName"))
    serial = params.req_str("SerialNumber")
    device = _device_in_account(ctx, serial)
    if device is None:
        raise no_such_device(serial)
    if device.assigned:
        raise EntityAlreadyExists(IN_USE)
    if len(ctx.store.list_mfa_devices(user.account_id, user_name=user.name)) >= (
        MAX_DEVICES_PER_USER
    ):
        # [I] quota-style text
        raise LimitExceeded(f"Cannot exceed quota for MFADevicesPerUser: {MAX_DEVICES_PER_USER}")
    step = totp.verify_consecutive(
        _seed(ctx, device),
        params.req_str("AuthenticationCode1"),
        params.req_str("AuthenticationCode2"),
        ctx.now,
    )
    if step is None or (device.last_used_step is not None and step <= device.last_used_step):
        raise InvalidAuthenticationCode(INVALID_CODE)
    if not ctx.store.assign_mfa_device(serial, user.name, now_of(ctx), step):
        raise EntityAlreadyExists(IN_USE)
    return None


def _assigned_to(ctx: OperationContext, serial: str, user: User) -> MfaDevice:
    device = _device_in_account(ctx, serial)
    if device is None or device.user_name is None or device.user_name.lower() != user.name.lower():
        # [I] same family as the moto text
        raise NoSuchEntity(f"MFA Device with serial number {serial} does not exist.")
    return device


@operation("iam", "ResyncMFADevice", action="iam:ResyncMFADevice")
def resync_mfa_device(ctx: OperationContext, params: Params[ResyncMFADeviceMembers]) -> Result:
    user = get_user_for(ctx, "iam:ResyncMFADevice", params.req_str("UserName"))
    serial = params.req_str("SerialNumber")
    device = _assigned_to(ctx, serial, user)
    step = totp.verify_consecutive(
        _seed(ctx, device),
        params.req_str("AuthenticationCode1"),
        params.req_str("AuthenticationCode2"),
        ctx.now,
        window=totp.RESYNC_WINDOW,
    )
    if step is None or not ctx.store.use_mfa_step(serial, step):
        raise InvalidAuthenticationCode(INVALID_CODE)
    return None


@operation("iam", "DeactivateMFADevice", action="iam:DeactivateMFADevice")
def deactivate_mfa_device(
    ctx: OperationContext, params: Params[DeactivateMFADeviceMembers]
) -> Result:
    serial = params.req_str("SerialNumber")
    name = params.get_str("UserName")
    if name is None:
        name = require_user_credentials(ctx)
        if name is None:  # the account root names the device's user implicitly
            device = _device_in_account(ctx, serial)
            if device is None or device.user_name is None:
                raise no_such_device(serial)
            name = device.user_name
    user = get_user_for(ctx, "iam:DeactivateMFADevice", name)
    _assigned_to(ctx, serial, user)
    ctx.store.unassign_mfa_device(serial)
    return None


@operation("iam", "DeleteVirtualMFADevice", action="iam:DeleteVirtualMFADevice")
def delete_virtual_mfa_device(
    ctx: OperationContext, params: Params[DeleteVirtualMFADeviceMembers]
) -> Result:
    serial = params.req_str("SerialNumber")
    ctx.authorize("iam:DeleteVirtualMFADevice", serial)
    device = _device_in_account(ctx, serial)
    if device is None:
        raise no_such_device(serial)
    if device.assigned:
        raise DeleteConflict(STILL_IN_USE)
    tags = ctx.store.get_tags(device.account_id, TAG_RESOURCE_TYPE, serial)
    if tags:
        ctx.store.remove_tags(device.account_id, TAG_RESOURCE_TYPE, serial, [t.key for t in tags])
    ctx.store.delete_mfa_device(serial)
    return None


@operation("iam", "ListMFADevices", action="iam:ListMFADevices")
def list_mfa_devices(ctx: OperationContext, params: Params[ListMFADevicesMembers]) -> Result:
    name = params.get_str("UserName")
    if name is None:
        name = require_user_credentials(ctx)
    if name is None:  # the root user: Tessera keeps no root MFA devices
        ctx.authorize("iam:ListMFADevices", list_resource(ctx, "user", None))
        return with_truncation({"MFADevices": []}, None)
    user = get_user_for(ctx, "iam:ListMFADevices", name)
    devices = ctx.store.list_mfa_devices(user.account_id, user_name=user.name)
    page, nxt = paginate(devices, params)
    items = [
        {"UserName": user.name, "SerialNumber": d.serial_number, "EnableDate": d.enable_date}
        for d in page
    ]
    return with_truncation({"MFADevices": items}, nxt)


@operation("iam", "ListVirtualMFADevices", action="iam:ListVirtualMFADevices")
def list_virtual_mfa_devices(
    ctx: OperationContext, params: Params[ListVirtualMFADevicesMembers]
) -> Result:
    ctx.authorize("iam:ListVirtualMFADevices", list_resource(ctx, "mfa", None))
    status = params.get_str("AssignmentStatus") or "Any"
    assigned = {"Assigned": True, "Unassigned": False}.get(status)
    devices = ctx.store.list_mfa_devices(account_of(ctx), assigned=assigned)
    page, nxt = paginate(devices, params)
    items: list[dict[str, object]] = []
    for d in page:
        item: dict[str, object] = {"SerialNumber": d.serial_number}
        if d.user_name is not None:
            user = ctx.store.get_user(d.account_id, d.user_name)
            if user is not None:
                item["User"] = user_shape(user)
            item["EnableDate"] = d.enable_date
        tags = ctx.store.get_tags(d.account_id, TAG_RESOURCE_TYPE, d.serial_number)
        if tags:
            item["Tags"] = render_tags(tags)
        items.append(item)
    return with_truncation({"VirtualMFADevices": items}, nxt)


@operation("iam", "GetMFADevice", action="iam:GetMFADevice")
def get_mfa_device(ctx: OperationContext, params: Params[GetMFADeviceMembers]) -> Result:
    """The device assigned to the user (``UserName``, else the calling user). Virtual
    devices carry no FIPS/FIDO ``Certifications`` (AWS returns them for FIDO keys)."""
    serial = params.req_str("SerialNumber")
    name = params.get_str("UserName")
    if name is None:
        name = require_user_credentials(ctx)
    if name is None:  # the account root: Tessera keeps no root MFA devices
        ctx.authorize("iam:GetMFADevice", list_resource(ctx, "user", None))
        raise no_such_device(serial)
    user = get_user_for(ctx, "iam:GetMFADevice", name)
    device = _assigned_to(ctx, serial, user)
    return {
        "UserName": user.name,
        "SerialNumber": device.serial_number,
        "EnableDate": device.enable_date,
    }


def _locate_device(
    ctx: OperationContext, action: str, serial: str, keys: Mapping[str, ContextValue] | None
) -> tuple[str, str]:
    """Authorise ``action`` on the device's serial (its ARN), then require it."""
    device = _device_in_account(ctx, serial)
    tags = None if device is None else resource_tags(ctx, TAG_RESOURCE_TYPE, serial)
    ctx.authorize(action, serial, request_keys=keys, resource_tags=tags)
    if device is None:
        raise no_such_device(serial)
    return device.account_id, device.serial_number


tag_operations("MFADevice", "SerialNumber", TAG_RESOURCE_TYPE, _locate_device)


# --- STS: SerialNumber + TokenCode ------------------------------------------------------------


class MfaCheck:
    """A verified, not yet consumed, MFA code: ``consume()`` after authorisation
    records its time step (so a denied call does not burn the user's code)."""

    __slots__ = ("_ctx", "serial", "step", "time")

    def __init__(self, ctx: OperationContext, serial: str, step: int, time: datetime) -> None:
        self._ctx = ctx
        self.serial = serial
        self.step = step
        self.time = time

    def consume(self) -> datetime:
        if not self._ctx.store.use_mfa_step(self.serial, self.step):
            raise AccessDenied(STS_INVALID_CODE)  # replayed code
        return self.time


def _mfa_user(ctx: OperationContext, caller: Principal) -> str | None:
    """The current name of the IAM user whose devices the caller may use, found by
    the caller's unique id (the user behind a GetSessionToken session counts, also
    after a rename); ``None`` when the caller has none."""
    if caller.kind is not PrincipalKind.USER:
        return None
    user = ctx.store.get_user_by_id(caller.user_id)
    return None if user is None or user.account_id != caller.account_id else user.name


def check_mfa(ctx: OperationContext, serial: str | None, code: str | None) -> MfaCheck | None:
    """Verify ``SerialNumber``/``TokenCode`` for the caller; ``None`` when neither is
    given. Raises AccessDenied with AWS's texts for an unknown device (or one not
    assigned to the caller) and for a wrong or already-used code."""
    if serial is None and code is None:
        return None
    if serial is None or code is None:
        raise AccessDenied(STS_UNKNOWN_DEVICE)
    caller = ctx.caller
    user_name = _mfa_user(ctx, caller)
    device = ctx.store.get_mfa_device(serial)
    if (
        device is None
        or user_name is None
        or device.account_id != caller.account_id
        or device.user_name is None
        or device.user_name.lower() != user_name.lower()
    ):
        raise AccessDenied(STS_UNKNOWN_DEVICE)
    step = totp.verify(_seed(ctx, device), code, ctx.now)
    if step is None or (device.last_used_step is not None and step <= device.last_used_step):
        raise AccessDenied(STS_INVALID_CODE)
    return MfaCheck(ctx, serial, step, ctx.now.replace(microsecond=0))
