"""ARN parsing and the ARN forms Tessera produces (users, roles, sessions, policies)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"

    @property
    def resource_type(self) -> str:
        return self.resource.split("/", 1)[0].split(":", 1)[0]


def parse_arn(value: str) -> Arn | None:
    """Parse ``arn:partition:service:region:account:resource``; ``None`` if malformed."""
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[1] or not parts[2]:
        return None
    return Arn(parts[1], parts[2], parts[3], parts[4], parts[5])


PARTITION = "aws"


def root_arn(account_id: str) -> str:
    return f"arn:{PARTITION}:iam::{account_id}:root"


def user_arn(account_id: str, path: str, name: str) -> str:
    return f"arn:{PARTITION}:iam::{account_id}:user{path}{name}"


def group_arn(account_id: str, path: str, name: str) -> str:
    return f"arn:{PARTITION}:iam::{account_id}:group{path}{name}"


def role_arn(account_id: str, path: str, name: str) -> str:
    return f"arn:{PARTITION}:iam::{account_id}:role{path}{name}"


def policy_arn(account_id: str, path: str, name: str) -> str:
    return f"arn:{PARTITION}:iam::{account_id}:policy{path}{name}"


def assumed_role_arn(account_id: str, role_name: str, session_name: str) -> str:
    return f"arn:{PARTITION}:sts::{account_id}:assumed-role/{role_name}/{session_name}"


def federated_user_arn(account_id: str, name: str) -> str:
    return f"arn:{PARTITION}:sts::{account_id}:federated-user/{name}"


def mfa_arn(account_id: str, path: str, name: str) -> str:
    return f"arn:{PARTITION}:iam::{account_id}:mfa{path}{name}"
