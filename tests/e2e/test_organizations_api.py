"""The AWS Organizations API end to end, with boto3's ``organizations`` client and
the AWS CLI against a real server: an organization with OUs and accounts
(CreateAccount's access role assumed from the management account, an existing
account invited through a handshake), SCPs and RCPs attached through the API
deciding IAM/STS calls in member accounts, a move changing ``ou_path`` in the
member's next outbound token, AssumeRoot with each refusal and its task policy,
and the JSON protocol's errors for bad input."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.server import Creds, TesseraServer

pytestmark = pytest.mark.e2e

ADMIN = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
DELETE_ROOT_CREDS = "arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials"
SCP, RCP = "SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def admin_user(server: TesseraServer, account: Creds, name: str) -> Creds:
    iam = server.client("iam", account)
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="admin", PolicyDocument=ADMIN)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Creds(account.account_id, key["AccessKeyId"], key["SecretAccessKey"])


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = exc.value.response
    return (
        response["Error"]["Code"],
        str(response.get("Reason", "")),
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def assumed(server: TesseraServer, caller: Creds, account: str, role: str) -> Creds:
    out = server.client("sts", caller).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="org-admin"
    )
    c = out["Credentials"]
    return Creds(account, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


@pytest.fixture(scope="module")
def org(server: TesseraServer) -> dict[str, Any]:
    """An organization managed by the server's first account, through its admin user."""
    assert server.root is not None
    admin = admin_user(server, server.root, "org-admin")
    client = server.client("organizations", admin)
    created = client.create_organization(FeatureSet="ALL")["Organization"]
    root = client.list_roots()["Roots"][0]
    assert root["PolicyTypes"] == []  # as on AWS, no policy type is enabled yet
    for policy_type in (SCP, RCP):
        client.enable_policy_type(RootId=root["Id"], PolicyType=policy_type)
    return {"admin": admin, "client": client, "id": created["Id"], "root": root["Id"]}


def test_build_an_organization_and_its_scps_and_rcps_decide(
    server: TesseraServer, org: dict[str, Any]
) -> None:
    client, admin, root = org["client"], org["admin"], org["root"]
    described = client.describe_organization()["Organization"]
    assert described["Id"] == org["id"] and described["FeatureSet"] == "ALL"
    assert described["MasterAccountId"] == admin.account_id

    prod = client.create_organizational_unit(ParentId=root, Name="prod")["OrganizationalUnit"]
    assert prod["Id"].startswith(f"ou-{root[2:]}-")
    assert prod["Path"] == f"{org['id']}/{root}/{prod['Id']}/"
    dev = client.create_organizational_unit(
        ParentId=root, Name="dev", Tags=[{"Key": "team", "Value": "platform"}]
    )["OrganizationalUnit"]
    assert client.list_tags_for_resource(ResourceId=dev["Id"])["Tags"] == [
        {"Key": "team", "Value": "platform"}
    ]

    # CreateAccount: IN_PROGRESS, then polled until SUCCEEDED
    status = client.create_account(Email="prod@example.com", AccountName="prod-app")[
        "CreateAccountStatus"
    ]
    assert status["State"] == "IN_PROGRESS" and status["Id"].startswith("car-")
    polled = client.describe_create_account_status(CreateAccountRequestId=status["Id"])
    done = polled["CreateAccountStatus"]
    assert done["State"] == "SUCCEEDED"
    member = done["AccountId"]
    listed = client.list_create_account_status(States=["SUCCEEDED"])["CreateAccountStatuses"]
    assert [s["Id"] for s in listed] == [status["Id"]]
    account = client.describe_account(AccountId=member)["Account"]
    assert (account["Name"], account["Email"], account["JoinedMethod"]) == (
        "prod-app",
        "prod@example.com",
        "CREATED",
    )
    client.move_account(AccountId=member, SourceParentId=root, DestinationParentId=prod["Id"])
    assert client.list_parents(ChildId=member)["Parents"] == [
        {"Id": prod["Id"], "Type": "ORGANIZATIONAL_UNIT"}
    ]
    assert [a["Id"] for a in client.list_accounts_for_parent(ParentId=prod["Id"])["Accounts"]] == [
        member
    ]

    # the management account assumes the new account's OrganizationAccountAccessRole
    member_admin = assumed(server, admin, member, "OrganizationAccountAccessRole")
    member_iam = server.client("iam", member_admin)
    attached_to_role = member_iam.list_attached_role_policies(
        RoleName="OrganizationAccountAccessRole"
    )["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached_to_role] == [
        "arn:aws:iam::aws:policy/AdministratorAccess"
    ]
    member_iam.create_user(UserName="before-scp")

    # an SCP attached to the OU through the API denies iam:CreateUser there
    deny = client.create_policy(
        Name="no-users",
        Description="no IAM users",
        Type=SCP,
        Content=_doc({"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"}),
    )["Policy"]["PolicySummary"]
    assert deny["Id"].startswith("p-") and not deny["AwsManaged"]
    client.attach_policy(PolicyId=deny["Id"], TargetId=prod["Id"])
    attached = client.list_policies_for_target(TargetId=prod["Id"], Filter=SCP)["Policies"]
    assert {p["Id"] for p in attached} == {"p-FullAWSAccess", deny["Id"]}
    targets = client.list_targets_for_policy(PolicyId=deny["Id"])["Targets"]
    assert targets == [
        {
            "TargetId": prod["Id"],
            "Arn": prod["Arn"],
            "Name": "prod",
            "Type": "ORGANIZATIONAL_UNIT",
        }
    ]
    with pytest.raises(ClientError) as exc:
        member_iam.create_user(UserName="after-scp")
    assert error(exc)[0] == "AccessDenied"
    assert "service control policy" in exc.value.response["Error"]["Message"]
    # the management account is never limited by SCPs
    server.client("iam", admin).create_user(UserName="mgmt-still-can")
    # moved to dev, the SCP no longer applies; detached, it can be deleted
    client.move_account(AccountId=member, SourceParentId=prod["Id"], DestinationParentId=dev["Id"])
    member_iam.create_user(UserName="in-dev")
    client.detach_policy(PolicyId=deny["Id"], TargetId=prod["Id"])
    client.delete_policy(PolicyId=deny["Id"])

    # an RCP on the root: only principals of the organization may assume roles there
    outsider = server.create_account()
    outsider_admin = admin_user(server, outsider, "outsider")
    member_iam.create_role(
        RoleName="shared",
        AssumeRolePolicyDocument=_doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{outsider.account_id}:root",
                                      f"arn:aws:iam::{admin.account_id}:root"]},
                "Action": "sts:AssumeRole",
            }
        ),
    )  # fmt: skip
    assumed(server, outsider_admin, member, "shared")  # no RCP yet
    rcp = client.create_policy(
        Name="org-only",
        Description="only the organization",
        Type=RCP,
        Content=_doc(
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sts:AssumeRole",
                "Resource": "*",
                "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": org["id"]}},
            }
        ),
    )["Policy"]["PolicySummary"]
    client.attach_policy(PolicyId=rcp["Id"], TargetId=root)
    with pytest.raises(ClientError) as exc:
        assumed(server, outsider_admin, member, "shared")
    assert error(exc)[0] == "AccessDenied"
    assumed(server, admin, member, "shared")  # a principal of the organization
    client.detach_policy(PolicyId=rcp["Id"], TargetId=root)
    assumed(server, outsider_admin, member, "shared")


def test_move_changes_ou_path_in_the_next_token(server: TesseraServer, org: dict[str, Any]) -> None:
    client, admin, root = org["client"], org["admin"], org["root"]
    member = client.create_account(Email="tok@example.com", AccountName="tokens")[
        "CreateAccountStatus"
    ]
    account = client.describe_create_account_status(CreateAccountRequestId=member["Id"])[
        "CreateAccountStatus"
    ]["AccountId"]
    ou = client.create_organizational_unit(ParentId=root, Name="tokens")["OrganizationalUnit"]
    session = assumed(server, admin, account, "OrganizationAccountAccessRole")
    server.client("iam", session).enable_outbound_web_identity_federation()
    sts = server.client("sts", session)

    def token() -> dict[str, Any]:
        out = sts.get_web_identity_token(Audience=["https://rp.example"], SigningAlgorithm="ES384")
        aws: dict[str, Any] = claims(out["WebIdentityToken"])["https://sts.amazonaws.com/"]
        return aws

    first = token()
    assert first["org_id"] == org["id"]
    assert first["ou_path"] == [f"{org['id']}/{root}/"]
    client.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ou["Id"])
    assert token()["ou_path"] == [f"{org['id']}/{root}/{ou['Id']}/"]


def test_invitation_handshake(server: TesseraServer, org: dict[str, Any]) -> None:
    client = org["client"]
    invited = server.create_account()
    handshake = client.invite_account_to_organization(
        Target={"Id": invited.account_id, "Type": "ACCOUNT"}, Notes="join us"
    )["Handshake"]
    assert handshake["Id"].startswith("h-") and handshake["State"] == "OPEN"
    with pytest.raises(ClientError) as exc:
        client.invite_account_to_organization(Target={"Id": invited.account_id, "Type": "ACCOUNT"})
    assert error(exc)[0] == "DuplicateHandshakeException"
    invitee = server.client("organizations", invited)
    mine = invitee.list_handshakes_for_account()["Handshakes"]
    assert [h["Id"] for h in mine] == [handshake["Id"]]
    accepted = invitee.accept_handshake(HandshakeId=handshake["Id"])["Handshake"]
    assert accepted["State"] == "ACCEPTED"
    account = client.describe_account(AccountId=invited.account_id)["Account"]
    assert account["JoinedMethod"] == "INVITED"
    with pytest.raises(ClientError) as exc:
        invitee.accept_handshake(HandshakeId=handshake["Id"])
    assert error(exc)[0] == "HandshakeAlreadyInStateException"
    # the member leaves again
    invitee.leave_organization()
    with pytest.raises(ClientError) as exc:
        invitee.describe_organization()
    assert error(exc)[0] == "AWSOrganizationsNotInUseException"


def test_assume_root_and_its_refusals(server: TesseraServer, org: dict[str, Any]) -> None:
    client, admin = org["client"], org["admin"]
    assert server.root is not None
    member = server.create_account()  # an existing account with a root access key
    handshake = client.invite_account_to_organization(
        Target={"Id": member.account_id, "Type": "ACCOUNT"}
    )["Handshake"]
    server.client("organizations", member).accept_handshake(HandshakeId=handshake["Id"])
    iam, sts = server.client("iam", admin), server.client("sts", admin)

    def refused(**kw: Any) -> str:
        kw.setdefault("TargetPrincipal", member.account_id)
        kw.setdefault("TaskPolicyArn", {"arn": DELETE_ROOT_CREDS})
        caller = kw.pop("caller", sts)
        with pytest.raises(ClientError) as exc:
            caller.assume_root(**kw)
        code, _reason, status = error(exc)
        assert (code, status) == ("AccessDenied", 403)
        return str(exc.value.response["Error"]["Message"])

    # IAM's feature operations need trusted access for IAM first
    with pytest.raises(ClientError) as exc:
        iam.enable_organizations_root_sessions()
    assert error(exc)[0] == "ServiceAccessNotEnabledException"
    client.enable_aws_service_access(ServicePrincipal="iam.amazonaws.com")
    assert "not enabled" in refused()  # RootSessions is off
    features = iam.enable_organizations_root_credentials_management()
    assert features["EnabledFeatures"] == ["RootCredentialsManagement"]
    assert iam.enable_organizations_root_sessions()["EnabledFeatures"] == [
        "RootCredentialsManagement",
        "RootSessions",
    ]
    assert iam.list_organizations_features()["OrganizationId"] == org["id"]
    # a member account is neither the management account nor a delegated admin
    member_iam = server.client("iam", member)
    with pytest.raises(ClientError) as exc:
        member_iam.enable_organizations_root_sessions()
    assert error(exc)[0] == "CallerIsNotManagementAccountException"
    with pytest.raises(ClientError) as exc:
        member_iam.list_organizations_features()
    assert error(exc)[0] == "AccountNotManagementOrDelegatedAdministratorException"
    outsider = server.create_account()
    with pytest.raises(ClientError) as exc:
        server.client("iam", outsider).list_organizations_features()
    assert error(exc)[0] == "OrganizationNotFoundException"

    # each refusal of AssumeRoot
    refused(caller=server.client("sts", server.root))  # the root user
    refused(TaskPolicyArn={"arn": "arn:aws:iam::aws:policy/AdministratorAccess"})
    refused(TaskPolicyArn={"arn": "arn:aws:iam::aws:policy/root-task/MakeMeAdmin"})
    refused(TargetPrincipal=outsider.account_id)  # not a member
    refused(TargetPrincipal=admin.account_id)  # the management account itself
    refused(caller=server.client("sts", admin_user(server, outsider, "nobody")))
    with pytest.raises(ClientError) as exc:
        sts.assume_root(
            TargetPrincipal=member.account_id,
            TaskPolicyArn={"arn": DELETE_ROOT_CREDS},
            DurationSeconds=901,
        )
    assert error(exc)[0] == "ValidationError"

    out = sts.assume_root(
        TargetPrincipal=member.account_id,
        TaskPolicyArn={"arn": DELETE_ROOT_CREDS},
        DurationSeconds=600,
    )
    c = out["Credentials"]
    root_session = Creds(
        member.account_id, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]
    )
    identity = server.client("sts", root_session).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:iam::{member.account_id}:root"
    assert identity["UserId"] == member.account_id
    session_iam = server.client("iam", root_session)
    # the task policy limits the session: no other IAM action, no role chaining
    with pytest.raises(ClientError) as exc:
        session_iam.create_user(UserName="escalate")
    assert error(exc)[0] == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        server.client("sts", root_session).assume_role(
            RoleArn=f"arn:aws:iam::{member.account_id}:role/any", RoleSessionName="chain"
        )
    assert error(exc)[0] == "AccessDenied"
    # the privileged task: delete the member's root access keys
    keys = session_iam.list_access_keys()["AccessKeyMetadata"]
    assert member.access_key_id in [k["AccessKeyId"] for k in keys]
    session_iam.delete_access_key(AccessKeyId=member.access_key_id)
    with pytest.raises(ClientError) as exc:
        server.client("sts", member).get_caller_identity()
    assert error(exc)[0] == "InvalidClientTokenId"
    # the AWS CLI's assume-root
    cli = server.aws_cli(
        "sts", "assume-root", "--target-principal", member.account_id,
        "--task-policy-arn", "arn=arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials",
        "--duration-seconds", "300", creds=admin,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["Credentials"]["AccessKeyId"].startswith("ASIA")
    # Disable… switches the feature off again
    assert iam.disable_organizations_root_sessions()["EnabledFeatures"] == [
        "RootCredentialsManagement"
    ]
    assert "not enabled" in refused()


def test_json_errors_for_bad_input(server: TesseraServer, org: dict[str, Any]) -> None:
    client, root = org["client"], org["root"]
    cases: list[tuple[str, dict[str, Any], str, str]] = [
        ("describe_policy", {"PolicyId": "p-doesnotexist"}, "PolicyNotFoundException", ""),
        ("describe_account", {"AccountId": "000000000000"}, "AccountNotFoundException", ""),
        ("describe_organizational_unit", {"OrganizationalUnitId": "ou-abcd-12345678"},
         "OrganizationalUnitNotFoundException", ""),
        ("list_children", {"ParentId": "ou-abcd-12345678", "ChildType": "ACCOUNT"},
         "ParentNotFoundException", ""),
        ("list_parents", {"ChildId": "123456789012"}, "ChildNotFoundException", ""),
        ("attach_policy", {"PolicyId": "p-FullAWSAccess", "TargetId": root},
         "DuplicatePolicyAttachmentException", ""),
        ("detach_policy", {"PolicyId": "p-FullAWSAccess", "TargetId": root},
         "ConstraintViolationException", "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED"),
        ("create_policy", {"Name": "big", "Description": "", "Type": SCP,
                           "Content": _doc(*({"Effect": "Deny", "Action": f"s3:Get{i:04}",
                                              "Resource": "*"} for i in range(120)))},
         "ConstraintViolationException", "POLICY_CONTENT_LIMIT_EXCEEDED"),
        ("create_policy", {"Name": "tags", "Description": "", "Type": "TAG_POLICY",
                           "Content": "{}"}, "PolicyTypeNotAvailableForOrganizationException", ""),
        ("update_policy", {"PolicyId": "p-FullAWSAccess", "Name": "mine"},
         "InvalidInputException", "IMMUTABLE_POLICY"),
        ("list_accounts", {"NextToken": "garbage"}, "InvalidInputException", "INVALID_NEXT_TOKEN"),
        ("attach_policy", {"PolicyId": "p-FullAWSAccess", "TargetId": "ou-abcd-12345678"},
         "TargetNotFoundException", ""),
        ("delete_organizational_unit", {"OrganizationalUnitId": "ou-abcd-12345678"},
         "OrganizationalUnitNotFoundException", ""),
        ("create_organization", {}, "AlreadyInOrganizationException", ""),
        ("delete_organization", {}, "OrganizationNotEmptyException", ""),
        ("enable_policy_type", {"RootId": root, "PolicyType": SCP},
         "PolicyTypeAlreadyEnabledException", ""),
        ("create_gov_cloud_account", {"Email": "g@example.com", "AccountName": "gov"},
         "AccessDeniedException", ""),
    ]  # fmt: skip
    for method, kw, code, reason in cases:
        with pytest.raises(ClientError) as exc:
            getattr(client, method)(**kw)
        got = error(exc)
        assert got[0] == code, (method, got, exc.value.response["Error"]["Message"])
        assert got[1] == reason, (method, got)
        assert got[2] == 400, (method, got)
    # a non-empty OU cannot be deleted
    ou = client.create_organizational_unit(ParentId=root, Name="parent")["OrganizationalUnit"]
    client.create_organizational_unit(ParentId=ou["Id"], Name="child")
    with pytest.raises(ClientError) as exc:
        client.delete_organizational_unit(OrganizationalUnitId=ou["Id"])
    assert error(exc)[0] == "OrganizationalUnitNotEmptyException"
    # the model's constraints: InvalidInputException with AWS's validation message
    with pytest.raises(ClientError) as exc:
        client.create_organizational_unit(ParentId="not-a-parent", Name="x")
    assert error(exc)[:1] == ("InvalidInputException",)
    assert "failed to satisfy constraint" in exc.value.response["Error"]["Message"]


def test_aws_cli(server: TesseraServer, org: dict[str, Any]) -> None:
    admin = org["admin"]
    out = server.aws_cli("organizations", "describe-organization", creds=admin)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Organization"]["Id"] == org["id"]
    out = server.aws_cli("organizations", "list-policies", "--filter", SCP, creds=admin)
    assert out.returncode == 0, out.stderr
    assert "p-FullAWSAccess" in [p["Id"] for p in json.loads(out.stdout)["Policies"]]
    out = server.aws_cli(
        "organizations", "describe-policy", "--policy-id", "p-nothere1", creds=admin
    )
    assert out.returncode != 0 and "PolicyNotFoundException" in out.stderr


def test_two_replicas_see_every_change_on_their_next_request(tmp_path: Any, pg_url: str) -> None:
    """Organizations changes made through one replica decide the very next request
    served by another (both on one PostgreSQL store, each with its read cache)."""
    first = TesseraServer(data_dir=tmp_path / "shared", database_url=pg_url)
    first.init()
    second = TesseraServer(data_dir=tmp_path / "shared", database_url=pg_url)
    second.root = first.root
    first.start()
    second.start()
    try:
        assert first.root is not None
        admin = admin_user(first, first.root, "org-admin")
        org_one = first.client("organizations", admin)
        org_one.create_organization()
        root = org_one.list_roots()["Roots"][0]["Id"]
        member = first.create_account()
        handshake = org_one.invite_account_to_organization(
            Target={"Id": member.account_id, "Type": "ACCOUNT"}
        )["Handshake"]
        second.client("organizations", member).accept_handshake(HandshakeId=handshake["Id"])
        iam_two = second.client("iam", member)
        iam_two.create_user(UserName="warm-the-cache")
        org_one.enable_policy_type(RootId=root, PolicyType=SCP)
        deny = org_one.create_policy(
            Name="no-users",
            Description="",
            Type=SCP,
            Content=_doc({"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"}),
        )["Policy"]["PolicySummary"]["Id"]
        org_one.attach_policy(PolicyId=deny, TargetId=member.account_id)
        with pytest.raises(ClientError) as exc:
            iam_two.create_user(UserName="denied-on-the-other-replica")
        assert error(exc)[0] == "AccessDenied"
        org_one.detach_policy(PolicyId=deny, TargetId=member.account_id)
        iam_two.create_user(UserName="allowed-again")
        org_one.close_account(AccountId=member.account_id)
        with pytest.raises(ClientError) as exc:
            second.client("sts", member).get_caller_identity()
        assert error(exc)[0] == "InvalidClientTokenId"
    finally:
        first.stop()
        second.stop()
