"""Login profiles, the password policy, account aliases, GetAccountSummary, STS
preferences, GetAccountAuthorizationDetails and the credential report through the
real server with boto3 and the AWS CLI, every error as a client sees it; and a real
third-party IAM auditor (cloudsplaining) fed from
``aws iam get-account-authorization-details``."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.server import TesseraServer

pytestmark = pytest.mark.e2e

PASSWORD = "Correct-Horse-7"


def _err(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    e = info.value.response
    return (
        e["Error"]["Code"],
        e["Error"].get("Message", ""),
        e["ResponseMetadata"]["HTTPStatusCode"],
    )


def test_login_profiles_and_password_policy(server: TesseraServer) -> None:
    iam = server.client("iam")
    iam.create_user(UserName="lp-user")
    with pytest.raises(ClientError) as info:
        iam.get_account_password_policy()
    assert _err(info) == (
        "NoSuchEntity",
        f"The Password Policy with domain name {server.root.account_id} cannot be found.",  # type: ignore[union-attr]
        404,
    )
    iam.update_account_password_policy(
        MinimumPasswordLength=10,
        RequireUppercaseCharacters=True,
        RequireNumbers=True,
        PasswordReusePrevention=3,
        AllowUsersToChangePassword=True,
    )
    policy = iam.get_account_password_policy()["PasswordPolicy"]
    assert policy["MinimumPasswordLength"] == 10 and policy["PasswordReusePrevention"] == 3
    with pytest.raises(ClientError) as info:
        iam.update_account_password_policy(MinimumPasswordLength=200)
    assert _err(info)[0] == "ValidationError"

    with pytest.raises(ClientError) as info:
        iam.create_login_profile(UserName="lp-user", Password="lowercase-only-1")
    assert _err(info) == (
        "PasswordPolicyViolation",
        "Password should have at least one uppercase letter",
        400,
    )
    created = iam.create_login_profile(
        UserName="lp-user", Password=PASSWORD, PasswordResetRequired=True
    )["LoginProfile"]
    assert created["UserName"] == "lp-user" and created["PasswordResetRequired"] is True
    with pytest.raises(ClientError) as info:
        iam.create_login_profile(UserName="lp-user", Password=PASSWORD)
    assert _err(info) == (
        "EntityAlreadyExists",
        "Login Profile for user lp-user already exists.",
        409,
    )
    assert iam.get_login_profile(UserName="lp-user")["LoginProfile"]["CreateDate"]
    with pytest.raises(ClientError) as info:
        iam.update_login_profile(UserName="lp-user", Password=PASSWORD)
    assert _err(info)[0] == "PasswordPolicyViolation"
    with pytest.raises(ClientError) as info:
        iam.delete_user(UserName="lp-user")
    assert _err(info) == (
        "DeleteConflict",
        "Cannot delete entity, must delete login profile first.",
        409,
    )

    # the user changes its own password (AllowUsersToChangePassword, no other policy)
    key = iam.create_access_key(UserName="lp-user")["AccessKey"]
    from tests.e2e.server import Creds

    me = server.client(
        "iam",
        Creds(server.root.account_id, key["AccessKeyId"], key["SecretAccessKey"]),  # type: ignore[union-attr]
    )
    with pytest.raises(ClientError) as info:
        me.change_password(OldPassword="Wrong-Pass-99", NewPassword="Another-Pass-2")
    assert _err(info) == ("AccessDenied", "The old password is incorrect.", 403)
    me.change_password(OldPassword=PASSWORD, NewPassword="Another-Pass-2")
    assert not iam.get_login_profile(UserName="lp-user")["LoginProfile"]["PasswordResetRequired"]
    with pytest.raises(ClientError) as info:
        iam.change_password(OldPassword=PASSWORD, NewPassword="Another-Pass-3")  # the root
    assert _err(info)[0] == "InvalidUserType"
    with pytest.raises(ClientError) as info:
        me.get_login_profile(UserName="lp-user")  # no policy grants it
    assert _err(info)[0] == "AccessDenied"

    iam.delete_login_profile(UserName="lp-user")
    with pytest.raises(ClientError) as info:
        iam.get_login_profile(UserName="lp-user")
    assert _err(info) == ("NoSuchEntity", "Login Profile for User lp-user cannot be found.", 404)
    iam.delete_account_password_policy()
    with pytest.raises(ClientError) as info:
        iam.delete_account_password_policy()
    assert _err(info)[0] == "NoSuchEntity"
    assert PASSWORD not in server.log_text() and "Another-Pass-2" not in server.log_text()


def test_account_alias_summary_and_sts_preferences(server: TesseraServer) -> None:
    iam = server.client("iam")
    assert iam.list_account_aliases()["AccountAliases"] == []
    iam.create_account_alias(AccountAlias="acme-prod")
    iam.create_account_alias(AccountAlias="acme-prod")  # the same again: nothing changes
    assert iam.list_account_aliases()["AccountAliases"] == ["acme-prod"]
    other = server.client("iam", server.create_account())
    with pytest.raises(ClientError) as info:
        other.create_account_alias(AccountAlias="acme-prod")
    assert _err(info) == ("EntityAlreadyExists", "The account alias acme-prod already exists.", 409)
    with pytest.raises(ClientError) as info:
        iam.create_account_alias(AccountAlias="Bad--Alias")
    assert _err(info)[0] == "ValidationError"
    with pytest.raises(ClientError) as info:
        iam.delete_account_alias(AccountAlias="not-mine")
    assert _err(info) == ("NoSuchEntity", "The account alias not-mine cannot be found.", 404)
    iam.delete_account_alias(AccountAlias="acme-prod")
    other.create_account_alias(AccountAlias="acme-prod")  # free again

    before = iam.get_account_summary()["SummaryMap"]
    iam.create_group(GroupName="summary-group")
    summary = iam.get_account_summary()["SummaryMap"]
    assert summary["Groups"] == before["Groups"] + 1
    assert summary["UsersQuota"] == 5000 and summary["AccessKeysPerUserQuota"] == 2
    assert summary["AccountAccessKeysPresent"] == 1 and summary["AccountMFAEnabled"] == 0
    assert summary["GlobalEndpointTokenVersion"] == 1
    iam.set_security_token_service_preferences(GlobalEndpointTokenVersion="v2Token")
    assert iam.get_account_summary()["SummaryMap"]["GlobalEndpointTokenVersion"] == 2
    with pytest.raises(ClientError) as info:
        iam.set_security_token_service_preferences(GlobalEndpointTokenVersion="v3Token")
    assert _err(info)[0] == "ValidationError"


def test_credential_report(server: TesseraServer) -> None:
    creds = server.create_account()
    iam = server.client("iam", creds)
    iam.create_user(UserName="report-user")
    iam.create_login_profile(UserName="report-user", Password=PASSWORD)
    iam.create_access_key(UserName="report-user")
    with pytest.raises(ClientError) as info:
        iam.get_credential_report()
    assert _err(info)[0] == "ReportNotPresent" and _err(info)[2] == 410
    first = iam.generate_credential_report()
    assert first["State"] == "STARTED"
    assert iam.generate_credential_report()["State"] == "COMPLETE"
    report = iam.get_credential_report()
    assert report["ReportFormat"] == "text/csv"
    rows = list(csv.reader(io.StringIO(report["Content"].decode())))
    assert rows[0][:8] == [
        "user",
        "arn",
        "user_creation_time",
        "password_enabled",
        "password_last_used",
        "password_last_changed",
        "password_next_rotation",
        "mfa_active",
    ]
    assert rows[0][-4:] == [
        "cert_1_active",
        "cert_1_last_rotated",
        "cert_2_active",
        "cert_2_last_rotated",
    ]
    assert len(rows[0]) == 22
    root_row = dict(zip(rows[0], rows[1], strict=True))
    assert root_row["user"] == "<root_account>"
    assert root_row["arn"] == f"arn:aws:iam::{creds.account_id}:root"
    assert root_row["password_enabled"] == "not_supported"
    assert root_row["access_key_1_active"] == "true"
    user_row = dict(zip(rows[0], rows[2], strict=True))
    assert user_row["user"] == "report-user" and user_row["password_enabled"] == "true"
    assert user_row["password_last_used"] == "no_information"
    assert user_row["password_next_rotation"] == "N/A"
    assert user_row["access_key_1_active"] == "true"
    assert user_row["access_key_1_last_used_date"] == "N/A"
    assert user_row["access_key_2_active"] == "false" and user_row["cert_1_active"] == "false"


def test_authorization_details_shape_filter_and_pages(server: TesseraServer) -> None:
    creds = server.create_account()
    iam = server.client("iam", creds)
    doc = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
        }
    )
    arn = iam.create_policy(PolicyName="pol-a", PolicyDocument=doc)["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc, SetAsDefault=True)
    iam.create_user(UserName="u1", Tags=[{"Key": "team", "Value": "blue"}])
    iam.create_group(GroupName="g1")
    iam.add_user_to_group(GroupName="g1", UserName="u1")
    iam.put_user_policy(UserName="u1", PolicyName="inline", PolicyDocument=doc)
    iam.attach_user_policy(UserName="u1", PolicyArn=arn)
    iam.put_user_permissions_boundary(UserName="u1", PermissionsBoundary=arn)
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ec2.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    iam.create_role(RoleName="r1", AssumeRolePolicyDocument=trust)
    details = iam.get_account_authorization_details()
    assert details["IsTruncated"] is False
    (user,) = details["UserDetailList"]
    assert user["GroupList"] == ["g1"]
    assert user["UserPolicyList"] == [{"PolicyName": "inline", "PolicyDocument": json.loads(doc)}]
    assert user["AttachedManagedPolicies"] == [{"PolicyName": "pol-a", "PolicyArn": arn}]
    assert user["PermissionsBoundary"]["PermissionsBoundaryArn"] == arn
    assert user["Tags"] == [{"Key": "team", "Value": "blue"}]
    (role,) = details["RoleDetailList"]
    assert role["AssumeRolePolicyDocument"] == json.loads(trust)
    assert role["InstanceProfileList"] == [] and role["RoleLastUsed"] == {}
    (policy,) = details["Policies"]
    assert policy["AttachmentCount"] == 1 and policy["PermissionsBoundaryUsageCount"] == 1
    assert [v["VersionId"] for v in policy["PolicyVersionList"]] == ["v2", "v1"]
    assert policy["PolicyVersionList"][0]["IsDefaultVersion"] is True

    only_roles = iam.get_account_authorization_details(Filter=["Role"])
    assert only_roles["UserDetailList"] == [] and len(only_roles["RoleDetailList"]) == 1
    assert iam.get_account_authorization_details(Filter=["AWSManagedPolicy"])["Policies"] == []
    seen: list[str] = []
    page: dict[str, Any] = iam.get_account_authorization_details(MaxItems=1)
    while True:
        for key in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"):
            seen += [
                item.get("UserName")
                or item.get("GroupName")
                or item.get("RoleName")
                or item["PolicyName"]
                for item in page[key]
            ]
        if not page["IsTruncated"]:
            break
        page = iam.get_account_authorization_details(MaxItems=1, Marker=page["Marker"])
    assert seen == ["u1", "g1", "r1", "pol-a"]
    with pytest.raises(ClientError) as info:
        iam.get_account_authorization_details(Filter=["Nope"])
    assert _err(info)[0] == "ValidationError"


def test_cloudsplaining_scans_tessera(server: TesseraServer, tmp_path: Path) -> None:
    """cloudsplaining reads `aws iam get-account-authorization-details` from Tessera
    and must find the privilege-escalation and data-exfiltration risks of the risky
    policy, and none in the harmless one."""
    creds = server.create_account()
    iam = server.client("iam", creds)
    risky = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["iam:PassRole", "ec2:RunInstances", "s3:GetObject"],
                "Resource": "*",
            }
        ],
    }
    harmless = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}
        ],
    }
    risky_id = iam.create_policy(PolicyName="risky", PolicyDocument=json.dumps(risky))["Policy"]
    harmless_id = iam.create_policy(PolicyName="harmless", PolicyDocument=json.dumps(harmless))[
        "Policy"
    ]
    iam.create_user(UserName="dev")
    iam.attach_user_policy(UserName="dev", PolicyArn=risky_id["Arn"])
    iam.create_user(UserName="analyst")
    iam.attach_user_policy(UserName="analyst", PolicyArn=harmless_id["Arn"])

    out = server.aws_cli("iam", "get-account-authorization-details", creds=creds)
    assert out.returncode == 0, out.stderr
    details = tmp_path / "details.json"
    details.write_text(out.stdout)
    report_dir = tmp_path / "report"
    report_dir.mkdir()
    tool = Path(sys.executable).parent / "cloudsplaining"
    scan = subprocess.run(
        [
            str(tool),
            "scan",
            "--input-file",
            str(details),
            "--output",
            str(report_dir),
            "--skip-open-report",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert scan.returncode == 0, scan.stdout + scan.stderr
    results = json.loads((report_dir / "iam-results-details.json").read_text())
    policies = results["customer_managed_policies"]
    found = policies[risky_id["PolicyId"]]
    escalation = {f["type"] for f in found["PrivilegeEscalation"]["findings"]}
    assert "CreateEC2WithExistingIP" in escalation
    assert "s3:GetObject" in found["DataExfiltration"]["findings"]
    clean = policies[harmless_id["PolicyId"]]
    assert clean["PrivilegeEscalation"]["findings"] == []
    assert clean["DataExfiltration"]["findings"] == []
    # the users were read with their attachments
    users = {u["name"]: u for u in results["users"].values()}
    assert users["dev"]["customer_managed_policies"] == {risky_id["PolicyId"]: "risky"}
