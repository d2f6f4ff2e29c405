"""IssuerService: issuer URLs, enable/disable/info, key persistence and caching,
rotation (manual, scheduled, concurrent), documents and the HTTP route."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tessera.app.issuer_routes import issuer_document_route
from tessera.app.pipeline import Request
from tessera.clock import FixedClock
from tessera.errors import FeatureDisabled, FeatureEnabled
from tessera.kek import KeyEncryptionKey
from tessera.oidc.issuers import IssuerService, is_issuer_id
from tessera.oidc.keys import Algorithm, PrivateKey
from tessera.store.sql import SqlStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Ticker:
    def __init__(self) -> None:
        self.value = 0.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def store() -> Iterator[SqlStore]:
    st = SqlStore("sqlite://", KeyEncryptionKey(os.urandom(32)))
    st.migrate()
    st.create_account("111122223333", T0)
    st.create_account("444455556666", T0)
    yield st
    st.close()


@pytest.fixture
def generator(
    rsa_pool: list[rsa.RSAPrivateKey], ec_pool: list[ec.EllipticCurvePrivateKey]
) -> object:
    counter = {"RS256": 0, "ES384": 0}

    def gen(alg: Algorithm) -> PrivateKey:
        counter[alg] += 1
        pool: list[PrivateKey] = list(rsa_pool) if alg == "RS256" else list(ec_pool)
        return pool[counter[alg] % len(pool)]

    return gen


def make(
    store: SqlStore, generator: object, **kw: object
) -> tuple[IssuerService, FixedClock, Ticker]:
    clock = FixedClock(T0)
    ticker = Ticker()
    svc = IssuerService(
        store,
        public_url="https://sts.example.com/",
        clock=clock,
        generate=generator,  # type: ignore[arg-type]
        monotonic=ticker,
        **kw,  # type: ignore[arg-type]
    )
    return svc, clock, ticker


def test_enable_info_disable_reenable_keeps_issuer(store: SqlStore, generator: object) -> None:
    svc, _clock, _t = make(store, generator)
    with pytest.raises(FeatureDisabled):
        svc.info("111122223333")
    issuer = svc.enable("111122223333")
    assert issuer.startswith("https://sts.example.com/issuers/")
    assert is_issuer_id(issuer.rsplit("/", 1)[1])
    with pytest.raises(FeatureEnabled):
        svc.enable("111122223333")
    assert svc.info("111122223333").enabled is True
    svc.disable("111122223333")
    with pytest.raises(FeatureDisabled):
        svc.disable("111122223333")
    info = svc.info("111122223333")
    assert (info.issuer, info.enabled) == (issuer, False)
    assert svc.enable("111122223333") == issuer
    kids = sorted(k.kid for k in store.list_issuer_keys("111122223333"))
    assert kids == ["EC384_0", "RSA_0"]  # re-enable does not generate new keys


def test_keys_are_sealed_and_accounts_isolated(store: SqlStore, generator: object) -> None:
    svc, _c, _t = make(store, generator)
    a = svc.enable("111122223333")
    b = svc.enable("444455556666")
    assert a != b
    with store.engine.connect() as conn:
        blobs = [
            bytes(r[0]) for r in conn.exec_driver_sql("SELECT private_sealed FROM issuer_keys")
        ]
    assert blobs and all(b"PRIVATE KEY" not in blob for blob in blobs)


def test_host_template(store: SqlStore, generator: object) -> None:
    svc, _c, _t = make(store, generator, issuer_host_template="https://{id}.tokens.example.com")
    issuer = svc.enable("111122223333")
    issuer_id = issuer.removeprefix("https://").split(".", 1)[0]
    assert issuer == f"https://{issuer_id}.tokens.example.com"
    assert svc.issuer_id_from_host(f"{issuer_id}.tokens.example.com") == issuer_id
    assert svc.issuer_id_from_host(f"{issuer_id}.TOKENS.example.com:443") == issuer_id
    assert svc.issuer_id_from_host("evil.tokens.example.com") is None
    assert svc.issuer_id_from_host(f"{issuer_id}.tokens.example.org") is None


def test_signing_key_cached_and_rotation_publish_before_sign(
    store: SqlStore, generator: object
) -> None:
    svc, clock, ticker = make(store, generator)
    svc.enable("111122223333")
    first = svc.signing_key("111122223333", "RS256", clock.now())
    assert first.kid == "RSA_0"
    assert svc.signing_key("111122223333", "RS256", clock.now()) is first  # object cached
    new = svc.rotate("111122223333")
    assert sorted(k.kid for k in new) == ["EC384_1", "RSA_1"]
    ring = svc.ring("111122223333")
    assert {k.kid for k in ring.published(clock.now())} == {"RSA_0", "RSA_1", "EC384_0", "EC384_1"}
    assert svc.signing_key("111122223333", "RS256", clock.now()).kid == "RSA_0"
    clock.advance(15 * 60)
    assert svc.signing_key("111122223333", "RS256", clock.now()).kid == "RSA_1"
    # retired key stays published for max token lifetime + leeway, then is pruned
    clock.advance(3600 + 299)
    assert "RSA_0" in {k.kid for k in svc.ring("111122223333").published(clock.now())}
    clock.advance(2)
    ticker.value += 10
    svc.rotate("111122223333", publish_ahead=timedelta(0))
    kids = {k.kid for k in store.list_issuer_keys("111122223333")}
    assert "RSA_0" not in kids and "RSA_2" in kids


def test_other_replica_rotation_noticed_after_ttl(store: SqlStore, generator: object) -> None:
    svc, clock, ticker = make(store, generator)
    other, _c2, _t2 = make(store, generator)
    issuer = svc.enable("111122223333")
    issuer_id = issuer.rsplit("/", 1)[1]
    docs = svc.documents(issuer_id)
    assert docs is not None
    other.rotate("111122223333", clock.now(), publish_ahead=timedelta(0))
    assert svc.documents(issuer_id) == docs  # cached
    assert svc.signing_key("111122223333", "ES384", clock.now()).kid == "EC384_0"
    ticker.value += 5.0
    fresh = svc.documents(issuer_id)
    assert fresh is not None and fresh.jwks.etag != docs.jwks.etag
    assert svc.signing_key("111122223333", "ES384", clock.now()).kid == "EC384_1"


def test_scheduled_rotation(store: SqlStore, generator: object) -> None:
    svc, clock, ticker = make(store, generator, rotation_interval=timedelta(days=1))
    svc.enable("111122223333")
    assert svc.signing_key("111122223333", "ES384", clock.now()).kid == "EC384_0"
    clock.advance(86400)
    # due: rotated, but the new key is only published for now (publish-before-sign)
    assert svc.signing_key("111122223333", "ES384", clock.now()).kid == "EC384_0"
    assert "EC384_1" in {k.kid for k in store.list_issuer_keys("111122223333")}
    assert "RSA_1" not in {k.kid for k in store.list_issuer_keys("111122223333")}
    clock.advance(15 * 60)
    ticker.value += 10
    assert svc.signing_key("111122223333", "ES384", clock.now()).kid == "EC384_1"


def test_rotate_all_skips_accounts_without_issuer(store: SqlStore, generator: object) -> None:
    svc, _c, _t = make(store, generator)
    svc.enable("111122223333")
    out = svc.rotate_all()
    assert list(out) == ["111122223333"]


def _get(path: str, host: str = "sts.example.com", inm: str | None = None) -> Request:
    headers = [("host", host)]
    if inm:
        headers.append(("if-none-match", inm))
    return Request("GET", path, "", tuple(headers), b"", "127.0.0.1", False)


def test_route_documents_etag_and_404(store: SqlStore, generator: object) -> None:
    svc, _c, _t = make(store, generator)
    issuer = svc.enable("111122223333")
    path = issuer.removeprefix("https://sts.example.com")
    route = issuer_document_route(svc)
    assert route(_get("/health")) is None
    resp = route(_get(path + "/.well-known/openid-configuration"))
    assert resp is not None and resp.status == 200
    doc = json.loads(resp.body)
    assert doc["issuer"] == issuer and doc["jwks_uri"] == issuer + "/.well-known/jwks.json"
    assert sorted(doc) == [
        "claims_supported",
        "id_token_signing_alg_values_supported",
        "issuer",
        "jwks_uri",
        "subject_types_supported",
    ]
    headers = dict(resp.headers)
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "public, max-age=300"
    jwks = route(_get(path + "/.well-known/jwks.json"))
    assert jwks is not None
    etag = dict(jwks.headers)["etag"]
    kids = [k["kid"] for k in json.loads(jwks.body)["keys"]]
    assert kids == ["RSA_0", "EC384_0"]
    again = route(_get(path + "/.well-known/jwks.json", inm=etag))
    assert again is not None and again.status == 304 and again.body == b""
    missing = route(_get("/issuers/00000000-0000-4000-8000-000000000000/.well-known/jwks.json"))
    assert missing is not None and missing.status == 404
    assert json.loads(missing.body)["error"] == "not_found"
    bad = route(_get("/issuers/not-a-uuid/.well-known/jwks.json"))
    assert bad is not None and bad.status == 404
    # disabled accounts keep publishing
    svc.disable("111122223333")
    svc.invalidate()
    still = route(_get(path + "/.well-known/jwks.json"))
    assert still is not None and still.status == 200


def test_route_host_form(store: SqlStore, generator: object) -> None:
    svc, _c, _t = make(store, generator, issuer_host_template="https://{id}.tokens.example.com")
    issuer = svc.enable("111122223333")
    host = issuer.removeprefix("https://")
    route = issuer_document_route(svc)
    resp = route(_get("/.well-known/openid-configuration", host=host))
    assert resp is not None and resp.status == 200
    assert json.loads(resp.body)["issuer"] == issuer
    assert route(_get("/.well-known/jwks.json", host="other.example.com")) is None
