"""Encoded authorization messages: sealing a decision, decoding it in the same
account only, tamper and key-rotation behaviour, the 10,240-character limit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tessera.app.bootstrap import init_store, open_store
from tessera.clock import SystemClock
from tessera.errors import InvalidAuthorizationMessage
from tessera.iam.policy import (
    PolicyKind,
    PolicySet,
    PrincipalInfo,
    RequestContext,
    evaluate,
    global_keys,
    parse_policy,
)
from tessera.store.sql import SqlStore
from tessera.sts.authz_messages import MAX_ENCODED, AuthorizationMessages
from tessera.sts.sessions import SessionKeyRing

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ACCT = "111122223333"


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[SqlStore]:
    init_store(tmp_path / "data", None, SystemClock())
    st = open_store(tmp_path / "data", None)
    try:
        yield st
    finally:
        st.close()


def _denied(extra: dict[str, str] | None = None) -> tuple[RequestContext, object]:
    principal = PrincipalInfo(
        arn=f"arn:aws:iam::{ACCT}:user/bob", account=ACCT, kind="user", unique_id="AIDAEXAMPLE"
    )
    keys = global_keys(principal, current_time=NOW, source_ip="10.0.0.1", extra=extra)
    policy = parse_policy(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "NoRoles", "Effect": "Deny", "Action": "iam:*Role", "Resource": "*"},
                    {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
                ],
            }
        ),
        PolicyKind.IDENTITY,
        label="bob/inline",
    )
    request = RequestContext("iam:GetRole", f"arn:aws:iam::{ACCT}:role/x", principal, keys)
    return request, evaluate(request, PolicySet(identity=(policy,)))


def test_round_trip_carries_the_decision(store: SqlStore) -> None:
    messages = AuthorizationMessages(SessionKeyRing(store))
    request, decision = _denied()
    encoded = messages.encode(ACCT, request, decision, NOW)  # type: ignore[arg-type]
    assert len(encoded) <= MAX_ENCODED
    doc = messages.decode(ACCT, encoded)
    assert doc["allowed"] is False
    assert doc["explicitDeny"] is True
    assert doc["context"]["action"] == "iam:GetRole"
    assert doc["context"]["resource"] == f"arn:aws:iam::{ACCT}:role/x"
    assert doc["context"]["principal"] == {
        "arn": f"arn:aws:iam::{ACCT}:user/bob",
        "id": "AIDAEXAMPLE",
    }
    (stmt,) = doc["matchedStatements"]["items"]
    assert stmt["statementId"] == "NoRoles"
    assert stmt["effect"] == "DENY"
    assert stmt["sourcePolicyId"] == "bob/inline"
    assert doc["failures"]["items"] == [
        {"policyType": "identity-based policy", "explicitDeny": "true"}
    ]
    conditions = {c["key"]: c["values"]["items"] for c in doc["context"]["conditions"]["items"]}
    assert conditions["aws:sourceip"] == [{"value": "10.0.0.1"}]


def test_other_account_tampering_and_garbage_are_invalid(store: SqlStore) -> None:
    messages = AuthorizationMessages(SessionKeyRing(store))
    request, decision = _denied()
    encoded = messages.encode(ACCT, request, decision, NOW)  # type: ignore[arg-type]
    with pytest.raises(InvalidAuthorizationMessage):
        messages.decode("444455556666", encoded)
    flipped = encoded[:-5] + ("A" if encoded[-5] != "A" else "B") + encoded[-4:]
    for bad in (flipped, "not a message", "", "AAAA", encoded[:40]):
        with pytest.raises(InvalidAuthorizationMessage) as exc:
            messages.decode(ACCT, bad)
        assert exc.value.code == "InvalidAuthorizationMessageException"
        assert exc.value.status == 400


def test_rotation_keeps_old_messages_until_the_key_is_retired(store: SqlStore) -> None:
    ring = SessionKeyRing(store)
    messages = AuthorizationMessages(ring)
    request, decision = _denied()
    old = messages.encode(ACCT, request, decision, NOW)  # type: ignore[arg-type]
    old_kid = ring.active(NOW).kid
    ring.rotate(NOW)
    other_replica = AuthorizationMessages(SessionKeyRing(store))
    assert other_replica.decode(ACCT, old)["context"]["action"] == "iam:GetRole"
    ring.retire(old_kid)
    with pytest.raises(InvalidAuthorizationMessage):
        AuthorizationMessages(SessionKeyRing(store)).decode(ACCT, old)


def test_oversized_context_drops_conditions_to_fit(store: SqlStore) -> None:
    import secrets

    messages = AuthorizationMessages(SessionKeyRing(store))
    noisy = {f"aws:RequestTag/k{i}": secrets.token_hex(64) for i in range(200)}
    request, decision = _denied(noisy)
    encoded = messages.encode(ACCT, request, decision, NOW)  # type: ignore[arg-type]
    assert len(encoded) <= MAX_ENCODED
    doc = messages.decode(ACCT, encoded)
    assert doc["context"]["conditions"] == {"items": [], "truncated": True}
    assert doc["matchedStatements"]["items"][0]["statementId"] == "NoRoles"
