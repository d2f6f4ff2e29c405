"""The command-line contract: ``init --json``, a second ``init`` refused with
nothing changed, ``account create --json``, ``serve`` on an empty data dir, and
``serve --database-url postgresql://…`` with a restart."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.e2e.server import TesseraServer, tessera_cmd

pytestmark = pytest.mark.e2e


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    full_env.update(env or {})
    return subprocess.run(
        tessera_cmd(*args), capture_output=True, text=True, timeout=60, env=full_env
    )


def test_init_twice_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "d"
    first = _run("init", "--data-dir", str(data), "--json")
    assert first.returncode == 0, first.stderr
    creds = json.loads(first.stdout)
    assert set(creds) == {"account_id", "access_key_id", "secret_access_key"}
    assert len(creds["account_id"]) == 12 and creds["access_key_id"].startswith("AKIA")
    kek = data / "kek"
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600
    before = {p.name: p.read_bytes() for p in data.iterdir() if p.is_file()}
    second = _run("init", "--data-dir", str(data), "--json")
    assert second.returncode != 0
    assert "already holds a Tessera store" in second.stderr
    assert second.stdout == ""
    after = {p.name: p.read_bytes() for p in data.iterdir() if p.is_file() and p.name in before}
    assert after["kek"] == before["kek"]
    # the secret is not in the database file in clear
    db = (data / "tessera.db").read_bytes()
    assert creds["secret_access_key"].encode() not in db


def test_account_create_json(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert _run("init", "--data-dir", str(data), "--json").returncode == 0
    out = _run("account", "create", "--data-dir", str(data), "--json")
    assert out.returncode == 0, out.stderr
    acct = json.loads(out.stdout)
    assert set(acct) == {"account_id", "access_key_id", "secret_access_key"}
    missing = _run("account", "create", "--data-dir", str(tmp_path / "nothing"), "--json")
    assert missing.returncode != 0 and "tessera init" in missing.stderr


def test_env_var_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "envdir"
    out = _run("init", "--json", env={"TESSERA_DATA_DIR": str(data)})
    assert out.returncode == 0, out.stderr
    assert (data / "kek").exists()


def test_serve_initialises_an_empty_data_dir_and_prints_keys_once(tmp_path: Path) -> None:
    srv = TesseraServer(data_dir=tmp_path / "fresh")
    srv.start()
    try:
        log = srv.log_text()
        assert "Root credentials (shown once" in log
        line = next(ln for ln in log.splitlines() if "access key id:" in ln)
        akid = line.split(":", 1)[1].strip()
        secret_line = next(ln for ln in log.splitlines() if "secret access key:" in ln)
        secret = secret_line.split(":", 1)[1].strip()
        acct_line = next(ln for ln in log.splitlines() if "account id:" in ln)
        from tests.e2e.server import Creds

        srv.root = Creds(acct_line.split(":", 1)[1].strip(), akid, secret)
        assert srv.client("sts").get_caller_identity()["Account"] == srv.root.account_id
        srv.restart()
        assert srv.log_text().count("Root credentials (shown once") == 1
    finally:
        srv.stop()


def test_serve_on_postgresql_survives_restart(tmp_path: Path, pg_url: str) -> None:
    srv = TesseraServer(data_dir=tmp_path / "pgdata", database_url=pg_url)
    srv.init()
    assert not (tmp_path / "pgdata" / "tessera.db").exists()
    srv.start()
    try:
        srv.client("iam").create_role(
            RoleName="deployer",
            Path="/ci/",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": srv.root.account_id if srv.root else ""},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )
        srv.restart()
        role = srv.client("iam").get_role(RoleName="deployer")["Role"]
        assert role["Arn"].endswith(":role/ci/deployer")
        assert srv.client("sts").get_caller_identity()["Account"] == srv.root.account_id  # type: ignore[union-attr]
    finally:
        srv.stop()


def test_two_replicas_share_postgresql(tmp_path: Path, pg_url: str) -> None:
    first = TesseraServer(data_dir=tmp_path / "shared", database_url=pg_url)
    first.init()
    second = TesseraServer(data_dir=tmp_path / "shared", database_url=pg_url)
    second.root = first.root
    first.start()
    second.start()
    try:
        first.client("iam").create_user(UserName="carol")
        users = [u["UserName"] for u in second.client("iam").list_users()["Users"]]
        assert users == ["carol"]
    finally:
        first.stop()
        second.stop()
