"""The README's "Workloads without secrets" section, run verbatim (issue #15): its
shell blocks, in order, in one ``bash`` in a temporary directory with a private
HOME (``~/.aws/config`` holding only ``cli_follow_urlparam = false``), the admin
keys and region of "Using it", and the venv's ``tessera``, ``aws`` and ``python3``
first on PATH — from ``openssl`` making the CA and the workload certificate,
through ``aws rolesanywhere create-trust-anchor`` / ``create-profile`` and the
trust policy, to ``credential_process`` with ``tessera agent credential-process``
and ``tessera agent serve`` (IMDS and container endpoints). Every
``get-caller-identity`` the section runs must answer the assumed role named by
the certificate's serial.

The only things added to the documented lines: the documented endpoint replaced by
the test server's, ``set -e``, a trap stopping the agents the blocks start in the
background, and after each such start a wait until its port accepts connections
(a reader typing the next line gives it that time)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from tests.e2e.server import TesseraServer
from tests.e2e.test_readme import DOC_ENDPOINT, blocks, section

pytestmark = pytest.mark.e2e

#: the ports the section's agents listen on (its defaults)
IMDS_PORT = 9911
CONTAINER_PORT = 9912
_BACKGROUND = re.compile(r"&\s*(#.*)?$")

HARNESS = """set -e -o pipefail
trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT
__wait_for() {
  until (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; do
    kill -0 $! 2>/dev/null || { echo "the agent exited" >&2; exit 1; }
    sleep 0.1
  done
}
"""


def _script(endpoint: str) -> str:
    body = "\n".join(b for lang, b in blocks(section("Workloads without secrets")) if lang == "sh")
    lines = [HARNESS]
    for line in body.replace(DOC_ENDPOINT, endpoint).splitlines():
        lines.append(line)
        if _BACKGROUND.search(line) and "agent serve" in line:
            port = re.search(r"--container-port (\d+)", line)
            lines.append(f"__wait_for {port.group(1) if port else IMDS_PORT}")
    return "\n".join(lines) + "\n"


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TesseraServer]:
    srv = TesseraServer(data_dir=tmp_path_factory.mktemp("readme-ra") / "tessera-data")
    srv.init()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_the_section_documents_each_step() -> None:
    text = section("Workloads without secrets")
    for needle in (
        "openssl req -x509",
        "aws --endpoint-url $E rolesanywhere create-trust-anchor",
        '"Principal": {"Service": "rolesanywhere.amazonaws.com"}',
        '"aws:SourceArn": "$ANCHOR"',
        "aws --endpoint-url $E rolesanywhere create-profile",
        "credential_process = %s agent credential-process %s",
        "tessera agent serve $FLAGS &",
        "--container-port 9912",
    ):
        assert needle in text, needle


def test_workloads_section_runs_verbatim(server: TesseraServer, tmp_path: Path) -> None:
    for port in (IMDS_PORT, CONTAINER_PORT):
        if not _port_free(port):
            pytest.skip(f"port {port}, which the README's agents use, is taken")
    assert server.root is not None
    home, work = tmp_path / "home", tmp_path / "work"
    (home / ".aws").mkdir(parents=True)
    work.mkdir()
    (home / ".aws" / "config").write_text("[default]\ncli_follow_urlparam = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TESSERA_"))}
    env.update(
        HOME=str(home),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        AWS_ACCESS_KEY_ID=server.root.access_key_id,
        AWS_SECRET_ACCESS_KEY=server.root.secret_access_key,
        AWS_DEFAULT_REGION="us-east-1",
    )
    (work / "readme.sh").write_text(_script(server.endpoint))
    result = subprocess.run(
        ["bash", "readme.sh"], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, (result.stdout, result.stderr)
    cert = x509.load_pem_x509_certificate((work / "workload.pem").read_bytes())
    arn = (
        f"arn:aws:sts::{server.root.account_id}:assumed-role/workload/"
        f"{format(cert.serial_number, 'x')}"
    )
    # credential_process, IMDS (aws and boto3), the container endpoint
    assert result.stdout.count(arn) == 4, result.stdout
    assert "agent credential-process" in (home / ".aws" / "config").read_text()
