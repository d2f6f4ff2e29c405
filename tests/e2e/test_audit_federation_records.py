"""Audit records of the federation calls (#19), field by field against CloudTrail's
documentation: AssumeRoleWithWebIdentity (an unsigned call: ``userIdentity`` of type
``WebIdentityUser`` whose ``principalId`` is ``provider:audience:subject``,
``userName`` the subject and ``identityProvider`` the provider, as the userIdentity
reference's "Values for AWS STS APIs with SAML and web identity federation"
describes; ``responseElements`` with ``provider``, ``subjectFromWebIdentityToken``,
``audience``, the credentials' ``accessKeyId`` and ``expiration`` only, and
``assumedRoleUser``; the role as a resource; the web identity token hidden) and
GetWebIdentityToken (the caller's identity, ``audience`` and ``signingAlgorithm``
as sent, the JWT itself never recorded)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from tests.e2e.oidc_idp import TestIdp
from tests.e2e.server import Creds, TesseraServer

pytestmark = pytest.mark.e2e

AUD = "sts.amazonaws.com"
SUB = "system:serviceaccount:ci:deployer"
HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
#: CloudTrail's timestamps inside request/response elements: "Feb 18, 2014 3:17:23 AM"
ELEMENT_TIME = re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4} \d{1,2}:\d{2}:\d{2} [AP]M$")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TesseraServer]:
    base: Path = tmp_path_factory.mktemp("audit-fed")
    srv = TesseraServer(data_dir=base / "data", extra_args=("--audit-log", str(base / "a.jsonl")))
    srv.init()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _record(srv: TesseraServer, name: str, want: int = 1) -> dict[str, Any]:
    """The newest stored record of ``name`` (the writer commits a few hundred
    milliseconds behind the answer)."""
    client = srv.client("cloudtrail")
    events: list[dict[str, Any]] = []
    for _ in range(100):
        events = client.lookup_events(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}]
        )["Events"]
        if len(events) >= want:
            break
        time.sleep(0.05)
    assert len(events) >= want, name
    record: dict[str, Any] = json.loads(events[0]["CloudTrailEvent"])
    assert record["eventID"] == events[0]["EventId"]
    return record


def test_assume_role_with_web_identity_record(server: TesseraServer) -> None:
    assert server.root is not None
    iam = server.client("iam")
    with TestIdp() as idp:
        provider = iam.create_open_id_connect_provider(Url=idp.issuer, ClientIDList=[AUD])[
            "OpenIDConnectProviderArn"
        ]
        role = iam.create_role(
            RoleName="FederatedWebIdentityRole",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Federated": provider},
                            "Action": "sts:AssumeRoleWithWebIdentity",
                        }
                    ],
                }
            ),
        )["Role"]
        token = idp.token("RS256")
        sts = boto3.client(
            "sts",
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}),
        )
        answer = sts.assume_role_with_web_identity(
            RoleArn=role["Arn"],
            RoleSessionName="MyAssignedRoleSessionName",
            WebIdentityToken=token,
            DurationSeconds=3600,
        )
    record = _record(server, "AssumeRoleWithWebIdentity")
    issuer = answer["Provider"]
    assert record["eventVersion"] == "1.11"
    assert record["userIdentity"] == {
        "type": "WebIdentityUser",
        "principalId": f"{issuer}:{AUD}:{SUB}",
        "userName": SUB,
        "identityProvider": issuer,
    }
    assert record["eventSource"] == "sts.amazonaws.com"
    assert record["eventName"] == "AssumeRoleWithWebIdentity"
    assert record["awsRegion"] == "us-east-1"
    assert record["sourceIPAddress"] == "127.0.0.1"
    assert record["requestParameters"] == {
        "roleArn": role["Arn"],
        "roleSessionName": "MyAssignedRoleSessionName",
        "webIdentityToken": HIDDEN,
        "durationSeconds": 3600,
    }
    response = record["responseElements"]
    assert response["provider"] == issuer
    assert response["subjectFromWebIdentityToken"] == SUB
    assert response["audience"] == AUD
    assert set(response["credentials"]) == {"accessKeyId", "expiration"}
    assert response["credentials"]["accessKeyId"] == answer["Credentials"]["AccessKeyId"]
    assert ELEMENT_TIME.match(response["credentials"]["expiration"])
    assert response["assumedRoleUser"] == {
        "assumedRoleId": answer["AssumedRoleUser"]["AssumedRoleId"],
        "arn": answer["AssumedRoleUser"]["Arn"],
    }
    assert {
        "accountId": server.root.account_id,
        "type": "AWS::IAM::Role",
        "ARN": role["Arn"],
    } in record["resources"]
    assert record["requestID"] == answer["ResponseMetadata"]["RequestId"]
    assert record["readOnly"] is True
    assert record["eventType"] == "AwsApiCall"
    assert record["managementEvent"] is True
    assert record["recipientAccountId"] == server.root.account_id
    text = json.dumps(record)
    for secret in (
        token,
        answer["Credentials"]["SecretAccessKey"],
        answer["Credentials"]["SessionToken"],
    ):
        assert secret not in text

    # the web identity session's own call: AssumedRole with webIdFederationData
    creds = answer["Credentials"]
    session = Creds("", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    server.client("sts", session).get_caller_identity()
    events = server.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": creds["AccessKeyId"]}]
    )["Events"]
    for _ in range(100):
        if events:
            break
        time.sleep(0.05)
        events = server.client("cloudtrail").lookup_events(
            LookupAttributes=[
                {"AttributeKey": "AccessKeyId", "AttributeValue": creds["AccessKeyId"]}
            ]
        )["Events"]
    ident = json.loads(events[0]["CloudTrailEvent"])["userIdentity"]
    assert ident["type"] == "AssumedRole"
    assert ident["arn"] == answer["AssumedRoleUser"]["Arn"]
    context = ident["sessionContext"]
    assert context["sessionIssuer"]["type"] == "Role"
    assert context["sessionIssuer"]["arn"] == role["Arn"]
    assert context["webIdFederationData"]["federatedProvider"] == provider
    assert context["attributes"]["mfaAuthenticated"] == "false"


def test_get_web_identity_token_record(server: TesseraServer) -> None:
    assert server.root is not None
    iam = server.client("iam")
    iam.enable_outbound_web_identity_federation()
    iam.create_user(UserName="Alice")
    key = iam.create_access_key(UserName="Alice")["AccessKey"]
    iam.put_user_policy(
        UserName="Alice",
        PolicyName="tokens",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:GetWebIdentityToken", "Resource": "*"}
                ],
            }
        ),
    )
    alice = Creds(server.root.account_id, key["AccessKeyId"], key["SecretAccessKey"])
    answer = server.client("sts", alice).get_web_identity_token(
        Audience=["https://api.example.com"], SigningAlgorithm="ES384", DurationSeconds=300
    )
    record = _record(server, "GetWebIdentityToken")
    assert record["userIdentity"] == {
        "type": "IAMUser",
        "principalId": iam.get_user(UserName="Alice")["User"]["UserId"],
        "arn": f"arn:aws:iam::{server.root.account_id}:user/Alice",
        "accountId": server.root.account_id,
        "accessKeyId": key["AccessKeyId"],
        "userName": "Alice",
    }
    assert record["eventSource"] == "sts.amazonaws.com"
    assert record["eventName"] == "GetWebIdentityToken"
    assert record["requestParameters"] == {
        "audience": ["https://api.example.com"],
        "signingAlgorithm": "ES384",
        "durationSeconds": 300,
    }
    response = record["responseElements"]
    assert "webIdentityToken" not in response  # the JWT is a bearer secret: omitted
    assert ELEMENT_TIME.match(response["expiration"])
    assert record["readOnly"] is True
    assert record["recipientAccountId"] == server.root.account_id
    assert answer["WebIdentityToken"] not in json.dumps(record)
    assert answer["WebIdentityToken"].split(".")[1] not in json.dumps(record)
