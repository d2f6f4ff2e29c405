"""Storage interface of IAM SAML providers and of the AssumeRoleWithSAML replay
cache (each assertion id accepted at most once per provider, across replicas)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tessera.iam.saml_model import SamlProvider
from tessera.iam.tip_model import ContextProvider


class SamlProviderStore(Protocol):
    def create_saml_provider(self, provider: SamlProvider) -> None: ...

    def get_saml_provider(self, account_id: str, name: str) -> SamlProvider | None: ...

    def list_saml_providers(self, account_id: str) -> list[SamlProvider]: ...

    def update_saml_provider(
        self,
        account_id: str,
        name: str,
        *,
        metadata_document: str | None = None,
        valid_until: datetime | None = None,
        encryption_mode: str | None = None,
        private_keys_sealed: bytes | None = ...,
    ) -> bool:
        """Change the given fields (``private_keys_sealed=None`` clears the keys)."""
        ...

    def delete_saml_provider(self, account_id: str, name: str) -> bool: ...

    def set_saml_tip(
        self,
        account_id: str,
        name: str,
        context_provider: ContextProvider | None,
        identity_center_arn: str | None,
    ) -> bool:
        """Replace the provider's TIP configuration; False when there is no provider."""
        ...


class SamlReplayCache(Protocol):
    def use_saml_assertion(
        self, provider_arn: str, assertion_id: str, expires_at: datetime, now: datetime
    ) -> bool:
        """True the first time, False for a replay of an unexpired assertion."""
        ...

    def purge_saml_assertions(self, now: datetime) -> int: ...
