"""IAM OpenID Connect providers on every storage engine (SQLite and PostgreSQL):
create/get/list/delete, per-account isolation, thumbprint replacement, the
compare-and-set client-id list (no lost updates under concurrency) and tags
leaving with their provider."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from tessera.iam.model import Tag
from tessera.iam.oidc_model import TAG_RESOURCE_TYPE, OidcProvider
from tessera.store.base import AlreadyExists
from tessera.store.sql import SqlStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
A, B = "111111111111", "222222222222"


@pytest.fixture()
def store(store: SqlStore) -> SqlStore:
    """The engine store from conftest, with two accounts."""
    store.create_account(A, NOW)
    store.create_account(B, NOW)
    return store


def provider(url: str = "token.example.com/x", account: str = A, **kw: object) -> OidcProvider:
    return OidcProvider(account_id=account, url=url, scheme="https", created_at=NOW, **kw)  # type: ignore[arg-type]


def test_create_get_list_delete(store: SqlStore) -> None:
    store.create_oidc_provider(provider(client_ids=("a", "b"), thumbprints=("f" * 40,)))
    store.create_oidc_provider(provider("a.example.com"))
    with pytest.raises(AlreadyExists):
        store.create_oidc_provider(provider())
    got = store.get_oidc_provider(A, "token.example.com/x")
    assert got is not None
    assert got.client_ids == ("a", "b") and got.thumbprints == ("f" * 40,)
    assert got.created_at == NOW and got.scheme == "https"
    assert got.arn == f"arn:aws:iam::{A}:oidc-provider/token.example.com/x"
    assert [p.url for p in store.list_oidc_providers(A)] == ["a.example.com", "token.example.com/x"]
    assert store.delete_oidc_provider(A, "a.example.com") is True
    assert store.delete_oidc_provider(A, "a.example.com") is False
    assert [p.url for p in store.list_oidc_providers(A)] == ["token.example.com/x"]


def test_accounts_are_isolated(store: SqlStore) -> None:
    store.create_oidc_provider(provider())
    assert store.get_oidc_provider(B, "token.example.com/x") is None
    store.create_oidc_provider(provider(account=B))  # same URL, other account: fine
    assert store.list_oidc_providers(B)[0].account_id == B


def test_thumbprints_are_replaced(store: SqlStore) -> None:
    store.create_oidc_provider(provider(thumbprints=("a" * 40,)))
    assert store.set_oidc_thumbprints(A, "token.example.com/x", ["b" * 40, "c" * 40])
    got = store.get_oidc_provider(A, "token.example.com/x")
    assert got is not None and got.thumbprints == ("b" * 40, "c" * 40)
    assert not store.set_oidc_thumbprints(A, "missing.example.com", [])


def test_client_id_changes_are_atomic(store: SqlStore) -> None:
    store.create_oidc_provider(provider())
    errors: list[BaseException] = []

    def add(i: int) -> None:
        try:
            store.change_oidc_client_ids(A, "token.example.com/x", lambda c: (*c, f"app-{i}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    got = store.get_oidc_provider(A, "token.example.com/x")
    assert got is not None and sorted(got.client_ids) == sorted(f"app-{i}" for i in range(16))
    assert store.change_oidc_client_ids(A, "missing.example.com", lambda c: c) is None


def test_a_refused_change_writes_nothing(store: SqlStore) -> None:
    store.create_oidc_provider(provider(client_ids=("a",)))

    def refuse(current: tuple[str, ...]) -> tuple[str, ...]:
        raise ValueError("no")

    with pytest.raises(ValueError):
        store.change_oidc_client_ids(A, "token.example.com/x", refuse)
    got = store.get_oidc_provider(A, "token.example.com/x")
    assert got is not None and got.client_ids == ("a",)


def test_tags_go_with_the_provider(store: SqlStore) -> None:
    store.create_oidc_provider(provider())
    store.set_tags(A, TAG_RESOURCE_TYPE, "token.example.com/x", [Tag("team", "ci")])
    assert store.get_tags(A, TAG_RESOURCE_TYPE, "token.example.com/x") == [Tag("team", "ci")]
    store.delete_oidc_provider(A, "token.example.com/x")
    assert store.get_tags(A, TAG_RESOURCE_TYPE, "token.example.com/x") == []
