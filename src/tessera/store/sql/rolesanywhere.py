"""IAM Roles Anywhere storage (one of the aggregates ``SqlStore`` composes): trust
anchors, profiles and CRLs as JSON rows of ``rolesanywhere_resources`` (keyed by
UUID, scoped by account, region and kind), and subjects with their bounded
credential history in ``rolesanywhere_subjects``. Deleting a resource deletes its
tags (generic ``tags`` table) in the same transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from tessera.rolesanywhere.model import (
    TAG_TYPES,
    CredentialRecord,
    Crl,
    Profile,
    ResourceKind,
    Subject,
    TrustAnchor,
)
from tessera.store.sql import schema as s
from tessera.store.sql.engine import QUIET, SqlEngine, utc_req

_R = TypeVar("_R")


def _subject_key(x509_subject: str) -> str:
    return hashlib.sha256(x509_subject.encode("utf-8", "surrogatepass")).hexdigest()


class SqlRolesAnywhere(SqlEngine):
    """Roles Anywhere trust anchors, profiles, CRLs and subjects."""

    # ------------------------------------------------------------------ resources

    def _put_resource(
        self,
        kind: ResourceKind,
        account_id: str,
        region: str,
        resource_id: str,
        created_at: datetime,
        body: str,
    ) -> None:
        r = s.rolesanywhere_resources.c
        with self._tx() as conn:
            found = conn.execute(select(r.resource_id).where(r.resource_id == resource_id)).first()
            if found is None:
                conn.execute(
                    insert(s.rolesanywhere_resources).values(
                        resource_id=resource_id,
                        account_id=account_id,
                        region=region,
                        kind=kind,
                        created_at=created_at,
                        body=body,
                    )
                )
            else:
                conn.execute(
                    update(s.rolesanywhere_resources)
                    .where(
                        and_(
                            r.resource_id == resource_id,
                            r.account_id == account_id,
                            r.region == region,
                            r.kind == kind,
                        )
                    )
                    .values(body=body)
                )

    def _get_resource(
        self, kind: ResourceKind, account_id: str, region: str, resource_id: str
    ) -> Row[Any] | None:
        r = s.rolesanywhere_resources.c
        with self._tx() as conn:
            return conn.execute(
                select(s.rolesanywhere_resources).where(
                    and_(
                        r.resource_id == resource_id,
                        r.account_id == account_id,
                        r.region == region,
                        r.kind == kind,
                    )
                )
            ).first()

    def _list_resources(
        self, kind: ResourceKind, account_id: str, region: str, after: str | None, limit: int
    ) -> list[Row[Any]]:
        r = s.rolesanywhere_resources.c
        where = and_(r.account_id == account_id, r.region == region, r.kind == kind)
        if after is not None:
            where = and_(where, r.resource_id > after)
        with self._tx() as conn:
            return list(
                conn.execute(
                    select(s.rolesanywhere_resources)
                    .where(where)
                    .order_by(r.resource_id)
                    .limit(limit)
                ).all()
            )

    def _delete_resource(
        self, kind: ResourceKind, account_id: str, region: str, resource_id: str
    ) -> bool:
        r = s.rolesanywhere_resources.c
        t = s.tags.c
        with self._tx() as conn:
            result = conn.execute(
                delete(s.rolesanywhere_resources).where(
                    and_(
                        r.resource_id == resource_id,
                        r.account_id == account_id,
                        r.region == region,
                        r.kind == kind,
                    )
                )
            )
            conn.execute(
                delete(s.tags).where(
                    and_(
                        t.account_id == account_id,
                        t.resource_type == TAG_TYPES[kind],
                        t.resource_key == resource_id,
                    )
                )
            )
            return bool(result.rowcount == 1)

    @staticmethod
    def _load(row: Row[Any] | None, make: Callable[..., _R]) -> _R | None:
        if row is None:
            return None
        return make(row.account_id, row.region, row.resource_id, utc_req(row.created_at), row.body)

    # trust anchors

    def put_ra_trust_anchor(self, anchor: TrustAnchor) -> None:
        self._put_resource(
            "trust-anchor",
            anchor.account_id,
            anchor.region,
            anchor.anchor_id,
            anchor.created_at,
            anchor.to_json(),
        )

    def get_ra_trust_anchor(
        self, account_id: str, region: str, anchor_id: str
    ) -> TrustAnchor | None:
        row = self._get_resource("trust-anchor", account_id, region, anchor_id)
        return self._load(row, TrustAnchor.from_json)

    def list_ra_trust_anchors(
        self, account_id: str, region: str, *, after: str | None, limit: int
    ) -> list[TrustAnchor]:
        rows = self._list_resources("trust-anchor", account_id, region, after, limit)
        return [a for a in (self._load(r, TrustAnchor.from_json) for r in rows) if a is not None]

    def delete_ra_trust_anchor(self, account_id: str, region: str, anchor_id: str) -> bool:
        return self._delete_resource("trust-anchor", account_id, region, anchor_id)

    # profiles

    def put_ra_profile(self, profile: Profile) -> None:
        self._put_resource(
            "profile",
            profile.account_id,
            profile.region,
            profile.profile_id,
            profile.created_at,
            profile.to_json(),
        )

    def get_ra_profile(self, account_id: str, region: str, profile_id: str) -> Profile | None:
        row = self._get_resource("profile", account_id, region, profile_id)
        return self._load(row, Profile.from_json)

    def list_ra_profiles(
        self, account_id: str, region: str, *, after: str | None, limit: int
    ) -> list[Profile]:
        rows = self._list_resources("profile", account_id, region, after, limit)
        return [p for p in (self._load(r, Profile.from_json) for r in rows) if p is not None]

    def delete_ra_profile(self, account_id: str, region: str, profile_id: str) -> bool:
        return self._delete_resource("profile", account_id, region, profile_id)

    # CRLs

    def put_ra_crl(self, crl: Crl) -> None:
        self._put_resource(
            "crl", crl.account_id, crl.region, crl.crl_id, crl.created_at, crl.to_json()
        )

    def get_ra_crl(self, account_id: str, region: str, crl_id: str) -> Crl | None:
        row = self._get_resource("crl", account_id, region, crl_id)
        return self._load(row, Crl.from_json)

    def list_ra_crls(
        self, account_id: str, region: str, *, after: str | None, limit: int
    ) -> list[Crl]:
        rows = self._list_resources("crl", account_id, region, after, limit)
        return [c for c in (self._load(r, Crl.from_json) for r in rows) if c is not None]

    def delete_ra_crl(self, account_id: str, region: str, crl_id: str) -> bool:
        return self._delete_resource("crl", account_id, region, crl_id)

    # ------------------------------------------------------------------ subjects

    @staticmethod
    def _subject(row: Row[Any]) -> Subject:
        return Subject(
            account_id=row.account_id,
            region=row.region,
            subject_id=row.subject_id,
            x509_subject=row.x509_subject,
            created_at=utc_req(row.created_at),
            updated_at=utc_req(row.updated_at),
            last_seen_at=utc_req(row.last_seen_at),
            credentials=tuple(CredentialRecord.from_list(i) for i in json.loads(row.credentials)),
        )

    def record_ra_credential(
        self,
        account_id: str,
        region: str,
        x509_subject: str,
        record: CredentialRecord,
        *,
        new_subject_id: str,
    ) -> Subject:
        key = _subject_key(x509_subject)
        c = s.rolesanywhere_subjects.c
        where = and_(c.account_id == account_id, c.region == region, c.subject_key == key)
        for _attempt in range(3):
            try:
                with self._tx() as conn:
                    row = conn.execute(select(s.rolesanywhere_subjects).where(where)).first()
                    if row is None:
                        subject = Subject(
                            account_id=account_id,
                            region=region,
                            subject_id=new_subject_id,
                            x509_subject=x509_subject,
                            created_at=record.seen_at,
                            updated_at=record.seen_at,
                            last_seen_at=record.seen_at,
                        ).with_credential(record)
                        conn.execute(
                            insert(s.rolesanywhere_subjects)
                            .values(
                                subject_id=subject.subject_id,
                                account_id=account_id,
                                region=region,
                                subject_key=key,
                                x509_subject=x509_subject,
                                created_at=subject.created_at,
                                updated_at=subject.updated_at,
                                last_seen_at=subject.last_seen_at,
                                credentials=json.dumps([r.to_list() for r in subject.credentials]),
                            )
                            .execution_options(**{QUIET: True})
                        )
                        return subject
                    subject = self._subject(row).with_credential(record)
                    conn.execute(
                        update(s.rolesanywhere_subjects)
                        .where(c.subject_id == subject.subject_id)
                        .values(
                            updated_at=subject.updated_at,
                            last_seen_at=subject.last_seen_at,
                            credentials=json.dumps([r.to_list() for r in subject.credentials]),
                        )
                        .execution_options(**{QUIET: True})
                    )
                    return subject
            except IntegrityError:  # a concurrent first record of the same subject
                continue
        raise RuntimeError("could not record the Roles Anywhere subject")

    def get_ra_subject(self, account_id: str, region: str, subject_id: str) -> Subject | None:
        c = s.rolesanywhere_subjects.c
        with self._tx() as conn:
            row = conn.execute(
                select(s.rolesanywhere_subjects).where(
                    and_(c.subject_id == subject_id, c.account_id == account_id, c.region == region)
                )
            ).first()
        return None if row is None else self._subject(row)

    def list_ra_subjects(
        self, account_id: str, region: str, *, after: str | None, limit: int
    ) -> list[Subject]:
        c = s.rolesanywhere_subjects.c
        where = and_(c.account_id == account_id, c.region == region)
        if after is not None:
            where = and_(where, c.subject_id > after)
        with self._tx() as conn:
            rows = conn.execute(
                select(s.rolesanywhere_subjects).where(where).order_by(c.subject_id).limit(limit)
            ).all()
        return [self._subject(r) for r in rows]
