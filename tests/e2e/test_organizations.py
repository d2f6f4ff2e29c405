"""Organizations end to end: ``tessera org`` builds an organization (root, OU,
member accounts, SCPs and RCPs) in the store of a running server, and boto3
requests are decided by it — SCP denies and allow-lists at every level, the
management account exempt, RCPs guarding a member account's role against
principals outside the organization, aws:PrincipalOrgID / aws:PrincipalOrgPaths."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.server import Creds, TesseraServer, tessera_cmd

pytestmark = pytest.mark.e2e

ADMIN = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def org(server: TesseraServer, *args: str, ok: bool = True) -> Any:
    proc = subprocess.run(
        tessera_cmd("org", *args, "--data-dir", str(server.data_dir), "--json"),
        capture_output=True,
        text=True,
        env=server._env(),
        timeout=60,
    )
    if not ok:
        assert proc.returncode == 1, proc.stdout
        return proc.stderr
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def admin_user(server: TesseraServer, account: Creds, name: str) -> Creds:
    iam = server.client("iam", account)
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="admin", PolicyDocument=ADMIN)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Creds(account.account_id, key["AccessKeyId"], key["SecretAccessKey"])


def denied(exc: pytest.ExceptionInfo[ClientError]) -> str:
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    return str(exc.value.response["Error"]["Message"])


def test_scps_and_rcps_decide_requests(server: TesseraServer) -> None:
    assert server.root is not None
    mgmt, member, outsider = server.root, server.create_account(), server.create_account()
    created = org(server, "create", "--management-account", mgmt.account_id)
    org_id, root_id = created["org_id"], created["root_id"]
    full_access = created["full_aws_access_policy_id"]
    ou = org(server, "ou", "create", "--org", org_id, "--parent", root_id, "--name", "work")
    ou_id = ou["ou_id"]
    placed = org(
        server, "account", "place", "--org", org_id, "--account", member.account_id,
        "--parent", ou_id,
    )  # fmt: skip
    assert placed["org_path"] == f"{org_id}/{root_id}/{ou_id}/"

    # an SCP on the OU denies iam:CreateUser to everyone in the member account,
    # its root user included; the management account is never limited by SCPs
    deny_users = org(
        server, "policy", "create", "--org", org_id, "--type", "scp", "--name", "no-users",
        "--content", json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"}]}),
    )["policy_id"]  # fmt: skip
    org(server, "policy", "attach", "--policy", deny_users, "--target", ou_id)
    member_iam = server.client("iam", member)
    with pytest.raises(ClientError) as exc:
        member_iam.create_user(UserName="blocked")
    assert denied(exc) == (
        f"User: arn:aws:iam::{member.account_id}:root is not authorized to perform: "
        f"iam:CreateUser on resource: arn:aws:iam::{member.account_id}:user/blocked "
        "with an explicit deny in a service control policy"
    )
    member_iam.list_users()  # everything else is still allowed
    server.client("iam", mgmt).create_user(UserName="mgmt-may")

    # an allow-list on the account replaces FullAWSAccess there: unlisted actions
    # are denied because no SCP at that level allows them
    org(server, "policy", "detach", "--policy", deny_users, "--target", ou_id)
    dev = admin_user(server, member, "dev")
    allow_list = org(
        server, "policy", "create", "--org", org_id, "--type", "scp", "--name", "read-only",
        "--content", json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["iam:List*", "iam:Simulate*", "sts:*"],
             "Resource": "*"}]}),
    )["policy_id"]  # fmt: skip
    org(server, "policy", "attach", "--policy", allow_list, "--target", member.account_id)
    org(server, "policy", "detach", "--policy", full_access, "--target", member.account_id)
    dev_iam = server.client("iam", dev)
    dev_iam.list_users()
    with pytest.raises(ClientError) as exc:
        dev_iam.get_user(UserName="dev")
    assert denied(exc).endswith("because no service control policy allows the iam:GetUser action")
    # the simulator applies the same SCPs to the source principal
    (sim,) = server.client("iam", member).simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{member.account_id}:user/dev", ActionNames=["iam:GetUser"]
    )["EvaluationResults"]
    assert sim["EvalDecision"] == "implicitDeny"
    assert sim["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": False}
    message = org(
        server, "policy", "detach", "--policy", allow_list, "--target", member.account_id,
        ok=False,
    )  # fmt: skip
    assert "cannot remove the last service control policy" in message
    org(server, "policy", "attach", "--policy", full_access, "--target", member.account_id)
    dev_iam.get_user(UserName="dev")

    # an RCP keeps the member's role away from principals outside the organization,
    # even though the trust policy names them
    member_iam.create_role(
        RoleName="shared",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": [
                mgmt.account_id, outsider.account_id]}}]}),
    )  # fmt: skip
    role_arn = f"arn:aws:iam::{member.account_id}:role/shared"
    rcp = org(
        server, "policy", "create", "--org", org_id, "--type", "rcp", "--name", "org-only",
        "--content", json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole", "Resource": "*",
            "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": org_id}}}]}),
    )["policy_id"]  # fmt: skip
    org(server, "policy", "attach", "--policy", rcp, "--target", root_id)
    mgmt_user = admin_user(server, mgmt, "ops")
    outsider_user = admin_user(server, outsider, "intruder")
    got = server.client("sts", mgmt_user).assume_role(RoleArn=role_arn, RoleSessionName="s1")
    assert got["AssumedRoleUser"]["Arn"].endswith(":assumed-role/shared/s1")
    with pytest.raises(ClientError) as exc:
        server.client("sts", outsider_user).assume_role(RoleArn=role_arn, RoleSessionName="s1")
    assert denied(exc).endswith("with an explicit deny in a resource control policy")

    # aws:PrincipalOrgPaths names the member's OU path
    server.client("iam", member).put_user_policy(
        UserName="dev",
        PolicyName="only-from-work-ou",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Action": "iam:ListRoles", "Resource": "*",
            "Condition": {"ForAnyValue:StringLike": {
                "aws:PrincipalOrgPaths": f"{org_id}/{root_id}/{ou_id}/*"}}}]}),
    )  # fmt: skip
    with pytest.raises(ClientError) as exc:
        dev_iam.list_roles()
    assert denied(exc).endswith("with an explicit deny in an identity-based policy")

    # leaving the organization lifts its policies
    org(server, "account", "remove", "--org", org_id, "--account", member.account_id)
    server.client("iam", member).create_user(UserName="free-again")
    shown = org(server, "show", "--org", org_id)["organizations"][0]
    assert [a["account_id"] for a in shown["accounts"]] == [mgmt.account_id]
