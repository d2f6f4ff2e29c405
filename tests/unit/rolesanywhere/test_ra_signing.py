"""The AWS4-X509 request signature of CreateSession (``tessera.rolesanywhere.signing``)
checked against requests signed by the tests' own signer (tests/e2e/x509_signer.py):
RSA and ECDSA accepted, and refused when the canonical request is tampered with,
``Credential=`` names another serial, ``X-Amz-X509`` is not signed, the algorithm
does not match the key, or ``X-Amz-Date`` is more than 15 minutes from now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from tests.e2e.x509_signer import Issued, make_ca, make_leaf, signed_request

from tessera.auth import sigv4
from tessera.errors import SignatureDoesNotMatch
from tessera.rolesanywhere.signing import SignatureRejected, verify_request

ENDPOINT = "https://tessera.test:8443"
WHEN = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)
ARNS = {
    "trust_anchor_arn": "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/"
    "11111111-1111-4111-8111-111111111111",
    "profile_arn": "arn:aws:rolesanywhere:us-east-1:123456789012:profile/"
    "22222222-2222-4222-8222-222222222222",
    "role_arn": "arn:aws:iam::123456789012:role/workload",
}


@pytest.fixture(scope="module")
def ca() -> Issued:
    return make_ca("Signing Root", "ec")


def _request(leaf: Issued, **kw: Any) -> sigv4.HttpRequest:
    args: dict[str, Any] = {**ARNS, "when": WHEN, "body": {"durationSeconds": 3600}}
    args.update(kw)
    url, headers, body = signed_request(ENDPOINT, leaf, **args)
    parts = urlsplit(url)
    return sigv4.HttpRequest("POST", parts.path, parts.query, tuple(headers.items()), body)


def _with_header(request: sigv4.HttpRequest, name: str, value: str) -> sigv4.HttpRequest:
    headers = tuple((n, value if n == name else v) for n, v in request.headers)
    return sigv4.HttpRequest(
        request.method, request.path, request.query_string, headers, request.body
    )


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_rsa_and_ecdsa_signatures_verify(ca: Issued, kind: str) -> None:
    leaf = make_leaf(ca, kind=kind)
    mid = make_ca("Signing Intermediate", "ec", parent=ca)
    signed = verify_request(_request(leaf, chain=[mid]), WHEN)
    assert signed.leaf == leaf.cert
    assert signed.intermediates == (mid.cert,)
    assert signed.region == "us-east-1"
    assert signed.request_time == WHEN
    assert len(signed.signature) > 64


@pytest.mark.parametrize(
    ("part", "tamper"),
    [
        ("body", lambda r: sigv4.HttpRequest(r.method, r.path, r.query_string, r.headers, b"{}")),
        (
            "query",
            lambda r: sigv4.HttpRequest(
                r.method,
                r.path,
                r.query_string.replace("workload", "admin"),
                r.headers,
                r.body,
            ),
        ),
        ("method", lambda r: sigv4.HttpRequest("PUT", r.path, r.query_string, r.headers, r.body)),
    ],
)
def test_tampered_canonical_request_is_refused(ca: Issued, part: str, tamper: Any) -> None:
    request = _request(make_leaf(ca, kind="rsa"))
    verify_request(request, WHEN)  # the untampered request verifies
    with pytest.raises(SignatureRejected, match="does not verify"):
        verify_request(tamper(request), WHEN)


def test_signature_by_another_key_is_refused(ca: Issued) -> None:
    leaf = make_leaf(ca)
    impostor = make_leaf(ca)
    with pytest.raises(SignatureRejected, match="does not verify"):
        verify_request(_request(leaf, key=impostor.key), WHEN)


def test_swapped_certificate_header_is_refused(ca: Issued) -> None:
    leaf, other = make_leaf(ca), make_leaf(ca)
    request = _request(leaf, serial=other.cert.serial_number)
    request = _with_header(request, "x-amz-x509", other.pem.split("-----")[2].replace("\n", ""))
    with pytest.raises(SignatureRejected, match="does not verify"):
        verify_request(request, WHEN)


def test_wrong_serial_in_credential_is_refused(ca: Issued) -> None:
    leaf = make_leaf(ca)
    for serial in (leaf.cert.serial_number + 1, 0):
        with pytest.raises(SignatureRejected, match="serial number"):
            verify_request(_request(leaf, serial=serial), WHEN)


def test_unsigned_certificate_headers_are_refused(ca: Issued) -> None:
    leaf = make_leaf(ca)
    with pytest.raises(SignatureRejected, match="X-Amz-X509 header must be a signed header"):
        verify_request(_request(leaf, unsigned=("x-amz-x509",)), WHEN)
    mid = make_ca("Unsigned Chain CA", "ec", parent=ca)
    with pytest.raises(SignatureRejected, match="X-Amz-X509-Chain header must be a signed"):
        verify_request(_request(leaf, chain=[mid], unsigned=("x-amz-x509-chain",)), WHEN)


def test_missing_certificate_header_is_refused(ca: Issued) -> None:
    request = _request(make_leaf(ca))
    headers = tuple((n, v) for n, v in request.headers if n != "x-amz-x509")
    bare = sigv4.HttpRequest("POST", request.path, request.query_string, headers, request.body)
    with pytest.raises(SignatureRejected, match=r"header \(the signing certificate\) is missing"):
        verify_request(bare, WHEN)


def test_algorithm_must_match_the_key(ca: Issued) -> None:
    request = _request(make_leaf(ca, kind="ec"))
    auth = dict(request.headers)["authorization"]
    forged = _with_header(
        request, "authorization", auth.replace("AWS4-X509-ECDSA-SHA256", "AWS4-X509-RSA-SHA256")
    )
    with pytest.raises(SignatureRejected, match="does not match the certificate's key type"):
        verify_request(forged, WHEN)


def test_plain_sigv4_is_not_an_x509_signature(ca: Issued) -> None:
    request = _request(make_leaf(ca))
    auth = dict(request.headers)["authorization"]
    plain = _with_header(
        request, "authorization", auth.replace("AWS4-X509-ECDSA-SHA256", "AWS4-HMAC-SHA256")
    )
    with pytest.raises(SignatureRejected, match="must be signed with AWS4-X509-RSA-SHA256"):
        verify_request(plain, WHEN)
    headers = tuple((n, v) for n, v in request.headers if n != "authorization")
    unsigned = sigv4.HttpRequest("POST", request.path, request.query_string, headers, b"{}")
    with pytest.raises(SignatureRejected, match="must be signed with AWS4-X509-RSA-SHA256"):
        verify_request(unsigned, WHEN)


@pytest.mark.parametrize("minutes", [15, -15])
def test_skew_of_15_minutes_is_accepted(ca: Issued, minutes: int) -> None:
    verify_request(_request(make_leaf(ca)), WHEN + timedelta(minutes=minutes))


@pytest.mark.parametrize("seconds", [15 * 60 + 1, -(15 * 60 + 1), 3600])
def test_skew_beyond_15_minutes_is_refused(ca: Issued, seconds: int) -> None:
    with pytest.raises(SignatureDoesNotMatch):
        verify_request(_request(make_leaf(ca)), WHEN + timedelta(seconds=seconds))


def test_scope_must_name_rolesanywhere(ca: Issued) -> None:
    request = _request(make_leaf(ca))
    auth = dict(request.headers)["authorization"]
    sts_scope = _with_header(request, "authorization", auth.replace("/rolesanywhere/", "/sts/"))
    with pytest.raises(SignatureDoesNotMatch, match="rolesanywhere"):
        verify_request(sts_scope, WHEN)
