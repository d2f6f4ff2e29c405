"""Attacks on the Organizations API and central root access, through the real
server: a member account (even with ``Allow *``) cannot change the organization,
a delegated administrator can read it but not change it, a closed (suspended)
account's credentials stop working whatever their kind, and an AssumeRoot
session can do only what its task policy allows (no IAM beyond it, no
Organizations, no new sessions, no other account)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.server import Creds, TesseraServer

pytestmark = pytest.mark.e2e

ADMIN = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
AUDIT = "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials"


def admin_user(server: TesseraServer, account: Creds, name: str) -> Creds:
    iam = server.client("iam", account)
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="admin", PolicyDocument=ADMIN)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Creds(account.account_id, key["AccessKeyId"], key["SecretAccessKey"])


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def join(server: TesseraServer, client: Any, account: Creds) -> None:
    handshake = client.invite_account_to_organization(
        Target={"Id": account.account_id, "Type": "ACCOUNT"}
    )["Handshake"]
    server.client("organizations", account).accept_handshake(HandshakeId=handshake["Id"])


@pytest.fixture(scope="module")
def org(server: TesseraServer) -> dict[str, Any]:
    assert server.root is not None
    admin = admin_user(server, server.root, "org-admin")
    client = server.client("organizations", admin)
    client.create_organization()
    root = client.list_roots()["Roots"][0]["Id"]
    client.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
    return {"admin": admin, "client": client, "root": root}


def test_a_member_cannot_change_the_organization(
    server: TesseraServer, org: dict[str, Any]
) -> None:
    client, root = org["client"], org["root"]
    member = server.create_account()
    join(server, client, member)
    ou = client.create_organizational_unit(ParentId=root, Name="guarded")["OrganizationalUnit"]
    member_admin = admin_user(server, member, "member-admin")  # Allow * in its own account
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("create_organizational_unit", {"ParentId": root, "Name": "evil"}),
        ("delete_organizational_unit", {"OrganizationalUnitId": ou["Id"]}),
        ("move_account", {"AccountId": member.account_id, "SourceParentId": root,
                          "DestinationParentId": ou["Id"]}),
        ("detach_policy", {"PolicyId": "p-FullAWSAccess", "TargetId": member.account_id}),
        ("disable_policy_type", {"RootId": root, "PolicyType": "SERVICE_CONTROL_POLICY"}),
        ("create_policy", {"Name": "x", "Description": "", "Type": "SERVICE_CONTROL_POLICY",
                           "Content": ADMIN}),
        ("create_account", {"Email": "evil@example.com", "AccountName": "evil"}),
        ("close_account", {"AccountId": org["admin"].account_id}),
        ("remove_account_from_organization", {"AccountId": member.account_id}),
        ("register_delegated_administrator", {"AccountId": member.account_id,
                                              "ServicePrincipal": "iam.amazonaws.com"}),
        ("enable_aws_service_access", {"ServicePrincipal": "iam.amazonaws.com"}),
        ("tag_resource", {"ResourceId": root, "Tags": [{"Key": "k", "Value": "v"}]}),
        ("delete_organization", {}),
        ("list_accounts", {}),
        ("list_policies", {"Filter": "SERVICE_CONTROL_POLICY"}),
    ]  # fmt: skip
    for creds in (member, member_admin):
        caller = server.client("organizations", creds)
        for method, kw in attempts:
            with pytest.raises(ClientError) as exc:
                getattr(caller, method)(**kw)
            assert code(exc) == "AccessDeniedException", (method, exc.value.response)
    # every member may describe its organization; nothing changed
    assert server.client("organizations", member).describe_organization()["Organization"]
    assert [o["Name"] for o in client.list_organizational_units_for_parent(ParentId=root)[
        "OrganizationalUnits"]] == ["guarded"]  # fmt: skip

    # a delegated administrator reads the organization but cannot change it
    client.enable_aws_service_access(ServicePrincipal="iam.amazonaws.com")
    client.register_delegated_administrator(
        AccountId=member.account_id, ServicePrincipal="iam.amazonaws.com"
    )
    delegated = server.client("organizations", member_admin)
    assert member.account_id in [a["Id"] for a in delegated.list_accounts()["Accounts"]]
    with pytest.raises(ClientError) as exc:
        delegated.create_organizational_unit(ParentId=root, Name="evil")
    assert code(exc) == "AccessDeniedException"
    client.deregister_delegated_administrator(
        AccountId=member.account_id, ServicePrincipal="iam.amazonaws.com"
    )
    with pytest.raises(ClientError) as exc:
        delegated.list_accounts()
    assert code(exc) == "AccessDeniedException"


def test_a_closed_accounts_credentials_stop_working(
    server: TesseraServer, org: dict[str, Any]
) -> None:
    client = org["client"]
    member = server.create_account()
    join(server, client, member)
    user = admin_user(server, member, "worker")
    iam = server.client("iam", member)
    iam.create_role(
        RoleName="worker",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": member.account_id},
             "Action": "sts:AssumeRole"}]}),
    )  # fmt: skip
    out = server.client("sts", user).assume_role(
        RoleArn=f"arn:aws:iam::{member.account_id}:role/worker", RoleSessionName="before"
    )
    c = out["Credentials"]
    session = Creds(member.account_id, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    for creds in (member, user, session):
        server.client("sts", creds).get_caller_identity()

    client.close_account(AccountId=member.account_id)
    assert client.describe_account(AccountId=member.account_id)["Account"]["Status"] == "SUSPENDED"
    for creds in (member, user, session):
        with pytest.raises(ClientError) as exc:
            server.client("sts", creds).get_caller_identity()
        assert code(exc) == "InvalidClientTokenId"
        with pytest.raises(ClientError) as exc:
            server.client("organizations", creds).describe_organization()
        assert code(exc) == "UnrecognizedClientException"
    with pytest.raises(ClientError) as exc:
        client.close_account(AccountId=member.account_id)
    assert code(exc) == "AccountAlreadyClosedException"
    # the management account cannot be closed
    with pytest.raises(ClientError) as exc:
        client.close_account(AccountId=org["admin"].account_id)
    assert code(exc) == "ConstraintViolationException"
    assert exc.value.response["Reason"] == "CANNOT_CLOSE_MANAGEMENT_ACCOUNT"


def test_the_task_policy_limits_the_root_session(
    server: TesseraServer, org: dict[str, Any]
) -> None:
    client, admin = org["client"], org["admin"]
    member = server.create_account()
    join(server, client, member)
    client.enable_aws_service_access(ServicePrincipal="iam.amazonaws.com")
    server.client("iam", admin).enable_organizations_root_sessions()
    out = server.client("sts", admin).assume_root(
        TargetPrincipal=member.account_id, TaskPolicyArn={"arn": AUDIT}
    )
    c = out["Credentials"]
    session = Creds(member.account_id, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    iam, sts = server.client("iam", session), server.client("sts", session)
    # what the audit task allows
    assert member.access_key_id in [
        k["AccessKeyId"] for k in iam.list_access_keys()["AccessKeyMetadata"]
    ]
    # … and nothing else: not deleting, not creating, no new sessions, no Organizations
    denied: list[tuple[Any, str, dict[str, Any]]] = [
        (iam, "delete_access_key", {"AccessKeyId": member.access_key_id}),
        (iam, "create_access_key", {}),
        (iam, "create_user", {"UserName": "backdoor"}),
        (iam, "put_user_policy", {"UserName": "x", "PolicyName": "p", "PolicyDocument": ADMIN}),
        (sts, "get_session_token", {}),
        (sts, "get_federation_token", {"Name": "fed"}),
        (sts, "assume_root", {"TargetPrincipal": member.account_id,
                              "TaskPolicyArn": {"arn": AUDIT}}),
        (server.client("organizations", session), "describe_organization", {}),
    ]  # fmt: skip
    for target, method, kw in denied:
        with pytest.raises(ClientError) as exc:
            getattr(target, method)(**kw)
        assert code(exc) in ("AccessDenied", "AccessDeniedException"), (method, exc.value.response)
    server.client("sts", member).get_caller_identity()  # the root key is untouched

    assert sts.get_caller_identity()["Account"] == member.account_id
    other = server.create_account()
    with pytest.raises(ClientError) as exc:  # the other account is not in the organization
        server.client("sts", admin).assume_root(
            TargetPrincipal=other.account_id, TaskPolicyArn={"arn": AUDIT}
        )
    assert code(exc) == "AccessDenied"
