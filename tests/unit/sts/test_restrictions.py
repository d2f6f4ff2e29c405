"""What GetSessionToken and GetFederationToken sessions may call in STS (botocore
1.44.8 docs; issue #14 §3: GetSessionToken credentials may now call
GetWebIdentityToken, GetFederationToken credentials still may not)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tessera.auth.principal import Principal, PrincipalKind, Session, SessionKind
from tessera.errors import AccessDenied
from tessera.sts.restrictions import session_restriction

_NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _principal(kind: SessionKind) -> Principal:
    session = Session(kind, "123456789012", _NOW, _NOW, "arn", "AIDA", "u")
    pk = PrincipalKind.FEDERATED_USER if kind is SessionKind.FEDERATION else PrincipalKind.USER
    return Principal(pk, "123456789012", "arn", "id", "arn", "u", "ASIAX", session)


@pytest.mark.parametrize(
    "operation",
    [
        "AssumeRole",
        "GetCallerIdentity",
        "GetScopedCredentials",
        "GetWebIdentityToken",
        "GetDelegatedAccessToken",
    ],
)
def test_session_token_may_call(operation: str) -> None:
    assert session_restriction(_principal(SessionKind.SESSION_TOKEN), "sts", operation) is None


@pytest.mark.parametrize(
    "operation", ["GetCallerIdentity", "GetScopedCredentials", "GetDelegatedAccessToken"]
)
def test_federation_may_call(operation: str) -> None:
    assert session_restriction(_principal(SessionKind.FEDERATION), "sts", operation) is None


@pytest.mark.parametrize(
    ("kind", "operation"),
    [
        (SessionKind.FEDERATION, "GetWebIdentityToken"),
        (SessionKind.FEDERATION, "AssumeRole"),
        (SessionKind.SESSION_TOKEN, "DecodeAuthorizationMessage"),
        (SessionKind.SESSION_TOKEN, "GetSessionToken"),
        (SessionKind.FEDERATION, "GetFederationToken"),
    ],
)
def test_refused(kind: SessionKind, operation: str) -> None:
    err = session_restriction(_principal(kind), "sts", operation)
    assert isinstance(err, AccessDenied)
    assert err.message == f"Cannot call {operation} with session credentials"
