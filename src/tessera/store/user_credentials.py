"""Storage interface of an IAM user's credentials of other kinds: signing
certificates (unique per account), SSH public keys (unique per user) and
service-specific credentials (only a hash of the secret). All are owned by the
user's unique id, never by name; a user's credentials are listed by that id."""

from __future__ import annotations

from typing import Protocol

from tessera.iam.credential_model import (
    ServiceSpecificCredential,
    SigningCertificate,
    SshPublicKey,
)


class UserCredentialStore(Protocol):
    # --- signing certificates
    def create_signing_certificate(self, certificate: SigningCertificate) -> None:
        """Insert; ``AlreadyExists`` if the same certificate (by fingerprint) is
        already associated with a user of the account."""
        ...

    def list_signing_certificates(self, account_id: str, user_id: str) -> list[SigningCertificate]:
        """The user's signing certificates, oldest first (the credential report reads
        them through this)."""
        ...

    def set_signing_certificate_status(
        self, account_id: str, user_id: str, certificate_id: str, status: str
    ) -> bool:
        """False when the user has no such certificate."""
        ...

    def delete_signing_certificate(
        self, account_id: str, user_id: str, certificate_id: str
    ) -> bool:
        """False when the user has no such certificate."""
        ...

    # --- SSH public keys
    def create_ssh_public_key(self, key: SshPublicKey) -> None:
        """Insert; ``AlreadyExists`` if the user has a key with the same fingerprint."""
        ...

    def get_ssh_public_key(
        self, account_id: str, user_id: str, key_id: str
    ) -> SshPublicKey | None: ...

    def list_ssh_public_keys(self, account_id: str, user_id: str) -> list[SshPublicKey]: ...

    def set_ssh_public_key_status(
        self, account_id: str, user_id: str, key_id: str, status: str
    ) -> bool: ...

    def delete_ssh_public_key(self, account_id: str, user_id: str, key_id: str) -> bool: ...

    # --- service-specific credentials
    def create_service_specific_credential(self, credential: ServiceSpecificCredential) -> None: ...

    def get_service_specific_credential(
        self, account_id: str, credential_id: str
    ) -> ServiceSpecificCredential | None: ...

    def list_service_specific_credentials(
        self, account_id: str, *, user_id: str | None = None, service_name: str | None = None
    ) -> list[ServiceSpecificCredential]:
        """Oldest first; ``user_id`` keeps one user's, ``service_name`` one service's."""
        ...

    def update_service_specific_credential(
        self,
        account_id: str,
        credential_id: str,
        *,
        status: str | None = None,
        secret_hash: str | None = None,
    ) -> bool:
        """Change the status and/or replace the secret's hash; False if not found."""
        ...

    def delete_service_specific_credential(self, account_id: str, credential_id: str) -> bool: ...
