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
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

__all__ = ["ClientView", "client_view", "is_trusted_peer", "parse_cidrs"]

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
