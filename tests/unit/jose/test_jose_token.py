"""``tessera.jose.token``: the strict, size-bounded parse of an unverified JWS."""

from __future__ import annotations

import base64
import json

import pytest

from tessera.jose.errors import DisallowedAlgorithm, MalformedToken
from tessera.jose.token import MAX_TOKEN_CHARS, UnverifiedToken, b64url_decode


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


HEADER = b64(b'{"alg":"RS256","kid":"k1"}')
PAYLOAD = b64(b'{"iss":"https://i","sub":"s"}')


def test_parse_keeps_signing_input_and_hides_the_token() -> None:
    raw = f"{HEADER}.{PAYLOAD}.{b64(b'sig')}"
    tok = UnverifiedToken.parse(raw.encode())
    assert tok.alg == "RS256" and tok.kid == "k1"
    assert tok.signing_input == f"{HEADER}.{PAYLOAD}".encode()
    assert tok.signature == b"sig"
    assert tok.peek_issuer() == "https://i" and tok.claims["sub"] == "s"
    assert raw not in repr(tok) and PAYLOAD not in repr(tok)


@pytest.mark.parametrize("segment", ["", "e30=", "e3 0", "e3+0", "e3/0", "e3!0", "e30.", "abcde"])
def test_base64url_is_strict(segment: str) -> None:
    with pytest.raises(MalformedToken):
        b64url_decode(segment)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"iss":"a","iss":"b"}',  # duplicate member: no parser differential
        b'{"exp":NaN}',
        b'{"exp":Infinity}',
        b"[1]",
        b"\xff",
        b"[" * 100_000,
    ],
)
def test_json_is_strict(payload: bytes) -> None:
    with pytest.raises(MalformedToken):
        UnverifiedToken.parse(f"{HEADER}.{b64(payload)}.{b64(b'sig')}")


def test_size_bound_is_checked_before_decoding() -> None:
    with pytest.raises(MalformedToken, match="longer"):
        UnverifiedToken.parse("a" * (MAX_TOKEN_CHARS + 1))
    with pytest.raises(MalformedToken, match="longer"):
        UnverifiedToken.parse(f"{HEADER}.{PAYLOAD}.{b64(b'sig')}", max_chars=10)


def test_crit_and_mistyped_header_members_are_refused() -> None:
    for header in ({"alg": "RS256", "crit": []}, {"alg": 1}, {"alg": "RS256", "kid": 2}):
        with pytest.raises(MalformedToken):
            UnverifiedToken.parse(f"{b64(json.dumps(header).encode())}.{PAYLOAD}.c2ln")


def test_unsecured_jws_is_both_malformed_and_a_disallowed_algorithm() -> None:
    with pytest.raises(MalformedToken, match="no signature"):
        UnverifiedToken.parse(f"{HEADER}.{PAYLOAD}.")
    none = b64(b'{"alg":"none"}')
    with pytest.raises(DisallowedAlgorithm, match="'none'"):
        UnverifiedToken.parse(f"{none}.{PAYLOAD}.")
    with pytest.raises(MalformedToken):
        UnverifiedToken.parse(f"{none}.{PAYLOAD}.")
