"""IssuerService: issuer URLs, enable/disable/info, key persistence and caching,
rotation (manual, scheduled, concurrent), documents and the HTTP route."""

from __future__ import annotations

import json
import os
import uuid
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
from tessera.oidc.keys import Algorithm, PrivateKey, SigningKey, kid_suffix
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


def kid(store: SqlStore, base: str, account_id: str = "111122223333") -> str:
    """The kid ``base`` (``RSA_<n>``) of the account, with its issuer-derived suffix."""
    account = store.get_account(account_id)
    assert account is not None and account.issuer_id is not None
    return f"{base}_{kid_suffix(account.issuer_id)}"


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
    assert kids == [
        kid(store, "EC384_0"),
        kid(store, "RSA_0"),
    ]  # re-enable does not generate new keys


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
    assert first.kid == kid(store, "RSA_0")
    assert svc.signing_key("111122223333", "RS256", clock.now()) is first  # object cached
    new = svc.rotate("111122223333")
    assert sorted(k.kid for k in new) == [kid(store, "EC384_1"), kid(store, "RSA_1")]
    ring = svc.ring("111122223333")
    assert {k.kid for k in ring.published(clock.now())} == {
        kid(store, "RSA_0"),
        kid(store, "RSA_1"),
        kid(store, "EC384_0"),
        kid(store, "EC384_1"),
    }
    assert svc.signing_key("111122223333", "RS256", clock.now()).kid == kid(store, "RSA_0")
    clock.advance(15 * 60)
    assert svc.signing_key("111122223333", "RS256", clock.now()).kid == kid(store, "RSA_1")
    # retired key stays published for max token lifetime + leeway, then is pruned
    clock.advance(3600 + 299)
    assert kid(store, "RSA_0") in {k.kid for k in svc.ring("111122223333").published(clock.now())}
    clock.advance(2)
    ticker.value += 10
    svc.rotate("111122223333", publish_ahead=timedelta(0))
    kids = {k.kid for k in store.list_issuer_keys("111122223333")}
    assert kid(store, "RSA_0") not in kids and kid(store, "RSA_2") in kids


def test_other_replica_rotation_noticed_after_ttl(store: SqlStore, generator: object) -> None:
    svc, clock, ticker = make(store, generator)
    other, _c2, _t2 = make(store, generator)
    issuer = svc.enable("111122223333")
    issuer_id = issuer.rsplit("/", 1)[1]
    docs = svc.documents(issuer_id)
    assert docs is not None
    other.rotate("111122223333", clock.now(), publish_ahead=timedelta(0))
    assert svc.documents(issuer_id) == docs  # cached
    assert svc.signing_key("111122223333", "ES384", clock.now()).kid == kid(store, "EC384_0")
    ticker.value += 5.0
    fresh = svc.documents(issuer_id)
    assert fresh is not None and fresh.jwks.etag != docs.jwks.etag
    assert svc.signing_key("111122223333", "ES384", clock.now()).kid == kid(store, "EC384_1")


def test_scheduled_rotation(store: SqlStore, generator: object) -> None:
    svc, clock, ticker = make(store, generator, rotation_interval=timedelta(days=1))
    svc.enable("111122223333")
    assert svc.signing_key("111122223333", "ES384", clock.now()).kid == kid(store, "EC384_0")
    clock.advance(86400)
    # due: rotated, but the new key is only published for now (publish-before-sign)
    assert svc.signing_key("111122223333", "ES384", clock.now()).kid == kid(store, "EC384_0")
    assert kid(store, "EC384_1") in {k.kid for k in store.list_issuer_keys("111122223333")}
    assert kid(store, "RSA_1") not in {k.kid for k in store.list_issuer_keys("111122223333")}
    clock.advance(15 * 60)
    ticker.value += 10
    assert svc.signing_key("111122223333", "ES384", clock.now()).kid == kid(store, "EC384_1")


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
    assert kids == [kid(store, "RSA_0"), kid(store, "EC384_0")]
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


# --- key ids unique across accounts ---------------------------------------------------


def _jwks_kids(svc: IssuerService, issuer: str) -> set[str]:
    docs = svc.documents(issuer.rsplit("/", 1)[1])
    assert docs is not None
    return {k["kid"] for k in json.loads(docs.jwks.body)["keys"]}


def test_accounts_publish_disjoint_kids(store: SqlStore, generator: object) -> None:
    svc, clock, ticker = make(store, generator)
    a = svc.enable("111122223333")
    b = svc.enable("444455556666")
    svc.rotate("111122223333", publish_ahead=timedelta(0))
    svc.rotate("444455556666", publish_ahead=timedelta(0))
    ticker.value += 10
    ka, kb = _jwks_kids(svc, a), _jwks_kids(svc, b)
    assert len(ka) == len(kb) == 4
    assert not ka & kb
    assert ka == {kid(store, f"{f}_{n}") for f in ("RSA", "EC384") for n in (0, 1)}
    for acct in ("111122223333", "444455556666"):
        for alg in ("RS256", "ES384"):
            signing = svc.signing_key(acct, alg, clock.now())  # type: ignore[arg-type]
            assert not signing.legacy_kid


def _seed_old_store(store: SqlStore, svc: IssuerService, generator: object) -> dict[str, str]:
    """Two accounts as a store made before account-unique kids has them: both hold
    ``RSA_0`` and ``EC384_0``. Returns the issuer URL of each."""
    out: dict[str, str] = {}
    gen = generator  # the fixture's generator: a callable Algorithm -> PrivateKey
    for acct in ("111122223333", "444455556666"):
        keys = [
            SigningKey(kid=k, alg=alg, private_key=gen(alg), created_at=T0, not_before=T0)  # type: ignore[operator]
            for k, alg in (("RSA_0", "RS256"), ("EC384_0", "ES384"))
        ]
        issuer_id = str(uuid.uuid4())
        records = [IssuerService._record(acct, k) for k in keys]
        assert store.enable_outbound(acct, issuer_id, records) == issuer_id
        out[acct] = svc.issuer_url(issuer_id)
    return out


def test_upgrade_rotates_old_form_kids_out_under_the_rotation_rules(
    store: SqlStore, generator: object
) -> None:
    svc, clock, ticker = make(store, generator)
    issuers = _seed_old_store(store, svc, generator)
    a, b = issuers["111122223333"], issuers["444455556666"]
    assert _jwks_kids(svc, a) == _jwks_kids(svc, b) == {"RSA_0", "EC384_0"}  # the old flaw
    clock.advance(86400)
    out = svc.upgrade_legacy_kids()
    assert sorted(out) == ["111122223333", "444455556666"]
    new_a = {k.kid for k in out["111122223333"]}
    new_b = {k.kid for k in out["444455556666"]}
    assert new_a == {kid(store, "RSA_1"), kid(store, "EC384_1")}
    assert new_b == {kid(store, "RSA_1", "444455556666"), kid(store, "EC384_1", "444455556666")}
    assert svc.upgrade_legacy_kids() == {}  # idempotent
    other, _c, _t = make(store, generator)
    assert other.upgrade_legacy_kids() == {}  # another replica finds nothing to do
    ticker.value += 10
    # publish-before-sign: old keys still sign (and stay published), new ones are known
    assert _jwks_kids(svc, a) == {"RSA_0", "EC384_0"} | new_a
    assert svc.signing_key("111122223333", "RS256", clock.now()).kid == "RSA_0"
    clock.advance(15 * 60)
    ticker.value += 10
    assert svc.signing_key("111122223333", "RS256", clock.now()).kid == kid(store, "RSA_1")
    # the old key stays published until every token it signed has expired
    clock.advance(3600 + 299)
    ticker.value += 10
    assert "RSA_0" in _jwks_kids(svc, a)
    clock.advance(2)
    ticker.value += 10
    assert _jwks_kids(svc, a) == new_a and _jwks_kids(svc, b) == new_b
    assert not _jwks_kids(svc, a) & _jwks_kids(svc, b)


def test_upgrade_rotates_only_families_still_on_old_kids(
    store: SqlStore, generator: object
) -> None:
    svc, _clock, _t = make(store, generator)
    _seed_old_store(store, svc, generator)
    svc.rotate("111122223333", algorithms=("RS256",))
    out = svc.upgrade_legacy_kids()
    assert [k.alg for k in out["111122223333"]] == ["ES384"]
    assert sorted(k.alg for k in out["444455556666"]) == ["ES384", "RS256"]


def test_new_issuer_id_never_reuses_a_kid_suffix(
    store: SqlStore, generator: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tessera.oidc import issuers as mod

    first, clash, fresh = (str(uuid.uuid4()) for _ in range(3))
    real = mod.kid_suffix
    monkeypatch.setattr(mod, "kid_suffix", lambda i: real(first) if i == clash else real(i))
    draws = iter([first, clash, fresh])
    monkeypatch.setattr(mod, "new_issuer_id", lambda: next(draws))
    svc, _c, _t = make(store, generator)
    assert svc.enable("111122223333").endswith(first)
    assert svc.enable("444455556666").endswith(fresh)  # clash was drawn again
