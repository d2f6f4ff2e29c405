"""The AWS Query protocol layer, generic over the botocore STS and IAM models: service
specs (``model``), request decoding and validation (``query``) and XML/JSON response and
error rendering (``render``)."""

from .model import SERVICE_NAMES, ServiceSpec, service_for_version, service_spec
from .query import DecodedRequest, Params, decode, params_for, parse_form
from .render import (
    JSON_CONTENT_TYPE,
    XML_CONTENT_TYPE,
    render_error,
    render_result,
    wants_json,
)

__all__ = [
    "JSON_CONTENT_TYPE",
    "SERVICE_NAMES",
    "XML_CONTENT_TYPE",
    "DecodedRequest",
    "Params",
    "ServiceSpec",
    "decode",
    "params_for",
    "parse_form",
    "precompile",
    "render_error",
    "render_result",
    "service_for_version",
    "service_spec",
    "wants_json",
]


def precompile(spec: ServiceSpec) -> None:
    """Compile every decode and render plan of ``spec`` now (call once at start-up)."""
    from . import query, render

    query.precompile(spec)
    render.precompile(spec)
