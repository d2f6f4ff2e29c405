"""The JSON shapes SDKs read role credentials in: ``credential_process`` output,
EC2's instance-metadata credentials document and the container-credentials
document. Timestamps are ``YYYY-MM-DDTHH:MM:SSZ`` (botocore's IMDS static-stability
code parses exactly that form)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tessera.agent.client import RoleCredentials

__all__ = ["container_json", "ec2_json", "iso", "process_json"]


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def process_json(creds: RoleCredentials) -> str:
    """What ``credential_process`` prints (``Version`` is the integer 1)."""
    return json.dumps(
        {
            "Version": 1,
            "AccessKeyId": creds.access_key_id,
            "SecretAccessKey": creds.secret_access_key.reveal(),
            "SessionToken": creds.session_token.reveal(),
            "Expiration": iso(creds.expiration),
        }
    )


def ec2_json(creds: RoleCredentials, last_updated: datetime, *, extended: bool = False) -> str:
    """``GET /latest/meta-data/iam/security-credentials/<role>`` (EC2's document);
    the ``-extended`` path adds ``AccountId``."""
    doc: dict[str, str] = {
        "Code": "Success",
        "LastUpdated": iso(last_updated),
        "Type": "AWS-HMAC",
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key.reveal(),
        "Token": creds.session_token.reveal(),
        "Expiration": iso(creds.expiration),
    }
    account = creds.account_id
    if extended and account is not None:
        doc["AccountId"] = account
    return json.dumps(doc, indent=2)


def container_json(creds: RoleCredentials) -> str:
    """``GET /v1/credentials`` (the ECS / EKS Pod Identity document)."""
    doc: dict[str, str] = {
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key.reveal(),
        "Token": creds.session_token.reveal(),
        "Expiration": iso(creds.expiration),
        "RoleArn": creds.role_arn,
    }
    account = creds.account_id
    if account is not None:
        doc["AccountId"] = account
    return json.dumps(doc)
