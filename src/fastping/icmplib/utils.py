"""icmplib's name and address helpers: which text is a name and which an address, and
resolving names, A records first (AAAA only when there is none, or with family=6)."""

from __future__ import annotations

import re
import socket
from collections.abc import Sequence
from typing import Any

from .exceptions import NameLookupError

# icmplib's own patterns, so that the same text is taken for a name or an address here:
# anything else is used as an address as it is (and a malformed one is never answered).
_HOSTNAME = re.compile(r"(?i)^([a-z0-9-]+|([a-z0-9_-]+[.])+[a-z]+)$")
_IPV4 = re.compile(r"^([0-9]{1,3}[.]){3}[0-9]{1,3}$")


def is_hostname(name: str) -> bool:
    """Whether name is a host name or a fully qualified domain name."""
    return _HOSTNAME.match(name) is not None


def is_ipv4_address(address: str) -> bool:
    """Whether address is written as an IPv4 address (four dotted numbers)."""
    return _IPV4.match(address) is not None


def is_ipv6_address(address: str) -> bool:
    """Whether address is written as an IPv6 address (it has a colon)."""
    return ":" in address


def _lookup_family(family: int | None) -> socket.AddressFamily:
    return socket.AF_INET6 if family == 6 else socket.AF_INET


def _addresses(infos: Sequence[tuple[Any, ...]]) -> list[str]:
    return [str(info[4][0]) for info in infos]


def resolve(name: str, family: int | None = None) -> list[str]:
    """The addresses name resolves to: IPv4 ones, else (family None) IPv6 ones; with family
    4 or 6, that family's only. Raises NameLookupError when there are none."""
    for lookup in (family, 6) if family is None else (family,):
        try:
            return _addresses(socket.getaddrinfo(name, None, _lookup_family(lookup),
                                                 socket.SOCK_DGRAM))
        except OSError:
            continue
    raise NameLookupError(name)


async def async_resolve(name: str, family: int | None = None) -> list[str]:
    """resolve() for asyncio: the lookups run in the event loop's executor."""
    import asyncio

    loop = asyncio.get_running_loop()
    for lookup in (family, 6) if family is None else (family,):
        try:
            return _addresses(await loop.getaddrinfo(name, None, family=_lookup_family(lookup),
                                                     type=socket.SOCK_DGRAM))
        except OSError:
            continue
    raise NameLookupError(name)
