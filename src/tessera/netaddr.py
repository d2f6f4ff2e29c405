"""Client address and transport as seen through trusted reverse proxies (pure).

This module owns the rule for when ``X-Forwarded-For`` / ``X-Forwarded-Proto``
are believed: only when the *direct* peer is inside a configured trusted-proxy
CIDR. Then the client address is the right-most ``X-Forwarded-For`` entry that is
not itself a trusted proxy (walking right to left, so a client cannot spoof its
address by sending its own header), and the transport is secure when the last
``X-Forwarded-Proto`` value is ``https``. Anything malformed is ignored — the
function falls back to the direct peer and never raises on header content.

The result feeds ``aws:SourceIp`` and ``aws:SecureTransport`` in policy
evaluation. The RFC 7239 ``Forwarded`` header is not consulted.

It also owns the classification of *outbound* destination addresses
(``canonical_address``, ``is_loopback_address``, ``special_use``): which
addresses are this host (loopback, unspecified), on-link only (link-local,
cloud metadata endpoints) or not unicast at all — with IPv4 embedded in IPv6
(mapped ``::ffff:a.b.c.d``, compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96``
and 6to4 ``2002::/16``) judged by the IPv4 address it carries.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

__all__ = [
    "ClientView",
    "canonical_address",
    "client_view",
    "is_loopback_address",
    "is_trusted_peer",
    "parse_cidrs",
    "special_use",
]

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address

#: Header values longer than this are ignored outright (proxies never send them).
_MAX_HEADER_LENGTH = 8192


def parse_cidrs(values: Sequence[str]) -> tuple[IPv4Network | IPv6Network, ...]:
    """Parse trusted-proxy networks (``10.0.0.0/8``, ``::1``, ``fd00::/8`` …).

    A bare address means a single host. Host bits set (``10.0.0.1/8``), empty
    entries and anything that is not an address or network raise ``ValueError``
    naming the offending value."""
    if isinstance(values, str):
        raise TypeError("values must be a sequence of strings, not a single string")
    networks: list[Network] = []
    for raw in values:
        if not isinstance(raw, str):
            raise ValueError(f"invalid trusted-proxy network {raw!r}: not a string")
        text = raw.strip()
        if not text:
            raise ValueError("invalid trusted-proxy network: empty value")
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            raise ValueError(f"invalid trusted-proxy network {raw!r}: {exc}") from None
        if isinstance(network, IPv6Network) and network.prefixlen >= 96:
            mapped = network.network_address.ipv4_mapped
            if mapped is not None:  # peers are compared in IPv4 form
                network = IPv4Network(f"{mapped}/{network.prefixlen - 96}")
        networks.append(network)
    return tuple(networks)


@dataclass(frozen=True, slots=True)
class ClientView:
    """Who the client is and whether its connection is encrypted end to end.

    ``source_ip`` is the canonical text form of the address (``""`` when the
    server has no peer address, e.g. a Unix socket with no trusted proxy)."""

    source_ip: str
    secure_transport: bool


def _parse_address(text: str) -> Address | None:
    """An address from a peer string or one ``X-Forwarded-For`` element.

    Accepts ``1.2.3.4``, ``1.2.3.4:5678``, ``2001:db8::1``, ``[2001:db8::1]`` and
    ``[2001:db8::1]:443``; IPv4-mapped IPv6 becomes IPv4. ``None`` for junk."""
    text = text.strip()
    if not text or len(text) > 64:
        return None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        rest = text[end + 1 :]
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return None
        text = text[1:end]
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
        if not port.isdigit():
            return None
        text = host
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address in network for network in proxies)


def is_trusted_peer(peer_ip: str | None, trusted_proxies: Iterable[Network]) -> bool:
    """Whether ``client_view`` would consult the ``X-Forwarded-*`` headers of a
    request from this direct peer (a server checks once per connection)."""
    proxies = tuple(trusted_proxies)
    peer = _parse_address(peer_ip) if peer_ip and proxies else None
    return peer is not None and _trusted(peer, proxies)


def client_view(
    peer_ip: str | None,
    scheme: str,
    headers: Mapping[str, str],
    trusted_proxies: Iterable[IPv4Network | IPv6Network],
) -> ClientView:
    """The effective client address and transport security of one request.

    ``headers`` uses lower-case names; a header that appeared several times should
    be joined with ``", "`` (as proxies and ASGI servers conventionally do)."""
    proxies = tuple(trusted_proxies)
    peer = _parse_address(peer_ip) if peer_ip else None
    direct = ClientView(
        source_ip=str(peer) if peer is not None else (peer_ip or ""),
        secure_transport=scheme.lower() == "https",
    )
    if peer is None or not proxies or not _trusted(peer, proxies):
        return direct
    return ClientView(
        source_ip=_forwarded_for(headers.get("x-forwarded-for"), proxies) or direct.source_ip,
        secure_transport=_forwarded_proto(headers.get("x-forwarded-proto"), direct),
    )


def _forwarded_for(value: str | None, proxies: Sequence[Network]) -> str | None:
    """Right-most non-proxy address in ``X-Forwarded-For``; ``None`` = use the peer."""
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_HEADER_LENGTH:
        return None
    elements = value.split(",")
    for element in reversed(elements):
        address = _parse_address(element)
        if address is None:
            # Junk appended by a trusted hop: nothing to the left can be believed.
            return None
        if not _trusted(address, proxies):
            return str(address)
    # Every hop is a trusted proxy: the request originated inside the trusted range.
    first = _parse_address(elements[0])
    return str(first) if first is not None else None


def _forwarded_proto(value: str | None, direct: ClientView) -> bool:
    if not isinstance(value, str) or len(value) > _MAX_HEADER_LENGTH:
        return direct.secure_transport
    last = value.rsplit(",", 1)[-1].strip().lower()
    if last == "https":
        return True
    if last == "http":
        return False
    return direct.secure_transport


# --- outbound destinations ------------------------------------------------------------

_NAT64 = IPv6Network("64:ff9b::/96")
_THIS_NETWORK = IPv4Network("0.0.0.0/8")
_SITE_LOCAL = IPv6Network("fec0::/10")
#: Cloud instance-metadata endpoints outside the link-local ranges (AWS IMDS over
#: IPv6, Alibaba Cloud, Oracle Cloud's legacy address).
_METADATA: frozenset[Address] = frozenset(
    {
        IPv6Address("fd00:ec2::254"),
        IPv4Address("100.100.100.200"),
        IPv4Address("192.0.0.192"),
    }
)


def canonical_address(address: Address) -> Address:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, IPv4-compatible,
    NAT64 well-known prefix, 6to4), else ``address`` itself. ``::`` and ``::1``
    stay IPv6 (unspecified, loopback)."""
    if isinstance(address, IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    packed = int(address)
    if address in _NAT64:
        return IPv4Address(packed & 0xFFFFFFFF)
    if packed >> 32 == 0 and packed > 1:  # ::a.b.c.d (deprecated IPv4-compatible)
        return IPv4Address(packed)
    return address


def is_loopback_address(address: Address) -> bool:
    """127.0.0.0/8 and ::1, in any IPv6 form that embeds IPv4 (``::ffff:127.0.0.1``)."""
    return canonical_address(address).is_loopback


def special_use(address: Address) -> str | None:
    """Why ``address`` is not an ordinary remote unicast destination — ``"loopback"``,
    ``"unspecified"`` (``0.0.0.0/8``, ``::``: Linux connects those to this host),
    ``"link-local"`` (169.254/16, fe80::/10: instance metadata lives there),
    ``"metadata"``, ``"multicast"``, ``"reserved"`` (240/4, broadcast, fec0::/10) —
    or ``None``. Private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) are ordinary:
    self-hosted identity providers live there."""
    canonical = canonical_address(address)
    if canonical in _METADATA or address in _METADATA:
        return "metadata"
    if canonical.is_loopback:
        return "loopback"
    if canonical.is_unspecified or (
        isinstance(canonical, IPv4Address) and canonical in _THIS_NETWORK
    ):
        return "unspecified"
    if canonical.is_link_local:
        return "link-local"
    if canonical.is_multicast:
        return "multicast"
    if isinstance(canonical, IPv4Address):
        if canonical.is_reserved or canonical == IPv4Address("255.255.255.255"):
            return "reserved"
    elif canonical in _SITE_LOCAL:
        return "reserved"
    return None
