"""Key ids are unique across accounts: ``RSA_<n>_<suffix>`` / ``EC384_<n>_<suffix>``
with a suffix derived from the issuer UUID; old-form kids stay valid for keys
already stored and are recognised as such."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tessera.oidc import keys as K
from tessera.oidc.keys import KeyRing, SigningKey

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NEW_FORM = re.compile(r"^(RSA|EC384)_(0|[1-9][0-9]*)_[a-z2-7]{16}$")


def test_kid_suffix_is_derived_from_the_issuer_id() -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    assert K.kid_suffix(a) == K.kid_suffix(a) == K.kid_suffix(a.upper())
    assert K.kid_suffix(a) != K.kid_suffix(b)
    assert re.fullmatch(r"[a-z2-7]{16}", K.kid_suffix(a))
    assert uuid.UUID(a).hex[:16] not in K.kid_suffix(a)
    with pytest.raises(ValueError):
        K.kid_suffix("not-a-uuid")


def test_suffixes_of_many_issuers_are_distinct() -> None:
    suffixes = {K.kid_suffix(str(uuid.uuid4())) for _ in range(2000)}
    assert len(suffixes) == 2000
    randoms = {K.random_kid_suffix() for _ in range(2000)}
    assert len(randoms) == 2000 and all(re.fullmatch(r"[a-z2-7]{16}", s) for s in randoms)


def test_bootstrap_and_rotate_use_the_suffix(
    rsa_pool: list[rsa.RSAPrivateKey], ec_pool: list[ec.EllipticCurvePrivateKey]
) -> None:
    def gen(alg: K.Algorithm) -> K.PrivateKey:
        return rsa_pool[0] if alg == "RS256" else ec_pool[0]

    sfx = K.kid_suffix(str(uuid.uuid4()))
    ring, created = KeyRing(()).bootstrap(T0, gen, kid_suffix=sfx)
    assert [k.kid for k in created] == [f"RSA_0_{sfx}", f"EC384_0_{sfx}"]
    rot = ring.rotate("ES384", T0, gen, kid_suffix=sfx)
    assert rot.new_key.kid == f"EC384_1_{sfx}" and rot.new_key.index == 1
    assert all(NEW_FORM.match(k.kid) and not k.legacy_kid for k in rot.ring.keys)
    # without a suffix each ring draws a random one: two rings never share kids
    _r1, a = KeyRing(()).bootstrap(T0, gen)
    _r2, b = KeyRing(()).bootstrap(T0, gen)
    assert all(NEW_FORM.match(k.kid) for k in a + b)
    assert not {k.kid for k in a} & {k.kid for k in b}


def test_longest_kid_fits_the_store_column(ec_pool: list[ec.EllipticCurvePrivateKey]) -> None:
    kid = K.next_kid("EC384", ["EC384_999999998"], "a" * 16)
    assert kid == "EC384_999999999_" + "a" * 16 and len(kid) == 32
    SigningKey(kid=kid, alg="ES384", private_key=ec_pool[0], created_at=T0, not_before=T0)


@pytest.mark.parametrize(
    ("kid", "legacy"),
    [("RSA_0", True), ("EC384_12", True), ("RSA_0_abcdefghijklmnop", False)],
)
def test_old_form_kids_still_load_and_are_flagged(
    rsa_pool: list[rsa.RSAPrivateKey],
    ec_pool: list[ec.EllipticCurvePrivateKey],
    kid: str,
    legacy: bool,
) -> None:
    alg: K.Algorithm = "RS256" if kid.startswith("RSA") else "ES384"
    pk: K.PrivateKey = rsa_pool[0] if alg == "RS256" else ec_pool[0]
    key = SigningKey(kid=kid, alg=alg, private_key=pk, created_at=T0, not_before=T0)
    assert key.legacy_kid is legacy and K.is_legacy_kid(kid) is legacy
    assert key.index == int(kid.split("_")[1])


@pytest.mark.parametrize(
    "kid",
    [
        "RSA_0_",
        "RSA_0_abc",
        "RSA_0_ABCDEFGHIJKLMNOP",
        "RSA_0_abcdefghijklmno1",
        "RSA_0_abcdefghijklmnopq",
        "RSA_01_abcdefghijklmnop",
        "RSA_0_abcdefghijklmnop_x",
        "RSA_abcdefghijklmnop",
    ],
)
def test_malformed_kids_are_refused(rsa_pool: list[rsa.RSAPrivateKey], kid: str) -> None:
    with pytest.raises(ValueError, match="invalid kid"):
        SigningKey(kid=kid, alg="RS256", private_key=rsa_pool[0], created_at=T0, not_before=T0)
    assert not K.is_legacy_kid(kid) and K.kid_suffix_of(kid) is None
