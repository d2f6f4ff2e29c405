"""``Authorizer.caller_policies`` turns the session's GetScopedCredentials policies
into scope-down layers, one per document in order; one that no longer parses
becomes an empty layer, which allows nothing (fail closed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

from tessera.auth.principal import Principal, PrincipalKind, Session, SessionKind
from tessera.iam.authz import Authorizer, AuthzStore

NOW = datetime(2026, 12, 1, tzinfo=UTC)
LAYER = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'


def _root_session(*layers: str) -> Principal:
    session = Session(
        kind=SessionKind.SESSION_TOKEN,
        account_id="123456789012",
        issued_at=NOW,
        expires_at=NOW + timedelta(hours=1),
        source_arn="arn:aws:iam::123456789012:root",
        source_id="123456789012",
        source_name="",
        scope_policies=layers,
    )
    return Principal(
        PrincipalKind.ROOT,
        "123456789012",
        session.source_arn,
        "123456789012",
        session.source_arn,
        "",
        "ASIAEXAMPLE",
        session,
    )


def _authz() -> Authorizer:
    # the root side reads nothing from the store
    return Authorizer(cast(AuthzStore, cast(Any, object())))


def test_no_layers_for_unscoped_sessions() -> None:
    assert _authz().caller_policies(_root_session()).scope_layers == ()


def test_one_layer_per_document_and_unparseable_ones_are_empty() -> None:
    layers = _authz().caller_policies(_root_session(LAYER, "not a policy", LAYER)).scope_layers
    assert [len(layer) for layer in layers] == [1, 0, 1]
