"""Storage interface of IAM server certificates: certificate, chain and the
private key sealed by the caller under the KEK (the store never sees it in clear);
case-insensitive names, path-prefix paging, rename/move."""

from __future__ import annotations

from typing import Protocol

from tessera.iam.credential_model import ServerCertificate
from tessera.iam.model import Page


class ServerCertificateStore(Protocol):
    def create_server_certificate(self, certificate: ServerCertificate) -> None:
        """Insert; ``AlreadyExists`` if the account has a certificate of that name."""
        ...

    def get_server_certificate(self, account_id: str, name: str) -> ServerCertificate | None: ...

    def list_server_certificates(
        self, account_id: str, path_prefix: str, marker: str | None, max_items: int
    ) -> Page[ServerCertificate]: ...

    def update_server_certificate(
        self, account_id: str, name: str, *, new_name: str, new_path: str
    ) -> None:
        """Rename and/or move; ``AlreadyExists`` if ``new_name`` is taken."""
        ...

    def delete_server_certificate(self, account_id: str, name: str) -> None: ...
