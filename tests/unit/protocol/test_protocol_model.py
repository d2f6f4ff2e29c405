"""Tests for tessera.protocol.model: service specs loaded from the botocore models."""

from __future__ import annotations

import pytest

from tessera.protocol.model import service_for_version, service_spec


def test_sts_spec() -> None:
    spec = service_spec("sts")
    assert spec.name == "sts"
    assert spec.api_version == "2011-06-15"
    assert spec.namespace == "https://sts.amazonaws.com/doc/2011-06-15/"
    assert "AssumeRole" in spec.model.operation_names


def test_iam_spec() -> None:
    spec = service_spec("iam")
    assert spec.api_version == "2010-05-08"
    assert spec.namespace == "https://iam.amazonaws.com/doc/2010-05-08/"
    assert "CreateRole" in spec.model.operation_names


def test_spec_is_cached() -> None:
    assert service_spec("sts") is service_spec("sts")


def test_unknown_service_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        service_spec("s3")


def test_service_for_version() -> None:
    assert service_for_version("2011-06-15") is service_spec("sts")
    assert service_for_version("2010-05-08") is service_spec("iam")
    assert service_for_version("2000-01-01") is None
    assert service_for_version("") is None


def test_repr_is_short() -> None:
    assert repr(service_spec("sts")) == "ServiceSpec('sts', '2011-06-15')"
