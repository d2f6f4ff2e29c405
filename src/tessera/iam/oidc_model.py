"""The IAM OpenID Connect provider record and the pure rules around it: how a
provider URL is normalised into the scheme-less form IAM shows (``Url`` in
GetOpenIDConnectProvider, the ``oidc-provider/<url>`` ARN, the ``<url>:aud`` /
``<url>:sub`` condition-key prefix) and how a token's ``iss`` finds its provider.

IAM stores the URL without its scheme: ``https://token.example.com/path`` is the
provider ``token.example.com/path`` (path and trailing slash kept, host lower-cased).
The scheme is remembered separately because Tessera also accepts plain ``http``
for loopback issuers (and, when the server runs with ``insecure_oidc_http``, for
any host); a token's ``iss`` must name the same scheme as the provider.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import urlsplit

from tessera import arn as arns
from tessera.iam.tip_model import ContextProvider
from tessera.netaddr import is_loopback_address

TAG_RESOURCE_TYPE: Final = "oidc-provider"
MAX_CLIENT_IDS: Final = 100
MAX_THUMBPRINTS: Final = 5


@dataclass(frozen=True, slots=True)
class OidcProvider:
    account_id: str
    url: str  # scheme-less, host lower-cased: "token.example.com/path"
    scheme: str  # "https" (or "http" for loopback / insecure mode)
    created_at: datetime
    client_ids: tuple[str, ...] = ()
    thumbprints: tuple[str, ...] = ()
    # trusted identity propagation (tessera.iam.tip_model); None: not configured
    context_provider: ContextProvider | None = None
    identity_center_arn: str | None = None

    @property
    def arn(self) -> str:
        return provider_arn(self.account_id, self.url)

    @property
    def issuer(self) -> str:
        """The ``iss`` value tokens of this provider carry."""
        return f"{self.scheme}://{self.url}"


def provider_arn(account_id: str, url: str) -> str:
    return f"arn:{arns.PARTITION}:iam::{account_id}:oidc-provider/{url}"


@dataclass(frozen=True, slots=True)
class ParsedProviderUrl:
    scheme: str
    url: str  # scheme-less normalised form
    host: str


class ProviderUrlError(ValueError):
    """The URL cannot name an OIDC provider (``reason`` says why)."""


def is_loopback_host(host: str) -> bool:
    """``localhost`` and ``*.localhost`` (RFC 6761; a trailing dot allowed), or an
    address literal that parses as loopback: 127.0.0.0/8, ::1 and IPv6 forms
    embedding IPv4 loopback (``[::ffff:127.0.0.1]``). Decided on the parsed
    address, never on its spelling; shorthand numeric forms (``127.1``,
    ``2130706433``) are not address literals here, so they are not loopback hosts
    (they are refused as fetch targets of other issuers after resolution)."""
    host = host.lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    name = host[:-1] if host.endswith(".") else host
    if name == "localhost" or (name.endswith(".localhost") and ".." not in name):
        return True
    try:
        return is_loopback_address(ipaddress.ip_address(host))
    except ValueError:
        return False


def parse_provider_url(value: str) -> ParsedProviderUrl:
    """Split an issuer URL into scheme and the scheme-less IAM form.

    Raises ``ProviderUrlError`` for anything that is not an absolute ``http(s)``
    URL with a host, or that carries credentials, a query or a fragment (OIDC
    issuers have neither; IAM documents "path components are allowed but query
    parameters are not")."""
    if value != value.strip() or any(c.isspace() for c in value):
        raise ProviderUrlError("white space")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ProviderUrlError(str(exc)) from exc
    if parts.scheme.lower() not in ("https", "http") or not parts.hostname:
        raise ProviderUrlError("not an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise ProviderUrlError("credentials in the URL")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ProviderUrlError("query or fragment")
    host = parts.hostname.lower()
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return ParsedProviderUrl(scheme=parts.scheme.lower(), url=netloc + parts.path, host=host)


def parse_provider_arn(value: str) -> tuple[str, str] | None:
    """``arn:aws:iam::ACCT:oidc-provider/<url>`` → (account, url); ``None`` otherwise."""
    parsed = arns.parse_arn(value)
    if parsed is None or parsed.service != "iam" or parsed.region:
        return None
    if not parsed.account.isdigit() or len(parsed.account) != 12:
        return None
    prefix = "oidc-provider/"
    if not parsed.resource.startswith(prefix) or len(parsed.resource) == len(prefix):
        return None
    return parsed.account, parsed.resource[len(prefix) :]


def condition_prefix(url: str) -> str:
    """The provider part of its condition keys: ``<url>:aud``, ``<url>:sub`` …"""
    return url
