"""SQL store: an IAM user's signing certificates, SSH public keys and
service-specific credentials (tables ``signing_certificates``,
``ssh_public_keys``, ``service_specific_credentials``), each row owned by the
user's unique id. Duplicates are refused by unique constraints (a certificate
once per account, an SSH key once per user)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, and_, delete, select, update

from tessera.iam.credential_model import (
    ServiceSpecificCredential,
    SigningCertificate,
    SshPublicKey,
)
from tessera.store.sql import schema as s
from tessera.store.sql.engine import SqlEngine, utc, utc_req


class SqlUserCredentials(SqlEngine):
    """Signing certificates, SSH public keys, service-specific credentials."""

    # --- signing certificates ---------------------------------------------------------

    @staticmethod
    def _signing(row: Row[Any]) -> SigningCertificate:
        return SigningCertificate(
            account_id=row.account_id,
            user_id=row.user_id,
            user_name=row.user_name,
            certificate_id=row.certificate_id,
            body=row.body,
            fingerprint=row.fingerprint,
            status=row.status,
            uploaded_at=utc_req(row.uploaded_at),
        )

    def create_signing_certificate(self, certificate: SigningCertificate) -> None:
        self._insert_unique(
            s.signing_certificates,
            {
                "certificate_id": certificate.certificate_id,
                "account_id": certificate.account_id,
                "user_id": certificate.user_id,
                "user_name": certificate.user_name,
                "body": certificate.body,
                "fingerprint": certificate.fingerprint,
                "status": certificate.status,
                "uploaded_at": certificate.uploaded_at,
            },
            certificate.fingerprint,
        )

    def list_signing_certificates(self, account_id: str, user_id: str) -> list[SigningCertificate]:
        c = s.signing_certificates.c
        with self._tx() as conn:
            rows = conn.execute(
                select(s.signing_certificates)
                .where(and_(c.account_id == account_id, c.user_id == user_id))
                .order_by(c.uploaded_at, c.certificate_id)
            ).all()
        return [self._signing(r) for r in rows]

    def set_signing_certificate_status(
        self, account_id: str, user_id: str, certificate_id: str, status: str
    ) -> bool:
        c = s.signing_certificates.c
        with self._tx() as conn:
            result = conn.execute(
                update(s.signing_certificates)
                .where(
                    and_(
                        c.account_id == account_id,
                        c.user_id == user_id,
                        c.certificate_id == certificate_id,
                    )
                )
                .values(status=status)
            )
            return bool(result.rowcount == 1)

    def delete_signing_certificate(
        self, account_id: str, user_id: str, certificate_id: str
    ) -> bool:
        c = s.signing_certificates.c
        with self._tx() as conn:
            result = conn.execute(
                delete(s.signing_certificates).where(
                    and_(
                        c.account_id == account_id,
                        c.user_id == user_id,
                        c.certificate_id == certificate_id,
                    )
                )
            )
            return bool(result.rowcount == 1)

    # --- SSH public keys --------------------------------------------------------------

    @staticmethod
    def _ssh(row: Row[Any]) -> SshPublicKey:
        return SshPublicKey(
            account_id=row.account_id,
            user_id=row.user_id,
            user_name=row.user_name,
            key_id=row.key_id,
            body=row.body,
            fingerprint=row.fingerprint,
            status=row.status,
            uploaded_at=utc_req(row.uploaded_at),
        )

    def create_ssh_public_key(self, key: SshPublicKey) -> None:
        self._insert_unique(
            s.ssh_public_keys,
            {
                "key_id": key.key_id,
                "account_id": key.account_id,
                "user_id": key.user_id,
                "user_name": key.user_name,
                "body": key.body,
                "fingerprint": key.fingerprint,
                "status": key.status,
                "uploaded_at": key.uploaded_at,
            },
            key.fingerprint,
        )

    def _ssh_where(self, account_id: str, user_id: str, key_id: str) -> Any:
        c = s.ssh_public_keys.c
        return and_(c.account_id == account_id, c.user_id == user_id, c.key_id == key_id)

    def get_ssh_public_key(self, account_id: str, user_id: str, key_id: str) -> SshPublicKey | None:
        with self._tx() as conn:
            row = conn.execute(
                select(s.ssh_public_keys).where(self._ssh_where(account_id, user_id, key_id))
            ).first()
        return None if row is None else self._ssh(row)

    def list_ssh_public_keys(self, account_id: str, user_id: str) -> list[SshPublicKey]:
        c = s.ssh_public_keys.c
        with self._tx() as conn:
            rows = conn.execute(
                select(s.ssh_public_keys)
                .where(and_(c.account_id == account_id, c.user_id == user_id))
                .order_by(c.uploaded_at, c.key_id)
            ).all()
        return [self._ssh(r) for r in rows]

    def set_ssh_public_key_status(
        self, account_id: str, user_id: str, key_id: str, status: str
    ) -> bool:
        with self._tx() as conn:
            result = conn.execute(
                update(s.ssh_public_keys)
                .where(self._ssh_where(account_id, user_id, key_id))
                .values(status=status)
            )
            return bool(result.rowcount == 1)

    def delete_ssh_public_key(self, account_id: str, user_id: str, key_id: str) -> bool:
        with self._tx() as conn:
            result = conn.execute(
                delete(s.ssh_public_keys).where(self._ssh_where(account_id, user_id, key_id))
            )
            return bool(result.rowcount == 1)

    # --- service-specific credentials -------------------------------------------------

    @staticmethod
    def _service(row: Row[Any]) -> ServiceSpecificCredential:
        return ServiceSpecificCredential(
            account_id=row.account_id,
            user_id=row.user_id,
            user_name=row.user_name,
            credential_id=row.credential_id,
            service_name=row.service_name,
            service_user_name=row.service_user_name,
            service_credential_alias=row.service_credential_alias,
            secret_hash=row.secret_hash,
            status=row.status,
            created_at=utc_req(row.created_at),
            expires_at=utc(row.expires_at),
        )

    def create_service_specific_credential(self, credential: ServiceSpecificCredential) -> None:
        self._insert_unique(
            s.service_specific_credentials,
            {
                "credential_id": credential.credential_id,
                "account_id": credential.account_id,
                "user_id": credential.user_id,
                "user_name": credential.user_name,
                "service_name": credential.service_name,
                "service_user_name": credential.service_user_name,
                "service_credential_alias": credential.service_credential_alias,
                "secret_hash": credential.secret_hash,
                "status": credential.status,
                "created_at": credential.created_at,
                "expires_at": credential.expires_at,
            },
            credential.credential_id,
        )

    def get_service_specific_credential(
        self, account_id: str, credential_id: str
    ) -> ServiceSpecificCredential | None:
        c = s.service_specific_credentials.c
        with self._tx() as conn:
            row = conn.execute(
                select(s.service_specific_credentials).where(
                    and_(c.account_id == account_id, c.credential_id == credential_id)
                )
            ).first()
        return None if row is None else self._service(row)

    def list_service_specific_credentials(
        self, account_id: str, *, user_id: str | None = None, service_name: str | None = None
    ) -> list[ServiceSpecificCredential]:
        c = s.service_specific_credentials.c
        conds = [c.account_id == account_id]
        if user_id is not None:
            conds.append(c.user_id == user_id)
        if service_name is not None:
            conds.append(c.service_name == service_name)
        with self._tx() as conn:
            rows = conn.execute(
                select(s.service_specific_credentials)
                .where(and_(*conds))
                .order_by(c.created_at, c.credential_id)
            ).all()
        return [self._service(r) for r in rows]

    def update_service_specific_credential(
        self,
        account_id: str,
        credential_id: str,
        *,
        status: str | None = None,
        secret_hash: str | None = None,
    ) -> bool:
        c = s.service_specific_credentials.c
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = status
        if secret_hash is not None:
            values["secret_hash"] = secret_hash
        where = and_(c.account_id == account_id, c.credential_id == credential_id)
        with self._tx() as conn:
            if not values:
                return conn.execute(select(c.credential_id).where(where)).first() is not None
            result = conn.execute(
                update(s.service_specific_credentials).where(where).values(values)
            )
            return bool(result.rowcount == 1)

    def delete_service_specific_credential(self, account_id: str, credential_id: str) -> bool:
        c = s.service_specific_credentials.c
        with self._tx() as conn:
            result = conn.execute(
                delete(s.service_specific_credentials).where(
                    and_(c.account_id == account_id, c.credential_id == credential_id)
                )
            )
            return bool(result.rowcount == 1)
