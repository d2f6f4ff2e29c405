"""Signing keys: generation, PEM, JWK shapes, kid numbering and the rotation policy."""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.oidc import keys as K
from tessera.oidc.keys import KeyRing, RotationPolicy, SigningKey

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SFX = "abcdefghijklmnop"


def b64d(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


@pytest.fixture(scope="module")
def fake_generate(
    rsa_pool: list[rsa.RSAPrivateKey], ec_pool: list[ec.EllipticCurvePrivateKey]
) -> K.KeyGenerator:
    rsa_cycle = itertools.cycle(rsa_pool)
    ec_cycle = itertools.cycle(ec_pool)

    def gen(alg: K.Algorithm) -> K.PrivateKey:
        return next(rsa_cycle) if alg == "RS256" else next(ec_cycle)

    return gen


def test_generate_rsa_is_2048_e65537(rsa_pool: list[rsa.RSAPrivateKey]) -> None:
    key = rsa_pool[0]
    assert key.key_size == 2048
    assert key.public_key().public_numbers().e == 65537


def test_generate_ec384_curve(ec_pool: list[ec.EllipticCurvePrivateKey]) -> None:
    assert isinstance(ec_pool[0].curve, ec.SECP384R1)


def test_pem_roundtrip(rsa_key: SigningKey, ec_key: SigningKey) -> None:
    for sk in (rsa_key, ec_key):
        pem = K.private_pem(sk.private_key)
        assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
        loaded = K.load_private_pem(pem)
        assert K.private_pem(loaded) == pem


def test_rsa_jwk_exact_shape(rsa_key: SigningKey) -> None:
    jwk = K.public_jwk(rsa_key)
    assert list(jwk) == ["e", "kid", "kty", "n", "use"]
    assert "alg" not in jwk
    assert jwk["kty"] == "RSA" and jwk["use"] == "sig" and jwk["kid"] == "RSA_0"
    assert jwk["e"] == "AQAB"
    n = b64d(jwk["n"])
    assert len(n) == 256 and n[0] != 0
    assert int.from_bytes(n, "big") == rsa_key.private_key.public_key().public_numbers().n  # type: ignore[union-attr]
    assert "=" not in jwk["n"]


def test_ec_jwk_exact_shape(ec_key: SigningKey) -> None:
    jwk = K.public_jwk(ec_key)
    assert list(jwk) == ["alg", "crv", "kid", "kty", "use", "x", "y"]
    assert jwk["alg"] == "ES384" and jwk["crv"] == "P-384" and jwk["kty"] == "EC"
    assert jwk["use"] == "sig" and jwk["kid"] == "EC384_0"
    nums = ec_key.private_key.public_key().public_numbers()
    assert len(jwk["x"]) == 64 and len(jwk["y"]) == 64  # 48 bytes, no padding
    assert int.from_bytes(b64d(jwk["x"]), "big") == nums.x
    assert int.from_bytes(b64d(jwk["y"]), "big") == nums.y


def test_ec_jwk_pads_short_coordinates() -> None:
    # Find a key whose x has a leading zero byte so padding matters.
    for _ in range(2000):
        pk = K.generate_ec384()
        if pk.public_key().public_numbers().x.bit_length() <= 376:
            break
    else:  # pragma: no cover - probability ~ (255/256)^2000
        pytest.skip("no short coordinate found")
    sk = SigningKey(kid="EC384_0", alg="ES384", private_key=pk, created_at=T0, not_before=T0)
    assert len(b64d(K.public_jwk(sk)["x"])) == 48


@pytest.mark.parametrize(
    ("family", "existing", "expected"),
    [
        ("RSA", [], "RSA_0"),
        ("EC384", [], "EC384_0"),
        ("RSA", ["RSA_0"], "RSA_1"),
        ("RSA", ["RSA_0", "RSA_3", "EC384_7"], "RSA_4"),
        ("EC384", ["RSA_0", "RSA_3", "EC384_7"], "EC384_8"),
        ("RSA", ["bogus", "RSA_x", "RSA_01", "EC384_9"], "RSA_0"),
        ("RSA", [f"RSA_2_{SFX}", "RSA_1"], "RSA_3"),  # old and new forms count alike
        ("RSA", [f"RSA_5_{'q' * 16}"], "RSA_6"),  # any suffix counts
        ("RSA", ["RSA_7_short", "RSA_8_ABCDEFGHIJKLMNOP"], "RSA_0"),  # malformed: ignored
    ],
)
def test_next_kid(family: K.Family, existing: list[str], expected: str) -> None:
    assert K.next_kid(family, existing, SFX) == f"{expected}_{SFX}"


def test_next_kid_rejects_unknown_family_and_bad_suffix() -> None:
    with pytest.raises(ValueError):
        K.next_kid("HS", [], SFX)  # type: ignore[arg-type]
    for bad in ("", "abc", "ABCDEFGHIJKLMNOP", "abcdefghijklmno1", "abcdefghijklmnopq"):
        with pytest.raises(ValueError, match="suffix"):
            K.next_kid("RSA", [], bad)


def test_header_precomputed_matches_aws(rsa_key: SigningKey, ec_key: SigningKey) -> None:
    assert ec_key.header_b64 == b"eyJraWQiOiJFQzM4NF8wIiwidHlwIjoiSldUIiwiYWxnIjoiRVMzODQifQ"
    assert b64d(rsa_key.header_b64.decode()) == b'{"kid":"RSA_0","typ":"JWT","alg":"RS256"}'


def test_signing_key_validation(
    rsa_pool: list[rsa.RSAPrivateKey], ec_pool: list[ec.EllipticCurvePrivateKey]
) -> None:
    with pytest.raises(ValueError, match="does not match"):
        SigningKey(
            kid="EC384_0", alg="RS256", private_key=rsa_pool[0], created_at=T0, not_before=T0
        )
    with pytest.raises(TypeError):
        SigningKey(kid="RSA_0", alg="RS256", private_key=ec_pool[0], created_at=T0, not_before=T0)
    with pytest.raises(TypeError):
        SigningKey(
            kid="EC384_0",
            alg="ES384",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            created_at=T0,
            not_before=T0,
        )
    with pytest.raises(ValueError, match="invalid kid"):
        SigningKey(kid="rsa-0", alg="RS256", private_key=rsa_pool[0], created_at=T0, not_before=T0)
    with pytest.raises(ValueError, match="timezone"):
        SigningKey(
            kid="RSA_0",
            alg="RS256",
            private_key=rsa_pool[0],
            created_at=T0.replace(tzinfo=None),
            not_before=T0,
        )


def test_repr_hides_private_key(rsa_key: SigningKey) -> None:
    assert "private" not in repr(rsa_key).lower()


# --- rotation policy ------------------------------------------------------------------


def test_bootstrap_signs_immediately(fake_generate: K.KeyGenerator) -> None:
    ring, created = KeyRing(()).bootstrap(T0, fake_generate, kid_suffix=SFX)
    assert [k.kid for k in created] == [f"RSA_0_{SFX}", f"EC384_0_{SFX}"]
    assert ring.signing_key("RS256", T0).kid == f"RSA_0_{SFX}"  # type: ignore[union-attr]
    assert ring.signing_key("ES384", T0).kid == f"EC384_0_{SFX}"  # type: ignore[union-attr]
    assert [k.kid for k in ring.published(T0)] == [f"RSA_0_{SFX}", f"EC384_0_{SFX}"]
    again, none = ring.bootstrap(T0, fake_generate, kid_suffix=SFX)
    assert none == () and again.keys == ring.keys


def test_rotate_publishes_before_signing(fake_generate: K.KeyGenerator) -> None:
    policy = RotationPolicy()
    ring, _ = KeyRing((), policy).bootstrap(T0, fake_generate, kid_suffix=SFX)
    t = T0 + timedelta(days=30)
    rot = ring.rotate("RS256", t, fake_generate, kid_suffix=SFX)
    new = rot.new_key
    assert new.kid == f"RSA_1_{SFX}" and new.not_before == t + policy.publish_ahead
    assert [k.kid for k in rot.retired] == [f"RSA_0_{SFX}"]
    assert rot.retired[0].retired_at == new.not_before
    r2 = rot.ring
    # published at once, but the old key still signs until not_before
    assert f"RSA_1_{SFX}" in [k.kid for k in r2.published(t)]
    assert r2.signing_key("RS256", t).kid == f"RSA_0_{SFX}"  # type: ignore[union-attr]
    just_before = new.not_before - timedelta(microseconds=1)
    assert r2.signing_key("RS256", just_before).kid == f"RSA_0_{SFX}"  # type: ignore[union-attr]
    assert r2.signing_key("RS256", new.not_before).kid == f"RSA_1_{SFX}"  # type: ignore[union-attr]
    # the other family is untouched
    assert r2.signing_key("ES384", new.not_before).kid == f"EC384_0_{SFX}"  # type: ignore[union-attr]


def test_retired_key_published_until_its_tokens_expire(fake_generate: K.KeyGenerator) -> None:
    policy = RotationPolicy(publish_ahead=timedelta(minutes=10), leeway=timedelta(minutes=5))
    ring, _ = KeyRing((), policy).bootstrap(T0, fake_generate, kid_suffix=SFX)
    rot = ring.rotate("ES384", T0 + timedelta(hours=1), fake_generate, kid_suffix=SFX)
    retired_at = rot.new_key.not_before
    assert retired_at == T0 + timedelta(hours=1, minutes=10)
    last_token_exp = retired_at + timedelta(seconds=3600)
    r = rot.ring
    for when in (retired_at, last_token_exp, last_token_exp + timedelta(minutes=4, seconds=59)):
        assert f"EC384_0_{SFX}" in [k.kid for k in r.published(when)]
    gone = last_token_exp + timedelta(minutes=5)
    assert f"EC384_0_{SFX}" not in [k.kid for k in r.published(gone)]
    assert [k.kid for k in r.prunable(gone)] == [f"EC384_0_{SFX}"]
    assert [k.kid for k in r.pruned(gone).keys] == [f"RSA_0_{SFX}", f"EC384_1_{SFX}"]
    assert K.published_keys(r.keys, gone, policy) == r.published(gone)
    assert K.signing_key(r.keys, "ES384", gone, policy).kid == f"EC384_1_{SFX}"  # type: ignore[union-attr]


def test_double_rotation_retires_pending_key(fake_generate: K.KeyGenerator) -> None:
    ring, _ = KeyRing(()).bootstrap(T0, fake_generate, kid_suffix=SFX)
    r1 = ring.rotate("RS256", T0, fake_generate, kid_suffix=SFX).ring
    t2 = T0 + timedelta(minutes=5)
    rot2 = r1.rotate(
        "RS256", t2, fake_generate, kid_suffix=SFX, publish_ahead=timedelta(minutes=20)
    )
    r2 = rot2.ring
    by = {k.kid: k for k in r2.keys}
    assert by[f"RSA_0_{SFX}"].retired_at == T0 + RotationPolicy().publish_ahead  # unchanged
    assert by[f"RSA_1_{SFX}"].retired_at == t2 + timedelta(minutes=20)
    assert r2.signing_key("RS256", t2 + timedelta(minutes=16)).kid == f"RSA_1_{SFX}"  # type: ignore[union-attr]
    assert r2.signing_key("RS256", t2 + timedelta(minutes=20)).kid == f"RSA_2_{SFX}"  # type: ignore[union-attr]


def test_rotation_zero_publish_ahead_and_validation(fake_generate: K.KeyGenerator) -> None:
    ring, _ = KeyRing(()).bootstrap(T0, fake_generate, kid_suffix=SFX)
    rot = ring.rotate("RS256", T0, fake_generate, kid_suffix=SFX, publish_ahead=timedelta(0))
    assert rot.ring.signing_key("RS256", T0).kid == f"RSA_1_{SFX}"  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        ring.rotate("RS256", T0, fake_generate, kid_suffix=SFX, publish_ahead=timedelta(seconds=-1))
    with pytest.raises(ValueError):
        RotationPolicy(publish_ahead=timedelta(seconds=-1))
    with pytest.raises(ValueError, match="duplicate"):
        KeyRing(ring.keys + ring.keys[:1])


def test_defaults_documented() -> None:
    p = RotationPolicy()
    assert p.publish_ahead == timedelta(minutes=15)
    assert p.max_token_lifetime == timedelta(seconds=3600)
    assert p.retention == timedelta(seconds=3600 + 300)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 7200), st.sampled_from(["RS256", "ES384"])), max_size=8
    ),
    probe=st.integers(0, 40000),
)
def test_invariants_under_random_rotations(
    fake_generate: K.KeyGenerator, steps: list[tuple[int, K.Algorithm]], probe: int
) -> None:
    ring, _ = KeyRing(()).bootstrap(T0, fake_generate, kid_suffix=SFX)
    t = T0
    for delta, alg in steps:
        t = t + timedelta(seconds=delta)
        ring = ring.rotate(alg, t, fake_generate, kid_suffix=SFX).ring
    when = T0 + timedelta(seconds=probe)
    published = ring.published(when)
    for alg in K.ALGORITHMS:
        signer = ring.signing_key(alg, when)
        assert signer is not None  # there is always exactly one signer
        assert signer in published  # and it is always published
        active = [
            k
            for k in ring.keys
            if k.alg == alg
            and k.not_before <= when
            and (k.retired_at is None or k.retired_at > when)
        ]
        assert active == [signer]
    # a key that signed at any time s <= when has its tokens verifiable until s + 3600
    for key in ring.keys:
        end = key.retired_at
        if end is not None and key.not_before < end and when < end + timedelta(seconds=3600):
            assert key in published
