"""IAM service-specific credentials: Create / List / Update / Reset / Delete.

Two kinds, by service (the pinned model's documentation):
- user name + password for CodeCommit (``codecommit.amazonaws.com``) and Amazon
  Keyspaces (``cassandra.amazonaws.com``): ``ServiceUserName`` is
  ``<user>-at-<account>``, the ``ServicePassword`` is shown once (Create and Reset);
- long-term API keys for Amazon Bedrock (``bedrock.amazonaws.com``) and CloudWatch
  Logs (``logs.amazonaws.com``): a public ``ServiceCredentialAlias`` and a
  ``ServiceCredentialSecret`` shown once, optionally expiring after
  ``CredentialAgeDays`` (refused for the password kind, as AWS documents it "only
  valid for services that support long-term API keys").

Tessera keeps only a scrypt hash of each secret (``hash_secret``;
``verify_secret`` compares in constant time) and never logs one. At most two
credentials per service per user, bound to the user's unique id; ``ACCA…`` ids.

Texts: **[I]** inferred."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import replace
from datetime import timedelta
from typing import Final

from tessera.errors import InvalidInput, LimitExceeded, NoSuchEntity, ServiceNotSupported
from tessera.iam.credential_model import SERVICE_CREDENTIAL_PREFIX, ServiceSpecificCredential
from tessera.iam.model import User
from tessera.iam.ops_common import list_resource, now_of, paginate, with_truncation
from tessera.iam.ops_signing_certificates import settable_status
from tessera.iam.user_credentials import credential_user
from tessera.ids import new_unique_id
from tessera.operation import OperationContext, Result
from tessera.protocol.inputs import (
    CreateServiceSpecificCredentialMembers,
    DeleteServiceSpecificCredentialMembers,
    ListServiceSpecificCredentialsMembers,
    ResetServiceSpecificCredentialMembers,
    UpdateServiceSpecificCredentialMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation

MAX_PER_SERVICE: Final = 2
PASSWORD_SERVICES: Final = frozenset({"codecommit.amazonaws.com", "cassandra.amazonaws.com"})
#: API-key services and the prefix of their keys (Bedrock's keys start ``ABSK``)
API_KEY_SERVICES: Final = {"bedrock.amazonaws.com": "ABSK", "logs.amazonaws.com": ""}
_SCRYPT: Final = {"n": 2**14, "r": 8, "p": 1}
# [I]
AGE_ONLY_FOR_API_KEYS: Final = (
    "CredentialAgeDays is only valid for services that support long-term API keys."
)
BOTH_USER_AND_ALL: Final = "AllUsers cannot be specified together with UserName."


def hash_secret(secret: str) -> str:
    """``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (base64): a slow, salted hash."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    n, r, p = _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"]
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` is the one ``stored`` hashes (constant-time comparison)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(
            secret.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(want),
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, want)


def no_such_credential(credential_id: str) -> NoSuchEntity:
    # [I]
    return NoSuchEntity(f"No such credential {credential_id} exists.")


def _supported(service: str) -> str:
    if service not in PASSWORD_SERVICES and service not in API_KEY_SERVICES:
        # [I]
        raise ServiceNotSupported(
            f"The service {service} does not support service-specific credentials."
        )
    return service


def _new_secret(credential: ServiceSpecificCredential) -> tuple[str, dict[str, object]]:
    """A fresh secret for ``credential`` and the members that show it (once)."""
    if credential.service_name in PASSWORD_SERVICES:
        password = base64.b64encode(secrets.token_bytes(33)).decode()
        return password, {"ServicePassword": password}
    secret = base64.b64encode(secrets.token_bytes(33)).decode()
    prefix = API_KEY_SERVICES[credential.service_name]
    alias = credential.service_credential_alias or ""
    key = prefix + base64.b64encode(f"{alias}:{secret}".encode()).decode()
    return key, {"ServiceCredentialSecret": key}


def _status(ctx: OperationContext, c: ServiceSpecificCredential) -> str:
    if c.expires_at is not None and ctx.now >= c.expires_at:
        return "Expired"
    return c.status


def _metadata(
    ctx: OperationContext, c: ServiceSpecificCredential, user_name: str
) -> dict[str, object]:
    shape: dict[str, object] = {
        "UserName": user_name,
        "Status": _status(ctx, c),
        "CreateDate": c.created_at,
        "ServiceSpecificCredentialId": c.credential_id,
        "ServiceName": c.service_name,
    }
    if c.service_user_name is not None:
        shape["ServiceUserName"] = c.service_user_name
    if c.service_credential_alias is not None:
        shape["ServiceCredentialAlias"] = c.service_credential_alias
    if c.expires_at is not None:
        shape["ExpirationDate"] = c.expires_at
    return shape


@operation("iam", "CreateServiceSpecificCredential", action="iam:CreateServiceSpecificCredential")
def create_service_specific_credential(
    ctx: OperationContext, params: Params[CreateServiceSpecificCredentialMembers]
) -> Result:
    service = params.req_str("ServiceName")
    age_days = params.get_int("CredentialAgeDays")  # the model bounds it: 1..36600
    user = credential_user(ctx, params, "iam:CreateServiceSpecificCredential")
    assert user is not None
    _supported(service)
    if age_days is not None and service not in API_KEY_SERVICES:
        raise InvalidInput(AGE_ONLY_FOR_API_KEYS)
    existing = ctx.store.list_service_specific_credentials(
        user.account_id, user_id=user.user_id, service_name=service
    )
    if len(existing) >= MAX_PER_SERVICE:
        # [I] quota-style text
        raise LimitExceeded(
            f"Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: "
            f"{MAX_PER_SERVICE}"
        )
    now = now_of(ctx)
    service_user_name = alias = None
    if service in PASSWORD_SERVICES:
        taken = {c.service_user_name for c in existing}
        service_user_name = f"{user.name}-at-{user.account_id}"
        if service_user_name in taken:
            service_user_name = f"{user.name}+1-at-{user.account_id}"
    else:
        # the user's name and a version + creation suffix (the model's description)
        alias = f"{user.name}-at-{user.account_id}-v1-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"
    draft = ServiceSpecificCredential(
        account_id=user.account_id,
        user_id=user.user_id,
        user_name=user.name,
        credential_id=new_unique_id(SERVICE_CREDENTIAL_PREFIX),
        service_name=service,
        service_user_name=service_user_name,
        service_credential_alias=alias,
        secret_hash="",
        status="Active",
        created_at=now,
        expires_at=None if age_days is None else now + timedelta(days=age_days),
    )
    secret, shown = _new_secret(draft)
    credential = replace(draft, secret_hash=hash_secret(secret))
    ctx.store.create_service_specific_credential(credential)
    return {"ServiceSpecificCredential": _metadata(ctx, credential, user.name) | shown}


@operation("iam", "ListServiceSpecificCredentials", action="iam:ListServiceSpecificCredentials")
def list_service_specific_credentials(
    ctx: OperationContext, params: Params[ListServiceSpecificCredentialsMembers]
) -> Result:
    service = params.get_str("ServiceName")
    all_users = params.get_bool("AllUsers") is True
    if all_users:
        if params.get_str("UserName") is not None:
            raise InvalidInput(BOTH_USER_AND_ALL)
        ctx.authorize("iam:ListServiceSpecificCredentials", list_resource(ctx, "user", None))
        user: User | None = None
    else:
        user = credential_user(ctx, params, "iam:ListServiceSpecificCredentials", root_allowed=True)
    if service is not None:
        _supported(service)
    account = ctx.caller.account_id
    if all_users:
        found = ctx.store.list_service_specific_credentials(account, service_name=service)
    elif user is None:
        found = []
    else:
        found = ctx.store.list_service_specific_credentials(
            account, user_id=user.user_id, service_name=service
        )
    page, nxt = paginate(found, params)
    items: list[dict[str, object]] = []
    for c in page:
        name = user.name if user is not None else c.user_name
        if user is None:  # AllUsers: the owner's current name, by unique id
            owner = ctx.store.get_user_by_id(c.user_id)
            name = owner.name if owner is not None else c.user_name
        items.append(_metadata(ctx, c, name))
    return with_truncation({"ServiceSpecificCredentials": items}, nxt)


def _owned(ctx: OperationContext, user: User, credential_id: str) -> ServiceSpecificCredential:
    credential = ctx.store.get_service_specific_credential(user.account_id, credential_id)
    if credential is None or credential.user_id != user.user_id:
        raise no_such_credential(credential_id)
    return credential


@operation("iam", "UpdateServiceSpecificCredential", action="iam:UpdateServiceSpecificCredential")
def update_service_specific_credential(
    ctx: OperationContext, params: Params[UpdateServiceSpecificCredentialMembers]
) -> Result:
    credential_id = params.req_str("ServiceSpecificCredentialId")
    status = params.req_str("Status")
    user = credential_user(ctx, params, "iam:UpdateServiceSpecificCredential")
    assert user is not None
    _owned(ctx, user, credential_id)
    ctx.store.update_service_specific_credential(
        user.account_id, credential_id, status=settable_status(status)
    )
    return None


@operation("iam", "ResetServiceSpecificCredential", action="iam:ResetServiceSpecificCredential")
def reset_service_specific_credential(
    ctx: OperationContext, params: Params[ResetServiceSpecificCredentialMembers]
) -> Result:
    credential_id = params.req_str("ServiceSpecificCredentialId")
    user = credential_user(ctx, params, "iam:ResetServiceSpecificCredential")
    assert user is not None
    credential = _owned(ctx, user, credential_id)
    secret, shown = _new_secret(credential)
    # the previous secret stops matching at once
    if not ctx.store.update_service_specific_credential(
        user.account_id, credential_id, secret_hash=hash_secret(secret)
    ):
        raise no_such_credential(credential_id)
    return {"ServiceSpecificCredential": _metadata(ctx, credential, user.name) | shown}


@operation("iam", "DeleteServiceSpecificCredential", action="iam:DeleteServiceSpecificCredential")
def delete_service_specific_credential(
    ctx: OperationContext, params: Params[DeleteServiceSpecificCredentialMembers]
) -> Result:
    credential_id = params.req_str("ServiceSpecificCredentialId")
    user = credential_user(ctx, params, "iam:DeleteServiceSpecificCredential")
    assert user is not None
    _owned(ctx, user, credential_id)
    if not ctx.store.delete_service_specific_credential(user.account_id, credential_id):
        raise no_such_credential(credential_id)
    return None
