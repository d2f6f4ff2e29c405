"""The console password KDF: scrypt with the parameters in the hash string."""

from __future__ import annotations

from tessera.iam import password_hash
from tessera.iam.password_hash import hash_password, verify_password


def test_hash_round_trip_and_salt() -> None:
    first = hash_password("Correct-Horse-7")
    second = hash_password("Correct-Horse-7")
    assert first != second  # a fresh salt each time
    assert first.startswith(f"scrypt${password_hash.LOG2_N}$8$1$")
    assert "Correct-Horse-7" not in first
    assert verify_password("Correct-Horse-7", first)
    assert not verify_password("Correct-Horse-8", first)
    assert not verify_password("", first)


def test_strong_parameters() -> None:
    # OWASP's floor for scrypt: N=2^15 (or more), r=8, p=1
    assert password_hash.LOG2_N >= 15 and password_hash.R == 8 and password_hash.P >= 1


def test_malformed_or_out_of_bounds_hashes_never_verify() -> None:
    good = hash_password("x-Password-1")
    parts = good.split("$")
    for bad in (
        "",
        "plain",
        "bcrypt$" + "$".join(parts[1:]),
        "$".join([parts[0], "30", *parts[2:]]),  # N = 2^30: refused, not allocated
        "$".join([*parts[:4], "!!", parts[5]]),
        "$".join([*parts[:5], parts[5][:-4]]),
    ):
        assert not verify_password("x-Password-1", bad)
