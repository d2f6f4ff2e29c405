"""The instance registry's names and values: instance ids (``i-`` + 17 hex), the
instance ARN, the certificate URI SAN, join tokens (256 random bits, stored as
SHA-256 hex only), and the bounds on what an operator may register (name,
private IPv4, network label, region)."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from typing import Final

from tessera import arn as arns

INSTANCE_ID_RE: Final = re.compile(r"i-[0-9a-f]{17}")
_NAME_RE: Final = re.compile(r"[A-Za-z0-9 _.:/=+@-]{1,128}")
_NETWORK_RE: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_REGION_RE: Final = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
#: what Tessera reports as the zone of every instance of a region (it has no zones)
ZONE_SUFFIX: Final = "a"
#: the join token's default lifetime, seconds (``--ttl``)
DEFAULT_TOKEN_TTL: Final = 600
MAX_TOKEN_TTL: Final = 7 * 24 * 3600
#: join tokens are 43 URL-safe characters (256 bits); anything longer is refused unread
MAX_TOKEN_CHARS: Final = 128
URI_SCHEME: Final = "tessera"


class InstanceError(ValueError):
    """An invalid instance registration value (the message says which)."""


def new_instance_id() -> str:
    return "i-" + secrets.token_hex(9)[:17]


def new_join_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The SHA-256 hex stored for a join token (a 256-bit random value needs no
    slow hash: it cannot be guessed from its digest)."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def instance_arn(region: str, account_id: str, instance_id: str) -> str:
    return f"arn:{arns.PARTITION}:ec2:{region}:{account_id}:instance/{instance_id}"


def instance_uri(account_id: str, instance_id: str) -> str:
    """The URI SAN of the instance's certificate."""
    return f"{URI_SCHEME}://{account_id}/instance/{instance_id}"


_URI_RE: Final = re.compile(rf"{URI_SCHEME}://([0-9]{{12}})/instance/(i-[0-9a-f]{{17}})")


def parse_instance_uri(uri: str) -> tuple[str, str] | None:
    """(account id, instance id) of a URI SAN, or None."""
    match = _URI_RE.fullmatch(uri)
    return None if match is None else (match.group(1), match.group(2))


def availability_zone(region: str) -> str:
    return region + ZONE_SUFFIX


def check_instance_id(value: str) -> str:
    if INSTANCE_ID_RE.fullmatch(value) is None:
        raise InstanceError(f"not an instance id (i- and 17 hex digits): {value[:40]!r}")
    return value


def check_name(value: str | None) -> str | None:
    if value is not None and _NAME_RE.fullmatch(value) is None:
        raise InstanceError("--name must be 1-128 characters of letters, digits and _.:/=+@- ")
    return value


def check_private_ipv4(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        raise InstanceError(f"--private-ipv4 is not an IPv4 address: {value[:40]!r}") from None
    return str(address)


def check_network(value: str | None) -> str | None:
    if value is not None and _NETWORK_RE.fullmatch(value) is None:
        raise InstanceError("--network must be 1-64 characters of letters, digits and _.:-")
    return value


def check_region(value: str) -> str:
    if _REGION_RE.fullmatch(value) is None or len(value) > 32:
        raise InstanceError(f"not a region name: {value[:40]!r}")
    return value


def check_ttl(seconds: int) -> int:
    if not 60 <= seconds <= MAX_TOKEN_TTL:
        raise InstanceError(f"--ttl must be 60-{MAX_TOKEN_TTL} seconds (got {seconds})")
    return seconds
