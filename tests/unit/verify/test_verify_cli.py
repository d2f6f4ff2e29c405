"""``tessera token verify`` runner (tessera.verify.cli.run)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tessera.verify.cli import run
from tessera.verify.testing import LocalIssuer

AUD = "https://rp.example"


@pytest.fixture(scope="module")
def live_issuer() -> Iterator[LocalIssuer]:
    # The CLI uses the system clock, so this issuer mints tokens "now".
    with LocalIssuer(now=datetime.now(UTC)) as iss:
        yield iss


def call(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(argv, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_json_output(live_issuer: LocalIssuer) -> None:
    token = live_issuer.issue("ES384", principal_tags={"team": "ci"})
    code, out, err = call([token, "--issuer", live_issuer.issuer, "--audience", AUD, "--json"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["subject"] == "arn:aws:iam::123456789012:role/ci-deploy"
    assert doc["principal_tags"] == {"team": "ci"} and doc["algorithm"] == "ES384"
    assert doc["claims"]["iss"] == live_issuer.issuer


def test_text_output_and_stdin(live_issuer: LocalIssuer) -> None:
    token = live_issuer.issue()
    code, out, _ = call(
        ["-", "--issuer", live_issuer.issuer, "--audience", AUD], stdin=token + "\n"
    )
    assert code == 0
    assert out.startswith("token verified") and "subject: arn:aws:iam::" in out


def test_failure_reason_and_exit_1(live_issuer: LocalIssuer) -> None:
    token = live_issuer.issue(audience="https://other")
    code, out, err = call([token, "--issuer", live_issuer.issuer, "--audience", AUD, "--json"])
    assert code == 1 and out == ""
    assert err.startswith("error: wrong_audience:")
    code, _, err = call(["garbage", "--issuer", live_issuer.issuer, "--audience", AUD])
    assert code == 1 and err.startswith("error: malformed:")


def test_leeway_option(live_issuer: LocalIssuer) -> None:
    token = live_issuer.issue(issued_at=datetime(2020, 1, 1, tzinfo=UTC))
    argv = [token, "--issuer", live_issuer.issuer, "--audience", AUD]
    code, _, err = call(argv)
    assert code == 1 and "expired" in err
    code, _, err = call([*argv, "--leeway", str(10 * 365 * 86400)])
    assert code == 0, err


def test_usage_errors() -> None:
    code, _, err = call(["tok"])  # missing --issuer/--audience
    assert code == 2 and "--issuer" in err
    code, _, err = call(["tok", "--issuer", "http://issuer.example", "--audience", AUD])
    assert code == 2 and "plain http" in err


def test_insecure_allow_http_announced() -> None:
    code, _, err = call(
        ["a.b", "--issuer", "http://issuer.example", "--audience", AUD, "--insecure-allow-http"]
    )
    assert code == 1 and "warning: --insecure-allow-http" in err and "malformed" in err
