"""Storage interface of IAM's last-accessed information (access advisor): the
last authenticated use of each action by each principal (user or role, by unique
id), written behind requests, and the reports GenerateServiceLastAccessedDetails
computes from them (kept so GetServiceLastAccessedDetails* page through one
stable answer)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

#: reports kept per account (the oldest go first)
MAX_REPORTS_PER_ACCOUNT = 200


@dataclass(frozen=True, slots=True)
class ServiceUse:
    """The last authenticated request of ``principal_id`` for ``action``."""

    account_id: str
    principal_id: str  # AIDA… / AROA…
    action: str  # "s3:GetObject", as the request named it
    region: str
    last_at: datetime

    @property
    def service(self) -> str:
        return self.action.partition(":")[0].lower()


@dataclass(frozen=True, slots=True)
class AccessReport:
    """A generated report: ``report`` is its JSON (entities and services as of
    ``completed_at``)."""

    account_id: str
    job_id: str
    job_type: str  # SERVICE_LEVEL | ACTION_LEVEL
    arn: str
    created_at: datetime
    completed_at: datetime
    report: str


class AccessAdvisorStore(Protocol):
    def record_service_use(
        self, account_id: str, principal_id: str, action: str, region: str, at: datetime
    ) -> None:
        """Bookkeeping (no cached read depends on it): the latest use wins."""
        ...

    def service_uses(self, account_id: str, principal_ids: Collection[str]) -> list[ServiceUse]:
        """Every recorded use of those principals in ``account_id``."""
        ...

    def create_access_report(self, report: AccessReport) -> None:
        """Keep ``report``; beyond ``MAX_REPORTS_PER_ACCOUNT`` the oldest are dropped."""
        ...

    def get_access_report(self, account_id: str, job_id: str) -> AccessReport | None: ...
