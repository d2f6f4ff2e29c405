"""The IAM instance profile record read from and written to the store: a named
container for at most one role, which it holds by the role's unique id (AROA…),
so a role deleted and created again under the same name is not in the profile."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from tessera import arn as arns

#: the prefix of instance profile unique ids
INSTANCE_PROFILE_PREFIX: Final = "AIPA"


@dataclass(frozen=True, slots=True)
class InstanceProfile:
    account_id: str
    name: str
    path: str
    profile_id: str  # AIPA…
    created_at: datetime
    role_id: str | None = None  # the AROA… id of the role in the profile; None = empty

    @property
    def arn(self) -> str:
        return instance_profile_arn(self.account_id, self.path, self.name)


def instance_profile_arn(account_id: str, path: str, name: str) -> str:
    return f"arn:{arns.PARTITION}:iam::{account_id}:instance-profile{path}{name}"
