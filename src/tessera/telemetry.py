"""The Prometheus metrics the request path updates (``prometheus_client``),
defined once at import.

Several worker processes: ``prometheus_client``'s multiprocess mode. When the
server runs more than one worker, ``tessera serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh private directory before the workers
start; each worker then keeps its counters and histograms in memory-mapped files
there, and the ``--metrics-listener`` (in the supervisor) sums them over every
worker at scrape time (``prometheus_client.multiprocess.MultiProcessCollector``).
Build information and the store's figures
are collected by the listener itself (``tessera.app.metrics``). One worker: the
plain in-process registry."""

from __future__ import annotations

import re
from typing import Any

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "tessera_requests_total",
    "API requests answered, by service, action and HTTP status code",
    ["service", "action", "code"],
)
LATENCY = Histogram(
    "tessera_request_duration_seconds",
    "Time from the request to its answer, by service and action",
    ["service", "action"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
SIGNATURES = Counter(
    "tessera_signatures_verified_total",
    "Request signatures verified, by algorithm",
    ["algorithm"],
)
CREDENTIALS_ISSUED = Counter(
    "tessera_credentials_issued_total",
    "Temporary credentials and tokens issued, by operation",
    ["operation"],
)
DENIALS = Counter(
    "tessera_denials_total",
    "Requests denied, by the kind of policy that decided",
    ["policy_type"],
)
THROTTLED = Counter(
    "tessera_throttled_total",
    "Requests answered Throttling, by what was limited",
    ["by"],
)
IDP_FETCHES = Counter(
    "tessera_idp_fetches_total",
    "Identity-provider document fetches (discovery, JWKS), by outcome",
    ["outcome"],
)
AUDIT_EVENTS = Counter(
    "tessera_audit_events_total",
    "Audit events stored (counted by the audit writer as it stores them)",
)
_CREDENTIAL_OPERATIONS = frozenset(
    {
        "AssumeRole",
        "AssumeRoleWithWebIdentity",
        "AssumeRoleWithSAML",
        "AssumeRoot",
        "GetSessionToken",
        "GetFederationToken",
        "GetWebIdentityToken",
        "GetScopedCredentials",
        "CreateSession",
    }
)
_NO_POLICY = re.compile(r"no ([a-z-]+(?: [a-z-]+)*?) polic", re.IGNORECASE)
_EXPLICIT = re.compile(r"explicit deny in an? ([a-z-]+(?: [a-z-]+)*?) polic", re.IGNORECASE)


def denial_policy_type(message: str) -> str:
    """The policy kind an AccessDenied message names (``identity-based``,
    ``service control``, ``session`` …), or ``other``."""
    for pattern in (_EXPLICIT, _NO_POLICY):
        found = pattern.search(message)
        if found:
            return found.group(1).lower()[:40]
    return "other"


#: the labelled children of (service, action, status): ``labels()`` hashes and locks
#: on every call; services and actions are declared names, so this stays small
_CHILDREN: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
_MAX_CHILDREN = 4096


def observe_request(
    service: str,
    action: str,
    status: int,
    seconds: float,
    *,
    error_code: str | None,
    error_message: str | None,
) -> None:
    """Count one answered request (the request path calls this once)."""
    key = (service, action, status)
    children = _CHILDREN.get(key)
    if children is None:
        issued = CREDENTIALS_ISSUED.labels(action) if action in _CREDENTIAL_OPERATIONS else None
        children = (
            REQUESTS.labels(service, action, str(status)),
            LATENCY.labels(service, action),
            issued,
        )
        if len(_CHILDREN) < _MAX_CHILDREN:
            _CHILDREN[key] = children
    requests, latency, issued = children
    requests.inc()
    latency.observe(seconds)
    if error_code is None and issued is not None:
        issued.inc()
    elif error_code in ("AccessDenied", "AccessDeniedException"):
        DENIALS.labels(denial_policy_type(error_message or "")).inc()
