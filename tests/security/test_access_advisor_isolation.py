"""Access advisor isolation (#17), through the real server: last-accessed data is
about principals by unique id and stays in its account. Another account can
neither generate a report on this account's entities nor read its reports by job
id, and a user re-created under a deleted user's name inherits none of its
recorded use."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.e2e.server import Creds, TesseraServer

pytestmark = pytest.mark.e2e

LIST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}],
    }
)


def _user(server: TesseraServer, name: str) -> Creds:
    iam = server.client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="iam", PolicyDocument=LIST)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    assert server.root is not None
    return Creds(server.root.account_id, key["AccessKeyId"], key["SecretAccessKey"])


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_reports_stay_in_their_account(server: TesseraServer) -> None:
    assert server.root is not None
    user_arn = f"arn:aws:iam::{server.root.account_id}:user/carol"
    server.client("iam", _user(server, "carol")).list_users()
    job = server.client("iam").generate_service_last_accessed_details(Arn=user_arn)["JobId"]
    other = server.client("iam", server.create_account())
    with pytest.raises(ClientError) as exc:
        other.generate_service_last_accessed_details(Arn=user_arn)
    assert _code(exc) == "InvalidInput"
    with pytest.raises(ClientError) as exc:
        other.get_service_last_accessed_details(JobId=job)
    assert _code(exc) == "NoSuchEntity"
    with pytest.raises(ClientError) as exc:
        other.get_service_last_accessed_details_with_entities(JobId=job, ServiceNamespace="iam")
    assert _code(exc) == "NoSuchEntity"
    with pytest.raises(ClientError) as exc:
        other.list_policies_granting_service_access(Arn=user_arn, ServiceNamespaces=["iam"])
    assert _code(exc) == "InvalidInput"


def test_a_recreated_user_inherits_no_recorded_use(server: TesseraServer) -> None:
    assert server.root is not None
    iam = server.client("iam")
    server.client("iam", _user(server, "dave")).list_users()
    for key in iam.list_access_keys(UserName="dave")["AccessKeyMetadata"]:
        iam.delete_access_key(UserName="dave", AccessKeyId=key["AccessKeyId"])
    iam.delete_user_policy(UserName="dave", PolicyName="iam")
    iam.delete_user(UserName="dave")
    iam.create_user(UserName="dave")
    iam.put_user_policy(UserName="dave", PolicyName="iam", PolicyDocument=LIST)
    arn = f"arn:aws:iam::{server.root.account_id}:user/dave"
    job = iam.generate_service_last_accessed_details(Arn=arn)["JobId"]
    (svc,) = iam.get_service_last_accessed_details(JobId=job)["ServicesLastAccessed"]
    assert svc["ServiceNamespace"] == "iam"
    assert svc["TotalAuthenticatedEntities"] == 0 and "LastAuthenticated" not in svc
