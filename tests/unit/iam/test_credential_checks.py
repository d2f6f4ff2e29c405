"""The pure checks behind the credential uploads: X.509 server and signing
certificates (tessera.iam.certificates), SSH public keys (tessera.iam.ssh_keys)
and the service-credential secret hash."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.unit.iam.certs import NOW, cert_pem, ec_key, issue, key_pem, ssh_ed25519, ssh_rsa

from tessera.errors import (
    InvalidCertificate,
    InvalidPublicKey,
    KeyPairMismatch,
    MalformedCertificate,
    UnrecognizedPublicKeyEncoding,
)
from tessera.iam.certificates import check_server_certificate, check_signing_certificate
from tessera.iam.ops_service_credentials import hash_secret, verify_secret
from tessera.iam.ssh_keys import parse_ssh_public_key


def test_server_certificate_with_chain() -> None:
    root_key, mid_key, leaf_key = ec_key(), ec_key(), ec_key()
    root = issue("Root", root_key, ca=True)
    mid = issue("Mid", mid_key, root_key, "Root", ca=True)
    leaf = issue("leaf", leaf_key, mid_key, "Mid")
    chain = cert_pem(mid) + cert_pem(root)
    ok = check_server_certificate(cert_pem(leaf), key_pem(leaf_key), chain, NOW)
    assert ok.expires_at == leaf.not_valid_after_utc and ok.chain == chain
    # out of order: the first chain member did not issue the certificate
    with pytest.raises(MalformedCertificate, match="is: 0"):
        check_server_certificate(cert_pem(leaf), key_pem(leaf_key), cert_pem(root), NOW)
    with pytest.raises(MalformedCertificate, match="is: 1"):
        check_server_certificate(
            cert_pem(leaf), key_pem(leaf_key), cert_pem(mid) + cert_pem(leaf), NOW
        )
    with pytest.raises(KeyPairMismatch):
        check_server_certificate(cert_pem(leaf), key_pem(mid_key), None, NOW)
    with pytest.raises(MalformedCertificate, match="expired"):
        check_server_certificate(
            cert_pem(leaf), key_pem(leaf_key), None, leaf.not_valid_after_utc + timedelta(1)
        )
    encrypted = leaf_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    ).decode()
    with pytest.raises(MalformedCertificate, match="private key"):
        check_server_certificate(cert_pem(leaf), encrypted, None, NOW)
    with pytest.raises(MalformedCertificate, match="PEM format"):
        check_server_certificate(cert_pem(leaf) * 2, key_pem(leaf_key), None, NOW)
    with pytest.raises(MalformedCertificate, match="PEM format"):
        check_server_certificate(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
            key_pem(leaf_key),
            None,
            NOW,
        )


def test_signing_certificate() -> None:
    key = ec_key()
    cert = issue("s", key)
    checked = check_signing_certificate(cert_pem(cert), NOW)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert checked.fingerprint == hashlib.sha256(der).hexdigest()
    with pytest.raises(InvalidCertificate):
        check_signing_certificate(cert_pem(cert), cert.not_valid_after_utc + timedelta(1))
    with pytest.raises(MalformedCertificate):
        check_signing_certificate("nope", NOW)


def test_ssh_keys_and_fingerprints() -> None:
    body = ssh_rsa()
    key = parse_ssh_public_key(body + " user@host")
    blob = base64.b64decode(body.split()[1])
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    assert key.fingerprint == ":".join(digest[i : i + 2] for i in range(0, 32, 2))
    assert key.openssh == body
    again = parse_ssh_public_key(key.pem())  # PEM in: same key, same fingerprint
    assert (again.openssh, again.fingerprint) == (body, key.fingerprint)
    pkcs1 = serialization.load_ssh_public_key(body.encode())
    assert isinstance(pkcs1, rsa.RSAPublicKey)
    rsa_pem = pkcs1.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    assert parse_ssh_public_key(rsa_pem.decode()).fingerprint == key.fingerprint
    assert parse_ssh_public_key(ssh_ed25519()).openssh.startswith("ssh-ed25519 ")
    with pytest.raises(InvalidPublicKey, match="2048"):
        parse_ssh_public_key(ssh_rsa(1024))
    with pytest.raises(InvalidPublicKey):
        parse_ssh_public_key("ecdsa-sha2-nistp256 AAAAE2VjZHNh")
    with pytest.raises(InvalidPublicKey):
        parse_ssh_public_key("ssh-rsa")
    with pytest.raises(UnrecognizedPublicKeyEncoding):
        parse_ssh_public_key("-----BEGIN CERTIFICATE-----")
    with pytest.raises(InvalidPublicKey):
        parse_ssh_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")


def test_secret_hash() -> None:
    stored = hash_secret("s3cret")
    assert stored.startswith("scrypt$") and "s3cret" not in stored
    assert stored != hash_secret("s3cret")  # salted
    assert verify_secret("s3cret", stored)
    assert not verify_secret("s3cret!", stored)
    assert not verify_secret("s3cret", "bcrypt$x")
    assert not verify_secret("s3cret", "garbage")
