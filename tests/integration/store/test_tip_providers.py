"""Trusted identity propagation on OIDC and SAML providers, on every storage engine:
the ContextProvider and Identity Center ARN are stored on create, replaced and
cleared by set_*_tip, and read back exactly."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from tessera.iam.oidc_model import OidcProvider
from tessera.iam.saml_model import SamlProvider
from tessera.iam.tip_model import ContextProvider, KeyDefinition
from tessera.store.sql import SqlStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
A = "111111111111"
CP = ContextProvider(
    subject_source_key="sub",
    subject_type_value="user",
    key_definitions=(KeyDefinition("amr", "auth_method"), KeyDefinition("acr", "acr")),
)
CP2 = ContextProvider(subject_source_key="Subject/NameID", subject_type_source_key="kind")
IC = "arn:aws:sso:::instance/ssoins-1234567890abcdef"


@pytest.fixture()
def store(store: SqlStore) -> SqlStore:
    store.create_account(A, NOW)
    return store


def test_oidc_tip_round_trip(store: SqlStore) -> None:
    store.create_oidc_provider(
        OidcProvider(
            account_id=A,
            url="idp.example.com",
            scheme="https",
            created_at=NOW,
            context_provider=CP,
            identity_center_arn=IC,
        )
    )
    got = store.get_oidc_provider(A, "idp.example.com")
    assert got is not None and got.context_provider == CP and got.identity_center_arn == IC
    assert store.set_oidc_tip(A, "idp.example.com", CP2, None) is True
    got = store.get_oidc_provider(A, "idp.example.com")
    assert got is not None and got.context_provider == CP2 and got.identity_center_arn is None
    assert store.set_oidc_tip(A, "idp.example.com", None, None) is True
    got = store.get_oidc_provider(A, "idp.example.com")
    assert got is not None and got.context_provider is None
    assert store.set_oidc_tip(A, "missing.example.com", CP, None) is False


def test_saml_tip_round_trip(store: SqlStore) -> None:
    store.create_saml_provider(
        SamlProvider(
            account_id=A,
            name="Corp",
            provider_uuid=os.urandom(16).hex().upper(),
            metadata_document="<md:EntityDescriptor entityID='x'/>",
            valid_until=NOW + timedelta(days=1),
            created_at=NOW,
            context_provider=CP2,
        )
    )
    got = store.get_saml_provider(A, "corp")
    assert got is not None and got.context_provider == CP2 and got.identity_center_arn is None
    assert store.set_saml_tip(A, "CORP", CP, IC) is True
    got = store.get_saml_provider(A, "Corp")
    assert got is not None and got.context_provider == CP and got.identity_center_arn == IC
    assert store.set_saml_tip(A, "nope", None, None) is False
