"""Where a verifier may connect: resolve an issuer URL's host once, decide on every
address it resolved to, and connect to exactly those addresses.

This module owns the network half of the issuer-fetch SSRF guard, for inbound OIDC
and ``tessera.verify`` alike (the URL half — schemes, credentials, the https→http
rule — and the bounded GET live in ``tessera.jose.documents``):

* **Resolution** (:func:`resolve`): an address literal is taken as parsed
  (``[::ffff:127.0.0.1]`` included); any other all-numeric spelling the C library
  accepts (``127.1``, ``2130706433``, ``0x7f.1``) is parsed by ``getaddrinfo`` with
  ``AI_NUMERICHOST`` — no DNS — so it is judged as the address it really is;
  ``localhost`` / ``*.localhost`` (RFC 6761, trailing dot allowed) are 127.0.0.1 and
  ::1 without asking anyone; every other name goes to the injected
  :data:`Resolver` (``getaddrinfo`` by default; tests inject a table so they never
  send traffic off loopback).
* **The decision** (:func:`check_addresses`): every resolved address must pass,
  classified by ``tessera.netaddr.special_use`` — loopback only when the caller
  allows it (loopback issuers, ``--insecure-oidc-http``), never unspecified,
  link-local, metadata, multicast or reserved addresses (IPv4-mapped/compatible,
  NAT64 and 6to4 forms judged by the IPv4 address they carry). Private ranges are
  allowed (self-hosted IdPs live there).
* **Pinning** (:func:`pinned`, :func:`pinned_transport`): the ``httpx`` transport
  built here uses an ``httpcore`` network backend that connects only to the
  addresses checked for the current request (held in a context variable set
  around that request) and refuses any other connection, so there is no second
  DNS resolution between check and connect. The URL keeps its host name, so the
  ``Host`` header, TLS SNI and certificate verification are for the name. Keep-alive
  is off (IdP documents are cached, fetches are rare): a connection opened for one
  checked target is never reused for another.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final

import httpcore
import httpx

from tessera.netaddr import Address, special_use

__all__ = [
    "ResolutionError",
    "Resolver",
    "Target",
    "TargetRefused",
    "check_addresses",
    "is_localhost_name",
    "pinned",
    "pinned_transport",
    "resolve",
    "system_resolver",
]

#: ``(host, port) -> addresses``; raises ``OSError`` (e.g. ``socket.gaierror``).
Resolver = Callable[[str, int], Sequence[Address]]

#: At most this many resolved addresses are tried when connecting.
MAX_ADDRESSES: Final = 8
_LOCALHOST: Final[tuple[Address, ...]] = (
    ipaddress.IPv4Address("127.0.0.1"),
    ipaddress.IPv6Address("::1"),
)


class ResolutionError(Exception):
    """The host name does not resolve (or resolves to nothing usable)."""


class TargetRefused(Exception):
    """A resolved address may not be fetched from (``str()`` is for the log)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked destination: the URL's host (as ``httpx`` sends it), its port and
    the addresses that passed the check."""

    host: str
    port: int
    addresses: tuple[Address, ...]


def _addresses(infos: Iterable[tuple[object, ...]]) -> tuple[Address, ...]:
    out: list[Address] = []
    for info in infos:
        family, sockaddr = info[0], info[4]
        if family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(sockaddr, tuple):
            continue
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in out:
            out.append(address)
    return tuple(out)


def system_resolver(host: str, port: int) -> Sequence[Address]:
    """The operating system's resolver (``getaddrinfo``, TCP)."""
    return _addresses(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))


def _numeric(host: str, port: int) -> tuple[Address, ...] | None:
    """The address an all-numeric host spells, as the C library reads it (no DNS)."""
    try:
        return _addresses(
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        )
    except (OSError, UnicodeError, ValueError):
        return None


def is_localhost_name(host: str) -> bool:
    name = host.lower()
    name = name[:-1] if name.endswith(".") else name
    return name == "localhost" or (name.endswith(".localhost") and ".." not in name)


def resolve(host: str, port: int, resolver: Resolver) -> tuple[Address, ...]:
    """Every address ``host`` stands for (see the module docstring for the order)."""
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return (ipaddress.ip_address(literal),)
    except ValueError:
        pass
    numeric = _numeric(literal, port)
    if numeric:
        return numeric
    if is_localhost_name(literal):
        return _LOCALHOST
    try:
        found = tuple(resolver(literal, port))
    except (OSError, UnicodeError, ValueError) as exc:
        raise ResolutionError(f"cannot resolve {literal!r}: {type(exc).__name__}") from exc
    if not found:
        raise ResolutionError(f"{literal!r} resolves to no address")
    return found


def check_addresses(addresses: Sequence[Address], *, allow_loopback: bool) -> None:
    """Raise ``TargetRefused`` unless every address may be fetched from."""
    for address in addresses:
        reason = special_use(address)
        if reason is None or (reason == "loopback" and allow_loopback):
            continue
        raise TargetRefused(f"resolves to {reason} address {address}")


# --- the pinned connection ----------------------------------------------------------------

_PIN: ContextVar[Target | None] = ContextVar("tessera_idp_pin", default=None)


@contextlib.contextmanager
def pinned(target: Target) -> Iterator[None]:
    """Within the block, the pinned transport connects ``target.host:target.port``
    to ``target.addresses`` and nothing else."""
    token = _PIN.set(target)
    try:
        yield
    finally:
        _PIN.reset(token)


def _same_host(a: str, b: str) -> bool:
    return a.strip("[]").lower() == b.strip("[]").lower()


class PinningBackend(httpcore.NetworkBackend):
    """Connects only to the addresses of the current :class:`Target`."""

    def __init__(self, inner: httpcore.NetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        target = _PIN.get()
        if target is None or not _same_host(target.host, host) or target.port != port:
            raise httpcore.ConnectError(f"no checked address for {host}:{port}")
        options = list(socket_options) if socket_options is not None else None
        last: Exception | None = None
        for address in target.addresses[:MAX_ADDRESSES]:
            try:
                return self._inner.connect_tcp(str(address), port, timeout, local_address, options)
            except httpcore.ConnectError as exc:  # timeouts propagate: the budget is spent
                last = exc
        raise httpcore.ConnectError(f"cannot connect to {host}:{port}") from last

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not IdP targets")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def pinned_transport(ssl_context: ssl.SSLContext, *, max_connections: int) -> httpx.HTTPTransport:
    """An ``httpx`` transport whose connections go only to pinned, checked addresses
    (no proxies from the environment, no keep-alive, TLS verified for the URL's
    host name with ``ssl_context``)."""
    transport = httpx.HTTPTransport(verify=ssl_context, trust_env=False)
    # httpx does not take a network backend; its pool is replaced by an identical one
    # that has ours (tests/unit/federation/test_fetch.py proves it is used).
    transport._pool = httpcore.ConnectionPool(
        ssl_context=ssl_context,
        max_connections=max_connections,
        max_keepalive_connections=0,
        network_backend=PinningBackend(),
    )
    return transport
