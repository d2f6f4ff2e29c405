"""Adversarial tests of instance enrolment and credentials (#16): join tokens are
stored only as hashes and the CA key only sealed; an instance certificate gets its
own instance profile's role and nothing else whatever the request says; forged,
foreign-CA and replayed requests are refused; a bad CSR does not burn a token;
the server's log never shows a join token."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tessera.agent.errors import AgentError
from tessera.agent.instance import InstanceAgent, join
from tessera.agent.signer import X509Identity, sign_request
from tessera.cli.main import main
from tests.e2e.server import TesseraServer

pytestmark = pytest.mark.e2e


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    return rc, out.getvalue(), err.getvalue()


@dataclass
class Lab:
    srv: TesseraServer
    account: str
    tmp: Path
    tokens: list[str]

    def create(self, profile: str, *more: str) -> dict[str, str]:
        rc, out, err = _cli(
            "instance",
            "create",
            "--data-dir",
            str(self.srv.data_dir),
            "--account",
            self.account,
            "--instance-profile",
            profile,
            "--json",
            *more,
        )
        assert rc == 0, err
        created: dict[str, str] = json.loads(out)
        self.tokens.append(created["join_token"])
        return created

    def enrol(self, profile: str, name: str) -> InstanceAgent:
        created = self.create(profile)
        join(self.srv.endpoint, created["join_token"], self.tmp / name, clock=_Clock())
        return InstanceAgent(self.tmp / name, clock=_Clock())


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    tmp = tmp_path_factory.mktemp("instances-sec")
    srv = TesseraServer(data_dir=tmp / "data")
    root = srv.init()
    srv.start()
    try:
        iam = srv.client("iam", root)
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ec2.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        for name in ("a", "b"):
            iam.create_role(RoleName=f"role-{name}", AssumeRolePolicyDocument=json.dumps(trust))
            iam.create_instance_profile(InstanceProfileName=f"profile-{name}")
            iam.add_role_to_instance_profile(
                InstanceProfileName=f"profile-{name}", RoleName=f"role-{name}"
            )
        # a role whose trust policy does not name ec2.amazonaws.com
        iam.create_role(
            RoleName="not-for-ec2",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )
        iam.create_instance_profile(InstanceProfileName="profile-lambda")
        iam.add_role_to_instance_profile(
            InstanceProfileName="profile-lambda", RoleName="not-for-ec2"
        )
        yield Lab(srv, root.account_id, tmp, [])
    finally:
        srv.stop()


def _csr(key: Any) -> str:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "i-00000000000000000")]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _post_join(lab: Lab, body: dict[str, object]) -> httpx.Response:
    return httpx.post(lab.srv.endpoint + "/tessera/instances/join", json=body, timeout=10)


def _signed(
    lab: Lab, identity: X509Identity, path: str, doc: dict[str, object]
) -> tuple[dict[str, str], bytes]:
    body = json.dumps(doc).encode()
    headers = sign_request(
        identity,
        method="POST",
        host=f"127.0.0.1:{lab.srv.port}",
        path=path,
        query_string="",
        body=body,
        region="us-east-1",
        now=datetime.now(UTC),
    )
    return dict(headers), body


def test_join_tokens_are_stored_hashed_only_and_ca_key_sealed(lab: Lab) -> None:
    created = lab.create("profile-a")
    # the database with its write-ahead log
    db = b"".join(p.read_bytes() for p in sorted(lab.srv.data_dir.glob("tessera.db*")))
    assert created["join_token"].encode() not in db
    assert hashlib.sha256(created["join_token"].encode()).hexdigest().encode() in db
    assert b"PRIVATE KEY" not in db
    from tessera.app.bootstrap import open_store

    store = open_store(lab.srv.data_dir, None)
    try:
        ca = store.get_instance_ca("default")
    finally:
        store.close()
    assert ca is not None and b"PRIVATE KEY" in ca.private_pem
    key = serialization.load_pem_private_key(ca.private_pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    scalar = key.private_numbers().private_value.to_bytes(48, "big")
    assert scalar not in db


def test_bad_csrs_are_refused_without_burning_the_token(lab: Lab) -> None:
    token = lab.create("profile-a")["join_token"]
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    for csr in (_csr(weak), "not a csr", _csr(ec.generate_private_key(ec.SECP521R1()))):
        answer = _post_join(lab, {"joinToken": token, "csr": csr})
        assert answer.status_code == 400, answer.text
    # a CSR whose signature does not verify (the signature bytes flipped)
    good = x509.load_pem_x509_csr(_csr(ec.generate_private_key(ec.SECP256R1())).encode())
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01
    broken = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    answer = _post_join(lab, {"joinToken": token, "csr": broken.decode()})
    assert answer.status_code == 400 and "signature" in answer.text
    answer = _post_join(
        lab, {"joinToken": token, "csr": _csr(ec.generate_private_key(ec.SECP256R1()))}
    )
    assert answer.status_code == 200, answer.text
    # the CSR's subject was ignored: the server named the instance
    cert = x509.load_pem_x509_certificate(answer.json()["certificate"].encode())
    assert (
        cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        == answer.json()["instanceId"]
    )


def test_guessed_and_oversized_tokens_are_refused(lab: Lab) -> None:
    csr = _csr(ec.generate_private_key(ec.SECP256R1()))
    for token in ("x" * 43, "A" * 128):
        answer = _post_join(lab, {"joinToken": token, "csr": csr})
        assert answer.status_code == 403 and "not valid" in answer.text
    assert _post_join(lab, {"joinToken": "A" * 129, "csr": csr}).status_code in (400, 403)


def test_certificate_of_a_cannot_get_b_role(lab: Lab) -> None:
    a = lab.enrol("profile-a", "cert-a")
    b = lab.enrol("profile-b", "cert-b")
    assert a.create_session().role_arn.endswith(":role/role-a")
    assert b.create_session().role_arn.endswith(":role/role-b")
    # request fields naming B (or its role) are refused or ignored, never honoured
    headers, body = _signed(
        lab,
        a.identity(),
        "/tessera/instances/session",
        {"instanceId": b.state.instance_id, "roleArn": f"arn:aws:iam::{lab.account}:role/role-b"},
    )
    answer = httpx.post(
        lab.srv.endpoint + "/tessera/instances/session", content=body, headers=headers, timeout=10
    )
    # (unknown JSON members are not part of the call, as at AWS: the answer is A's)
    assert answer.status_code == 201, answer.text
    entry = answer.json()["credentialSet"][0]
    assert entry["roleArn"].endswith(":role/role-a")
    assert entry["assumedRoleUser"]["arn"].endswith(f"/role-a/{a.state.instance_id}")


def test_role_must_trust_ec2(lab: Lab) -> None:
    agent = lab.enrol("profile-lambda", "lambda")
    with pytest.raises(AgentError, match="AccessDenied"):
        agent.create_session()


def _self_signed(key: Any, cn: str, uri: str, *, ca_name: str | None = None) -> x509.Certificate:
    now = datetime.now(UTC)
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name or cn)])
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def test_forged_certificates_are_refused(lab: Lab) -> None:
    victim = lab.enrol("profile-b", "victim")
    iid = victim.state.instance_id
    key = ec.generate_private_key(ec.SECP256R1())
    uri = f"tessera://{lab.account}/instance/{iid}"
    for cert in (
        _self_signed(key, iid, uri),
        _self_signed(key, iid, uri, ca_name="Tessera instance CA"),
    ):
        headers, body = _signed(lab, X509Identity(cert, key), "/tessera/instances/session", {})
        answer = httpx.post(
            lab.srv.endpoint + "/tessera/instances/session",
            content=body,
            headers=headers,
            timeout=10,
        )
        assert answer.status_code == 403, answer.text
        assert "credentialSet" not in answer.text


def test_replayed_requests_are_refused(lab: Lab) -> None:
    agent = lab.enrol("profile-a", "replay")
    headers, body = _signed(lab, agent.identity(), "/tessera/instances/session", {})
    url = lab.srv.endpoint + "/tessera/instances/session"
    first = httpx.post(url, content=body, headers=headers, timeout=10)
    assert first.status_code == 201, first.text
    again = httpx.post(url, content=body, headers=headers, timeout=10)
    assert again.status_code == 403 and "already been used" in again.text
    # a tampered body breaks the signature
    headers, body = _signed(lab, agent.identity(), "/tessera/instances/session", {})
    tampered = httpx.post(url, content=body.replace(b"{}", b"{ }"), headers=headers, timeout=10)
    assert tampered.status_code == 403


def test_the_log_never_shows_join_tokens(lab: Lab) -> None:
    text = lab.srv.log_text()
    assert lab.tokens and not any(token in text for token in lab.tokens)
    assert "PRIVATE KEY" not in text
