"""The AWS4-X509 signer, checked by an independent verifier (tests/agent_support.py:
its own canonical request and string to sign, ``cryptography`` for the signature)."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from tests.agent_support import Pki, verify_x509_request

from tessera.agent.errors import AgentError
from tessera.agent.signer import load_identity, sign_request


@pytest.fixture(params=["rsa", "ec"])
def pki(request: pytest.FixtureRequest, tmp_path: Path) -> Pki:
    return Pki(tmp_path, kind=request.param)


QUERY = "profileArn=arn%3Aaws%3Arolesanywhere%3Aus-east-1%3A1%3Aprofile%2Fp&roleArn=r%20x"


def _sign(pki: Pki, intermediates: Path | None = None, body: bytes = b'{"a": 1}') -> list:
    identity = load_identity(pki.cert_path, pki.key_path, intermediates)
    return sign_request(
        identity,
        method="POST",
        host="127.0.0.1:8443",
        path="/sessions",
        query_string=QUERY,
        body=body,
        region="us-east-1",
        now=datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC),
    )


def test_signature_verifies_independently(pki: Pki) -> None:
    headers = _sign(pki)
    cert = verify_x509_request("POST", "/sessions?" + QUERY, headers, b'{"a": 1}')
    assert cert.serial_number == pki.leaf_cert.serial_number
    auth = dict(headers)["Authorization"]
    expected = "AWS4-X509-RSA-SHA256" if pki.kind == "rsa" else "AWS4-X509-ECDSA-SHA256"
    assert auth.startswith(f"{expected} Credential={pki.leaf_cert.serial_number}/20260301/")
    assert "/us-east-1/rolesanywhere/aws4_request, " in auth
    assert dict(headers)["X-Amz-Date"] == "20260301T120000Z"
    der = pki.leaf_cert.public_bytes(serialization.Encoding.DER)
    assert dict(headers)["X-Amz-X509"] == base64.b64encode(der).decode()
    assert "X-Amz-X509-Chain" not in dict(headers)


def test_tampered_body_or_query_fails_verification(pki: Pki) -> None:
    headers = _sign(pki)
    with pytest.raises(InvalidSignature):
        verify_x509_request("POST", "/sessions?" + QUERY, headers, b'{"a": 2}')
    with pytest.raises(InvalidSignature):
        verify_x509_request("POST", "/sessions?roleArn=other", headers, b'{"a": 1}')


def test_chain_header_carries_intermediates_and_is_signed(pki: Pki) -> None:
    pki.issue_leaf(via_intermediate=True)
    headers = _sign(pki, intermediates=pki.inter_path)
    chain = dict(headers)["X-Amz-X509-Chain"].split(",")
    assert [x509.load_der_x509_certificate(base64.b64decode(c)) for c in chain] == [pki.inter_cert]
    assert "x-amz-x509-chain" in dict(headers)["Authorization"]
    verify_x509_request("POST", "/sessions?" + QUERY, headers, b'{"a": 1}')
    tampered = [(n, v if n != "X-Amz-X509-Chain" else v + "AA") for n, v in headers]
    with pytest.raises(InvalidSignature):
        verify_x509_request("POST", "/sessions?" + QUERY, tampered, b'{"a": 1}')


def test_fullchain_certificate_file_sends_the_rest_as_intermediates(tmp_path: Path) -> None:
    pki = Pki(tmp_path, kind="ec")
    pki.issue_leaf(via_intermediate=True)
    pki.cert_path.write_bytes(pki.cert_path.read_bytes() + pki.inter_path.read_bytes())
    identity = load_identity(pki.cert_path, pki.key_path)
    assert identity.certificate == pki.leaf_cert
    assert identity.intermediates == (pki.inter_cert,)


def test_repr_hides_the_key(pki: Pki) -> None:
    identity = load_identity(pki.cert_path, pki.key_path)
    assert "PRIVATE" not in repr(identity) and "key=<hidden>" in repr(identity)


def test_key_readable_by_others_is_refused_unless_insecure(tmp_path: Path) -> None:
    pki = Pki(tmp_path, kind="ec")
    os.chmod(pki.key_path, 0o644)
    with pytest.raises(AgentError, match="accessible by group or others"):
        load_identity(pki.cert_path, pki.key_path)
    os.chmod(pki.key_path, 0o640)
    with pytest.raises(AgentError, match="chmod 600"):
        load_identity(pki.cert_path, pki.key_path)
    assert load_identity(pki.cert_path, pki.key_path, insecure_key_file_mode=True)


def test_key_that_does_not_match_the_certificate(tmp_path: Path) -> None:
    pki = Pki(tmp_path, kind="ec")
    other = Pki(tmp_path / "other", kind="ec")
    with pytest.raises(AgentError, match="does not match"):
        load_identity(pki.cert_path, other.key_path)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    pki = Pki(tmp_path, kind="rsa")
    with pytest.raises(AgentError, match="cannot read certificate"):
        load_identity(tmp_path / "missing.pem", pki.key_path)
    with pytest.raises(AgentError, match="no PEM certificate"):
        load_identity(pki.key_path, pki.key_path)
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"not a key")
    bad.chmod(0o600)
    with pytest.raises(AgentError, match="not a PEM RSA or EC private key"):
        load_identity(pki.cert_path, bad)
    encrypted = tmp_path / "enc.key"
    encrypted.write_bytes(
        pki.leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    encrypted.chmod(0o600)
    with pytest.raises(AgentError, match="encrypted") as info:
        load_identity(pki.cert_path, encrypted)
    assert "PRIVATE" not in str(info.value)


def test_expired_certificate_is_reported(tmp_path: Path) -> None:
    pki = Pki(tmp_path, kind="ec")
    later = datetime.now(UTC) + timedelta(days=3)
    with pytest.raises(AgentError, match="expired at"):
        load_identity(pki.cert_path, pki.key_path, now=later)
