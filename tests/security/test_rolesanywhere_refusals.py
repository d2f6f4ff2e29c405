"""CreateSession refusals through the real server (AccessDeniedException, 403):
expired / not-yet-valid / wrong-CA / CA:true / SHA-1 / no-digitalSignature
certificates, a forged signature (another key), a wrong serial in Credential=,
a replayed ECDSA-signed request (an identical RSA-signed one is legitimate: RSA
signatures are deterministic), a stale X-Amz-Date, an oversize chain, a disabled trust anchor
or profile, and a role the profile does not list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes

from tests.e2e.test_rolesanywhere import World, _session, world  # noqa: F401
from tests.e2e.x509_signer import make_ca, make_leaf, new_key, signed_request

pytestmark = pytest.mark.e2e
NOW = datetime.now(UTC)


def _denied(resp: Any, text: str) -> None:
    assert resp.status_code == 403, resp.text
    body = resp.json()
    assert body["__type"] == "AccessDeniedException"
    assert text in body["message"], body


@pytest.mark.parametrize(
    ("case", "text"),
    [
        ("expired", "has expired"),
        ("not-yet-valid", "not yet valid"),
        ("wrong-ca", "does not chain"),
        ("ca-leaf", "CA:false"),
        ("sha1", "SHA-256 or stronger"),
        ("no-digital-signature", "digitalSignature"),
    ],
)
def test_bad_certificates(world: World, case: str, text: str) -> None:  # noqa: F811
    ca = world.ca_ec
    kw: dict[str, Any] = {}
    if case == "expired":
        kw = {"not_before": NOW - timedelta(days=3), "not_after": NOW - timedelta(days=1)}
    elif case == "not-yet-valid":
        kw = {"not_before": NOW + timedelta(days=1), "not_after": NOW + timedelta(days=3)}
    elif case == "wrong-ca":
        ca = make_ca("Stranger CA", "ec")
    elif case == "ca-leaf":
        kw = {"ca_flag": True}
    elif case == "sha1":
        # cryptography 50 cannot sign with SHA-1; SHA-224 takes the same weak-hash path
        kw = {"algorithm": hashes.SHA224()}
    elif case == "no-digital-signature":
        kw = {"digital_signature": False}
    leaf = make_leaf(ca, cn=f"bad-{case}", kind="rsa" if case == "sha1" else "ec", **kw)
    _denied(_session(world, leaf), text)


def test_forged_signature_and_serial(world: World) -> None:  # noqa: F811
    leaf = make_leaf(world.ca_ec, cn="forged")
    _denied(_session(world, leaf, key=new_key("ec")), "does not verify")
    _denied(_session(world, leaf, serial=leaf.cert.serial_number + 1), "serial number")


def test_replay_and_skew(world: World) -> None:  # noqa: F811
    import httpx

    leaf = make_leaf(world.ca_ec, cn="replayed")
    url, headers, body = signed_request(
        world.srv.endpoint,
        leaf,
        trust_anchor_arn=world.anchor_arn,
        profile_arn=world.profile_arn,
        role_arn=world.role_arn,
    )
    assert httpx.post(url, headers=headers, content=body).status_code == 201
    _denied(httpx.post(url, headers=headers, content=body), "already been used")
    # RSA signatures are deterministic: the same request made twice in the same
    # second (two SDK processes starting together) is not a replay and is answered
    rsa_leaf = make_leaf(world.ca_rsa, cn="twins", kind="rsa")
    url, headers, body = signed_request(
        world.srv.endpoint,
        rsa_leaf,
        trust_anchor_arn=world.anchor_arn,
        profile_arn=world.profile_arn,
        role_arn=world.role_arn,
    )
    assert httpx.post(url, headers=headers, content=body).status_code == 201
    assert httpx.post(url, headers=headers, content=body).status_code == 201
    stale = _session(world, leaf, when=NOW - timedelta(minutes=20))
    assert stale.status_code in (400, 403), stale.text
    assert "Signature expired" in stale.text


def test_oversize_chain(world: World) -> None:  # noqa: F811
    leaf = make_leaf(world.ca_ec, cn="long-chain")
    extra = [make_ca(f"I{i}", "ec") for i in range(5)]
    _denied(_session(world, leaf, chain=extra), "more than 4 intermediates")


def test_disabled_anchor_profile_and_unlisted_role(world: World) -> None:  # noqa: F811
    leaf = make_leaf(world.ca_ec, cn="toggled")
    _denied(_session(world, leaf, role_arn=world.other_role_arn), "not listed")
    world.ra.disable_profile(profileId=world.profile_id)
    try:
        _denied(_session(world, leaf), "profile is disabled")
    finally:
        world.ra.enable_profile(profileId=world.profile_id)
    world.ra.disable_trust_anchor(trustAnchorId=world.anchor_id)
    try:
        _denied(_session(world, leaf), "Untrusted")
    finally:
        world.ra.enable_trust_anchor(trustAnchorId=world.anchor_id)
    assert _session(world, leaf).status_code == 201
