"""Transport rules for fetching issuer documents, as seen by a relying party.

``check_url`` is the construction-time (and ``jwks_uri``) check on the URL's text:
https only, except plain http to a loopback host (127.0.0.0/8, ::1,
``localhost``) or when the caller opted in with ``insecure_allow_http`` (which
warns loudly). The fetches themselves go through the JOSE core's fetcher
(``tessera.jose.documents``), with the server's SSRF rules: the host is resolved
once and every address checked (never link-local/metadata/unspecified/multicast/
reserved; loopback only for a loopback issuer or with ``insecure_allow_http``), the
connection pinned to those addresses, no http after https, bounded timeouts, no
redirects (``Verifier`` follows none), and a hard cap on response size counted on
decoded bytes."""

from __future__ import annotations

import ipaddress
import logging
import warnings
from typing import Final
from urllib.parse import urlsplit

from tessera.verify.errors import InsecureIssuer

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


def check_url(
    url: str, *, insecure_allow_http: bool, what: str = "issuer", warn: bool = True
) -> None:
    """Raise ``InsecureIssuer`` (or ``ValueError``) unless ``url`` may be fetched.
    Plain http to a non-loopback host with ``insecure_allow_http`` warns instead
    (unless ``warn`` is false: the construction already warned)."""
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
    if not warn:
        return
    message = f"INSECURE: fetching {what} {url!r} over plain http (insecure_allow_http)"
    logger.warning(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)
