"""No parameter is ever silently ignored (#14 §1).

Every implemented operation (``tessera.app.operations.all_operations``, all optional
services configured) is called through the real pipeline, signed by an IAM user
with an allow-all policy, once with a valid *baseline* (its required members, naming
resources created for that call) and once per optional member with that member
added (a valid sample value from the pinned model). Each handler's ``Params``
records the members it asked for (``Params.read``); the test fails unless every
member sent was read, or refused with an error that names it (``Params.refuse``:
IAM ``InvalidInput``, STS ``ValidationError``).

"Read" is recorded when the handler asks for the member, whatever the call answers
afterwards (a member the handler looked at was not ignored). A baseline that fails
*before* the handler reaches a member shows as "not read" with the answer in the
failure message: fix the baseline or list the operation in ``EXEMPT`` with the
reason.

Output members AWS always returns are checked for the operations whose baseline
succeeds (``ALWAYS_RETURNED``, from the model documentation and
``aws-2026-additions.md`` §4)."""

from __future__ import annotations

import functools
import itertools
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials

from tessera.app.bootstrap import build_runtime, init_store
from tessera.app.operations import build_table
from tessera.clock import SystemClock
from tessera.config import ServerConfig
from tessera.operation import OperationContext
from tessera.protocol.model import service_spec
from tessera.protocol.query import Params
from tessera.registry import Operation
from tests.security.test_operation_guard import _Guard, access_denied, sample_member

ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)

#: Operations this test does not call, and why.
EXEMPT: Mapping[str, str] = {
    "sts:AssumeRoleWithWebIdentity": (
        "a baseline needs an OIDC IdP serving JWKS and a signed token; its members are "
        "covered by tests/unit/sts and tests/e2e (web identity)"
    ),
    "sts:AssumeRoleWithSAML": (
        "a baseline needs a SAML provider and a signed assertion; covered by the SAML tests"
    ),
    "iam:CreateSAMLProvider": "a baseline needs signed IdP metadata; covered by the SAML tests",
    "iam:UpdateSAMLProvider": "a baseline needs signed IdP metadata; covered by the SAML tests",
    "sts:DecodeAuthorizationMessage": (
        "its one member is required (read by every successful call, see tests/unit/sts)"
    ),
    "iam:EnableMFADevice": "its members are all required and need live TOTP codes",
    "iam:ResyncMFADevice": "its members are all required and need live TOTP codes",
}

#: Tessera's instance operations (#16), served beside Roles Anywhere: their baselines
#: would need an enrolled instance, a live join token and X.509-signed requests
#: (tests/e2e/test_instances.py drives them); here they must still read or refuse
#: every member they are sent, whatever they answer.
INSTANCE_OPERATIONS = frozenset(
    {
        "CreateInstance",
        "GetInstance",
        "ListInstances",
        "DeleteInstance",
        "DisableInstance",
        "EnableInstance",
        "JoinInstance",
        "RenewInstanceCertificate",
        "CreateInstanceSession",
    }
)

#: Optional members of operations whose baseline cannot reach them, and why.
EXEMPT_MEMBERS: Mapping[str, str] = {
    "iam:ListSAMLProviderTags": (
        "a baseline needs a SAML provider (signed IdP metadata); Marker/MaxItems go "
        "through the shared tag-listing code checked by ListUserTags, ListRoleTags …"
    ),
}

#: Members a baseline includes although the model leaves them optional: the access
#: key belongs to the world's user, not to the caller.
BASELINE_EXTRA: Mapping[str, tuple[str, ...]] = {
    "UpdateAccessKey": ("UserName",),
    # the model leaves all three optional (they may travel in the query string), but
    # a session names them all; the baseline (SigV4-signed, not AWS4-X509) is then
    # refused by the signature check after every member was read
    "CreateSession": ("profileArn", "roleArn", "trustAnchorArn"),
    "DeleteAccessKey": ("UserName",),
}

#: Output members AWS always returns, per operation (model docs; for the token-size
#: pair aws-2026-additions.md §4: "every credential-issuing operation returns").
ALWAYS_RETURNED: Mapping[str, tuple[str, ...]] = {
    "rolesanywhere:CreateTrustAnchor": ("trustAnchor",),
    "rolesanywhere:CreateProfile": ("profile",),
    "rolesanywhere:ImportCrl": ("crl",),
    "sts:GetCallerIdentity": ("UserId", "Account", "Arn"),
    "sts:AssumeRole": (
        "Credentials",
        "AssumedRoleUser",
        "SessionTokenSize",
        "SessionTokenUtilization",
    ),
    "sts:GetFederationToken": (
        "Credentials",
        "FederatedUser",
        "SessionTokenSize",
        "SessionTokenUtilization",
    ),
    "sts:GetSessionToken": ("Credentials", "SessionTokenSize", "SessionTokenUtilization"),
    "sts:GetWebIdentityToken": ("WebIdentityToken", "Expiration"),
}

#: Creating operations: the member naming the new entity gets a fresh name.
FRESH: Mapping[tuple[str, str], str] = {
    ("CreateUser", "UserName"): "new-u{n}",
    ("CreateGroup", "GroupName"): "new-g{n}",
    ("CreateRole", "RoleName"): "new-r{n}",
    ("CreatePolicy", "PolicyName"): "new-p{n}",
    ("CreateVirtualMFADevice", "VirtualMFADeviceName"): "new-mfa{n}",
    ("CreateInstanceProfile", "InstanceProfileName"): "new-ip{n}",
    ("UploadServerCertificate", "ServerCertificateName"): "new-sc{n}",
    ("CreateTrustAnchor", "name"): "new-ta{n}",
    ("CreateProfile", "name"): "new-prof{n}",
    ("ImportCrl", "name"): "new-crl{n}",
}

_counter = itertools.count(1)


@functools.cache
def _server_certificate() -> tuple[str, str]:
    """A self-signed certificate and its key (PEM) for the certificate operations."""
    from tests.unit.iam.certs import self_signed

    return self_signed("guard.example.com")


@functools.cache
def _ssh_key() -> str:
    from tests.unit.iam.certs import ssh_ed25519

    return ssh_ed25519()


@functools.cache
def _ra_ca() -> tuple[str, bytes, str]:
    """A CA (PEM) for the Roles Anywhere trust anchors, made once per test module,
    a CRL (PEM) it signed, and a leaf certificate (PEM) it issued."""
    from tests.e2e.x509_signer import make_ca, make_crl, make_leaf

    ca = make_ca("No Silent Ignore CA", "ec")
    leaf = make_leaf(ca)
    return ca.pem, make_crl(ca, [leaf.cert]), leaf.pem


class _World:
    """The resources one call names: created afresh (suffix ``n``) for every call, so
    a renaming or deleting baseline never disturbs the next."""

    def __init__(self, t: _Tester) -> None:
        n = self.n = next(_counter)
        acct = t.account
        self.user, self.group, self.role = f"u{n}", f"g{n}", f"r{n}"
        self.policy_arn = f"arn:aws:iam::{acct}:policy/p{n}"
        self.oidc_url = f"idp{n}.example.com"
        self.oidc_arn = f"arn:aws:iam::{acct}:oidc-provider/{self.oidc_url}"
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": acct},
                    "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
                }
            ],
        }
        self.trust = json.dumps(trust)
        t.root("CreateUser", UserName=self.user)
        t.root("CreateGroup", GroupName=self.group)
        t.root("AddUserToGroup", GroupName=self.group, UserName=self.user)
        t.root("CreateRole", RoleName=self.role, AssumeRolePolicyDocument=self.trust)
        t.root("CreatePolicy", PolicyName=f"p{n}", PolicyDocument=ALLOW_ALL)
        for op, key, name in (
            ("PutUserPolicy", "UserName", self.user),
            ("PutGroupPolicy", "GroupName", self.group),
            ("PutRolePolicy", "RoleName", self.role),
        ):
            t.root(op, **{key: name, "PolicyName": "inline", "PolicyDocument": ALLOW_ALL})
        for op, key, name in (
            ("AttachUserPolicy", "UserName", self.user),
            ("AttachGroupPolicy", "GroupName", self.group),
            ("AttachRolePolicy", "RoleName", self.role),
        ):
            t.root(op, **{key: name, "PolicyArn": self.policy_arn})
        body = t.root("CreateAccessKey", UserName=self.user)
        self.akid = body.split("<AccessKeyId>")[1].split("<")[0]
        t.root(
            "CreateOpenIDConnectProvider",
            Url=f"https://{self.oidc_url}",
            ClientIDList=["client"],
            ThumbprintList=["a" * 40],
        )
        body = t.root("CreateVirtualMFADevice", VirtualMFADeviceName=f"mfa{n}")
        self.mfa = body.split("<SerialNumber>")[1].split("<")[0]
        t.root("CreateInstanceProfile", InstanceProfileName=f"ip{n}")
        self.ra: dict[str, str] = {}

    def rolesanywhere(self, t: _Tester) -> None:
        """A trust anchor (the module's CA), a profile naming this world's role, a CRL
        of the anchor, and a subject (an authentication recorded on the anchor)."""
        from tessera.rolesanywhere.model import CredentialRecord

        pem, crl, leaf = _ra_ca()
        n, acct = self.n, t.account
        anchor = json.loads(
            t.ra(
                "CreateTrustAnchor",
                name=f"ta{n}",
                source={
                    "sourceType": "CERTIFICATE_BUNDLE",
                    "sourceData": {"x509CertificateData": pem},
                },
            )
        )["trustAnchor"]
        profile = json.loads(
            t.ra(
                "CreateProfile",
                name=f"prof{n}",
                roleArns=[f"arn:aws:iam::{acct}:role/{self.role}"],
            )
        )["profile"]
        imported = json.loads(
            t.ra("ImportCrl", name=f"crl{n}", crlData=crl, trustAnchorArn=anchor["trustAnchorArn"])
        )["crl"]
        store = t.runtime.store
        subject = store.record_ra_credential(
            acct,
            "us-east-1",
            f"CN=subject{n}",
            CredentialRecord(
                seen_at=datetime.now(UTC).replace(microsecond=0),
                serial_number=str(n),
                issuer="CN=No Silent Ignore CA",
                failed=True,
                certificate_pem=leaf,
            ),
            new_subject_id=str(uuid.uuid4()),
        )
        self.ra = {
            "trustAnchorId": anchor["trustAnchorId"],
            "trustAnchorArn": anchor["trustAnchorArn"],
            "profileId": profile["profileId"],
            "profileArn": profile["profileArn"],
            "crlId": imported["crlId"],
            "subjectId": subject.subject_id,
        }

    def server_certificate(self, t: _Tester) -> None:
        """Upload this world's server certificate (AWS's quota is 20 per account:
        ``_drop_server_certificates`` empties the account after each such call)."""
        cert, key = _server_certificate()
        t.root(
            "UploadServerCertificate",
            ServerCertificateName=f"sc{self.n}",
            CertificateBody=cert,
            PrivateKey=key,
        )

    def value(self, op: Operation, member: str) -> Any:
        """A valid value of ``member`` naming this world's resources (None: use the
        model's sample)."""
        fresh = FRESH.get((op.name, member))
        if fresh is not None:
            return fresh.format(n=self.n)
        acct = self.policy_arn.split(":")[4]
        table: dict[str, Any] = {
            "UserName": self.user,
            "GroupName": self.group,
            "RoleName": self.role,
            "PolicyArn": self.policy_arn,
            "PermissionsBoundary": self.policy_arn,
            "PolicyName": "inline",
            "PolicyDocument": ALLOW_ALL,
            "AssumeRolePolicyDocument": self.trust,
            "OpenIDConnectProviderArn": self.oidc_arn,
            "AccessKeyId": self.akid,
            "SerialNumber": self.mfa,
            "VersionId": "v1",
            "PolicySourceArn": f"arn:aws:iam::{acct}:user/{self.user}",
            "RoleArn": f"arn:aws:iam::{acct}:role/{self.role}",
            "RoleSessionName": "session",
            # LookupEvents' time range (a timestamp the model samples cannot give)
            "StartTime": datetime(2026, 1, 1, tzinfo=UTC),
            "EndTime": datetime(2026, 1, 2, tzinfo=UTC),
            "PolicyInputList": [ALLOW_ALL],
            "PermissionsBoundaryPolicyInputList": [ALLOW_ALL],
            "ResourcePolicy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}
                    ],
                }
            ),
            "ActionNames": ["s3:GetObject"],
            "Url": f"https://new{self.n}.example.com",
            "ClientID": "client2",
            "ThumbprintList": ["b" * 40],
            "InstanceProfileName": f"ip{self.n}",
            "ServerCertificateName": f"sc{self.n}",
            "CertificateBody": _server_certificate()[0],
            "PrivateKey": _server_certificate()[1],
            "SSHPublicKeyBody": _ssh_key(),
            "ServiceName": "codecommit.amazonaws.com",
            "EntityPath": "o-a1b2c3d4e5/r-ab12",
        }
        if op.service == "rolesanywhere":
            return self._ra_value(member)
        if op.name == "GetFederationToken" and member == "Name":
            return "fed"
        if op.name == "GetWebIdentityToken":
            table |= {"Audience": ["https://rp.example.com"], "SigningAlgorithm": "RS256"}
        if op.name == "UpdateAccessKey" and member == "Status":
            return "Inactive"
        return table.get(member)

    def _ra_value(self, member: str) -> Any:
        """A Roles Anywhere member naming this world's resources (after ``FRESH``)."""
        acct = self.policy_arn.split(":")[4]
        ra = self.ra
        pem, crl, _ = _ra_ca()
        table: dict[str, Any] = {
            "trustAnchorId": ra["trustAnchorId"],
            "trustAnchorArn": ra["trustAnchorArn"],
            "profileId": ra["profileId"],
            "profileArn": ra["profileArn"],
            "crlId": ra["crlId"],
            "subjectId": ra["subjectId"],
            "resourceArn": ra["profileArn"],
            "roleArn": f"arn:aws:iam::{acct}:role/{self.role}",
            "roleArns": [f"arn:aws:iam::{acct}:role/{self.role}"],
            "name": f"renamed{self.n}",
            "source": {
                "sourceType": "CERTIFICATE_BUNDLE",
                "sourceData": {"x509CertificateData": pem},
            },
            "crlData": crl,
            "sessionPolicy": ALLOW_ALL,
            "managedPolicyArns": [self.policy_arn],
            "durationSeconds": 3600,
            "roleSessionName": "session",
            "certificateField": "x509Subject",
            "mappingRules": [{"specifier": "CN"}],
            "specifiers": ["CN"],
            "notificationSettings": [
                {"enabled": True, "event": "CA_CERTIFICATE_EXPIRY", "threshold": 30}
            ],
            "notificationSettingKeys": [{"event": "CA_CERTIFICATE_EXPIRY"}],
            "tags": [{"key": "team", "value": "blue"}],
            "tagKeys": ["team"],
        }
        return table.get(member)


class _Tester(_Guard):
    def __init__(self, guard_keys: Credentials, runtime: Any) -> None:
        super().__init__(runtime, guard_keys)
        runtime.authorizer = self.recorder.inner  # handlers may use the real one
        self.root_keys = guard_keys
        self.seen: dict[str, Params[Any]] = {}
        # every handler records the Params it was given (by request id)
        for ops in runtime.operations.values():
            for name, op in list(ops.items()):
                ops[name] = replace(op, handler=self._spy(op))

    def _spy(self, op: Operation) -> Any:
        inner = op.handler

        def handler(ctx: OperationContext, params: Params[Any]) -> Any:
            self.seen[ctx.request_id] = params
            return inner(ctx, params)

        return handler

    def root(self, operation: str, **params: Any) -> str:
        status, body, _ = self.call("iam", operation, params, self.root_keys)
        assert status == 200, (operation, body)
        return body

    def ra(self, operation: str, **params: Any) -> str:
        status, body, _ = self.call("rolesanywhere", operation, params, self.root_keys)
        assert status in (200, 201), (operation, body)
        return body

    def send(self, op: Operation, params: Mapping[str, Any]) -> tuple[int, str, Params[Any]]:
        before = set(self.seen)
        status, body, _ = self.call(op.service, op.name, params, self.keys)
        new = [rid for rid in self.seen if rid not in before]
        assert len(new) == 1, f"{op.name}: the handler was not reached: {status} {body}"
        return status, body, self.seen[new[0]]


@pytest.fixture(scope="module")
def tester(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Tester]:
    data_dir: Path = tmp_path_factory.mktemp("no-silent-ignore")
    root = init_store(data_dir, None, SystemClock())
    runtime = build_runtime(ServerConfig(data_dir=data_dir))
    assert runtime.optional_services() == {"issuers", "inbound_oidc"}
    t = _Tester(Credentials(root.access_key_id, root.secret_access_key), runtime)
    t.account = root.account_id
    t.root("CreateUser", UserName="admin")
    t.root("PutUserPolicy", UserName="admin", PolicyName="all", PolicyDocument=ALLOW_ALL)
    body = t.root("CreateAccessKey", UserName="admin")
    akid = body.split("<AccessKeyId>")[1].split("<")[0]
    secret = body.split("<SecretAccessKey>")[1].split("<")[0]
    t.keys = Credentials(akid, secret)
    t.root("EnableOutboundWebIdentityFederation")
    # the caller's account manages an organization, so Organizations handlers get
    # past "not in an organization" and read their members
    status, body, _ = t.call("organizations", "CreateOrganization", {}, t.keys)
    assert status == 200, body
    yield t
    if runtime.bookkeeping is not None:
        runtime.bookkeeping.close()
    runtime.store.close()


def _operations() -> list[Operation]:
    table = build_table(("issuers", "inbound_oidc"))
    ops = (op for ops in table.values() for op in ops.values())
    return sorted(ops, key=lambda o: o.key)


OPERATIONS = _operations()


def _shape(op: Operation) -> Any:
    return service_spec(op.service).model.operation_model(op.name).input_shape


def _cases() -> list[tuple[Operation, str | None]]:
    cases: list[tuple[Operation, str | None]] = []
    for op in OPERATIONS:
        if f"{op.service}:{op.name}" in EXEMPT:
            continue
        shape = _shape(op)
        cases.append((op, None))
        if shape is not None and f"{op.service}:{op.name}" not in EXEMPT_MEMBERS:
            cases += [(op, m) for m in shape.members if m not in shape.required_members]
    return cases


CASES = _cases()


def _sample(op: Operation, member: str, world: _World) -> Any:
    value = world.value(op, member)
    if value is not None:
        return value
    value = sample_member(member, _shape(op).members[member])
    if isinstance(value, list):  # one item: two equal tags would be a duplicate
        value = value[:1]
    assert value is not None, f"{op.name}.{member}: add a sample to _World.value"
    return value


def _drop_server_certificates(tester: _Tester) -> None:
    body = tester.root("ListServerCertificates")
    for chunk in body.split("<ServerCertificateName>")[1:]:
        tester.root("DeleteServerCertificate", ServerCertificateName=chunk.split("<")[0])


def _baseline(op: Operation, world: _World) -> dict[str, Any]:
    shape = _shape(op)
    if shape is None:
        return {}
    members = (*shape.required_members, *BASELINE_EXTRA.get(op.name, ()))
    return {m: _sample(op, m, world) for m in members}


@pytest.mark.parametrize(
    ("op", "member"),
    CASES,
    ids=[f"{o.service}:{o.name}:{m or '(baseline)'}" for o, m in CASES],
)
def test_every_member_is_read_or_refused(
    tester: _Tester, op: Operation, member: str | None
) -> None:
    world = _World(tester)
    if "ServerCertificate" in op.name:
        world.server_certificate(tester)
    if op.service == "rolesanywhere":
        world.rolesanywhere(tester)
    params = _baseline(op, world)
    if member is not None:
        params[member] = _sample(op, member, world)
    try:
        status, body, seen = tester.send(op, params)
    finally:
        if "ServerCertificate" in op.name:
            _drop_server_certificates(tester)
    if member is not None and status >= 400 and "not supported by Tessera" in body:
        # refused: the request did nothing, so no member of it was ignored
        named = f"parameter {member} " in body or f"{op.name} is not supported" in body
        assert member in seen.read and named, body
        return
    if member is None and op.service == "rolesanywhere" and op.name not in INSTANCE_OPERATIONS:
        # the world names real resources: every baseline succeeds but CreateSession's,
        # SigV4- rather than AWS4-X509-signed, refused after reading its members
        if op.name == "CreateSession":
            assert status == 403 and "AWS4-X509" in body, body
        else:
            assert status < 400, body
    unread = sorted(set(params) - seen.read)
    assert not unread, (
        f"{op.service}:{op.name} ignored {unread}: neither read nor refused "
        f"(answer {status}: {body[:400]})"
    )
    key = f"{op.service}:{op.name}"
    if member is None and key in ALWAYS_RETURNED:
        if op.service == "rolesanywhere":  # REST-JSON: creations answer 201
            assert status in (200, 201), body
            missing = [m for m in ALWAYS_RETURNED[key] if m not in json.loads(body)]
        else:
            assert status == 200, body
            missing = [m for m in ALWAYS_RETURNED[key] if f"<{m}>" not in body]
        assert not missing, f"{key} does not return {missing}"


def test_exemptions_name_declared_operations() -> None:
    names = {f"{o.service}:{o.name}" for o in OPERATIONS}
    assert set(EXEMPT) <= names
    assert set(EXEMPT_MEMBERS) <= names
    assert set(ALWAYS_RETURNED) <= names


def _unsupported() -> list[tuple[str, str]]:
    from tessera.iam import unsupported as iam_unsupported
    from tessera.organizations import unsupported as org_unsupported
    from tessera.sts import unsupported as sts_unsupported

    return (
        [("sts", n) for n in sts_unsupported.UNSUPPORTED]
        + [("iam", n) for n in iam_unsupported.UNSUPPORTED]
        + [("organizations", n) for n in org_unsupported.UNSUPPORTED]
    )


@pytest.mark.parametrize(("service", "name"), _unsupported(), ids=lambda v: str(v))
def test_operations_not_built_answer_access_denied(
    tester: _Tester, service: str, name: str
) -> None:
    """#14 §6: a clean refusal (AccessDenied 403 naming the operation, as AWS answers
    an account outside its partner programmes), never InvalidAction."""
    op = next(o for o in OPERATIONS if o.key == (service, name))
    assert op.action == f"{service}:{name}"
    status, body, _ = tester.send(op, _baseline(op, _World(tester)))
    assert access_denied(service, status, body), body
    assert f"{name} is not supported by Tessera" in body, body


def test_refuse_names_the_member_with_the_service_error() -> None:
    from tessera.errors import InvalidInput, ValidationError
    from tessera.protocol.query import params_for

    iam = params_for(service_spec("iam"), "CreateRole", {"MaxSigninSessionDuration": 3600})
    with pytest.raises(InvalidInput, match="parameter MaxSigninSessionDuration is not supported"):
        iam.refuse("MaxSigninSessionDuration", "why")
    sts = params_for(service_spec("sts"), "AssumeRole", {"ExternalId": "x"})
    with pytest.raises(ValidationError, match="parameter ExternalId is not supported"):
        sts.refuse("ExternalId", "why")
    absent = params_for(service_spec("sts"), "AssumeRole", {})
    absent.refuse("ExternalId", "why")  # absent: handled, nothing raised
    absent.get_str("RoleArn")
    assert absent.read == {"ExternalId", "RoleArn"}
    absent.raw()
    assert "Policy" not in absent.read  # raw/in/iteration record nothing
