"""Principals are identities, not names (issue #13 §1), through the real server.

Each case deletes a user or role and creates another under the same name, then
checks that the successor inherits nothing: not the trust that named its
predecessor, not its predecessor's sessions, not its access keys. Before the fix
the new ``bob`` could assume every role that trusted the old one, and a deleted
user's GetSessionToken session kept working with the new user's permissions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest
from botocore.exceptions import ClientError

from tests.e2e.server import Creds, TesseraServer

pytestmark = pytest.mark.e2e

ADMIN = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def _trust(*principals: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": list(principals)},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def _code(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as exc:
        call()
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


def _user(server: TesseraServer, name: str, *, admin: bool = True) -> tuple[str, Creds]:
    """Create user ``name`` (with an admin inline policy) and an access key."""
    iam = server.client("iam")
    user_id = iam.create_user(UserName=name)["User"]["UserId"]
    if admin:
        iam.put_user_policy(UserName=name, PolicyName="admin", PolicyDocument=ADMIN)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    assert server.root is not None
    return user_id, Creds(server.root.account_id, key["AccessKeyId"], key["SecretAccessKey"])


def _delete_user(server: TesseraServer, name: str) -> None:
    iam = server.client("iam")
    for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    for policy in iam.list_user_policies(UserName=name)["PolicyNames"]:
        iam.delete_user_policy(UserName=name, PolicyName=policy)
    iam.delete_user(UserName=name)


def _session(creds: Creds, out: dict[str, Any]) -> Creds:
    c = out["Credentials"]
    return Creds(creds.account_id, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


def _shown_principals(server: TesseraServer, role: str) -> list[str]:
    doc = server.client("iam").get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    if isinstance(doc, str):
        doc = json.loads(unquote(doc))
    aws = doc["Statement"][0]["Principal"]["AWS"]
    return [aws] if isinstance(aws, str) else list(aws)


def test_recreated_user_does_not_inherit_trust(server: TesseraServer) -> None:
    acct = server.root.account_id if server.root else ""
    old_id, bob = _user(server, "bob-trust")
    bob_arn = f"arn:aws:iam::{acct}:user/bob-trust"
    server.client("iam").create_role(
        RoleName="trusts-bob", AssumeRolePolicyDocument=_trust(bob_arn)
    )
    role_arn = f"arn:aws:iam::{acct}:role/trusts-bob"
    server.client("sts", bob).assume_role(RoleArn=role_arn, RoleSessionName="s1")

    _delete_user(server, "bob-trust")
    new_id, new_bob = _user(server, "bob-trust")
    assert new_id != old_id
    code = _code(
        lambda: server.client("sts", new_bob).assume_role(RoleArn=role_arn, RoleSessionName="s1")
    )
    assert code == ("AccessDenied", 403)
    # GetRole shows the dangling principal as the deleted user's unique id
    assert _shown_principals(server, "trusts-bob") == [old_id]

    # naming bob again binds the trust to the bob that exists now
    server.client("iam").update_assume_role_policy(
        RoleName="trusts-bob", PolicyDocument=_trust(bob_arn)
    )
    server.client("sts", new_bob).assume_role(RoleArn=role_arn, RoleSessionName="s1")
    assert _shown_principals(server, "trusts-bob") == [bob_arn]


def test_recreated_role_does_not_inherit_trust_or_sessions(server: TesseraServer) -> None:
    acct = server.root.account_id if server.root else ""
    iam = server.client("iam")
    me = f"arn:aws:iam::{acct}:root"
    iam.create_role(RoleName="jump", AssumeRolePolicyDocument=_trust(me))
    iam.put_role_policy(RoleName="jump", PolicyName="admin", PolicyDocument=ADMIN)
    jump_arn = f"arn:aws:iam::{acct}:role/jump"
    iam.create_role(RoleName="behind-jump", AssumeRolePolicyDocument=_trust(jump_arn))
    target = f"arn:aws:iam::{acct}:role/behind-jump"

    _, jumper = _user(server, "jumper")  # roots may not assume roles
    sts = server.client("sts", jumper)
    old = _session(jumper, sts.assume_role(RoleArn=jump_arn, RoleSessionName="a1"))
    server.client("sts", old).assume_role(RoleArn=target, RoleSessionName="b1")

    iam.delete_role_policy(RoleName="jump", PolicyName="admin")
    iam.delete_role(RoleName="jump")
    # the deleted role's session authenticates nobody, even for GetCallerIdentity
    assert _code(lambda: server.client("sts", old).get_caller_identity()) == (
        "InvalidClientTokenId",
        403,
    )

    iam.create_role(RoleName="jump", AssumeRolePolicyDocument=_trust(me))
    iam.put_role_policy(RoleName="jump", PolicyName="admin", PolicyDocument=ADMIN)
    # ... and stays dead once a role of the same name exists again
    assert _code(lambda: server.client("iam", old).list_users()) == ("InvalidClientTokenId", 403)
    new = _session(jumper, sts.assume_role(RoleArn=jump_arn, RoleSessionName="a1"))
    code = _code(
        lambda: server.client("sts", new).assume_role(RoleArn=target, RoleSessionName="b1")
    )
    assert code == ("AccessDenied", 403)
    assert _shown_principals(server, "behind-jump")[0].startswith("AROA")


@pytest.mark.parametrize("kind", ["GetSessionToken", "GetFederationToken"])
def test_deleted_users_sessions_stop_and_are_not_inherited(
    server: TesseraServer, kind: str
) -> None:
    name = f"sess-{kind.lower()}"
    acct = server.root.account_id if server.root else ""
    role = f"for-{name}"
    server.client("iam").create_role(
        RoleName=role, AssumeRolePolicyDocument=_trust(f"arn:aws:iam::{acct}:root")
    )
    role_arn = f"arn:aws:iam::{acct}:role/{role}"
    _, bob = _user(server, name)
    sts = server.client("sts", bob)
    if kind == "GetSessionToken":
        out = sts.get_session_token()
    else:
        out = sts.get_federation_token(Name="fed", Policy=ADMIN)
    session = _session(bob, out)
    server.client("sts", session).get_caller_identity()  # works while bob exists
    if kind == "GetSessionToken":  # a call the user's policies authorise
        server.client("sts", session).assume_role(RoleArn=role_arn, RoleSessionName="s1")

    _delete_user(server, name)
    assert _code(lambda: server.client("sts", session).get_caller_identity()) == (
        "InvalidClientTokenId",
        403,
    )
    _user(server, name)  # a new user of the same name, also an administrator
    assert _code(
        lambda: server.client("sts", session).assume_role(RoleArn=role_arn, RoleSessionName="s1")
    ) == ("InvalidClientTokenId", 403)
    assert _code(lambda: server.client("sts", session).get_caller_identity()) == (
        "InvalidClientTokenId",
        403,
    )


def test_renamed_user_keeps_its_trust_and_sessions(server: TesseraServer) -> None:
    acct = server.root.account_id if server.root else ""
    _, bob = _user(server, "renamed-bob")
    iam = server.client("iam")
    iam.create_role(
        RoleName="trusts-renamed",
        AssumeRolePolicyDocument=_trust(f"arn:aws:iam::{acct}:user/renamed-bob"),
    )
    session = _session(bob, server.client("sts", bob).get_session_token())
    iam.update_user(UserName="renamed-bob", NewUserName="carol-renamed")
    role_arn = f"arn:aws:iam::{acct}:role/trusts-renamed"
    server.client("sts", bob).assume_role(RoleArn=role_arn, RoleSessionName="s1")
    server.client("sts", session).assume_role(RoleArn=role_arn, RoleSessionName="s2")
    assert _shown_principals(server, "trusts-renamed") == [
        f"arn:aws:iam::{acct}:user/carol-renamed"
    ]
    # a new user under the old name is not carol
    _, impostor = _user(server, "renamed-bob")
    code = _code(
        lambda: server.client("sts", impostor).assume_role(RoleArn=role_arn, RoleSessionName="s1")
    )
    assert code == ("AccessDenied", 403)


def test_trust_naming_no_existing_principal_is_refused(server: TesseraServer) -> None:
    acct = server.root.account_id if server.root else ""
    ghost = f"arn:aws:iam::{acct}:user/nobody-by-this-name"
    with pytest.raises(ClientError) as exc:
        server.client("iam").create_role(RoleName="ghost", AssumeRolePolicyDocument=_trust(ghost))
    err = exc.value.response
    assert err["Error"]["Code"] == "MalformedPolicyDocument"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Message"] == f'Invalid principal in policy: "AWS":"{ghost}"'
    # a wrong path names no existing user either
    _user(server, "pathy", admin=False)
    wrong_path = f"arn:aws:iam::{acct}:user/team/pathy"
    with pytest.raises(ClientError) as exc:
        server.client("iam").create_role(
            RoleName="ghost", AssumeRolePolicyDocument=_trust(wrong_path)
        )
    assert exc.value.response["Error"]["Code"] == "MalformedPolicyDocument"


def test_access_key_of_a_deleted_user_never_serves_a_successor(server: TesseraServer) -> None:
    """A key whose user id is not the current user's authenticates nobody."""
    _, bob = _user(server, "key-bob")
    server.client("iam", bob).list_users()
    _delete_user(server, "key-bob")
    _user(server, "key-bob")
    assert _code(lambda: server.client("iam", bob).list_users()) == ("InvalidClientTokenId", 403)
