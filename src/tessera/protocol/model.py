"""The service specifications Tessera speaks, from the pinned botocore models: the
Query services (STS, IAM), the JSON 1.1 services (Organizations, CloudTrail) and the
REST-JSON service (IAM Roles Anywhere), each with its wire protocol, API version,
XML namespace or JSON target prefix. Everything else in ``tessera.protocol``
(request decoding, routing, response rendering) is driven from these.

One operation is not in any botocore model: Roles Anywhere's ``CreateSession``
(the data-plane call AWS's signing helper makes, ``POST /sessions``). Its input
is added to the ``rolesanywhere`` model here, from the helper's serializer
(``docs/wire-facts.md`` and ``workload-identity.md`` §3.2), so that it is decoded
and validated like every other operation; it has no output shape (its handler's
result is written as it is)."""

from __future__ import annotations

import copy
import functools
import threading
from dataclasses import dataclass
from typing import Any, Final, Literal

import botocore.model
import botocore.session

__all__ = [
    "SERVICE_NAMES",
    "Protocol",
    "ServiceSpec",
    "service_for_target",
    "service_for_version",
    "service_spec",
]

#: The services Tessera implements, by botocore service name.
SERVICE_NAMES: tuple[str, ...] = ("sts", "iam", "rolesanywhere", "organizations", "cloudtrail")

Protocol = Literal["query", "json", "rest-json"]


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One AWS service as described by its botocore model."""

    name: str  # the botocore service name, also the SigV4 signing name
    api_version: str  # "2011-06-15" …
    namespace: str  # Query: the xmlns of every response and ErrorResponse; else ""
    model: Any  # botocore.model.ServiceModel
    protocol: Protocol = "query"
    #: JSON 1.1: the ``X-Amz-Target`` prefix (``AWSOrganizationsV20161128``)
    target_prefix: str = ""
    #: JSON: the ``Content-Type`` of answers
    content_type: str = "text/xml"

    def __repr__(self) -> str:
        return f"ServiceSpec({self.name!r}, {self.api_version!r})"


_session_lock = threading.Lock()

#: Roles Anywhere's CreateSession, as AWS's signing helper serialises it: the three
#: ARNs in the query string (the documentation also accepts them in the body), the
#: rest in the JSON body.
_CREATE_SESSION: Final[dict[str, Any]] = {
    "operation": {
        "name": "CreateSession",
        "http": {"method": "POST", "requestUri": "/sessions", "responseCode": 201},
        "input": {"shape": "TesseraCreateSessionRequest"},
    },
    "shapes": {
        "TesseraCreateSessionRequest": {
            "type": "structure",
            "members": {
                "profileArn": {
                    "shape": "TesseraSessionArn",
                    "location": "querystring",
                    "locationName": "profileArn",
                },
                "roleArn": {
                    "shape": "TesseraSessionArn",
                    "location": "querystring",
                    "locationName": "roleArn",
                },
                "trustAnchorArn": {
                    "shape": "TesseraSessionArn",
                    "location": "querystring",
                    "locationName": "trustAnchorArn",
                },
                "durationSeconds": {"shape": "TesseraSessionDuration"},
                "roleSessionName": {"shape": "TesseraSessionName"},
                "instanceProperties": {"shape": "TesseraInstanceProperties"},
            },
        },
        "TesseraSessionArn": {"type": "string", "min": 1, "max": 1011},
        "TesseraSessionDuration": {"type": "integer", "min": 900, "max": 43200},
        "TesseraSessionName": {"type": "string", "min": 2, "max": 64},
        "TesseraInstanceProperties": {
            "type": "map",
            "key": {"shape": "TesseraInstancePropertyKey"},
            "value": {"shape": "TesseraInstancePropertyValue"},
            "min": 0,
            "max": 50,
        },
        "TesseraInstancePropertyKey": {"type": "string", "min": 1, "max": 200},
        "TesseraInstancePropertyValue": {"type": "string", "min": 1, "max": 200},
    },
}


@functools.cache
def _session() -> Any:
    return botocore.session.get_session()


def _load(name: str) -> Any:
    with _session_lock:
        if name != "rolesanywhere":
            return _session().get_service_model(name)
        loader = _session().get_component("data_loader")
        raw = copy.deepcopy(loader.load_service_model(name, "service-2"))
    extra = _CREATE_SESSION
    raw["operations"]["CreateSession"] = copy.deepcopy(extra["operation"])
    raw["shapes"].update(copy.deepcopy(extra["shapes"]))
    return botocore.model.ServiceModel(raw, service_name=name)


@functools.cache
def service_spec(name: str) -> ServiceSpec:
    """The spec for ``name``; the model is loaded on first use only.

    Raises ``KeyError`` for a service Tessera does not implement (a programming error).
    """
    if name not in SERVICE_NAMES:
        raise KeyError(f"unsupported service {name!r}")
    model = _load(name)
    metadata = model.metadata
    protocol = metadata.get("protocol")
    version = str(metadata["apiVersion"])
    if protocol == "query":
        return ServiceSpec(name, version, str(metadata["xmlNamespace"]), model)
    if protocol == "json":
        json_version = str(metadata.get("jsonVersion", "1.1"))
        return ServiceSpec(
            name,
            version,
            "",
            model,
            "json",
            target_prefix=str(metadata["targetPrefix"]),
            content_type=f"application/x-amz-json-{json_version}",
        )
    if protocol == "rest-json":
        return ServiceSpec(name, version, "", model, "rest-json", content_type="application/json")
    raise RuntimeError(f"{name}: botocore says protocol {protocol!r}")  # pragma: no cover


_VERSIONS: dict[str, str] = {"2011-06-15": "sts", "2010-05-08": "iam"}


def service_for_version(version: str) -> ServiceSpec | None:
    """The Query spec whose API version is ``version`` (the request's ``Version``), or None."""
    name = _VERSIONS.get(version)
    if name is None:
        return None
    spec = service_spec(name)
    # The table above is a shortcut; the model stays the authority.
    return spec if spec.api_version == version else None


_TARGETS: dict[str, str] = {
    "AWSOrganizationsV20161128": "organizations",
    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101": "cloudtrail",
}


def service_for_target(target: str) -> tuple[ServiceSpec, str] | None:
    """The JSON 1.1 service and operation an ``X-Amz-Target`` names
    (``AWSOrganizationsV20161128.ListRoots``), or None for a target of a service
    Tessera does not speak. The operation is not checked against the model."""
    prefix, dot, operation = target.rpartition(".")
    name = _TARGETS.get(prefix) if dot else None
    if name is None:
        return None
    spec = service_spec(name)
    return (spec, operation) if spec.target_prefix == prefix else None
