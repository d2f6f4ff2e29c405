"""End to end against a real server process: boto3 and the AWS CLI, every SigV4
failure code, presigned GetCallerIdentity, the JSON variant, persistence across
a restart."""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from typing import Any

import botocore.auth
import httpx
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.e2e.server import Creds, TesseraServer

pytestmark = pytest.mark.e2e


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def _signed(
    server: TesseraServer,
    creds: Creds,
    body: str = "Action=GetCallerIdentity&Version=2011-06-15",
    service: str = "sts",
    region: str = "us-east-1",
) -> AWSRequest:
    req = AWSRequest(
        method="POST",
        url=server.endpoint + "/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(
        Credentials(creds.access_key_id, creds.secret_access_key, creds.session_token),
        service,
        region,
    ).add_auth(req)
    return req


def _send(req: AWSRequest) -> httpx.Response:
    return httpx.request(req.method, req.url, headers=dict(req.headers), content=req.body)


def test_get_caller_identity_boto3_and_cli(server: TesseraServer) -> None:
    assert server.root is not None
    ident = server.client("sts").get_caller_identity()
    assert ident["Account"] == server.root.account_id
    assert ident["Arn"] == f"arn:aws:iam::{server.root.account_id}:root"
    assert ident["UserId"] == server.root.account_id
    out = server.aws_cli("sts", "get-caller-identity")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Account"] == server.root.account_id


def test_response_envelope_headers(server: TesseraServer) -> None:
    assert server.root is not None
    resp = _send(_signed(server, server.root))
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/xml"
    rid = resp.headers["x-amzn-requestid"]
    assert resp.text.startswith("<GetCallerIdentityResponse")
    assert 'xmlns="https://sts.amazonaws.com/doc/2011-06-15/"' in resp.text
    assert f"<RequestId>{rid}</RequestId>" in resp.text


def test_json_variant_for_aws_iam_authenticator(server: TesseraServer) -> None:
    assert server.root is not None
    req = _signed(server, server.root)
    req.headers["Accept"] = "application/json"  # not signed: added after signing
    resp = _send(req)
    assert resp.status_code == 200
    body = resp.json()
    result = body["GetCallerIdentityResponse"]["GetCallerIdentityResult"]
    assert result["Account"] == server.root.account_id
    assert body["GetCallerIdentityResponse"]["ResponseMetadata"]["RequestId"]


def test_presigned_get_caller_identity_url(server: TesseraServer) -> None:
    """The Vault / Kubernetes authenticator pattern: a presigned GET URL with a signed header."""
    assert server.root is not None
    creds = Credentials(server.root.access_key_id, server.root.secret_access_key)
    params = {"Action": "GetCallerIdentity", "Version": "2011-06-15"}
    req = AWSRequest(
        method="GET",
        url=server.endpoint + "/?" + urllib.parse.urlencode(params),
        headers={"x-k8s-aws-id": "my-cluster"},
    )
    SigV4QueryAuth(creds, "sts", "us-east-1", expires=60).add_auth(req)
    resp = httpx.get(req.url, headers={"x-k8s-aws-id": "my-cluster", "Accept": "application/json"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["GetCallerIdentityResponse"]["GetCallerIdentityResult"]["Arn"].endswith(
        ":root"
    )
    # the same URL without the signed header fails
    bad = httpx.get(req.url)
    assert bad.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in bad.text


def test_missing_authentication_token(server: TesseraServer) -> None:
    resp = httpx.post(
        server.endpoint + "/",
        content="Action=GetCallerIdentity&Version=2011-06-15",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 403
    assert "<Code>MissingAuthenticationToken</Code>" in resp.text
    assert "<Type>Sender</Type>" in resp.text
    assert resp.headers["x-amzn-requestid"] in resp.text


def test_invalid_client_token_id(server: TesseraServer) -> None:
    bogus = Creds("0", "AKIAAAAAAAAAAAAAAAAA", "x" * 40)
    with pytest.raises(ClientError) as exc:
        server.client("sts", bogus).get_caller_identity()
    code, status, msg = _error(exc)
    assert (code, status) == ("InvalidClientTokenId", 403)
    assert msg == "The security token included in the request is invalid."


def test_signature_does_not_match(server: TesseraServer) -> None:
    assert server.root is not None
    wrong = Creds(server.root.account_id, server.root.access_key_id, "y" * 40)
    with pytest.raises(ClientError) as exc:
        server.client("sts", wrong).get_caller_identity()
    code, status, msg = _error(exc)
    assert (code, status) == ("SignatureDoesNotMatch", 403)
    assert msg.startswith("The request signature we calculated does not match")
    # tampered body after signing
    req = _signed(server, server.root)
    resp = httpx.request(
        req.method,
        req.url,
        headers=dict(req.headers),
        content=b"Action=GetCallerIdentity&Version=2011-06-15&X=1",
    )
    assert resp.status_code == 403 and "SignatureDoesNotMatch" in resp.text


def test_scope_checks(server: TesseraServer) -> None:
    assert server.root is not None
    resp = _send(_signed(server, server.root, service="s3"))
    assert resp.status_code == 403
    assert "Credential should be scoped to correct service: &apos;sts&apos;." in resp.text or (
        "Credential should be scoped to correct service: 'sts'." in resp.text
    )
    # any well-formed region is served; it is the request's region
    ident = server.client("sts", region="eu-north-1").get_caller_identity()
    assert ident["Account"] == server.root.account_id


def test_incomplete_signature(server: TesseraServer) -> None:
    resp = httpx.post(
        server.endpoint + "/",
        content="Action=GetCallerIdentity&Version=2011-06-15",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": (
                "AWS4-HMAC-SHA256 "
                "Credential=AKIAAAAAAAAAAAAAAAAA/20260101/us-east-1/sts/aws4_request"
            ),
            "X-Amz-Date": "20260101T000000Z",
        },
    )
    assert resp.status_code == 400
    assert "<Code>IncompleteSignature</Code>" in resp.text


def test_signature_expired_and_not_yet_current(
    server: TesseraServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert server.root is not None
    for shift, text in ((-20, "Signature expired:"), (20, "Signature not yet current:")):
        when = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=shift)
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda when=when: when)
        resp = _send(_signed(server, server.root))
        assert resp.status_code == 403, resp.text
        assert "<Code>SignatureDoesNotMatch</Code>" in resp.text
        assert text in resp.text


def test_unknown_action_and_validation(server: TesseraServer) -> None:
    assert server.root is not None
    resp = _send(_signed(server, server.root, body="Action=NoSuchThing&Version=2011-06-15"))
    assert resp.status_code == 400 and "<Code>InvalidAction</Code>" in resp.text
    sts = server.client("sts")
    with pytest.raises(ClientError) as exc:
        sts.get_access_key_info(AccessKeyId="bad!bad!bad!bad!")
    code, status, msg = _error(exc)
    assert (code, status) == ("ValidationError", 400)
    assert msg.startswith("1 validation error detected: Value 'bad!bad!bad!bad!' at 'accessKeyId'")


def test_get_access_key_info(server: TesseraServer) -> None:
    assert server.root is not None
    info = server.client("sts").get_access_key_info(AccessKeyId=server.root.access_key_id)
    assert info["Account"] == server.root.account_id


def test_iam_users_keys_and_restart(server: TesseraServer) -> None:
    assert server.root is not None
    iam = server.client("iam")
    iam.create_user(UserName="alice", Path="/team/")
    out = server.aws_cli("iam", "create-user", "--user-name", "bob")
    assert out.returncode == 0, out.stderr
    assert (
        json.loads(out.stdout)["User"]["Arn"] == f"arn:aws:iam::{server.root.account_id}:user/bob"
    )
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    alice = Creds(server.root.account_id, key["AccessKeyId"], key["SecretAccessKey"])
    ident = server.client("sts", alice).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{server.root.account_id}:user/team/alice"
    assert ident["UserId"].startswith("AIDA")
    with pytest.raises(ClientError) as exc:
        server.client("iam", alice).create_user(UserName="mallory")
    code, status, msg = _error(exc)
    assert (code, status) == ("AccessDenied", 403)
    assert msg.startswith(
        f"User: arn:aws:iam::{server.root.account_id}:user/team/alice"
        " is not authorized to perform: iam:CreateUser"
    )

    server.restart()
    users = {u["UserName"] for u in server.client("iam").list_users()["Users"]}
    assert {"alice", "bob"} <= users
    assert server.client("sts", alice).get_caller_identity()["Arn"].endswith("user/team/alice")
    iam = server.client("iam")
    iam.update_access_key(UserName="alice", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as exc:
        server.client("sts", alice).get_caller_identity()
    assert _error(exc)[0] == "InvalidClientTokenId"


def test_accounts_are_isolated(server: TesseraServer) -> None:
    other = server.create_account()
    assert server.root is not None
    assert other.account_id != server.root.account_id
    ident = server.client("sts", other).get_caller_identity()
    assert ident["Account"] == other.account_id
    names = {u["UserName"] for u in server.client("iam", other).list_users()["Users"]}
    assert "alice" not in names


def test_health(server: TesseraServer) -> None:
    resp = httpx.get(server.endpoint + "/health")
    assert resp.status_code == 200


def _unused(_: Any) -> None:
    return None


def test_control_characters_echoed_in_an_error_still_parse(server: TesseraServer) -> None:
    """A value with characters XML 1.0 forbids, echoed in a ValidationError, comes
    back as a parseable error (U+FFFD in their place), so SDKs do not retry."""
    acct = server.root.account_id if server.root else ""
    with pytest.raises(ClientError) as exc:
        server.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{acct}:role/none", RoleSessionName="a\x01b\x1fc"
        )
    code, status, message = _error(exc)
    assert (code, status) == ("ValidationError", 400)
    assert "a\ufffdb\ufffdc" in message
