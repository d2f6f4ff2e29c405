"""SQL store: IAM server certificates (table ``server_certificates``; the private
key column holds only what the caller sealed under the KEK). Their tags live in
``tags`` under resource type ``server-cert``, keyed by certificate id, so a
rename keeps them; deleting a certificate deletes its tags."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Row, and_, delete, update
from sqlalchemy.exc import IntegrityError

from tessera.iam.credential_model import ServerCertificate
from tessera.iam.model import Page
from tessera.store.base import AlreadyExists
from tessera.store.sql import schema as s
from tessera.store.sql.engine import SqlEngine, utc_req

TAG_TYPE: Final = "server-cert"


class SqlServerCertificates(SqlEngine):
    """Server certificates."""

    @staticmethod
    def _certificate(row: Row[Any]) -> ServerCertificate:
        return ServerCertificate(
            account_id=row.account_id,
            name=row.name,
            path=row.path,
            certificate_id=row.certificate_id,
            body=row.body,
            chain=row.chain,
            private_key_sealed=bytes(row.private_key_sealed),
            uploaded_at=utc_req(row.uploaded_at),
            expires_at=utc_req(row.expires_at),
        )

    def create_server_certificate(self, certificate: ServerCertificate) -> None:
        self._insert_named(
            s.server_certificates,
            {
                "account_id": certificate.account_id,
                "name_key": certificate.name.lower(),
                "name": certificate.name,
                "path": certificate.path,
                "certificate_id": certificate.certificate_id,
                "body": certificate.body,
                "chain": certificate.chain,
                "private_key_sealed": certificate.private_key_sealed,
                "uploaded_at": certificate.uploaded_at,
                "expires_at": certificate.expires_at,
            },
        )

    def get_server_certificate(self, account_id: str, name: str) -> ServerCertificate | None:
        row = self._get_named(s.server_certificates, account_id, name)
        return None if row is None else self._certificate(row)

    def list_server_certificates(
        self, account_id: str, path_prefix: str, marker: str | None, max_items: int
    ) -> Page[ServerCertificate]:
        rows, nxt = self._page_named(
            s.server_certificates, account_id, path_prefix, marker, max_items
        )
        return Page([self._certificate(r) for r in rows], nxt)

    def update_server_certificate(
        self, account_id: str, name: str, *, new_name: str, new_path: str
    ) -> None:
        c = s.server_certificates.c
        try:
            with self._tx() as conn:
                conn.execute(
                    update(s.server_certificates)
                    .where(and_(c.account_id == account_id, c.name_key == name.lower()))
                    .values(name_key=new_name.lower(), name=new_name, path=new_path)
                )
        except IntegrityError as exc:
            raise AlreadyExists(new_name) from exc

    def delete_server_certificate(self, account_id: str, name: str) -> None:
        c, t = s.server_certificates.c, s.tags.c
        where = and_(c.account_id == account_id, c.name_key == name.lower())
        with self._tx() as conn:
            row = conn.execute(s.server_certificates.select().where(where)).first()
            if row is None:
                return
            conn.execute(delete(s.server_certificates).where(where))
            conn.execute(
                delete(s.tags).where(
                    and_(
                        t.account_id == account_id,
                        t.resource_type == TAG_TYPE,
                        t.resource_key == row.certificate_id,
                    )
                )
            )
