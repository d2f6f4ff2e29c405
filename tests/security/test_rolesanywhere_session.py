"""Roles Anywhere CreateSession refusals an attacker would try, against a real server:
a leaf really signed with SHA-1 (and one with SHA-224) from a trusted CA; a role
trusting ``rolesanywhere.amazonaws.com`` only for *another* trust anchor
(``aws:SourceArn``), or only for another certificate CN
(``aws:PrincipalTag/x509Subject/CN``); and a role deleted and re-created under the
name a profile lists. Each attack is paired with the request that succeeds when the
one attacked condition is met, so a refusal for any other reason cannot pass."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes

from tests.e2e.server import TesseraServer
from tests.e2e.x509_signer import Issued, create_session, make_ca, make_leaf, make_sha1_leaf

pytestmark = pytest.mark.e2e

SERVICE = "rolesanywhere.amazonaws.com"
ACTIONS = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]


def _trust(condition: dict[str, Any] | None) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": SERVICE},
        "Action": ACTIONS,
    }
    if condition is not None:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _anchor(ra: Any, name: str, ca: Issued) -> str:
    return str(
        ra.create_trust_anchor(
            name=name,
            source={
                "sourceType": "CERTIFICATE_BUNDLE",
                "sourceData": {"x509CertificateData": ca.pem},
            },
            enabled=True,
        )["trustAnchor"]["trustAnchorArn"]
    )


@dataclass
class World:
    srv: TesseraServer
    account: str
    ca: Issued
    anchor: str  # the trust anchor of ``ca``
    other_anchor: str  # another account trust anchor (another CA)
    profile: str
    roles: dict[str, str]  # name -> ARN


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    srv = TesseraServer(data_dir=tmp_path_factory.mktemp("ra-sec") / "data")
    root = srv.init()
    srv.start()
    try:
        iam = srv.client("iam", root)
        ra = srv.client("rolesanywhere", root)
        ca = make_ca("Security RSA Root", "rsa")
        anchor = _anchor(ra, "trusted", ca)
        other_anchor = _anchor(ra, "elsewhere", make_ca("Other Root", "ec"))
        trusts = {
            "right-anchor": _trust({"ArnEquals": {"aws:SourceArn": anchor}}),
            "wrong-anchor": _trust({"ArnEquals": {"aws:SourceArn": other_anchor}}),
            "cn-bound": _trust({"StringEquals": {"aws:PrincipalTag/x509Subject/CN": "billing"}}),
            "recreated": _trust(None),
        }
        roles = {
            name: iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc)["Role"]["Arn"]
            for name, doc in trusts.items()
        }
        profile = ra.create_profile(name="security", roleArns=list(roles.values()), enabled=True)[
            "profile"
        ]["profileArn"]
        yield World(srv, root.account_id, ca, anchor, other_anchor, profile, roles)
    finally:
        srv.stop()


def _session(w: World, leaf: Issued, role: str) -> Any:
    return create_session(
        w.srv.endpoint,
        leaf,
        trust_anchor_arn=w.anchor,
        profile_arn=w.profile,
        role_arn=w.roles[role],
    )


def _denied(resp: Any) -> str:
    assert resp.status_code == 403, resp.text
    body = resp.json()
    assert body["__type"] == "AccessDeniedException", body
    return str(body["message"])


def _assumed(w: World, resp: Any, role: str, leaf: Issued) -> None:
    assert resp.status_code == 201, resp.text
    arn = resp.json()["credentialSet"][0]["assumedRoleUser"]["arn"]
    serial = format(leaf.cert.serial_number, "x")
    assert arn == f"arn:aws:sts::{w.account}:assumed-role/{role}/{serial}"


def test_sha1_signed_leaf_is_refused(world: World) -> None:
    leaf = make_sha1_leaf(world.ca, cn="sha1-host")
    assert isinstance(leaf.cert.signature_hash_algorithm, hashes.SHA1)
    message = _denied(_session(world, leaf, "right-anchor"))
    assert message == (
        "The signature of the end-entity certificate uses SHA1; SHA-256 or stronger is required."
    )
    # the same CA, SHA-256: accepted
    good = make_leaf(world.ca, cn="sha256-host")
    _assumed(world, _session(world, good, "right-anchor"), "right-anchor", good)


def test_sha224_signed_leaf_is_refused(world: World) -> None:
    leaf = make_leaf(world.ca, cn="sha224-host", algorithm=hashes.SHA224())
    assert "SHA224" in _denied(_session(world, leaf, "right-anchor"))


def test_trust_policy_naming_another_trust_anchor_is_refused(world: World) -> None:
    leaf = make_leaf(world.ca, cn="anchor-test")
    _denied(_session(world, leaf, "wrong-anchor"))
    # the same certificate and profile reach the role whose SourceArn is this anchor
    _assumed(world, _session(world, leaf, "right-anchor"), "right-anchor", leaf)


def test_trust_policy_naming_another_cn_is_refused(world: World) -> None:
    intruder = make_leaf(world.ca, cn="payroll")
    _denied(_session(world, intruder, "cn-bound"))
    billing = make_leaf(world.ca, cn="billing")
    _assumed(world, _session(world, billing, "cn-bound"), "cn-bound", billing)


def test_role_recreated_under_the_listed_name_is_refused(world: World) -> None:
    leaf = make_leaf(world.ca, cn="recreate-test")
    _assumed(world, _session(world, leaf, "recreated"), "recreated", leaf)
    iam = world.srv.client("iam", world.srv.root)
    iam.delete_role(RoleName="recreated")
    iam.create_role(RoleName="recreated", AssumeRolePolicyDocument=_trust(None))
    again = make_leaf(world.ca, cn="recreate-test")
    assert _denied(_session(world, again, "recreated")) == "The role is not listed in the profile."
