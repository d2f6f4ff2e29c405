"""``examples/instance_to_cloud`` runs end to end: the instance's credentials reach
the AWS CLI through the agent's IMDS, and the cloud API accepts the exchanged
token because its ``ec2_*`` claims name the instance and its network."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from examples.instance_to_cloud.__main__ import NETWORK, PRIVATE_IP, run

pytestmark = pytest.mark.e2e


def test_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(tmp_path)
    assert re.fullmatch(r"arn:aws:ec2:us-east-1:\d{12}:instance/i-[0-9a-f]{17}", result["instance"])
    assert result["network"] == NETWORK and result["private_ipv4"] == PRIVATE_IP
    printed = capsys.readouterr().out
    instance_id = result["instance"].rsplit("/", 1)[1]
    assert f":assumed-role/web-role/{instance_id}" in printed
    assert '"ec2_role_delivery": "2.0"' in printed
    for step in ("start Tessera", "tessera instance create", "exchange the token"):
        assert step in printed
