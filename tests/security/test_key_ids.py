"""Issuer key ids are unique across accounts (issue #13): a relying party that
caches JWKS keys by ``kid`` alone must never pick another account's key. Two
accounts on one real server publish disjoint kids, before and after rotation, and
a store whose accounts still share the old ``RSA_0``/``EC384_0`` kids stops
sharing them once an upgraded server starts (the old keys stay published until
their tokens have expired, then only account-unique kids remain)."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tessera.kek import load_kek
from tests.e2e.server import Creds, TesseraServer, tessera_cmd

pytestmark = pytest.mark.e2e

KID = re.compile(r"^(RSA|EC384)_(0|[1-9][0-9]*)_[a-z2-7]{16}$")


def _enable(srv: TesseraServer, creds: Creds) -> str:
    out = srv.client("iam", creds).enable_outbound_web_identity_federation()
    issuer: str = out["IssuerIdentifier"]
    return issuer


def _kids(issuer: str) -> list[str]:
    resp = httpx.get(issuer + "/.well-known/jwks.json", timeout=10)
    assert resp.status_code == 200
    return [k["kid"] for k in resp.json()["keys"]]


def _header_kid(token: str) -> str:
    head = token.split(".", 1)[0]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return str(data["kid"])


def _token(srv: TesseraServer, creds: Creds, alg: str) -> str:
    out = srv.client("sts", creds).get_web_identity_token(
        Audience=["https://rp.example.com"], SigningAlgorithm=alg
    )
    token: str = out["WebIdentityToken"]
    return token


def test_two_accounts_publish_disjoint_kids(server: TesseraServer) -> None:
    assert server.root is not None
    other = server.create_account()
    a, b = _enable(server, server.root), _enable(server, other)
    kids_a, kids_b = _kids(a), _kids(b)
    assert len(kids_a) == len(kids_b) == 2
    assert all(KID.match(k) for k in kids_a + kids_b), kids_a + kids_b
    assert not set(kids_a) & set(kids_b)
    # every token names a kid that only its own account publishes
    for creds, own, foreign in ((server.root, kids_a, kids_b), (other, kids_b, kids_a)):
        for alg in ("RS256", "ES384"):
            kid = _header_kid(_token(server, creds, alg))
            assert kid in own and kid not in foreign
    # after a rotation of every account, still nothing in common
    rot = subprocess.run(
        tessera_cmd(
            "keys", "rotate", "--data-dir", str(server.data_dir), "--publish-ahead", "0", "--json"
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rot.returncode == 0, rot.stderr
    new = json.loads(rot.stdout)["issuer_keys"]
    assert {k["kid"] for k in new[server.root.account_id]}.isdisjoint(
        {k["kid"] for k in new[other.account_id]}
    )
    # (the server notices the rotation within its cache TTL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (len(_kids(a)) < 4 or len(_kids(b)) < 4):
        time.sleep(0.3)
    kids_a, kids_b = _kids(a), _kids(b)
    assert len(kids_a) == len(kids_b) == 4
    assert not set(kids_a) & set(kids_b)


# ------------------------------------------------------------ a store from before


def _downgrade_kids(data_dir: Path) -> None:
    """Give every stored issuer key the old, account-independent kid (``RSA_<n>``),
    re-sealed under its new kid, as a store made before the fix holds them."""
    kek = load_kek(data_dir)
    db = sqlite3.connect(data_dir / "tessera.db")
    try:
        rows = db.execute("SELECT account_id, kid, private_sealed FROM issuer_keys").fetchall()
        for account_id, kid, sealed in rows:
            old = "_".join(kid.split("_")[:2])
            pem = kek.open(bytes(sealed), f"issuer-key:{account_id}:{kid}")
            db.execute(
                "UPDATE issuer_keys SET kid = ?, private_sealed = ?"
                " WHERE account_id = ? AND kid = ?",
                (old, kek.seal(pem, f"issuer-key:{account_id}:{old}"), account_id, kid),
            )
        db.commit()
    finally:
        db.close()


@pytest.fixture
def old_store(tmp_path: Path) -> Iterator[tuple[TesseraServer, str, str]]:
    srv = TesseraServer(data_dir=tmp_path / "data")
    root = srv.init()
    other = srv.create_account()
    srv.start()
    try:
        a, b = _enable(srv, root), _enable(srv, other)
        srv.stop()
        _downgrade_kids(srv.data_dir)
        yield srv, a, b
    finally:
        srv.stop()


def test_upgraded_store_stops_sharing_kids(old_store: tuple[TesseraServer, str, str]) -> None:
    srv, a, b = old_store
    srv.start()  # the upgraded server rotates the old-form kids out
    kids_a, kids_b = set(_kids(a)), set(_kids(b))
    old = {"RSA_0", "EC384_0"}
    # old keys stay published (tokens in flight name them); new ones are unique
    assert old <= kids_a and old <= kids_b
    new_a, new_b = kids_a - old, kids_b - old
    assert len(new_a) == len(new_b) == 2 and not new_a & new_b
    assert all(KID.match(k) and k.split("_")[1] == "1" for k in new_a | new_b)
    # a second start finds nothing to do
    srv.restart()
    assert set(_kids(a)) == kids_a and set(_kids(b)) == kids_b
    # once every token the old keys signed has expired (publish-ahead 15 min, token
    # lifetime 1 h, leeway 5 min), the accounts publish nothing in common
    srv.restart(clock_offset=15 * 60 + 3600 + 300 + 60)
    assert set(_kids(a)) == new_a and set(_kids(b)) == new_b
