"""The read cache seen from outside: with two worker processes (each with its own
cache, connections handed out by the supervisor), a deactivated or deleted access key and
a changed trust policy take effect on the very next request, whichever worker
answers it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.e2e.server import Creds, TesseraServer

ATTEMPTS = 8  # fresh clients, so fresh connections, spread across the workers


def _trust(principal: str, effect: str = "Allow") -> str:
    statement = {"Effect": effect, "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_revocations_reach_every_worker_at_once(tmp_path: Path) -> None:
    srv = TesseraServer(data_dir=tmp_path / "data")
    srv.init()
    srv.start("--workers", "2")
    try:
        assert srv.root is not None
        iam = srv.client("iam")
        user = iam.create_user(UserName="worker-test")["User"]
        key = iam.create_access_key(UserName="worker-test")["AccessKey"]
        iam.put_user_policy(
            UserName="worker-test",
            PolicyName="sts",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "sts:*", "Resource": "*"}],
                }
            ),
        )
        role_arn = iam.create_role(
            RoleName="cached-role", AssumeRolePolicyDocument=_trust(user["Arn"])
        )["Role"]["Arn"]
        creds = Creds(srv.root.account_id, key["AccessKeyId"], key["SecretAccessKey"])

        for _ in range(ATTEMPTS):  # fill both workers' caches
            sts = srv.client("sts", creds)
            assert sts.get_caller_identity()["Arn"] == user["Arn"]
            sts.assume_role(RoleArn=role_arn, RoleSessionName="sess")

        iam.update_assume_role_policy(
            RoleName="cached-role", PolicyDocument=_trust(user["Arn"], effect="Deny")
        )
        for _ in range(ATTEMPTS):
            with pytest.raises(ClientError) as denied:
                srv.client("sts", creds).assume_role(RoleArn=role_arn, RoleSessionName="sess")
            assert _code(denied) == "AccessDenied"

        iam.update_access_key(
            UserName="worker-test", AccessKeyId=key["AccessKeyId"], Status="Inactive"
        )
        for _ in range(ATTEMPTS):
            with pytest.raises(ClientError) as inactive:
                srv.client("sts", creds).get_caller_identity()
            assert _code(inactive) == "InvalidClientTokenId"

        iam.update_access_key(
            UserName="worker-test", AccessKeyId=key["AccessKeyId"], Status="Active"
        )
        for _ in range(ATTEMPTS):
            assert srv.client("sts", creds).get_caller_identity()["Arn"] == user["Arn"]

        iam.delete_access_key(UserName="worker-test", AccessKeyId=key["AccessKeyId"])
        for _ in range(ATTEMPTS):
            with pytest.raises(ClientError) as deleted:
                srv.client("sts", creds).get_caller_identity()
            assert _code(deleted) == "InvalidClientTokenId"
    finally:
        srv.stop()
