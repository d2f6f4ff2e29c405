"""IAM SSH public keys (per user, for Git-over-SSH style services): Upload (RSA of
at least 2048 bits or Ed25519, OpenSSH or PEM; at most five per user, each once),
Get (in SSH or PEM encoding), List, Update (Active/Inactive), Delete. Keys are
bound to their user's unique id; ``APKA…`` ids; AWS's MD5 fingerprint.

Texts: **[I]** inferred."""

from __future__ import annotations

from typing import Final

from tessera.errors import DuplicateSSHPublicKey, LimitExceeded, NoSuchEntity
from tessera.iam.credential_model import SSH_PUBLIC_KEY_PREFIX, SshPublicKey
from tessera.iam.model import User
from tessera.iam.ops_common import now_of, paginate, with_truncation
from tessera.iam.ops_signing_certificates import settable_status
from tessera.iam.ops_users import get_user_for
from tessera.iam.ssh_keys import parse_ssh_public_key
from tessera.iam.user_credentials import credential_user
from tessera.ids import new_unique_id
from tessera.operation import OperationContext, Result
from tessera.protocol.inputs import (
    DeleteSSHPublicKeyMembers,
    GetSSHPublicKeyMembers,
    ListSSHPublicKeysMembers,
    UpdateSSHPublicKeyMembers,
    UploadSSHPublicKeyMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.store.base import AlreadyExists

MAX_PER_USER: Final = 5
# [I]
DUPLICATE: Final = "The SSH public key is already associated with the specified IAM user."


def no_such_key(key_id: str) -> NoSuchEntity:
    return NoSuchEntity(f"The Public Key with id {key_id} cannot be found.")  # [I]


def _shape(user: User, key: SshPublicKey, body: str) -> dict[str, object]:
    return {
        "UserName": user.name,
        "SSHPublicKeyId": key.key_id,
        "Fingerprint": key.fingerprint,
        "SSHPublicKeyBody": body,
        "Status": key.status,
        "UploadDate": key.uploaded_at,
    }


@operation("iam", "UploadSSHPublicKey", action="iam:UploadSSHPublicKey")
def upload_ssh_public_key(
    ctx: OperationContext, params: Params[UploadSSHPublicKeyMembers]
) -> Result:
    body = params.req_str("SSHPublicKeyBody")
    user = get_user_for(ctx, "iam:UploadSSHPublicKey", params.req_str("UserName"))
    parsed = parse_ssh_public_key(body)
    existing = ctx.store.list_ssh_public_keys(user.account_id, user.user_id)
    if any(k.fingerprint == parsed.fingerprint for k in existing):
        raise DuplicateSSHPublicKey(DUPLICATE)
    if len(existing) >= MAX_PER_USER:
        # [I] quota-style text
        raise LimitExceeded(f"Cannot exceed quota for SSHPublicKeysPerUser: {MAX_PER_USER}")
    key = SshPublicKey(
        account_id=user.account_id,
        user_id=user.user_id,
        user_name=user.name,
        key_id=new_unique_id(SSH_PUBLIC_KEY_PREFIX),
        body=parsed.openssh,
        fingerprint=parsed.fingerprint,
        status="Active",
        uploaded_at=now_of(ctx),
    )
    try:
        ctx.store.create_ssh_public_key(key)
    except AlreadyExists as exc:  # a concurrent upload of the same key
        raise DuplicateSSHPublicKey(DUPLICATE) from exc
    return {"SSHPublicKey": _shape(user, key, key.body)}


def _key(ctx: OperationContext, user: User, key_id: str) -> SshPublicKey:
    key = ctx.store.get_ssh_public_key(user.account_id, user.user_id, key_id)
    if key is None:
        raise no_such_key(key_id)
    return key


@operation("iam", "GetSSHPublicKey", action="iam:GetSSHPublicKey")
def get_ssh_public_key(ctx: OperationContext, params: Params[GetSSHPublicKeyMembers]) -> Result:
    key_id = params.req_str("SSHPublicKeyId")
    encoding = params.req_str("Encoding")  # SSH | PEM (the model's enum)
    user = get_user_for(ctx, "iam:GetSSHPublicKey", params.req_str("UserName"))
    key = _key(ctx, user, key_id)
    body = key.body if encoding == "SSH" else parse_ssh_public_key(key.body).pem()
    return {"SSHPublicKey": _shape(user, key, body)}


@operation("iam", "ListSSHPublicKeys", action="iam:ListSSHPublicKeys")
def list_ssh_public_keys(ctx: OperationContext, params: Params[ListSSHPublicKeysMembers]) -> Result:
    user = credential_user(ctx, params, "iam:ListSSHPublicKeys", root_allowed=True)
    keys = [] if user is None else ctx.store.list_ssh_public_keys(user.account_id, user.user_id)
    page, nxt = paginate(keys, params)
    items = [
        {
            "UserName": k.user_name if user is None else user.name,
            "SSHPublicKeyId": k.key_id,
            "Status": k.status,
            "UploadDate": k.uploaded_at,
        }
        for k in page
    ]
    return with_truncation({"SSHPublicKeys": items}, nxt)


@operation("iam", "UpdateSSHPublicKey", action="iam:UpdateSSHPublicKey")
def update_ssh_public_key(
    ctx: OperationContext, params: Params[UpdateSSHPublicKeyMembers]
) -> Result:
    key_id = params.req_str("SSHPublicKeyId")
    status = params.req_str("Status")
    user = get_user_for(ctx, "iam:UpdateSSHPublicKey", params.req_str("UserName"))
    if not ctx.store.set_ssh_public_key_status(
        user.account_id, user.user_id, key_id, settable_status(status)
    ):
        raise no_such_key(key_id)
    return None


@operation("iam", "DeleteSSHPublicKey", action="iam:DeleteSSHPublicKey")
def delete_ssh_public_key(
    ctx: OperationContext, params: Params[DeleteSSHPublicKeyMembers]
) -> Result:
    key_id = params.req_str("SSHPublicKeyId")
    user = get_user_for(ctx, "iam:DeleteSSHPublicKey", params.req_str("UserName"))
    if not ctx.store.delete_ssh_public_key(user.account_id, user.user_id, key_id):
        raise no_such_key(key_id)
    return None
