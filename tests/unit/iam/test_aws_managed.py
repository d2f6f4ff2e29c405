"""The packaged AWS managed policies: the data matches the snapshot it was generated
from, the loader reads it lazily, lookups by ARN, and every document parses in the
policy engine (as an identity policy, a boundary and a session policy)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tessera.iam import aws_managed
from tessera.iam.policy import PolicyKind, parse_policy

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "gen_aws_managed.py"


def _gen_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_aws_managed", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _source() -> Path:
    source: Path = _gen_module().DEFAULT_SOURCE
    if not source.exists():
        pytest.skip(f"the snapshot {source} is not on this machine")
    return source


def test_packaged_data_matches_the_snapshot() -> None:
    source = _source()
    gen = _gen_module()
    assert gen.TARGET.read_bytes() == gen.render(source)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--source", str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_snapshot_policy_is_served_as_recorded() -> None:
    snapshot = json.loads(_source().read_text(encoding="utf-8"))["policies"]
    packaged = aws_managed.all_policies()
    assert len(packaged) == len(snapshot) == 1452
    for want, got in zip(snapshot, packaged, strict=True):
        assert got.arn == want["Arn"]
        assert got.name == want["PolicyName"]
        assert got.policy_id == want["PolicyId"]
        assert got.path == want["Path"]
        assert got.default_version_id == want["DefaultVersionId"]
        assert got.created_at.isoformat() == want["CreateDate"]
        assert got.updated_at.isoformat() == want["UpdateDate"]
        assert json.loads(got.document) == want["Document"]


def test_the_check_mode_notices_a_stale_file(tmp_path: Path) -> None:
    source = _source()
    data = json.loads(source.read_text(encoding="utf-8"))
    data["policies"] = data["policies"][:3]
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(data), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--source", str(changed)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "out of date" in result.stderr


def test_loaded_on_first_use_not_at_import() -> None:
    code = (
        "import tessera.iam.aws_managed as m, tessera.app.operations\n"
        "assert not m.is_loaded()\n"
        "assert m.get('arn:aws:iam::aws:policy/ReadOnlyAccess') is not None\n"
        "assert m.is_loaded()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lookup_by_arn() -> None:
    ro = aws_managed.get("arn:aws:iam::aws:policy/ReadOnlyAccess")
    assert ro is not None
    assert (ro.name, ro.path, ro.policy_id) == ("ReadOnlyAccess", "/", "ANPAILL3HVNFSB6DCOWYQ")
    assert not ro.service_linked_only
    managed = ro.as_managed(attachment_count=2)
    assert managed.arn == ro.arn and managed.account_id == "aws"
    assert managed.attachment_count == 2
    version = ro.default_version()
    assert version.is_default and version.version_id == ro.default_version_id
    assert aws_managed.default_document(ro.arn) == ro.document
    # paths other than / are part of the ARN
    for arn in (
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess",
        "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials",
    ):
        policy = aws_managed.get(arn)
        assert policy is not None and policy.arn == arn
    slr = aws_managed.get("arn:aws:iam::aws:policy/aws-service-role/AutoScalingServiceRolePolicy")
    assert slr is not None and slr.service_linked_only
    # unknown names, the wrong path, the wrong case, other accounts: nothing
    for arn in (
        "arn:aws:iam::aws:policy/NoSuchPolicy",
        "arn:aws:iam::aws:policy/service-role/ReadOnlyAccess",
        "arn:aws:iam::aws:policy/readonlyaccess",
        "arn:aws:iam::123456789012:policy/ReadOnlyAccess",
        "ReadOnlyAccess",
    ):
        assert aws_managed.get(arn) is None
    assert aws_managed.default_document("arn:aws:iam::aws:policy/NoSuchPolicy") is None
    assert aws_managed.is_aws_managed_arn("arn:aws:iam::aws:policy/NoSuchPolicy")
    assert not aws_managed.is_aws_managed_arn("arn:aws:iam::123456789012:policy/X")


def test_ids_and_arns_are_unique() -> None:
    policies = aws_managed.all_policies()
    assert len({p.arn for p in policies}) == len(policies)
    assert len({p.policy_id for p in policies}) == len(policies)
    assert {p.path for p in policies} == {
        "/",
        "/service-role/",
        "/aws-service-role/",
        "/job-function/",
        "/root-task/",
    }


@pytest.mark.parametrize("kind", [PolicyKind.IDENTITY, PolicyKind.BOUNDARY, PolicyKind.SESSION])
def test_every_document_parses_in_the_policy_engine(kind: PolicyKind) -> None:
    for policy in aws_managed.all_policies():
        parsed = parse_policy(policy.document, kind, label=policy.arn)
        assert parsed is not None, policy.arn
