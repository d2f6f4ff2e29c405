"""The README's commands, re-run (issue #21): the two setup commands have exactly
the shape CI runs, the "Using it" block's AWS CLI and boto3 lines work against a
started server with nothing but what the block exports, the per-service endpoint
variables, ``cli_follow_urlparam`` and the presigned GetCallerIdentity example do
what the README says, every ``serve`` environment variable is documented, the
``bench`` extra exists, and every repository path the README names exists."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server import TesseraServer

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
DOC_ENDPOINT = "http://127.0.0.1:7070"

SERVE_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e . && "
    ".venv/bin/tessera serve"
)
TEST_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e '.[dev]' && "
    ".venv/bin/python -m pytest"
)


def blocks(text: str = README) -> list[tuple[str, str]]:
    """Every fenced code block: (language, body)."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"```(\w*)\n(.*?)```", text, re.S)]


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def commands(body: str) -> list[list[str]]:
    """Shell lines (continuations joined, comments dropped) as argument lists."""
    joined = body.replace("\\\n", " ")
    return [words for line in joined.splitlines() if (words := shlex.split(line, comments=True))]


def aws_env(home: Path, exports: dict[str, str]) -> dict[str, str]:
    """A clean environment: a private HOME and AWS config, then the block's exports."""
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TESSERA_"))}
    env.update(
        HOME=str(home),
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(exports)
    return env


def aws_bin() -> str:
    local = Path(sys.executable).parent / "aws"
    return str(local) if local.exists() else "aws"


def run_block(
    body: str, server: TesseraServer, env: dict[str, str]
) -> list[subprocess.CompletedProcess[str]]:
    """Run a README shell block's ``export`` and ``aws`` lines against ``server``
    (its endpoint for the documented one, its root keys for the placeholders)."""
    assert server.root is not None
    done = []
    for words in commands(body):
        words = [w.replace(DOC_ENDPOINT, server.endpoint) for w in words]
        if words[0] == "export":
            for assignment in words[1:]:
                name, _, value = assignment.partition("=")
                if name == "AWS_ACCESS_KEY_ID":
                    value = server.root.access_key_id
                elif name == "AWS_SECRET_ACCESS_KEY":
                    value = server.root.secret_access_key
                env[name] = value
        elif words[0] == "aws":
            result = subprocess.run(
                [aws_bin(), *words[1:]], capture_output=True, text=True, env=env, timeout=60
            )
            assert result.returncode == 0, (words, result.stderr)
            done.append(result)
        else:
            assert words[0] == ".venv/bin/tessera" and words[1] == "serve", words
    return done


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    srv = TesseraServer(data_dir=tmp_path_factory.mktemp("readme") / "tessera-data")
    srv.init()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_setup_commands_have_the_shape_ci_runs() -> None:
    sh = [body.strip() for lang, body in blocks() if lang == "sh"]
    assert sh[0] == SERVE_COMMAND
    assert sh[1] == TEST_COMMAND
    ci = (REPO / ".ci" / "run").read_text()
    assert TEST_COMMAND.replace("pip install", "pip install -q") in ci


def test_using_it_block_runs_against_a_server(server: TesseraServer, tmp_path: Path) -> None:
    using = section("Using it")
    sh_blocks = [body for lang, body in blocks(using) if lang == "sh"]
    first = sh_blocks[0]
    assert "export AWS_DEFAULT_REGION=" in first
    env = aws_env(tmp_path / "home", {})
    results = run_block(first, server, env)
    assert server.root is not None
    ident = json.loads(results[0].stdout)
    assert ident["Account"] == server.root.account_id
    assert json.loads(results[1].stdout)["User"]["UserName"] == "alice"

    # the boto3 lines, with the same credentials
    server.client("iam").delete_user(UserName="alice")
    python = next(body for lang, body in blocks(using) if lang == "python")
    old = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ["AWS_ACCESS_KEY_ID"] = server.root.access_key_id
    os.environ["AWS_SECRET_ACCESS_KEY"] = server.root.secret_access_key
    try:
        exec(python.replace(DOC_ENDPOINT, server.endpoint), {})
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert server.client("iam").get_user(UserName="alice")["User"]["UserName"] == "alice"

    # AWS_ENDPOINT_URL_STS / _IAM instead of --endpoint-url
    per_service = next(b for b in sh_blocks if "AWS_ENDPOINT_URL_STS" in b)
    assert "AWS_ENDPOINT_URL_IAM" in per_service
    results = run_block(per_service, server, env)
    assert json.loads(results[-1].stdout)["Account"] == server.root.account_id
    assert "Avoid the catch-all `AWS_ENDPOINT_URL`" in using


def test_cli_follow_urlparam_lets_the_oidc_example_pass_its_url(
    server: TesseraServer, tmp_path: Path
) -> None:
    using = section("Using it")
    assert "cli_follow_urlparam" in using
    oidc = next(
        body
        for lang, body in blocks()
        if lang == "sh" and "create-open-id-connect-provider" in body
    )
    assert "cli_follow_urlparam false" in oidc
    env = aws_env(tmp_path / "home", {"AWS_DEFAULT_REGION": "us-east-1"})
    assert server.root is not None
    env.update(
        AWS_ACCESS_KEY_ID=server.root.access_key_id,
        AWS_SECRET_ACCESS_KEY=server.root.secret_access_key,
    )
    results = run_block(oidc, server, env)
    arn = json.loads(results[-1].stdout)["OpenIDConnectProviderArn"]
    assert arn.endswith(":oidc-provider/token.actions.githubusercontent.com")
    assert "cli_follow_urlparam = false" in (tmp_path / "home" / "config").read_text()


def test_presigned_get_caller_identity_example(
    server: TesseraServer, capsys: pytest.CaptureFixture[str]
) -> None:
    example = next(
        body for lang, body in blocks() if lang == "python" and "generate_presigned_url" in body
    )
    assert 'HttpMethod="GET"' in example
    assert server.root is not None
    old = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ["AWS_ACCESS_KEY_ID"] = server.root.access_key_id
    os.environ["AWS_SECRET_ACCESS_KEY"] = server.root.secret_access_key
    try:
        exec(example.replace(DOC_ENDPOINT, server.endpoint), {})
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    out = capsys.readouterr().out
    assert "<GetCallerIdentityResponse" in out and server.root.account_id in out


def test_every_serve_environment_variable_is_documented() -> None:
    from tessera.app.envconfig import SERVE_OPTIONS

    hidden = {"TESSERA_INSECURE_CLOCK_OFFSET"}  # a test hook, deliberately undocumented
    names = {env for _n, env, _c, _d in SERVE_OPTIONS} - hidden
    names |= {"TESSERA_TLS", "TESSERA_TRUSTED_PROXIES", "TESSERA_KEK"}
    missing = sorted(name for name in names if f"`{name}" not in README)
    assert not missing
    assert "--append-authorization-message" in README
    assert "tessera account root-key create" in README and "tessera account list" in README
    assert "`--endpoint" in section("HTTPS")


def test_bench_extra_and_its_install_command() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    bench = project["optional-dependencies"]["bench"]
    assert any(req.startswith("boto3") for req in bench)
    constraints = (REPO / "constraints.txt").read_text().splitlines()
    assert any(line.startswith("boto3==") for line in constraints)
    assert ".venv/bin/pip install -c constraints.txt -e '.[bench]'" in section("Benchmarks")


def test_paths_the_readmes_name_exist_and_nothing_outside_the_repo() -> None:
    for text in (README, (REPO / "examples" / "app_backend" / "README.md").read_text()):
        assert "shared folder" not in text
        for path in re.findall(r"`((?:src|tests|bench|examples|\.ci)/[\w./-]*)`", text):
            if path.startswith(("bench/results", "bench/.peers")):
                continue  # what the benchmark writes
            assert (REPO / path.rstrip("/").rstrip(".")).exists(), path
    assert not re.search(r"`/(work|home|root|tmp)/", README)


def test_app_backend_walkthrough_activates_the_venv_and_ignores_its_data() -> None:
    text = (REPO / "examples" / "app_backend" / "README.md").read_text()
    setup = next(body for lang, body in blocks(text) if lang == "sh")
    assert setup.splitlines()[0] == ". .venv/bin/activate"
    assert "export AWS_DEFAULT_REGION=" in setup
    data_dirs = set(re.findall(r"--data-dir (\S+)", setup))
    ignored = (REPO / ".gitignore").read_text().splitlines()
    for data in data_dirs:
        assert data.removeprefix("./").rstrip("/") + "/" in ignored, data
    for written in re.findall(r"> (\S+\.json)", setup):
        assert written.removeprefix("./") in ignored, written
