"""IAM server certificates: Upload (certificate, private key and chain checked:
PEM, the key matches, the chain issued the certificate; expiry from the
certificate), Get, List, Update (rename / move), Delete, and their tags.

The private key is sealed under the KEK (purpose ``server-cert-key:<id>``) before
it reaches the store and is never returned or logged: no operation reads it back.
Tags are kept under the certificate's ``ASCA…`` id, so a rename keeps them.

Texts: **[C]** seen verbatim in real AWS answers quoted in public threads,
**[I]** inferred."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from tessera.errors import EntityAlreadyExists, LimitExceeded, NoSuchEntity
from tessera.iam.certificates import check_server_certificate
from tessera.iam.credential_model import (
    SERVER_CERTIFICATE_PREFIX,
    ServerCertificate,
    server_certificate_arn,
)
from tessera.iam.ops_common import (
    account_of,
    authorize_then_require,
    list_named,
    locate_with,
    now_of,
    path_or_default,
    render_tags,
    resource_tags,
    tag_operations,
    tag_request_keys,
    tag_resource,
    tags_from,
)
from tessera.ids import new_unique_id
from tessera.operation import ContextValue, OperationContext, Result
from tessera.protocol.inputs import (
    DeleteServerCertificateMembers,
    GetServerCertificateMembers,
    ListServerCertificatesMembers,
    UpdateServerCertificateMembers,
    UploadServerCertificateMembers,
)
from tessera.protocol.query import Params
from tessera.registry import operation
from tessera.store.base import AlreadyExists

TAG_RESOURCE_TYPE: Final = "server-cert"
#: AWS's default quota of server certificates per account
MAX_PER_ACCOUNT: Final = 20


def seal_context(certificate_id: str) -> str:
    return f"server-cert-key:{certificate_id}"


def no_such_certificate(name: str) -> NoSuchEntity:
    return NoSuchEntity(f"The Server Certificate with name {name} cannot be found.")  # [C]


def already_exists(name: str) -> EntityAlreadyExists:
    return EntityAlreadyExists(f"The Server Certificate with name {name} already exists.")  # [C]


def metadata(c: ServerCertificate) -> dict[str, object]:
    return {
        "Path": c.path,
        "ServerCertificateName": c.name,
        "ServerCertificateId": c.certificate_id,
        "Arn": c.arn,
        "UploadDate": c.uploaded_at,
        "Expiration": c.expires_at,
    }


def _tag_key(certificate: ServerCertificate) -> str:
    """Tags are kept under the certificate's id, so a rename keeps them."""
    return certificate.certificate_id


def get_certificate_for(
    ctx: OperationContext,
    action: str,
    name: str,
    *,
    request_keys: Mapping[str, ContextValue] | None = None,
) -> ServerCertificate:
    """Authorise ``action`` on the certificate's ARN, then require it."""
    account = account_of(ctx)
    return authorize_then_require(
        ctx,
        action,
        ctx.store.get_server_certificate(account, name),
        missing_arn=server_certificate_arn(account, "/", name),
        missing=no_such_certificate(name),
        tag_type=TAG_RESOURCE_TYPE,
        tag_key=_tag_key,
        request_keys=request_keys,
    )


@operation("iam", "UploadServerCertificate", action="iam:UploadServerCertificate")
def upload_server_certificate(
    ctx: OperationContext, params: Params[UploadServerCertificateMembers]
) -> Result:
    account = account_of(ctx)
    name = params.req_str("ServerCertificateName")
    path = path_or_default(params.get_str("Path"))
    body = params.req_str("CertificateBody")
    private_key = params.req_str("PrivateKey")
    chain = params.get_str("CertificateChain")
    tags = tags_from(params)
    ctx.authorize(
        "iam:UploadServerCertificate",
        server_certificate_arn(account, path, name),
        request_keys=tag_request_keys(tags) or None,
    )
    checked = check_server_certificate(body, private_key, chain, ctx.now)
    page = ctx.store.list_server_certificates(account, "/", None, MAX_PER_ACCOUNT)
    if len(page.items) >= MAX_PER_ACCOUNT:
        # [I] quota-style text
        raise LimitExceeded(
            f"Cannot exceed quota for ServerCertificatesPerAccount: {MAX_PER_ACCOUNT}"
        )
    certificate_id = new_unique_id(SERVER_CERTIFICATE_PREFIX)
    certificate = ServerCertificate(
        account_id=account,
        name=name,
        path=path,
        certificate_id=certificate_id,
        body=checked.body,
        chain=checked.chain,
        private_key_sealed=ctx.store.kek.seal(
            checked.private_key.encode("latin-1"), seal_context(certificate_id)
        ),
        uploaded_at=now_of(ctx),
        expires_at=checked.expires_at,
    )
    try:
        ctx.store.create_server_certificate(certificate)
    except AlreadyExists as exc:
        raise already_exists(name) from exc
    result: dict[str, object] = {"ServerCertificateMetadata": metadata(certificate)}
    if tags:
        tag_resource(ctx, TAG_RESOURCE_TYPE, certificate_id, tags)
        result["Tags"] = render_tags(tags)
    return result


@operation("iam", "GetServerCertificate", action="iam:GetServerCertificate")
def get_server_certificate(
    ctx: OperationContext, params: Params[GetServerCertificateMembers]
) -> Result:
    certificate = get_certificate_for(
        ctx, "iam:GetServerCertificate", params.req_str("ServerCertificateName")
    )
    shape: dict[str, object] = {
        "ServerCertificateMetadata": metadata(certificate),
        "CertificateBody": certificate.body,
    }
    if certificate.chain is not None:
        shape["CertificateChain"] = certificate.chain
    tags = ctx.store.get_tags(certificate.account_id, TAG_RESOURCE_TYPE, certificate.certificate_id)
    if tags:
        shape["Tags"] = render_tags(tags)
    return {"ServerCertificate": shape}


@operation("iam", "ListServerCertificates", action="iam:ListServerCertificates")
def list_server_certificates(
    ctx: OperationContext, params: Params[ListServerCertificatesMembers]
) -> Result:
    return list_named(
        ctx,
        params,
        "server-certificate",
        "ServerCertificateMetadataList",
        ctx.store.list_server_certificates,
        metadata,
        action="iam:ListServerCertificates",
    )


@operation("iam", "UpdateServerCertificate", action="iam:UpdateServerCertificate")
def update_server_certificate(
    ctx: OperationContext, params: Params[UpdateServerCertificateMembers]
) -> Result:
    new_name = params.get_str("NewServerCertificateName")
    new_path = params.get_str("NewPath")
    certificate = get_certificate_for(
        ctx, "iam:UpdateServerCertificate", params.req_str("ServerCertificateName")
    )
    name = certificate.name if new_name is None else new_name
    path = certificate.path if new_path is None else new_path
    if (name, path) == (certificate.name, certificate.path):
        return None
    # AWS: the caller needs the permission on the old and on the new name
    ctx.authorize(
        "iam:UpdateServerCertificate",
        server_certificate_arn(certificate.account_id, path, name),
        resource_tags=resource_tags(ctx, TAG_RESOURCE_TYPE, certificate.certificate_id),
    )
    try:
        ctx.store.update_server_certificate(
            certificate.account_id, certificate.name, new_name=name, new_path=path
        )
    except AlreadyExists as exc:
        raise already_exists(name) from exc
    return None


@operation("iam", "DeleteServerCertificate", action="iam:DeleteServerCertificate")
def delete_server_certificate(
    ctx: OperationContext, params: Params[DeleteServerCertificateMembers]
) -> Result:
    certificate = get_certificate_for(
        ctx, "iam:DeleteServerCertificate", params.req_str("ServerCertificateName")
    )
    ctx.store.delete_server_certificate(certificate.account_id, certificate.name)
    return None


tag_operations(
    "ServerCertificate",
    "ServerCertificateName",
    TAG_RESOURCE_TYPE,
    locate_with(get_certificate_for, _tag_key),
)
