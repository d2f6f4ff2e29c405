"""Transport rules for fetching issuer documents: https only, except plain http to
a loopback host (127.0.0.0/8, ::1, ``localhost``) or when the caller opted in with
``insecure_allow_http`` (which warns loudly); bounded timeouts; no redirects; and a
hard cap on response size (counted on decoded bytes, so compression cannot
inflate past it)."""

from __future__ import annotations

import ipaddress
import json
import logging
import warnings
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from tessera.verify.errors import InsecureIssuer, IssuerUnavailable

logger = logging.getLogger("tessera.verify")

DEFAULT_TIMEOUT: Final = 5.0
MAX_DISCOVERY_BYTES: Final = 64 * 1024
MAX_JWKS_BYTES: Final = 256 * 1024


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, insecure_allow_http: bool, what: str = "issuer") -> None:
    """Raise ``InsecureIssuer`` (or ``ValueError``) unless ``url`` may be fetched.
    Plain http to a non-loopback host with ``insecure_allow_http`` warns instead."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{what} must be an absolute https URL, got {url!r}")
    if parts.username or parts.password:
        raise ValueError(f"{what} must not carry credentials")
    if parts.scheme == "https" or is_loopback_host(parts.hostname):
        return
    if not insecure_allow_http:
        raise InsecureIssuer(
            f"{what} {url!r} uses plain http to a non-loopback host; "
            "use https (or insecure_allow_http=True for testing only)"
        )
    message = f"INSECURE: fetching {what} {url!r} over plain http (insecure_allow_http)"
    logger.warning(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def fetch_json(client: httpx.Client, url: str, *, max_bytes: int, timeout: float) -> dict[str, Any]:
    """GET ``url`` and return its JSON object; ``IssuerUnavailable`` on any failure."""
    try:
        with client.stream(
            "GET",
            url,
            headers={"Accept": "application/json"},
            timeout=timeout,
            follow_redirects=False,
        ) as resp:
            if resp.status_code != 200:
                raise IssuerUnavailable(f"GET {url} returned HTTP {resp.status_code}")
            declared = resp.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise IssuerUnavailable(f"GET {url}: response is larger than {max_bytes} bytes")
            body = bytearray()
            for chunk in resp.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise IssuerUnavailable(f"GET {url}: response is larger than {max_bytes} bytes")
    except httpx.HTTPError as exc:
        raise IssuerUnavailable(f"GET {url} failed: {type(exc).__name__}: {exc}") from exc
    try:
        obj = json.loads(bytes(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise IssuerUnavailable(f"GET {url}: response is not valid JSON") from exc
    if not isinstance(obj, dict):
        raise IssuerUnavailable(f"GET {url}: response is not a JSON object")
    return obj
