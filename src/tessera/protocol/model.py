"""The service specifications Tessera speaks: the STS and IAM botocore service models,
loaded once, with their API version and XML namespace. Everything else in
``tessera.protocol`` (request decoding, response rendering) is driven from these."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any

import botocore.session

__all__ = ["SERVICE_NAMES", "ServiceSpec", "service_for_version", "service_spec"]

#: The services Tessera implements, by botocore service name.
SERVICE_NAMES: tuple[str, ...] = ("sts", "iam")


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One AWS Query service as described by its botocore model."""

    name: str  # "sts" | "iam"
    api_version: str  # "2011-06-15" | "2010-05-08"
    namespace: str  # the xmlns of every response and ErrorResponse
    model: Any  # botocore.model.ServiceModel

    def __repr__(self) -> str:
        return f"ServiceSpec({self.name!r}, {self.api_version!r})"


_session_lock = threading.Lock()


@functools.cache
def _session() -> Any:
    return botocore.session.get_session()


@functools.cache
def service_spec(name: str) -> ServiceSpec:
    """The spec for ``name`` ("sts" or "iam"); the model is loaded on first use only.

    Raises ``KeyError`` for a service Tessera does not implement (a programming error).
    """
    if name not in SERVICE_NAMES:
        raise KeyError(f"unsupported service {name!r}")
    with _session_lock:
        model = _session().get_service_model(name)
    metadata = model.metadata
    if metadata.get("protocol") != "query":  # pragma: no cover - guards a botocore change
        raise RuntimeError(f"{name} is no longer a Query-protocol service in botocore")
    return ServiceSpec(
        name=name,
        api_version=str(metadata["apiVersion"]),
        namespace=str(metadata["xmlNamespace"]),
        model=model,
    )


_VERSIONS: dict[str, str] = {"2011-06-15": "sts", "2010-05-08": "iam"}


def service_for_version(version: str) -> ServiceSpec | None:
    """The spec whose API version is ``version`` (the request's ``Version``), or None."""
    name = _VERSIONS.get(version)
    if name is None:
        return None
    spec = service_spec(name)
    # The table above is a shortcut; the model stays the authority.
    return spec if spec.api_version == version else None
