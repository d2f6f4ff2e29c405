"""SigV4 verification against botocore's own signer as the oracle.

Requests are signed the way boto3 and the AWS CLI sign them (SigV4Auth for header
signing, SigV4QueryAuth for presigned URLs, and a real boto3 STS client whose
request is captured before it leaves), then fed to ``tessera.auth.sigv4``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.auth import sigv4
from tessera.auth.sigv4 import (
    MSG_SIGNATURE_MISMATCH,
    HttpRequest,
    SignatureInfo,
    check_scope,
    check_time,
    extract,
    verify,
)
from tessera.errors import (
    IncompleteSignature,
    MalformedQueryString,
    SignatureDoesNotMatch,
    TesseraError,
)

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ASIA = "ASIAIOSFODNN7EXAMPLE"
TOKEN = "FwoGZXIvYXdzEBYaDH+token/with+odd=chars"
WHEN = datetime(2024, 6, 3, 12, 0, 0, tzinfo=UTC)
AMZ = "20240603T120000Z"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
GCI = b"Action=GetCallerIdentity&Version=2011-06-15"


# --- helpers ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_key_cache() -> Iterator[None]:
    sigv4.clear_signing_key_cache()
    yield
    sigv4.clear_signing_key_cache()


def _frozen(when: datetime) -> Any:
    return mock.patch.object(
        botocore.auth, "get_current_datetime", lambda: when.replace(tzinfo=None)
    )


def _to_http(req: AWSRequest, *, host: str | None = None) -> HttpRequest:
    url = req.url
    parts = urlsplit(url)
    headers: list[tuple[str, str]] = [("Host", host or botocore.auth._host_from_url(url))]
    for name, value in req.headers.items():
        headers.append((name, value.decode() if isinstance(value, bytes) else value))
    body = req.body if req.body is not None else b""
    if isinstance(body, str):
        body = body.encode()
    return HttpRequest(
        method=req.method,
        path=parts.path or "/",
        query_string=parts.query,
        headers=tuple(headers),
        body=body,
    )


def sign_header(
    method: str = "POST",
    url: str = "https://sts.us-east-1.amazonaws.com/",
    *,
    body: bytes | str = GCI,
    headers: Mapping[str, str] | None = None,
    region: str = "us-east-1",
    service: str = "sts",
    key: str = AKID,
    secret: str = SECRET,
    token: str | None = None,
    when: datetime = WHEN,
) -> HttpRequest:
    hdrs = {"Content-Type": FORM} if method == "POST" else {}
    hdrs.update(headers or {})
    req = AWSRequest(method=method, url=url, data=body, headers=hdrs)
    with _frozen(when):
        SigV4Auth(Credentials(key, secret, token), service, region).add_auth(req)
    return _to_http(req.prepare())  # type: ignore[arg-type]


def presign(
    url: str = "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
    *,
    headers: Mapping[str, str] | None = None,
    region: str = "us-east-1",
    service: str = "sts",
    key: str = AKID,
    secret: str = SECRET,
    token: str | None = None,
    expires: int = 60,
    when: datetime = WHEN,
) -> HttpRequest:
    req = AWSRequest(method="GET", url=url, headers=dict(headers or {}))
    with _frozen(when):
        SigV4QueryAuth(Credentials(key, secret, token), service, region, expires).add_auth(req)
    return _to_http(req.prepare())  # type: ignore[arg-type]


def accept(request: HttpRequest, *, secret: str = SECRET, service: str = "sts") -> SignatureInfo:
    info = extract(request)
    assert info is not None
    check_time(info, info.request_time)
    check_scope(info, service=service)
    verify(request, info, secret)
    return info


def with_headers(request: HttpRequest, **changes: str) -> HttpRequest:
    """Replace header values by (case-insensitive) name; underscores mean dashes."""
    wanted = {k.replace("_", "-").lower(): v for k, v in changes.items()}
    headers = tuple(
        (n, wanted[n.lower()]) if n.lower() in wanted else (n, v) for n, v in request.headers
    )
    return dataclasses.replace(request, headers=headers)


def header(request: HttpRequest, name: str) -> str:
    return next(v for n, v in request.headers if n.lower() == name.lower())


def mismatch(request: HttpRequest, info: SignatureInfo | None = None, secret: str = SECRET) -> None:
    info = info if info is not None else extract(request)
    assert info is not None
    with pytest.raises(SignatureDoesNotMatch) as caught:
        verify(request, info, secret)
    assert caught.value.message == MSG_SIGNATURE_MISMATCH


def bare(
    headers: tuple[tuple[str, str], ...] = (), query: str = "", body: bytes = b""
) -> HttpRequest:
    return HttpRequest("POST", "/", query, (("Host", "sts.amazonaws.com"), *headers), body)


# --- accepted requests --------------------------------------------------------------------


class TestAccepts:
    def test_post_form_like_boto3(self) -> None:
        info = accept(sign_header())
        assert info.access_key_id == AKID
        assert (info.date, info.region, info.service) == ("20240603", "us-east-1", "sts")
        assert info.amz_date == AMZ and info.request_time == WHEN
        assert info.signed_headers == ("content-type", "host", "x-amz-date")
        assert not info.presigned and info.expires is None and info.security_token is None
        assert len(info.signature) == 64

    def test_real_boto3_client_request(self) -> None:
        captured: list[Any] = []

        class Captured(Exception):
            pass

        def grab(request: Any, **_: Any) -> None:
            captured.append(request)
            raise Captured

        client = boto3.client(
            "sts",
            region_name="eu-north-1",
            endpoint_url="http://127.0.0.1:8123",
            aws_access_key_id=ASIA,
            aws_secret_access_key=SECRET,
            aws_session_token=TOKEN,
        )
        client.meta.events.register("before-send.sts.AssumeRole", grab)
        with pytest.raises(Captured):
            client.assume_role(
                RoleArn="arn:aws:iam::123456789012:role/demo",
                RoleSessionName="s p a c e ü",
                Tags=[{"Key": "k", "Value": "v=1&x"}],
            )
        prepared = captured[0]
        parts = urlsplit(prepared.url)
        request = HttpRequest(
            method=prepared.method,
            path=parts.path or "/",
            query_string=parts.query,
            headers=(
                ("Host", "127.0.0.1:8123"),
                *(
                    (k, v.decode() if isinstance(v, bytes) else v)
                    for k, v in prepared.headers.items()
                ),
            ),
            body=prepared.body if isinstance(prepared.body, bytes) else prepared.body.encode(),
        )
        info = extract(request)
        assert info is not None
        check_time(info, datetime.now(UTC))
        check_scope(info, service="sts")
        verify(request, info, SECRET)
        assert info.security_token == TOKEN and info.region == "eu-north-1"
        assert info.signed_headers == ("content-type", "host", "x-amz-date", "x-amz-security-token")

    def test_get_with_query(self) -> None:
        accept(
            sign_header(
                "GET",
                "https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
                body=b"",
            )
        )

    def test_session_token_header(self) -> None:
        info = accept(sign_header(key=ASIA, token=TOKEN))
        assert info.security_token == TOKEN
        assert "x-amz-security-token" in info.signed_headers

    def test_vault_server_id_header(self) -> None:
        req = sign_header(headers={"X-Vault-AWS-IAM-Server-ID": "vault.example.com"})
        info = accept(req)
        assert "x-vault-aws-iam-server-id" in info.signed_headers
        mismatch(with_headers(req, x_vault_aws_iam_server_id="evil.example.com"))

    def test_non_default_port_in_host(self) -> None:
        req = sign_header(url="http://localhost:8443/")
        assert header(req, "host") == "localhost:8443"
        accept(req)
        mismatch(with_headers(req, host="localhost:8444"))

    def test_header_with_runs_of_spaces_and_tabs(self) -> None:
        req = sign_header(headers={"X-Custom": "  a   b \t c  "})
        accept(req)
        # Whitespace is normalised, so a differently spaced copy is equivalent ...
        accept(with_headers(req, x_custom="a b c"))
        # ... but a different word is not.
        mismatch(with_headers(req, x_custom="a b d"))

    def test_repeated_header_joined_with_commas(self) -> None:
        req = sign_header(headers={"X-Multi": "one"})
        twice = dataclasses.replace(req, headers=(*req.headers, ("x-multi", " two ")))
        info = extract(twice)
        assert info is not None
        assert "\nx-multi:one,two\n" in sigv4.canonical_request(twice, info)
        mismatch(twice)

    def test_header_names_any_case(self) -> None:
        req = sign_header()
        shouted = tuple((n.upper(), v) for n, v in req.headers)
        accept(dataclasses.replace(req, headers=shouted))

    @pytest.mark.parametrize(
        "path",
        [
            "/",
            "/some/path",
            "/a%20b/c%2Fd",
            "/with~tilde/and.dot/",
            "/caf%C3%A9/%E2%9C%93",
            "/odd!$'()*,;:@=+&",
            "/./x/../y//z/",
        ],
    )
    def test_paths(self, path: str) -> None:
        accept(sign_header("GET", f"https://sts.amazonaws.com{path}", body=b""))

    @pytest.mark.parametrize(
        "query",
        [
            "Action=GetCallerIdentity&Version=2011-06-15",
            "b=2&a=1&a=0&a-b=3&A=4",  # duplicates, ordering by encoded name then value
            "empty=&Action=X&flag",  # empty values, bare names
            "u=%C3%BC%E2%9C%93&sp=a%20b&plus=a%2Bb&tilde=~&star=%2A",
        ],
    )
    def test_queries(self, query: str) -> None:
        accept(sign_header("GET", f"https://sts.amazonaws.com/?{query}", body=b""))

    def test_query_escapes_are_normalised(self) -> None:
        # Decoded, then re-encoded per RFC 3986: upper-case hex, unreserved left bare,
        # '+' is a space, pairs sorted by name then value, X-Amz-Signature dropped.
        got = sigv4._canonical_query("x=%2f%3a&a=%7E%41+b&a=0&X-Amz-Signature=ff&flag")
        assert got == "a=0&a=~A%20b&flag=&x=%2F%3A"

    def test_unicode_form_values(self) -> None:
        body = b"Action=AssumeRole&RoleSessionName=%C3%BC%20x&Policy=%7B%22a%22%3A1%7D"
        accept(sign_header(body=body))

    def test_date_header_instead_of_x_amz_date(self) -> None:
        req = sign_header(headers={"Date": "Mon, 01 Jan 2001 00:00:00 GMT"})
        assert not any(n.lower() == "x-amz-date" for n, _ in req.headers)
        info = accept(req)
        assert info.amz_date == AMZ and info.request_time == WHEN

    def test_x_amz_content_sha256_header(self) -> None:
        import hashlib

        body_hash = hashlib.sha256(GCI).hexdigest()
        req = sign_header(headers={"X-Amz-Content-SHA256": body_hash})
        accept(req)
        # The declared hash must still be the body's hash.
        mismatch(dataclasses.replace(req, body=GCI + b"&x=1"))

    def test_unsigned_payload_rejected_for_header_signing(self) -> None:
        req = sign_header(headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
        mismatch(req)

    def test_iam_service(self) -> None:
        accept(sign_header(url="https://iam.amazonaws.com/", service="iam"), service="iam")

    @pytest.mark.parametrize(
        "region",
        [
            "us-east-1",
            "eu-north-1",
            "cn-northwest-1",
            "us-gov-west-1",
            "us-isob-east-1",
            "ap-southeast-4",
        ],
    )
    def test_any_wellformed_region(self, region: str) -> None:
        accept(sign_header(region=region))

    def test_signing_key_cache_is_used(self) -> None:
        req = sign_header()
        accept(req)
        accept(req)
        stats = sigv4._signing_key.cache_info()
        assert stats.hits >= 1 and stats.currsize == 1


class TestPresigned:
    def test_presigned_get(self) -> None:
        info = accept(presign(expires=900))
        assert info.presigned and info.expires == 900
        assert info.signed_headers == ("host",)

    def test_presigned_with_session_token(self) -> None:
        req = presign(key=ASIA, token=TOKEN)
        info = accept(req)
        assert info.security_token == TOKEN
        assert "X-Amz-Security-Token=" in req.query_string

    def test_eks_token_shape(self) -> None:
        req = presign(
            url="https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
            headers={"x-k8s-aws-id": "my-cluster"},
            region="us-west-2",
            expires=60,
        )
        info = accept(req)
        assert info.signed_headers == ("host", "x-k8s-aws-id")
        mismatch(with_headers(req, x_k8s_aws_id="other-cluster"))

    def test_boto3_generate_presigned_url(self) -> None:
        client = boto3.client(
            "sts",
            region_name="us-east-1",
            endpoint_url="https://sts.us-east-1.amazonaws.com",
            aws_access_key_id=ASIA,
            aws_secret_access_key=SECRET,
            aws_session_token=TOKEN,
        )
        url = client.generate_presigned_url("get_caller_identity", ExpiresIn=300)
        parts = urlsplit(url)
        # boto3 signs the operation's own method: POST (empty body) for the Query API, so
        # the URL is only good for a POST, at AWS as here.
        req = HttpRequest("POST", parts.path or "/", parts.query, (("Host", parts.netloc),), b"")
        info = extract(req)
        assert info is not None and info.presigned and info.expires == 300
        check_time(info, datetime.now(UTC))
        check_scope(info, service="sts")
        verify(req, info, SECRET)
        mismatch(dataclasses.replace(req, method="GET"))

    def test_signature_param_excluded_and_tamper_detected(self) -> None:
        req = presign()
        tampered = req.query_string.replace("Action=GetCallerIdentity", "Action=GetSessionToken")
        mismatch(dataclasses.replace(req, query_string=tampered))

    def test_body_is_covered(self) -> None:
        mismatch(dataclasses.replace(presign(), body=b"Action=AssumeRole"))

    def test_unsigned_payload_allowed_when_presigned(self) -> None:
        # A client that signs presigned requests S3-style with UNSIGNED-PAYLOAD.
        req = presign(headers={"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"})
        accept(req)

    def test_expires_elapsed_is_ignored_like_sts(self) -> None:
        info = extract(presign(expires=1))
        assert info is not None
        check_time(info, WHEN + timedelta(minutes=15))  # X-Amz-Expires=1 s long gone


# --- tampering ----------------------------------------------------------------------------


class TestTampering:
    def test_body_byte(self) -> None:
        req = sign_header()
        mismatch(dataclasses.replace(req, body=GCI.replace(b"Get", b"Gat")))

    def test_header_value(self) -> None:
        mismatch(with_headers(sign_header(), content_type="application/x-www-form-urlencoded"))

    def test_host(self) -> None:
        mismatch(with_headers(sign_header(), host="sts.us-east-2.amazonaws.com"))

    def test_query_value(self) -> None:
        req = sign_header(
            "GET",
            "https://sts.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
            body=b"",
        )
        mismatch(dataclasses.replace(req, query_string=req.query_string.replace("2011", "2012")))

    def test_path(self) -> None:
        mismatch(dataclasses.replace(sign_header(), path="/x"))

    def test_method(self) -> None:
        mismatch(dataclasses.replace(sign_header(), method="PUT"))

    def test_date(self) -> None:
        mismatch(with_headers(sign_header(), x_amz_date="20240603T120001Z"))

    def test_secret(self) -> None:
        mismatch(sign_header(), secret=SECRET + "x")

    def test_region_signed_vs_claimed(self) -> None:
        # Signed for us-east-1, Authorization header edited to claim eu-west-1.
        req = sign_header()
        auth = header(req, "authorization").replace("/us-east-1/", "/eu-west-1/")
        mismatch(with_headers(req, authorization=auth))

    def test_service_signed_vs_claimed(self) -> None:
        req = sign_header(service="iam")
        auth = header(req, "authorization").replace("/iam/", "/sts/")
        mismatch(with_headers(req, authorization=auth))

    def test_signature_hex_case(self) -> None:
        req = sign_header()
        info = extract(req)
        assert info is not None
        mismatch(req, dataclasses.replace(info, signature=info.signature.upper()))

    def test_signature_non_ascii(self) -> None:
        req = sign_header()
        info = extract(req)
        assert info is not None
        mismatch(req, dataclasses.replace(info, signature="é" * 64))

    def test_unsigned_extra_header_is_fine_but_signed_one_missing_is_not(self) -> None:
        req = sign_header()
        accept(dataclasses.replace(req, headers=(*req.headers, ("User-Agent", "curl"))))
        dropped = tuple((n, v) for n, v in req.headers if n.lower() != "content-type")
        mismatch(dataclasses.replace(req, headers=dropped))

    def test_host_not_signed(self) -> None:
        req = sign_header()
        auth = header(req, "authorization").replace(
            "content-type;host;x-amz-date", "content-type;x-amz-date"
        )
        req = with_headers(req, authorization=auth)
        info = extract(req)
        assert info is not None
        for call in (lambda: check_scope(info, service="sts"), lambda: verify(req, info, SECRET)):
            with pytest.raises(SignatureDoesNotMatch) as caught:
                call()
            assert caught.value.message == (
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
            )


# --- scope --------------------------------------------------------------------------------


def _info(**changes: Any) -> SignatureInfo:
    info = extract(sign_header())
    assert info is not None
    return dataclasses.replace(info, **changes)


class TestScope:
    def test_wrong_service(self) -> None:
        with pytest.raises(SignatureDoesNotMatch) as caught:
            check_scope(_info(service="iam"), service="sts")
        assert caught.value.message == "Credential should be scoped to correct service: 'sts'. "
        assert caught.value.status == 403

    @pytest.mark.parametrize(
        "region", ["local", "US-EAST-1", "us-east", "aws-global", "", "us_east_1"]
    )
    def test_bad_region(self, region: str) -> None:
        with pytest.raises(SignatureDoesNotMatch) as caught:
            check_scope(_info(region=region), service="sts")
        assert (
            caught.value.message
            == f"Credential should be scoped to a valid region, not '{region}'. "
        )

    def test_bad_terminator(self) -> None:
        with pytest.raises(SignatureDoesNotMatch) as caught:
            check_scope(_info(terminator="aws5_request"), service="sts")
        assert caught.value.message == (
            "Credential should be scoped with a valid terminator: 'aws4_request', "
            "not 'aws5_request'. "
        )

    def test_bad_date(self) -> None:
        with pytest.raises(SignatureDoesNotMatch) as caught:
            check_scope(_info(date="20240602"), service="sts")
        assert caught.value.message == (
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
            "HTTP: '20240602' != '20240603', from '20240603T120000Z'."
        )

    def test_all_at_once_in_aws_order(self) -> None:
        info = _info(region="c", service="d", terminator="e", date="b")
        with pytest.raises(SignatureDoesNotMatch) as caught:
            check_scope(info, service="sts")
        assert caught.value.message == (
            "Credential should be scoped to a valid region, not 'c'. "
            "Credential should be scoped to correct service: 'sts'. "
            "Credential should be scoped with a valid terminator: 'aws4_request', not 'e'. "
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
            "HTTP: 'b' != '20240603', from '20240603T120000Z'."
        )

    def test_terminator_from_credential(self) -> None:
        req = sign_header()
        auth = header(req, "authorization").replace("/aws4_request", "/aws5_request")
        info = extract(with_headers(req, authorization=auth))
        assert info is not None and info.terminator == "aws5_request"


# --- time ---------------------------------------------------------------------------------


class TestTime:
    def test_exactly_fifteen_minutes_old_is_accepted(self) -> None:
        check_time(_info(), WHEN + timedelta(minutes=15))
        check_time(_info(), WHEN + timedelta(minutes=15, microseconds=999_999))

    def test_fifteen_minutes_and_one_second_old(self) -> None:
        with pytest.raises(SignatureDoesNotMatch) as caught:
            check_time(_info(), WHEN + timedelta(minutes=15, seconds=1))
        assert caught.value.message == (
            "Signature expired: 20240603T120000Z is now earlier than 20240603T120001Z "
            "(20240603T121501Z - 15 min.)"
        )

    def test_aws_documented_example(self) -> None:
        info = _info(request_time=datetime(2016, 6, 9, 18, 45, 12, tzinfo=UTC))
        with pytest.raises(SignatureDoesNotMatch) as caught:
            check_time(info, datetime(2016, 6, 10, 1, 45, 8, tzinfo=UTC))
        assert caught.value.message == (
            "Signature expired: 20160609T184512Z is now earlier than 20160610T013008Z "
            "(20160610T014508Z - 15 min.)"
        )

    def test_future(self) -> None:
        check_time(_info(), WHEN - timedelta(minutes=15))
        with pytest.raises(SignatureDoesNotMatch) as caught:
            check_time(_info(), WHEN - timedelta(minutes=15, seconds=1))
        assert caught.value.message == (
            "Signature not yet current: 20240603T120000Z is still later than 20240603T115959Z "
            "(20240603T114459Z + 15 min.)"
        )

    def test_custom_skew_and_timezone(self) -> None:
        tz = timezone(timedelta(hours=2))
        with pytest.raises(SignatureDoesNotMatch, match=r"\(20240603T120501Z - 5 min\.\)"):
            check_time(
                _info(), (WHEN + timedelta(minutes=5, seconds=1)).astimezone(tz), skew_seconds=300
            )
        with pytest.raises(SignatureDoesNotMatch, match=r"- 90 sec\.\)"):
            check_time(_info(), WHEN + timedelta(seconds=91), skew_seconds=90)

    def test_naive_now_is_a_programming_error(self) -> None:
        with pytest.raises(ValueError):
            check_time(_info(), WHEN.replace(tzinfo=None))


# --- extract: absent and malformed ------------------------------------------------------


class TestExtractMalformed:
    def test_none_without_authentication(self) -> None:
        assert extract(bare()) is None
        assert extract(bare(query="Action=GetCallerIdentity&X-Amz-Date=20240603T120000Z")) is None
        assert extract(bare(headers=(("X-Amz-Date", AMZ),), body=GCI)) is None

    @pytest.mark.parametrize(
        ("authorization", "expected"),
        [
            (
                "AWS4-HMAC-SHA256",
                "Authorization header requires 'Credential' parameter. "
                "Authorization header requires 'Signature' parameter. "
                "Authorization header requires 'SignedHeaders' parameter. "
                "Authorization=AWS4-HMAC-SHA256",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=ABCDEF",
                "Authorization header requires 'Signature' parameter. "
                "Authorization header requires 'SignedHeaders' parameter. "
                "Authorization=AWS4-HMAC-SHA256 Credential=ABCDEF",
            ),
            (
                "Basic ZWxhc3RpYzo3V3JF==",
                "Authorization header requires 'Credential' parameter. "
                "Authorization header requires 'Signature' parameter. "
                "Authorization header requires 'SignedHeaders' parameter. "
                "Authorization=Basic ZWxhc3RpYzo3V3JF==",
            ),
            (
                "AWS4-HMAC-SHA256 Credential=, SignedHeaders=host, Signature=",
                "Authorization header requires 'Credential' parameter. "
                "Authorization header requires 'Signature' parameter. "
                "Authorization=AWS4-HMAC-SHA256 Credential=, SignedHeaders=host, Signature=",
            ),
        ],
    )
    def test_header_missing_parts(self, authorization: str, expected: str) -> None:
        req = bare(headers=(("Authorization", authorization), ("X-Amz-Date", AMZ)))
        with pytest.raises(IncompleteSignature) as caught:
            extract(req)
        assert caught.value.message == expected
        assert caught.value.status == 400

    def test_header_missing_everything_including_date(self) -> None:
        with pytest.raises(IncompleteSignature) as caught:
            extract(bare(headers=(("Authorization", "AWS4-HMAC-SHA256 "),)))
        assert caught.value.message == (
            "Authorization header requires 'Credential' parameter. "
            "Authorization header requires 'Signature' parameter. "
            "Authorization header requires 'SignedHeaders' parameter. "
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
            "Authorization=AWS4-HMAC-SHA256 "
        )

    def test_missing_equal_sign(self) -> None:
        auth = (
            "AWS4-HMAC-SHA256 Credential= AKID/20240603/us-east-1/sts/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=abc"
        )
        with pytest.raises(IncompleteSignature) as caught:
            extract(bare(headers=(("Authorization", auth), ("X-Amz-Date", AMZ))))
        assert caught.value.message == (
            f"'AKID/20240603/us-east-1/sts/aws4_request' not a valid key=value pair "
            f"(missing equal-sign) in Authorization header: '{auth}'."
        )

    def test_unsupported_algorithm(self) -> None:
        auth = (
            "AWS4-HMAC-SHA512 Credential=A/20240603/us-east-1/sts/aws4_request, "
            "SignedHeaders=host, Signature=ab"
        )
        with pytest.raises(IncompleteSignature) as caught:
            extract(bare(headers=(("Authorization", auth), ("X-Amz-Date", AMZ))))
        assert caught.value.message == (
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now). "
        )

    @pytest.mark.parametrize(
        "credential",
        ["foo/bar/20210531/us-east-1/sts/aws4_request", "AKID/20240603/us-east-1/sts", "AKID"],
    )
    def test_credential_elements(self, credential: str) -> None:
        auth = f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, Signature=ab"
        with pytest.raises(IncompleteSignature) as caught:
            extract(bare(headers=(("Authorization", auth), ("X-Amz-Date", AMZ))))
        assert caught.value.message == (
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{credential}'"
        )

    def test_credential_trailing_slash_tolerated(self) -> None:
        auth = (
            "AWS4-HMAC-SHA256 Credential=AKID/20240603/us-east-1/sts/aws4_request/, "
            "SignedHeaders=host, Signature=ab"
        )
        info = extract(bare(headers=(("Authorization", auth), ("X-Amz-Date", AMZ))))
        assert info is not None and info.terminator == "aws4_request"

    @pytest.mark.parametrize(
        "date", ["201", "2024-06-03T12:00:00Z", "20241399T000000Z", "20240603T120000"]
    )
    def test_bad_date(self, date: str) -> None:
        auth = (
            "AWS4-HMAC-SHA256 Credential=A/20240603/us-east-1/sts/aws4_request, "
            "SignedHeaders=host, Signature=ab"
        )
        with pytest.raises(IncompleteSignature) as caught:
            extract(bare(headers=(("Authorization", auth), ("X-Amz-Date", date))))
        assert caught.value.message == (
            f"Date must be in ISO-8601 'basic format'. Got '{date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        )

    def test_both_forms(self) -> None:
        req = presign()
        req = dataclasses.replace(
            req, headers=(*req.headers, ("Authorization", "AWS4-HMAC-SHA256 x=y"))
        )
        with pytest.raises(SignatureDoesNotMatch) as caught:
            extract(req)
        assert caught.value.message == (
            "Found both 'X-Amz-Algorithm' as a query-string param "
            "and 'Authorization' as HTTP header."
        )

    def test_query_all_missing(self) -> None:
        with pytest.raises(IncompleteSignature) as caught:
            extract(bare(query="Action=GetCallerIdentity&X-Amz-Algorithm"))
        assert caught.value.message == (
            "AWS query-string parameters must include 'X-Amz-Algorithm'. "
            "AWS query-string parameters must include 'X-Amz-Credential'. "
            "AWS query-string parameters must include 'X-Amz-Signature'. "
            "AWS query-string parameters must include 'X-Amz-SignedHeaders'. "
            "AWS query-string parameters must include 'X-Amz-Date'. "
            "Re-examine the query-string parameters."
        )

    def test_query_some_missing(self) -> None:
        req = presign()
        query = "&".join(
            p
            for p in req.query_string.split("&")
            if not p.startswith(("X-Amz-Date", "X-Amz-SignedHeaders"))
        )
        with pytest.raises(IncompleteSignature) as caught:
            extract(dataclasses.replace(req, query_string=query))
        assert caught.value.message == (
            "AWS query-string parameters must include 'X-Amz-SignedHeaders'. "
            "AWS query-string parameters must include 'X-Amz-Date'. "
            "Re-examine the query-string parameters."
        )

    def test_query_signature_alone_triggers(self) -> None:
        with pytest.raises(
            IncompleteSignature,
            match=r"^AWS query-string parameters must include 'X-Amz-Algorithm'\.",
        ):
            extract(bare(query="X-Amz-Signature=abc"))

    def test_query_unsupported_algorithm(self) -> None:
        req = presign()
        query = req.query_string.replace(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256"
        )
        with pytest.raises(IncompleteSignature) as caught:
            extract(dataclasses.replace(req, query_string=query))
        assert caught.value.message == (
            "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256' "
            "(only AWS4-HMAC-SHA256 for now). "
        )

    @pytest.mark.parametrize(
        ("expires", "message"),
        [
            ("abc", "X-Amz-Expires should be a number"),
            ("", "X-Amz-Expires should be a number"),
            ("-1", "X-Amz-Expires must be non-negative"),
            (
                "604801",
                "X-Amz-Expires must be less than a week (in seconds); that is, "
                "the given X-Amz-Expires must be less than 604800 seconds",
            ),
        ],
    )
    def test_bad_expires(self, expires: str, message: str) -> None:
        req = presign(expires=60)
        query = req.query_string.replace("X-Amz-Expires=60", f"X-Amz-Expires={expires}")
        with pytest.raises(IncompleteSignature) as caught:
            extract(dataclasses.replace(req, query_string=query))
        assert caught.value.message == message

    def test_week_is_the_limit(self) -> None:
        info = extract(presign(expires=604800))
        assert info is not None and info.expires == 604800

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("a=%zz", "Illegal hex character in escape % pattern: %zz"),
            ("a=b%4", "Incomplete trailing escape % sequence"),
        ],
    )
    def test_malformed_query_in_verify(self, query: str, message: str) -> None:
        req = sign_header()
        info = extract(req)
        assert info is not None
        with pytest.raises(MalformedQueryString) as caught:
            verify(dataclasses.replace(req, query_string=query), info, SECRET)
        assert caught.value.message == message


# --- properties ---------------------------------------------------------------------------

_AUTH_WORDS = st.sampled_from(
    [
        "AWS4-HMAC-SHA256",
        "Credential=",
        "SignedHeaders=",
        "Signature=",
        "AKID/20240603/us-east-1/sts/aws4_request",
        "host;x-amz-date",
        ",",
        " ",
        "=",
        "/",
        ";",
        "%",
        "abc",
    ]
)
# Any code point, lone surrogates included (a server may hand us undecodable bytes).
_junk = st.text(st.characters(exclude_categories=()), max_size=40)
_fragments = st.lists(st.one_of(_AUTH_WORDS, _junk), max_size=12).map("".join)
_QUERY_WORDS = st.sampled_from(
    [
        "X-Amz-Algorithm=",
        "X-Amz-Credential=",
        "X-Amz-Signature=",
        "X-Amz-SignedHeaders=",
        "X-Amz-Date=",
        "X-Amz-Expires=",
        "X-Amz-Security-Token=",
        "AWS4-HMAC-SHA256",
        "20240603T120000Z",
        "A%2F20240603%2Fus-east-1%2Fsts%2Faws4_request",
        "host",
        "&",
        "=",
        "%",
        "%zz",
        "+",
    ]
)
_query = st.lists(st.one_of(_QUERY_WORDS, _junk), max_size=14).map("".join)
_header_names = st.one_of(
    st.sampled_from(
        [
            "Authorization",
            "X-Amz-Date",
            "Date",
            "Host",
            "X-Amz-Security-Token",
            "X-Amz-Content-Sha256",
        ]
    ),
    _junk,
)


@settings(max_examples=400, deadline=None)
@given(
    headers=st.lists(st.tuples(_header_names, st.one_of(_fragments, _junk)), max_size=6),
    query=_query,
    path=_junk,
    body=st.binary(max_size=40),
    now=st.datetimes(timezones=st.just(UTC)),
)
def test_only_tessera_errors_escape(
    headers: list[tuple[str, str]], query: str, path: str, body: bytes, now: datetime
) -> None:
    req = HttpRequest("POST", path, query, tuple(headers), body)
    try:
        info = extract(req)
        if info is None:
            return
        check_time(info, now)
        check_scope(info, service="sts")
        verify(req, info, SECRET)
    except TesseraError:
        pass


@settings(max_examples=150, deadline=None)
@given(
    names=st.lists(st.text(min_size=1, max_size=8), max_size=4),
    values=st.lists(st.text(max_size=12), max_size=4),
    header_value=st.text(max_size=20),
)
def test_botocore_signed_arbitrary_params_verify(
    names: list[str], values: list[str], header_value: str
) -> None:
    """Whatever botocore is able to sign, we accept: names/values of any unicode."""
    reserved = {"X-Amz-Signature", "X-Amz-Algorithm"}
    params = [(n, v) for n, v in zip(names, values, strict=False) if n not in reserved]
    url = "https://sts.amazonaws.com/"
    req = AWSRequest(
        method="GET",
        url=url,
        params=params,
        headers={"X-Extra": header_value.replace("\n", " ").replace("\r", " ")},
    )
    with _frozen(WHEN):
        SigV4Auth(Credentials(AKID, SECRET), "sts", "us-east-1").add_auth(req)
    prepared = req.prepare()
    request = _to_http(prepared)  # type: ignore[arg-type]
    info = extract(request)
    assert info is not None
    verify(request, info, SECRET)


@settings(max_examples=300, deadline=None)
@given(
    request_time=st.datetimes(timezones=st.just(UTC)),
    now=st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-11))])),
    skew=st.integers(min_value=0, max_value=10**6),
)
def test_check_time_total(request_time: datetime, now: datetime, skew: int) -> None:
    info = _info(request_time=request_time)
    try:
        check_time(info, now, skew_seconds=skew)
    except SignatureDoesNotMatch as exc:
        assert exc.message.startswith(("Signature expired: ", "Signature not yet current: "))
    else:
        assert abs(now.replace(microsecond=0) - request_time) <= timedelta(seconds=skew)


_SIGNED = sign_header(
    "POST",
    "https://sts.amazonaws.com/p?Action=GetCallerIdentity&Version=2011-06-15",
    key=ASIA,
    token=TOKEN,
    headers={"X-Vault-AWS-IAM-Server-ID": "vault"},
)


@settings(max_examples=300, deadline=None)
@given(
    index=st.integers(min_value=0, max_value=len(_SIGNED.headers) - 1),
    value=st.one_of(_fragments, _junk),
    query=st.one_of(st.just(_SIGNED.query_string), _query),
    path=st.one_of(st.just(_SIGNED.path), _junk),
    body=st.one_of(st.just(_SIGNED.body), st.binary(max_size=20)),
)
def test_mutated_signed_request(index: int, value: str, query: str, path: str, body: bytes) -> None:
    """One junk header value plus maybe junk query/path/body: accepted only if unchanged."""
    headers = list(_SIGNED.headers)
    headers[index] = (headers[index][0], value)
    req = HttpRequest("POST", path, query, tuple(headers), body)
    try:
        info = extract(req)
        if info is None:
            return
        check_time(info, WHEN)
        check_scope(info, service="sts")
        verify(req, info, SECRET)
    except TesseraError:
        return
    # Accepted: then every signed part must be equivalent to the original.
    assert (query, path, body) == (_SIGNED.query_string, _SIGNED.path, _SIGNED.body)
    name, original = _SIGNED.headers[index]
    if name.lower() in info.signed_headers:
        assert " ".join(value.split()) == " ".join(original.split())


@pytest.mark.parametrize(
    "element",
    ["a" * 50_000 + "!", "%41" * 20_000 + "%", "a-" * 25_000 + "%zz", "~" * 50_000 + "é"],
)
def test_no_catastrophic_backtracking(element: str) -> None:
    """Regression: a nested quantifier once made a long, almost-canonical query hang."""
    import time

    started = time.perf_counter()
    try:
        sigv4._canonical_query(f"k={element}&{element}=v")
    except MalformedQueryString:
        pass
    with pytest.raises(SignatureDoesNotMatch):
        check_scope(_info(region="us-" + "east-" * 20_000 + "x"), service="sts")
    assert time.perf_counter() - started < 2.0
