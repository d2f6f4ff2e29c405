"""IAM signing certificates (X.509, per user): Upload (at most two per user, each
certificate once per account), List, Update (Active/Inactive), Delete. The
certificates are bound to their user's unique id.

Texts: **[I]** inferred."""

from __future__ import annotations

import secrets
from typing import Final

from tessera.errors import DuplicateCertificate, InvalidInput, LimitExceeded, NoSuchEntity
from tessera.iam.certificates import check_signing_certificate
from tessera.iam.credential_model import SigningCertificate
from tessera.iam.model import User
from tessera.iam.ops_common import now_of, paginate, with_truncation
from tessera.iam.user_credentials import credential_user
from tessera.operation import OperationContext, Result
from tessera.protocol.inputs import (
    DeleteSigningCertificateMembers,
    ListSigningCertificatesMembers,
    UpdateSigningCertificateMembers,
    UploadSigningCertificateMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.store.base import AlreadyExists

MAX_PER_USER: Final = 2
_ID_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# [I]
DUPLICATE: Final = "The same certificate is already associated with an IAM user in this account."
STATUS_NOT_SETTABLE: Final = "Status Expired cannot be set; use Active or Inactive."


def new_certificate_id() -> str:
    """32 upper-case alphanumerics, like AWS's signing certificate ids."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(32))


def no_such_certificate(certificate_id: str) -> NoSuchEntity:
    return NoSuchEntity(f"The Certificate with id {certificate_id} cannot be found.")  # [I]


def _shape(user: User, c: SigningCertificate) -> dict[str, object]:
    return {
        "UserName": user.name,
        "CertificateId": c.certificate_id,
        "CertificateBody": c.body,
        "Status": c.status,
        "UploadDate": c.uploaded_at,
    }


def settable_status(status: str) -> str:
    if status not in ("Active", "Inactive"):
        raise InvalidInput(STATUS_NOT_SETTABLE)
    return status


@operation("iam", "UploadSigningCertificate", action="iam:UploadSigningCertificate")
def upload_signing_certificate(
    ctx: OperationContext, params: Params[UploadSigningCertificateMembers]
) -> Result:
    body = params.req_str("CertificateBody")
    user = credential_user(ctx, params, "iam:UploadSigningCertificate")
    assert user is not None
    checked = check_signing_certificate(body, ctx.now)
    if len(ctx.store.list_signing_certificates(user.account_id, user.user_id)) >= MAX_PER_USER:
        # [I] quota-style text
        raise LimitExceeded(f"Cannot exceed quota for SigningCertificatesPerUser: {MAX_PER_USER}")
    certificate = SigningCertificate(
        account_id=user.account_id,
        user_id=user.user_id,
        user_name=user.name,
        certificate_id=new_certificate_id(),
        body=checked.body,
        fingerprint=checked.fingerprint,
        status="Active",
        uploaded_at=now_of(ctx),
    )
    try:
        ctx.store.create_signing_certificate(certificate)
    except AlreadyExists as exc:
        raise DuplicateCertificate(DUPLICATE) from exc
    return {"Certificate": _shape(user, certificate)}


@operation("iam", "ListSigningCertificates", action="iam:ListSigningCertificates")
def list_signing_certificates(
    ctx: OperationContext, params: Params[ListSigningCertificatesMembers]
) -> Result:
    user = credential_user(ctx, params, "iam:ListSigningCertificates", root_allowed=True)
    if user is None:  # the account root: Tessera keeps none for it
        paginate([], params)
        return with_truncation({"Certificates": []}, None)
    page, nxt = paginate(ctx.store.list_signing_certificates(user.account_id, user.user_id), params)
    return with_truncation({"Certificates": [_shape(user, c) for c in page]}, nxt)


@operation("iam", "UpdateSigningCertificate", action="iam:UpdateSigningCertificate")
def update_signing_certificate(
    ctx: OperationContext, params: Params[UpdateSigningCertificateMembers]
) -> Result:
    certificate_id = params.req_str("CertificateId")
    status = params.req_str("Status")
    user = credential_user(ctx, params, "iam:UpdateSigningCertificate")
    assert user is not None
    if not ctx.store.set_signing_certificate_status(
        user.account_id, user.user_id, certificate_id, settable_status(status)
    ):
        raise no_such_certificate(certificate_id)
    return None


@operation("iam", "DeleteSigningCertificate", action="iam:DeleteSigningCertificate")
def delete_signing_certificate(
    ctx: OperationContext, params: Params[DeleteSigningCertificateMembers]
) -> Result:
    certificate_id = params.req_str("CertificateId")
    user = credential_user(ctx, params, "iam:DeleteSigningCertificate")
    assert user is not None
    if not ctx.store.delete_signing_certificate(user.account_id, user.user_id, certificate_id):
        raise no_such_certificate(certificate_id)
    return None
