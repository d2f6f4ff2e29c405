"""Shared fixtures for tessera.oidc tests: keys are generated once per session."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tessera.oidc.keys import SigningKey, generate_ec384, generate_rsa

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def rsa_pool() -> list[rsa.RSAPrivateKey]:
    return [generate_rsa() for _ in range(2)]


@pytest.fixture(scope="session")
def ec_pool() -> list[ec.EllipticCurvePrivateKey]:
    return [generate_ec384() for _ in range(2)]


@pytest.fixture(scope="session")
def rsa_key(rsa_pool: list[rsa.RSAPrivateKey]) -> SigningKey:
    return SigningKey(
        kid="RSA_0", alg="RS256", private_key=rsa_pool[0], created_at=T0, not_before=T0
    )


@pytest.fixture(scope="session")
def ec_key(ec_pool: list[ec.EllipticCurvePrivateKey]) -> SigningKey:
    return SigningKey(
        kid="EC384_0", alg="ES384", private_key=ec_pool[0], created_at=T0, not_before=T0
    )
