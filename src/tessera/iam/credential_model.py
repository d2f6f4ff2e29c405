"""Records of the IAM credentials of other kinds, read from and written to the
store: server certificates (private key sealed under the KEK), signing
certificates, SSH public keys and service-specific credentials (password kept
only as a slow hash). Every per-user credential is bound to its user's unique id
(AIDA…): a user deleted and created again under the same name owns none of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from tessera import arn as arns

SERVER_CERTIFICATE_PREFIX: Final = "ASCA"
SSH_PUBLIC_KEY_PREFIX: Final = "APKA"
SERVICE_CREDENTIAL_PREFIX: Final = "ACCA"


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    account_id: str
    name: str
    path: str
    certificate_id: str  # ASCA…
    body: str  # the certificate, PEM
    chain: str | None  # the chain, PEM
    private_key_sealed: bytes  # kek.seal(PEM, "server-cert-key:<certificate_id>")
    uploaded_at: datetime
    expires_at: datetime

    @property
    def arn(self) -> str:
        return server_certificate_arn(self.account_id, self.path, self.name)

    def __repr__(self) -> str:  # never the key, sealed or not
        return f"ServerCertificate({self.arn!r}, id={self.certificate_id!r})"


def server_certificate_arn(account_id: str, path: str, name: str) -> str:
    return f"arn:{arns.PARTITION}:iam::{account_id}:server-certificate{path}{name}"


@dataclass(frozen=True, slots=True)
class SigningCertificate:
    account_id: str
    user_id: str  # AIDA… of the owner
    user_name: str
    certificate_id: str
    body: str  # PEM as uploaded
    fingerprint: str  # sha256 hex of the DER: duplicates are found by it
    status: str  # Active | Inactive
    uploaded_at: datetime


@dataclass(frozen=True, slots=True)
class SshPublicKey:
    account_id: str
    user_id: str
    user_name: str
    key_id: str  # APKA…
    body: str  # the key in OpenSSH form ("ssh-rsa AAAA…")
    fingerprint: str  # MD5, colon-separated hex (AWS's form)
    status: str
    uploaded_at: datetime


@dataclass(frozen=True, slots=True)
class ServiceSpecificCredential:
    account_id: str
    user_id: str
    user_name: str
    credential_id: str  # ACCA…
    service_name: str
    service_user_name: str | None  # CodeCommit / Keyspaces: "<user>-at-<account>"
    service_credential_alias: str | None  # API keys (Bedrock, CloudWatch Logs)
    secret_hash: str  # scrypt hash of the password / API key secret, never the secret
    status: str
    created_at: datetime
    expires_at: datetime | None = None

    def __repr__(self) -> str:
        return f"ServiceSpecificCredential({self.credential_id!r}, {self.service_name!r})"
