"""The first hour of a new user (issue #21), with the real ``tessera`` command in a
subprocess: every error is one line on stderr with exit status 1 (runtime) or 2
(usage), never a traceback; a port in use is the same answer with 1 and N workers
and nothing says "serving" before the port is bound; ``--workers N`` prints its
URL; root keys can be listed and rotated; ``--help``, ``--version`` and ``org
show`` read well; ``token verify`` names another account's issuer
``wrong_issuer`` and survives a closed pipe; ``tls init`` prints true,
absolute instructions; the opt-in ``--append-authorization-message`` gives AWS CLI
users the encoded decision; ``make_saml`` writes stable files."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import Creds, TesseraServer, free_port, tessera_cmd

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
AUD = "https://api.example.com"


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("TESSERA_", "AWS_"))}
    full_env.update(env or {})
    return subprocess.run(
        tessera_cmd(*args), capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd
    )


def one_line_error(done: subprocess.CompletedProcess[str], status: int) -> str:
    """The process failed with ``status`` and said why in exactly one line."""
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


# --- errors that were tracebacks ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "status", "expected"),
    [
        ("not a url", 2, "not a database URL"),
        ("mysql://root:hunter2@127.0.0.1/tessera", 2, "unsupported database 'mysql'"),
        (
            "postgresql://nobody@127.0.0.1:5432/nosuchdb",
            1,
            "cannot connect to the database at postgresql://nobody@127.0.0.1:5432/nosuchdb: "
            'role "nobody" does not exist',
        ),
    ],
)
def test_database_url_errors_are_one_line(
    tmp_path: Path, url: str, status: int, expected: str
) -> None:
    # a data dir with a key-encryption key, so every command gets as far as the database
    assert run("init", "--data-dir", str(tmp_path / "d")).returncode == 0
    for command in (["serve"], ["init"], ["account", "list"], ["account", "create"]):
        done = run(*command, "--data-dir", str(tmp_path / "d"), "--database-url", url)
        line = one_line_error(done, status)
        assert line.startswith("tessera " + " ".join(command) + ": "), line
        assert expected in line
        assert "hunter2" not in line
        assert "serving" not in done.stdout
    env_done = run("serve", "--data-dir", str(tmp_path / "d"), env={"TESSERA_DATABASE_URL": url})
    assert expected in one_line_error(env_done, status)


def test_log_level_and_port_are_checked(tmp_path: Path) -> None:
    data = str(tmp_path / "d")
    line = one_line_error(run("serve", "--data-dir", data, "--log-level", "LOUD"), 2)
    assert "--log-level" in line and "debug" in line
    line = one_line_error(run("serve", "--data-dir", data, env={"TESSERA_LOG_LEVEL": "LOUD"}), 2)
    assert "--log-level" in line
    for port in ("99999", "0", "http"):
        line = one_line_error(run("serve", "--data-dir", data, "--port", port), 2)
        assert ("--port" in line and "65535" in line) or "not a port" in line
    assert "between 1 and 65535" in one_line_error(
        run("serve", "--data-dir", data, env={"TESSERA_PORT": "99999"}), 2
    )
    assert not (tmp_path / "d").exists()  # nothing was created


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_port_in_use_is_the_same_one_liner_with_1_and_n_workers(
    tmp_path: Path, busy_port: int
) -> None:
    answers = []
    for workers in ("1", "2"):
        done = run(
            "serve",
            "--data-dir",
            str(tmp_path / f"w{workers}"),
            "--port",
            str(busy_port),
            "--workers",
            workers,
        )
        line = one_line_error(done, 1)
        assert "serving" not in done.stdout.lower()
        answers.append(line)
    assert answers[0] == answers[1]
    assert answers[0] == (
        f"tessera serve: cannot listen on 127.0.0.1:{busy_port}: address already in use "
        "(is another server running there?)"
    )


def test_workers_print_their_url(tmp_path: Path) -> None:
    srv = TesseraServer(data_dir=tmp_path / "d", extra_args=("--workers", "2"))
    srv.init()
    srv.start()
    try:
        assert f"Tessera serving STS and IAM at {srv.endpoint} (2 workers)" in srv.log_text()
        assert srv.client("sts").get_caller_identity()["Account"] == srv.root.account_id  # type: ignore[union-attr]
    finally:
        srv.stop()


# --- help, version, org show ----------------------------------------------------------


def test_help_version_and_every_option_documented() -> None:
    top = run("--help")
    assert top.returncode == 0
    assert "``" not in top.stdout and "::" not in top.stdout and ":func:" not in top.stdout
    assert "tessera serve" in top.stdout and "Exit status" in top.stdout
    version = run("--version")
    assert version.returncode == 0 and re.fullmatch(r"tessera \d+\.\d+\.\d+\S*\n", version.stdout)

    from tessera.app.envconfig import SERVE_OPTIONS
    from tessera.cli.main import build_parser

    parser = build_parser()
    choices = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    serve = choices["serve"]
    documented_env = set()
    for action in serve._actions:
        if action.help in (None, "==SUPPRESS==") or action.dest == "help":
            continue
        assert "default" in action.help, action.option_strings
        found = re.findall(r"env (TESSERA_[A-Z_]+)", action.help)
        assert found, action.option_strings
        documented_env.update(found)
    hidden = {"TESSERA_INSECURE_CLOCK_OFFSET"}  # a test hook, deliberately undocumented
    assert {env for _n, env, _c, _d in SERVE_OPTIONS} - hidden <= documented_env

    def walk(p: object, path: str) -> Iterator[tuple[str, object]]:
        yield path, p
        for action in p._actions:  # type: ignore[attr-defined]
            choices = getattr(action, "choices", None)
            for name, child in choices.items() if isinstance(choices, dict) else ():
                if hasattr(child, "_actions"):
                    yield from walk(child, f"{path} {name}")

    for path, p in walk(choices["org"], "org"):
        for action in p._actions:  # type: ignore[attr-defined]
            if action.option_strings and action.dest != "help":
                assert action.help, f"tessera {path} {action.option_strings[0]} has no help"


def test_org_show_reads_as_text(tmp_path: Path) -> None:
    data = str(tmp_path / "d")
    acct = json.loads(run("init", "--data-dir", data, "--json").stdout)["account_id"]
    member = json.loads(run("account", "create", "--data-dir", data, "--json").stdout)
    org = json.loads(
        run("org", "create", "--data-dir", data, "--management-account", acct, "--json").stdout
    )
    ou = json.loads(
        run(
            "org",
            "ou",
            "create",
            "--data-dir",
            data,
            "--org",
            org["org_id"],
            "--parent",
            org["root_id"],
            "--name",
            "prod",
            "--json",
        ).stdout
    )
    placed = run(
        "org",
        "account",
        "place",
        "--data-dir",
        data,
        "--org",
        org["org_id"],
        "--account",
        member["account_id"],
        "--parent",
        ou["ou_id"],
    )
    assert placed.returncode == 0, placed.stderr
    shown = run("org", "show", "--data-dir", data)
    assert shown.returncode == 0, shown.stderr
    with pytest.raises(json.JSONDecodeError):
        json.loads(shown.stdout)
    assert f"organization {org['org_id']}  management account {acct}" in shown.stdout
    assert f"    ou {ou['ou_id']} prod  [RCP RCPFullAWSAccess, SCP FullAWSAccess]" in shown.stdout
    both = "[RCP RCPFullAWSAccess, SCP FullAWSAccess]"  # both policy types enabled, as on AWS
    assert f"      account {member['account_id']}  {both}" in shown.stdout
    as_json = json.loads(run("org", "show", "--data-dir", data, "--json").stdout)
    assert as_json["organizations"][0]["org_id"] == org["org_id"]


# --- root keys ------------------------------------------------------------------------


def _root_keys(data: str, account: str, *extra: str) -> list[dict[str, object]]:
    done = run(
        "account", "root-key", "list", "--data-dir", data, "--account", account, "--json", *extra
    )
    assert done.returncode == 0, done.stderr
    keys: list[dict[str, object]] = json.loads(done.stdout)["root_keys"]
    return keys


def test_root_key_rotation_against_a_server(tmp_path: Path) -> None:
    srv = TesseraServer(data_dir=tmp_path / "d")
    first = srv.init()
    data = str(srv.data_dir)
    srv.start()
    try:
        listed = run("account", "list", "--data-dir", data, "--json")
        assert listed.returncode == 0, listed.stderr
        accounts = json.loads(listed.stdout)["accounts"]
        assert [a["account_id"] for a in accounts] == [first.account_id]
        assert [k["access_key_id"] for k in accounts[0]["root_keys"]] == [first.access_key_id]
        assert first.secret_access_key not in listed.stdout
        text = run("account", "list", "--data-dir", data)
        assert first.account_id in text.stdout and first.access_key_id in text.stdout

        made = run(
            "account",
            "root-key",
            "create",
            "--data-dir",
            data,
            "--account",
            first.account_id,
            "--json",
        )
        assert made.returncode == 0, made.stderr
        new = json.loads(made.stdout)
        assert set(new) == {"account_id", "access_key_id", "secret_access_key"}
        second = Creds(first.account_id, new["access_key_id"], new["secret_access_key"])
        ident = srv.client("sts", second).get_caller_identity()
        assert ident["Arn"] == f"arn:aws:iam::{first.account_id}:root"

        keys = _root_keys(data, first.account_id)
        assert {k["access_key_id"] for k in keys} == {first.access_key_id, second.access_key_id}
        listing = run(
            "account", "root-key", "list", "--data-dir", data, "--account", first.account_id
        )
        assert second.secret_access_key not in listing.stdout

        third = run(
            "account", "root-key", "create", "--data-dir", data, "--account", first.account_id
        )
        assert "already has 2 root access keys" in one_line_error(third, 1)

        gone = run(
            "account",
            "root-key",
            "delete",
            "--data-dir",
            data,
            "--account",
            first.account_id,
            "--access-key-id",
            first.access_key_id,
        )
        assert gone.returncode == 0, gone.stderr
        assert [k["access_key_id"] for k in _root_keys(data, first.account_id)] == [
            second.access_key_id
        ]
        from botocore.exceptions import ClientError

        with pytest.raises(ClientError) as info:
            srv.client("sts", first).get_caller_identity()
        assert info.value.response["Error"]["Code"] == "InvalidClientTokenId"
        assert srv.client("sts", second).get_caller_identity()["Account"] == first.account_id

        again = run(
            "account",
            "root-key",
            "delete",
            "--data-dir",
            data,
            "--account",
            first.account_id,
            "--access-key-id",
            first.access_key_id,
        )
        assert "is not a root access key of account" in one_line_error(again, 1)
        nobody = run("account", "root-key", "list", "--data-dir", data, "--account", "000000000000")
        assert "no account 000000000000" in one_line_error(nobody, 1)
    finally:
        srv.stop()


def test_root_keys_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    data = str(tmp_path / "d")
    creds = json.loads(run("init", "--data-dir", data, "--database-url", pg_url, "--json").stdout)
    made = run(
        "account",
        "root-key",
        "create",
        "--data-dir",
        data,
        "--database-url",
        pg_url,
        "--account",
        creds["account_id"],
        "--json",
    )
    assert made.returncode == 0, made.stderr
    keys = _root_keys(data, creds["account_id"], "--database-url", pg_url)
    assert len(keys) == 2


def test_broken_pipe_is_quiet(tmp_path: Path) -> None:
    data = str(tmp_path / "d")
    assert run("init", "--data-dir", data).returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    proc = subprocess.Popen(
        tessera_cmd("account", "list", "--data-dir", data, "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before anything is written (… | head)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == 1


# --- outbound tokens: wrong issuer, closed pipe; authorization messages ----------------


@pytest.fixture(scope="module")
def outbound(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TesseraServer, Creds]]:
    srv = TesseraServer(
        data_dir=tmp_path_factory.mktemp("first-hour") / "d",
        extra_args=("--append-authorization-message",),
    )
    srv.init()
    other = srv.create_account()
    srv.start()
    try:
        yield srv, other
    finally:
        srv.stop()


def test_token_verify_names_another_accounts_issuer(
    outbound: tuple[TesseraServer, Creds],
) -> None:
    srv, other = outbound
    mine = srv.client("iam").enable_outbound_web_identity_federation()["IssuerIdentifier"]
    theirs = srv.client("iam", other).enable_outbound_web_identity_federation()["IssuerIdentifier"]
    token = srv.client("sts", other).get_web_identity_token(
        Audience=[AUD], SigningAlgorithm="RS256"
    )["WebIdentityToken"]
    wrong = run("token", "verify", token, "--issuer", mine, "--audience", AUD)
    line = one_line_error(wrong, 1)
    assert line.startswith("error: wrong_issuer: "), line
    right = run("token", "verify", token, "--issuer", theirs, "--audience", AUD, "--json")
    assert right.returncode == 0, right.stderr
    assert json.loads(right.stdout)["account"] == other.account_id

    # `tessera token verify … | head -c 400`: the reader goes away early
    proc = subprocess.Popen(
        tessera_cmd("token", "verify", "-", "--issuer", theirs, "--audience", AUD, "--json"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.close()
    _out, err = proc.communicate(token.encode(), timeout=60)
    assert proc.returncode == 1
    assert b"Traceback" not in err and b"BrokenPipeError" not in err, err


def _aws_cli(
    srv: TesseraServer, creds: Creds, home: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """The AWS CLI with its own temporary configuration (cli_follow_urlparam off)."""
    home.mkdir(exist_ok=True)
    config = home / "config"
    config.write_text("[default]\nregion = us-east-1\ncli_follow_urlparam = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TESSERA_"))}
    env.update(
        HOME=str(home),
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        AWS_ACCESS_KEY_ID=creds.access_key_id,
        AWS_SECRET_ACCESS_KEY=creds.secret_access_key,
        AWS_EC2_METADATA_DISABLED="true",
    )
    aws = Path(sys.executable).parent / "aws"
    return subprocess.run(
        [
            str(aws) if aws.exists() else "aws",
            "--endpoint-url",
            srv.endpoint,
            "--output",
            "json",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def _user_without_permissions(srv: TesseraServer, name: str) -> Creds:
    iam = srv.client("iam")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    assert srv.root is not None
    return Creds(srv.root.account_id, key["AccessKeyId"], key["SecretAccessKey"])


def test_encoded_authorization_message_for_aws_cli_users(
    outbound: tuple[TesseraServer, Creds], tmp_path: Path
) -> None:
    srv, _other = outbound
    assert srv.root is not None
    carol = _user_without_permissions(srv, "carol")
    denied = _aws_cli(srv, carol, tmp_path / "home", "iam", "list-users")
    assert denied.returncode != 0
    assert "AccessDenied" in denied.stderr
    expected_start = (
        f"User: arn:aws:iam::{srv.root.account_id}:user/carol is not authorized to perform: "
        "iam:ListUsers on resource: "
    )
    assert expected_start in denied.stderr
    found = re.search(r" Encoded authorization failure message: (\S+)", denied.stderr)
    assert found, denied.stderr
    decoded = _aws_cli(
        srv,
        srv.root,
        tmp_path / "home",
        "sts",
        "decode-authorization-message",
        "--encoded-message",
        found.group(1),
    )
    assert decoded.returncode == 0, decoded.stderr
    doc = json.loads(json.loads(decoded.stdout)["DecodedMessage"])
    assert doc["allowed"] is False
    assert doc["context"]["action"] == "iam:ListUsers"


def test_authorization_message_is_aws_text_by_default(tmp_path: Path) -> None:
    srv = TesseraServer(data_dir=tmp_path / "d")
    srv.init()
    srv.start()
    try:
        dave = _user_without_permissions(srv, "dave")
        from botocore.exceptions import ClientError

        with pytest.raises(ClientError) as info:
            srv.client("iam", dave).list_users()
        error = info.value.response["Error"]
        assert "Encoded authorization failure message" not in error["Message"]
        assert error["Message"].endswith(
            "because no identity-based policy allows the iam:ListUsers action"
        )
        assert error["EncodedAuthorizationMessage"]
    finally:
        srv.stop()


# --- tls init ---------------------------------------------------------------------------


def test_tls_init_prints_true_absolute_instructions(tmp_path: Path) -> None:
    first = run("tls", "init", "--data-dir", "rel-data", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"Created a new CA in {tmp_path / 'rel-data' / 'tls'}." in first.stdout
    second = run("tls", "init", "--data-dir", "rel-data", cwd=tmp_path)
    assert "Reused the existing CA" in second.stdout
    assert "Kept the server certificate" in second.stdout
    forced = run("tls", "init", "--data-dir", "rel-data", "--force", cwd=tmp_path)
    assert "Reused the existing CA" in forced.stdout
    assert "Issued a new server certificate" in forced.stdout
    ca = tmp_path / "rel-data" / "tls" / "ca.pem"
    # every path printed is absolute (works after a cd)
    for match in re.finditer(r"(\S*ca\.pem)", first.stdout):
        assert Path(match.group(1).split("=", 1)[-1].strip("'")) == ca, match.group(1)
    assert ":7070/.well-known/" not in first.stdout
    curls = re.findall(r"curl --cacert (\S+) (\S+)", first.stdout)
    assert curls and all(Path(c) == ca for c, _url in curls)
    health = next(url for _c, url in curls if url.endswith("/health"))
    issuer_doc = next(url for _c, url in curls if "openid-configuration" in url)
    assert issuer_doc == "$ISSUER/.well-known/openid-configuration"

    # the printed commands answer against a server on that data dir
    port = free_port()
    srv = TesseraServer(
        data_dir=tmp_path / "rel-data", port=port, https=True, extra_args=("--tls", "auto")
    )
    srv.start()
    try:
        url = health.replace(":7070", f":{port}")
        trust = ssl.create_default_context(cafile=str(ca))
        assert httpx.get(url, verify=trust, timeout=10).status_code == 200
        log = srv.log_text()
        creds = next(ln for ln in log.splitlines() if "access key id:" in ln).split(":", 1)[1]
        secret = next(ln for ln in log.splitlines() if "secret access key:" in ln)
        account = next(ln for ln in log.splitlines() if "account id:" in ln).split(":", 1)[1]
        srv.root = Creds(account.strip(), creds.strip(), secret.split(":", 1)[1].strip())
        srv.ca_bundle = ca
        issuer = srv.client("iam").enable_outbound_web_identity_federation()["IssuerIdentifier"]
        doc = httpx.get(
            issuer_doc.replace("$ISSUER", issuer), verify=trust, timeout=10
        ).raise_for_status()
        assert doc.json()["issuer"] == issuer
    finally:
        srv.stop()


# --- make_saml ----------------------------------------------------------------------------


def test_make_saml_writes_two_stable_files(tmp_path: Path) -> None:
    def make(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.saml_fixtures.make_saml",
                "--role",
                "arn:aws:iam::123456789012:role/dev",
                "--provider",
                "corp-idp",
                "--metadata-out",
                str(tmp_path / "idp-metadata.xml"),
                "--response-out",
                str(tmp_path / "saml-response.b64"),
                "--idp-file",
                str(tmp_path / "idp.pem"),
                *extra,
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
        )

    helped = subprocess.run(
        [sys.executable, "-m", "tests.saml_fixtures.make_saml", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    for option in (
        "--role",
        "--provider",
        "--metadata-out",
        "--response-out",
        "--idp-file",
        "--account",
        "--session-name",
        "--entity-id",
    ):
        assert option in helped.stdout
    first = make()
    assert first.returncode == 0, first.stderr
    assert first.stdout == ""
    assert "created the IdP key" in first.stderr
    metadata = (tmp_path / "idp-metadata.xml").read_text()
    assert metadata.startswith("<?xml") and "EntityDescriptor" in metadata
    response = base64.b64decode((tmp_path / "saml-response.b64").read_text())
    assert (
        b"arn:aws:iam::123456789012:role/dev,arn:aws:iam::123456789012:saml-provider/corp-idp"
        in response
    )
    assert oct((tmp_path / "idp.pem").stat().st_mode & 0o777) == "0o600"
    second = make()
    assert "reused the IdP key" in second.stderr
    assert (tmp_path / "idp-metadata.xml").read_text() == metadata
