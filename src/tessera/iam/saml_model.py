"""The IAM SAML provider record read from and written to the store, and its ARN
form (``arn:aws:iam::ACCT:saml-provider/NAME``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from tessera import arn as arns
from tessera.iam.tip_model import ContextProvider

RESOURCE_TYPE: Final = "saml-provider"  # ARN resource type and the tags table's resource_type


def saml_provider_arn(account_id: str, name: str) -> str:
    return f"arn:{arns.PARTITION}:iam::{account_id}:{RESOURCE_TYPE}/{name}"


@dataclass(frozen=True, slots=True)
class SamlProvider:
    account_id: str
    name: str
    provider_uuid: str  # SAMLProviderUUID
    metadata_document: str  # exactly as uploaded
    valid_until: datetime
    created_at: datetime
    # AssertionEncryptionMode ("Required" | "Allowed"); None: never set (reported as Allowed)
    encryption_mode: str | None = None
    # JSON list of {KeyId, Timestamp, Pem} sealed under the KEK (purpose "saml-keys:<uuid>")
    private_keys_sealed: bytes | None = None
    # trusted identity propagation (tessera.iam.tip_model); None: not configured
    context_provider: ContextProvider | None = None
    identity_center_arn: str | None = None

    @property
    def arn(self) -> str:
        return saml_provider_arn(self.account_id, self.name)

    def __repr__(self) -> str:
        return f"SamlProvider({self.arn!r})"
