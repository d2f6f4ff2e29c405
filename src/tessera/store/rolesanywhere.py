"""Storage interface of IAM Roles Anywhere: trust anchors (with their CA bundle),
profiles (with their attribute mappings), CRLs (their DER), and subjects with
their bounded credential history, each scoped to an account and a region and
addressed by its UUID. Tags live in the generic tag store (resource types
``ra-trust-anchor``, ``ra-profile``, ``ra-crl``); deleting a resource deletes them."""

from __future__ import annotations

from typing import Protocol

from tessera.rolesanywhere.model import CredentialRecord, Crl, Profile, Subject, TrustAnchor


class RolesAnywhereStore(Protocol):
    def put_ra_trust_anchor(self, anchor: TrustAnchor) -> None:
        """Insert the anchor, or replace the one with the same id."""
        ...

    def get_ra_trust_anchor(
        self, account_id: str, region: str, anchor_id: str
    ) -> TrustAnchor | None: ...

    def list_ra_trust_anchors(
        self, account_id: str, region: str, *, after: str | None, limit: int
    ) -> list[TrustAnchor]:
        """Up to ``limit`` anchors ordered by id, those with an id above ``after``."""
        ...

    def delete_ra_trust_anchor(self, account_id: str, region: str, anchor_id: str) -> bool: ...

    def put_ra_profile(self, profile: Profile) -> None: ...

    def get_ra_profile(self, account_id: str, region: str, profile_id: str) -> Profile | None: ...

    def list_ra_profiles(
        self, account_id: str, region: str, *, after: str | None, limit: int
    ) -> list[Profile]: ...

    def delete_ra_profile(self, account_id: str, region: str, profile_id: str) -> bool: ...

    def put_ra_crl(self, crl: Crl) -> None: ...

    def get_ra_crl(self, account_id: str, region: str, crl_id: str) -> Crl | None: ...

    def list_ra_crls(
        self, account_id: str, region: str, *, after: str | None, limit: int
    ) -> list[Crl]: ...

    def delete_ra_crl(self, account_id: str, region: str, crl_id: str) -> bool: ...

    def record_ra_credential(
        self,
        account_id: str,
        region: str,
        x509_subject: str,
        record: CredentialRecord,
        *,
        new_subject_id: str,
    ) -> Subject:
        """Add ``record`` to the subject named ``x509_subject`` (created with
        ``new_subject_id`` when it is new); its history keeps the newest records only."""
        ...

    def get_ra_subject(self, account_id: str, region: str, subject_id: str) -> Subject | None: ...

    def list_ra_subjects(
        self, account_id: str, region: str, *, after: str | None, limit: int
    ) -> list[Subject]: ...
