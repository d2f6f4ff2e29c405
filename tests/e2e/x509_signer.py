"""The tests' own PKI and AWS4-X509 signer for Roles Anywhere's CreateSession,
written from the published scheme (workload-identity.md §3.3), independent of
Tessera's verifier: CAs, leaves and CRLs made with ``cryptography``; a SigV4
canonical request built here; the signature the certificate key's RSA PKCS#1 v1.5
/ ECDSA (DER) signature over the string to sign, hex-encoded."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from tests.pki import Key, build_certificate, cert_pem, key_usage


def new_key(kind: str) -> Key:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str, **more: str) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if "ou" in more:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, more["ou"]))
    if "o" in more:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, more["o"]))
    return x509.Name(attrs)


@dataclass
class Issued:
    cert: x509.Certificate
    key: Key

    @property
    def pem(self) -> str:
        return cert_pem(self.cert)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


def make_ca(
    cn: str = "Test Root CA",
    kind: str = "rsa",
    *,
    parent: Issued | None = None,
    algorithm: hashes.HashAlgorithm | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    path_length: int | None = None,
) -> Issued:
    key = new_key(kind)
    now = datetime.now(UTC)
    issuer_name = parent.cert.subject if parent else _name(cn)
    cert = build_certificate(
        _name(cn),
        key.public_key(),
        issuer_name,
        parent.key if parent else key,
        not_before=not_before or now - timedelta(days=1),
        not_after=not_after or now + timedelta(days=365),
        ca=True,
        path_length=path_length,
        usage=key_usage(key_cert_sign=True, crl_sign=True),
        algorithm=algorithm,
    )
    return Issued(cert, key)


def make_leaf(
    ca: Issued,
    cn: str = "workload-1",
    kind: str = "ec",
    *,
    ca_flag: bool = False,
    digital_signature: bool = True,
    algorithm: hashes.HashAlgorithm | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    dns: str | None = "workload-1.example.com",
    uri: str | None = "spiffe://example.org/workload-1",
    ou: str | None = "payments",
) -> Issued:
    key = new_key(kind)
    now = datetime.now(UTC)
    extra = {"ou": ou} if ou else {}
    names: list[x509.GeneralName] = []
    if dns:
        names.append(x509.DNSName(dns))
    if uri:
        names.append(x509.UniformResourceIdentifier(uri))
    cert = build_certificate(
        _name(cn, **extra),
        key.public_key(),
        ca.cert.subject,
        ca.key,
        not_before=not_before or now - timedelta(hours=1),
        not_after=not_after or now + timedelta(days=30),
        ca=ca_flag,
        usage=key_usage(
            digital_signature=digital_signature,
            key_encipherment=not digital_signature,
            key_cert_sign=ca_flag,
        ),
        san=names,
        algorithm=algorithm,
    )
    return Issued(cert, key)


#: sha256WithRSAEncryption and sha1WithRSAEncryption, DER-encoded OIDs of one length
_SHA256_RSA_OID = bytes.fromhex("06092a864886f70d01010b")
_SHA1_RSA_OID = bytes.fromhex("06092a864886f70d010105")


def make_sha1_leaf(ca: Issued, cn: str = "sha1-workload", kind: str = "ec") -> Issued:
    """A leaf ``ca`` (an RSA CA) really signed with RSA PKCS#1 v1.5 over SHA-1:
    ``cryptography``'s builder refuses SHA-1, so a SHA-256 certificate is made and
    its two signature AlgorithmIdentifiers (the TBSCertificate's and the outer one)
    are rewritten to sha1WithRSAEncryption — the same length, so no DER length
    changes — and the TBSCertificate is signed again with SHA-1, its signature
    replacing the old one (same modulus, same length)."""
    if not isinstance(ca.key, rsa.RSAPrivateKey):
        raise TypeError("make_sha1_leaf needs an RSA CA")
    leaf = make_leaf(ca, cn=cn, kind=kind)
    der = leaf.der
    assert der.count(_SHA256_RSA_OID) == 2, "expected the two signature algorithms"
    patched = der.replace(_SHA256_RSA_OID, _SHA1_RSA_OID)
    tbs = x509.load_der_x509_certificate(patched).tbs_certificate_bytes
    old_signature = leaf.cert.signature
    new_signature = ca.key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    assert len(new_signature) == len(old_signature) and patched.endswith(old_signature)
    cert = x509.load_der_x509_certificate(patched[: -len(old_signature)] + new_signature)
    return Issued(cert, leaf.key)


def make_crl(ca: Issued, revoked: list[x509.Certificate], *, signer: Key | None = None) -> bytes:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - timedelta(minutes=5))
        .next_update(now + timedelta(days=7))
    )
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(now - timedelta(minutes=1))
            .build()
        )
    crl = builder.sign(signer or ca.key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.PEM)


def _q(value: str) -> str:
    return quote(value, safe="-_.~")


def signed_request(
    endpoint: str,
    leaf: Issued,
    *,
    trust_anchor_arn: str,
    profile_arn: str,
    role_arn: str,
    region: str = "us-east-1",
    body: dict[str, Any] | None = None,
    chain: list[Issued] | None = None,
    when: datetime | None = None,
    serial: int | None = None,
    key: Key | None = None,
    unsigned: tuple[str, ...] = (),
) -> tuple[str, dict[str, str], bytes]:
    """(url, headers, body) of a CreateSession request signed with ``leaf``'s key;
    headers named in ``unsigned`` are sent but left out of SignedHeaders."""
    when = when or datetime.now(UTC)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    payload = json.dumps(body or {}).encode()
    query = {"profileArn": profile_arn, "roleArn": role_arn, "trustAnchorArn": trust_anchor_arn}
    canonical_query = "&".join(f"{_q(k)}={_q(v)}" for k, v in sorted(query.items()))
    host = endpoint.split("://", 1)[1]
    headers = {
        "content-type": "application/json",
        "host": host,
        "x-amz-date": amz_date,
        "x-amz-x509": base64.b64encode(leaf.der).decode(),
    }
    if chain:
        headers["x-amz-x509-chain"] = ",".join(base64.b64encode(c.der).decode() for c in chain)
    signed_names = sorted(n for n in headers if n not in unsigned)
    canonical = "\n".join(
        [
            "POST",
            "/sessions",
            canonical_query,
            *(f"{n}:{headers[n].strip()}" for n in signed_names),
            "",
            ";".join(signed_names),
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    signing_key = key or leaf.key
    algorithm = (
        "AWS4-X509-RSA-SHA256"
        if isinstance(signing_key, rsa.RSAPrivateKey)
        else "AWS4-X509-ECDSA-SHA256"
    )
    scope = f"{day}/{region}/rolesanywhere/aws4_request"
    to_sign = "\n".join(
        [algorithm, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    ).encode()
    if isinstance(signing_key, rsa.RSAPrivateKey):
        signature = signing_key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = signing_key.sign(to_sign, ec.ECDSA(hashes.SHA256()))
    credential = f"{serial if serial is not None else leaf.cert.serial_number}/{scope}"
    headers["authorization"] = (
        f"{algorithm} Credential={credential}, SignedHeaders={';'.join(signed_names)}, "
        f"Signature={signature.hex()}"
    )
    return f"{endpoint}/sessions?{urlencode(query)}", headers, payload


def create_session(endpoint: str, leaf: Issued, **kwargs: Any) -> httpx.Response:
    url, headers, payload = signed_request(endpoint, leaf, **kwargs)
    return httpx.post(url, headers=headers, content=payload, timeout=10)
