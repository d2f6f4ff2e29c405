"""Storage interface of Tessera's instance registry (#16): enrolled instances
(``i-`` + 17 hex, bound to their instance profile by the profile's unique id),
their one-time join tokens (only the SHA-256 of each token is stored; a token is
consumed by one compare-and-set), the serials of the certificates issued to them,
and the server's instance CA (its private key sealed under the KEK by the
engine)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Final, Literal, Protocol

InstanceState = Literal["enabled", "disabled"]
STATES: Final = ("enabled", "disabled")


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """One registered instance."""

    instance_id: str
    account_id: str
    profile_name: str  # its name (IAM profiles cannot be renamed)
    profile_id: str  # the instance profile's unique id (AIPA…): the binding
    region: str
    state: InstanceState
    created_at: datetime
    name: str | None = None
    private_ipv4: str | None = None
    network: str | None = None  # the network label (aws:Ec2InstanceSourceVpc)


@dataclass(frozen=True, slots=True)
class InstanceCaRecord:
    """The instance CA; ``private_pem`` is the unsealed PKCS#8 PEM."""

    ca_id: str
    certificate_pem: bytes
    private_pem: bytes
    created_at: datetime

    def __repr__(self) -> str:
        return f"InstanceCaRecord(ca_id={self.ca_id!r}, key=<hidden>)"


class JoinOutcome(Enum):
    """What consuming a join token found."""

    CONSUMED = "consumed"
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


class InstanceStore(Protocol):
    def create_instance(
        self, instance: InstanceRecord, token_hash: str, token_expires: datetime
    ) -> None:
        """Insert the instance and its first join token (by hash) in one transaction."""
        ...

    def get_instance(self, instance_id: str) -> InstanceRecord | None: ...

    def list_instances(
        self, account_id: str | None, *, after: str | None, limit: int
    ) -> list[InstanceRecord]:
        """Instances (of ``account_id``, or all), by id, those after ``after``."""
        ...

    def set_instance_state(self, instance_id: str, state: InstanceState) -> bool:
        """False when there is no such instance."""
        ...

    def delete_instance(self, instance_id: str) -> bool:
        """Delete the instance with its join tokens and certificate records."""
        ...

    def consume_join_token(self, token_hash: str, now: datetime) -> tuple[JoinOutcome, str | None]:
        """Mark the token used if it is unused and unexpired (one compare-and-set:
        of two concurrent callers only one wins); the outcome and, when consumed,
        the instance id."""
        ...

    def record_instance_certificate(
        self, instance_id: str, serial: str, issued_at: datetime, not_after: datetime
    ) -> bool:
        """Note a certificate issued to the instance (serial in decimal) and forget
        the instance's certificates that expired before ``issued_at``; False when
        the instance is gone."""
        ...

    def instance_certificate_issued(self, instance_id: str, serial: str) -> bool:
        """Whether this server issued the certificate ``serial`` to the instance."""
        ...

    def get_instance_ca(self, ca_id: str) -> InstanceCaRecord | None: ...

    def create_instance_ca(self, ca: InstanceCaRecord) -> InstanceCaRecord:
        """Store ``ca`` unless a CA of that id exists; the stored CA either way
        (so two replicas creating it at once agree on one)."""
        ...
