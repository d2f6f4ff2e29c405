"""Server configuration: one frozen value built from command-line options, each of
which can also come from a ``TESSERA_*`` environment variable."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7070
DEFAULT_DATA_DIR = "./tessera-data"
#: ``--busy-poll-us`` (tessera.app.busypoll)
DEFAULT_BUSY_POLL_US = 100.0
#: ``--max-header-bytes``: a request head (request line, URL and headers) in total
DEFAULT_MAX_HEADER_BYTES = 64 * 1024
#: ``--max-header-line-bytes``: one header line
DEFAULT_MAX_HEADER_LINE_BYTES = 16 * 1024
#: ``--header-timeout``: seconds from a request head's first byte to its end
DEFAULT_HEADER_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class ServerConfig:
    data_dir: Path = field(default_factory=lambda: Path(DEFAULT_DATA_DIR))
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    public_url: str | None = None
    workers: int = 1
    database_url: str | None = None
    issuer_host_template: str | None = None
    key_rotation_interval_seconds: float | None = None  # scheduled issuer-key rotation
    tls_cert: Path | None = None
    tls_key: Path | None = None
    trusted_proxies: tuple[str, ...] = ()
    log_level: str = "info"
    insecure_clock_offset_seconds: float = 0.0  # test hook, insecure_ option only
    # inbound OIDC (AssumeRoleWithWebIdentity): extra CA bundle for fetching IdP
    # documents, and plain http to non-loopback issuers (insecure, warns at start)
    oidc_ca_bundle: Path | None = None
    insecure_oidc_http: bool = False
    # how often a worker compares its read cache with the store's generation
    # (0: at the start of every request, so no request sees older data)
    cache_check_interval_seconds: float = 0.0
    # adaptive busy polling after a response, microseconds (0: off); see
    # tessera.app.busypoll
    busy_poll_us: float = DEFAULT_BUSY_POLL_US
    # request-head limits of the HTTP protocol (tessera.app.http)
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    max_header_line_bytes: int = DEFAULT_MAX_HEADER_LINE_BYTES
    header_timeout_seconds: float = DEFAULT_HEADER_TIMEOUT
    # append " Encoded authorization failure message: <msg>" to the message of an
    # AccessDenied that carries one, as EC2 does (off: AWS's STS/IAM text exactly)
    append_authorization_message: bool = False
    # operations (#19): the audit trail's JSON-lines copy ("-": stdout) and how long
    # the store keeps events; the Prometheus listener (HOST:PORT, loopback unless
    # told otherwise); token-bucket rate limits ("RPS[:BURST]") per principal, and
    # per source address too when rate_limit_by_source
    audit_log: str | None = None
    audit_retention_days: int = 90
    metrics_listen: str | None = None
    rate_limit: str | None = None
    rate_limit_by_source: bool = False
    # benchmarks only: record no audit events at all (calls leave no trace; warns)
    insecure_no_audit: bool = False
    # --network-cidr LABEL=CIDR: requests from these networks carry aws:SourceVpc
    # (the label) and aws:VpcSourceIp (#16); the first network that contains the
    # address wins
    networks: tuple[tuple[str, str], ...] = ()

    def network_of(self, address: str) -> str | None:
        """The label of the first ``networks`` entry that contains ``address``."""
        if not self.networks:
            return None
        return _network_of(self.networks, address)

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        if host in ("0.0.0.0", "[::]"):  # noqa: S104 - display only, not a bind
            host = "127.0.0.1"
        return f"{self.scheme}://{host}:{self.port}"


@functools.cache
def _parsed(networks: tuple[tuple[str, str], ...]) -> tuple[tuple[str, IPNetwork], ...]:
    return tuple((label, ipaddress.ip_network(cidr, strict=False)) for label, cidr in networks)


def _network_of(networks: tuple[tuple[str, str], ...], address: str) -> str | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    for label, network in _parsed(networks):
        if ip.version == network.version and ip in network:
            return label
    return None


def parse_network(text: str) -> tuple[str, str]:
    """``LABEL=CIDR`` (``--network-cidr``) → (label, normalised CIDR); ValueError
    says what is wrong."""
    label, sep, cidr = text.partition("=")
    label = label.strip()
    if not sep or not label or not cidr.strip():
        raise ValueError(f"{text!r} is not LABEL=CIDR")
    if len(label) > 64 or not all(c.isalnum() or c in "-_." for c in label):
        raise ValueError(f"network label {label!r}: use 1-64 letters, digits, '-', '_' or '.'")
    network = ipaddress.ip_network(cidr.strip(), strict=False)
    return label, str(network)
