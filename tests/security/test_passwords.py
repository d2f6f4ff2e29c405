"""Console passwords (#17): hashes never leave the store or reach the logs, the
stored hash is sealed under the KEK, comparison is constant-time, a wrong old
password is refused, reuse prevention holds, and a login profile is bound to the
user's unique id (a user created again under the same name has no password)."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tessera.iam import password_hash
from tessera.iam.ops_login import verify_console_password
from tessera.kek import KekError
from tests.e2e.server import Creds, TesseraServer
from tests.unit.iam.test_service_support import ACCOUNT_A, AllowAll, Harness

SECRET = "Sup3r-Secret-Pass!"


@pytest.fixture(autouse=True)
def _cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(password_hash, "LOG2_N", 10)


def test_hash_is_sealed_and_never_returned(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    h = Harness.create()
    h.call("CreateUser", UserName="alice")
    _result, xml = h.raw("CreateLoginProfile", UserName="alice", Password=SECRET)
    _r2, xml2 = h.raw("GetLoginProfile", UserName="alice")
    for body in (xml, xml2):
        assert SECRET.encode() not in body and b"scrypt" not in body
    user = h.store.get_user(ACCOUNT_A, "alice")
    assert user is not None
    profile = h.store.get_login_profile(user.user_id)
    assert profile is not None
    assert (
        b"scrypt" not in profile.password_sealed and SECRET.encode() not in profile.password_sealed
    )
    opened = h.store.kek.open(profile.password_sealed, f"password:{user.user_id}").decode()
    assert opened.startswith("scrypt$")
    with pytest.raises(KekError):  # sealed for this user only
        h.store.kek.open(profile.password_sealed, "password:AIDAOTHER")
    assert SECRET not in caplog.text and "scrypt$" not in caplog.text
    assert "password_sealed" not in repr(profile)


def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """verify_password compares derived keys with hmac.compare_digest only."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(password_hash.hmac, "compare_digest", spy)
    encoded = password_hash.hash_password(SECRET)
    assert not password_hash.verify_password("wrong", encoded)
    assert password_hash.verify_password(SECRET, encoded)
    assert len(calls) == 2


def test_unknown_user_costs_a_kdf_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """No user, no profile and a wrong password all run the KDF once."""
    h = Harness.create()
    h.call("CreateUser", UserName="alice")
    h.call("CreateLoginProfile", UserName="alice", Password=SECRET)
    runs: list[int] = []
    real = password_hash._derive

    def counting(*args: Any) -> bytes:
        runs.append(1)
        return real(*args)

    monkeypatch.setattr(password_hash, "_derive", counting)
    now = h.clock.now()
    h.call("CreateUser", UserName="bob")
    for name, password in (("nobody", SECRET), ("bob", SECRET), ("alice", "wrong")):
        runs.clear()
        assert verify_console_password(h.store, ACCOUNT_A, name, password, now) is None
        assert len(runs) == 1, name


def test_wrong_old_password_and_reuse() -> None:
    h = Harness.create(AllowAll())
    h.call("UpdateAccountPasswordPolicy", PasswordReusePrevention=5)
    h.call("CreateUser", UserName="alice")
    h.call("CreateLoginProfile", UserName="alice", Password=SECRET)
    alice = h.user("alice")
    err = h.error("ChangePassword", alice, OldPassword=SECRET + "x", NewPassword="New-Pass-123")
    assert err["Code"] == "AccessDenied"
    err = h.error("ChangePassword", alice, OldPassword=SECRET, NewPassword=SECRET)
    assert err["Code"] == "PasswordPolicyViolation"
    h.call("ChangePassword", alice, OldPassword=SECRET, NewPassword="New-Pass-123")
    err = h.error("ChangePassword", alice, OldPassword="New-Pass-123", NewPassword=SECRET)
    assert err["Code"] == "PasswordPolicyViolation"  # the replaced one is remembered
    assert verify_console_password(h.store, ACCOUNT_A, "alice", SECRET, h.clock.now()) is None


def test_recreated_user_has_no_password() -> None:
    h = Harness.create()
    h.call("CreateUser", UserName="alice")
    h.call("CreateLoginProfile", UserName="alice", Password=SECRET)
    user = h.store.get_user(ACCOUNT_A, "alice")
    assert user is not None
    # bypass DeleteUser's conflict check as a direct store edit would
    h.store.delete_user(ACCOUNT_A, "alice")
    h.call("CreateUser", UserName="alice")
    assert verify_console_password(h.store, ACCOUNT_A, "alice", SECRET, h.clock.now()) is None
    assert h.error("GetLoginProfile", UserName="alice")["Code"] == "NoSuchEntity"


@pytest.mark.e2e
def test_passwords_never_reach_the_server_log(tmp_path: Any) -> None:
    srv = TesseraServer(data_dir=tmp_path / "data", extra_args=("--log-level", "debug"))
    srv.init()
    srv.start()
    try:
        iam = srv.client("iam")
        iam.create_user(UserName="victim")
        iam.create_login_profile(UserName="victim", Password=SECRET)
        with pytest.raises(ClientError):
            iam.create_login_profile(UserName="victim", Password=SECRET + "2")
        with pytest.raises(ClientError) as info:  # a policy violation echoes no password
            iam.update_login_profile(UserName="victim", Password="x")
        assert SECRET not in json.dumps(info.value.response, default=str)
        key = iam.create_access_key(UserName="victim")["AccessKey"]
        assert srv.root is not None
        me = srv.client(
            "iam", Creds(srv.root.account_id, key["AccessKeyId"], key["SecretAccessKey"])
        )
        with pytest.raises(ClientError):
            me.change_password(OldPassword=SECRET, NewPassword="Other-Pass-9!")
    finally:
        srv.stop()
    log = srv.log_text()
    assert log  # the server did log the requests
    for text in (SECRET, SECRET + "2", "Other-Pass-9!", "scrypt$"):
        assert text not in log
