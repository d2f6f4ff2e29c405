"""Storage interface of IAM OpenID Connect providers (per account, keyed by the
scheme-less URL); client-id changes are atomic read-modify-writes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from tessera.iam.oidc_model import OidcProvider
from tessera.iam.tip_model import ContextProvider


class OidcProviderStore(Protocol):
    def create_oidc_provider(self, provider: OidcProvider) -> None: ...

    def get_oidc_provider(self, account_id: str, url: str) -> OidcProvider | None: ...

    def list_oidc_providers(self, account_id: str) -> list[OidcProvider]: ...

    def delete_oidc_provider(self, account_id: str, url: str) -> bool:
        """Delete the provider and its tags; False when there was none."""
        ...

    def set_oidc_thumbprints(
        self, account_id: str, url: str, thumbprints: Sequence[str]
    ) -> bool: ...

    def change_oidc_client_ids(
        self,
        account_id: str,
        url: str,
        change: Callable[[tuple[str, ...]], tuple[str, ...]],
    ) -> tuple[str, ...] | None:
        """Apply ``change`` atomically (it may raise to refuse); None: no provider."""
        ...

    def set_oidc_tip(
        self,
        account_id: str,
        url: str,
        context_provider: ContextProvider | None,
        identity_center_arn: str | None,
    ) -> bool:
        """Replace the provider's TIP configuration; False when there is no provider."""
        ...
