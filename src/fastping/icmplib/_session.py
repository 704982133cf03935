"""What every call of fastping.icmplib shares: icmplib's request options read as fastping's
engine options, the text icmplib would send to, and one Pinger whose socket errors are
icmplib's exceptions.

Each call opens one Pinger (one engine, one socket per address family, whatever the number
of hosts) and closes it before it returns: icmplib's ``concurrent_tasks`` has nothing to
limit, and its ``id`` nothing to set (the engine draws its identifier, or the kernel does
for datagram sockets).
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from typing import TypedDict

from .._common import MIN_SIZE
from .._resolve import parse_literal
from ..pinger import Pinger
from .exceptions import ICMPSocketError, SocketAddressError, SocketPermissionError
from .utils import async_resolve, is_hostname, is_ipv6_address, resolve


class RequestOptions(TypedDict, total=False):
    """icmplib's ICMPRequest keywords, which its functions take as ``**kwargs``."""

    payload: bytes | None  # its length is the payload's: the engine writes its own content
    payload_size: int
    ttl: int
    traffic_class: int


def target(address: str, family: int | None) -> str:
    """The address icmplib would send to: a name's first address, else the text itself."""
    return resolve(address, family)[0] if is_hostname(address) else address


async def async_target(address: str, family: int | None) -> str:
    """target() for asyncio."""
    return (await async_resolve(address, family))[0] if is_hostname(address) else address


def sendable(address: str) -> bool:
    """Whether the engine can send to address: icmplib sends nothing to a malformed one
    either (its send fails, and the Host shows 0 packets sent). No name is looked up."""
    try:
        return parse_literal(address) is not None
    except ValueError:
        return False


def check_source(source: str | None, addresses: list[str]) -> None:
    """icmplib binds each socket to source: one of another family fails to bind."""
    if source is not None and any(is_ipv6_address(source) != is_ipv6_address(address)
                                  for address in addresses):
        raise SocketAddressError(source)


@contextlib.contextmanager
def socket_errors(privileged: bool, source: str | None) -> Iterator[None]:
    """fastping's errors opening sockets, as icmplib raises them."""
    try:
        yield
    except PermissionError:
        raise SocketPermissionError(privileged) from None
    except OSError as error:
        if error.errno in (errno.EADDRNOTAVAIL, errno.EINVAL) and source is not None:
            raise SocketAddressError(source) from None
        raise ICMPSocketError(str(error)) from None


def open_pinger(addresses: list[str], timeout: float, privileged: bool, source: str | None,
                options: RequestOptions) -> Pinger:
    """One Pinger with every sendable address in it, each once, by its text. Raises
    icmplib's exceptions for what keeps sockets from opening, TypeError
    for a keyword icmplib does not know (as icmplib does)."""
    unknown = options.keys() - RequestOptions.__annotations__.keys()
    if unknown:
        raise TypeError(f"unexpected keyword argument {min(unknown)!r}")
    payload = options.get("payload")
    size = len(payload) if payload else options.get("payload_size", 56)
    check_source(source, addresses)
    with socket_errors(privileged, source):
        try:
            pinger = Pinger(timeout=timeout, privileged=privileged, source=source,
                            size=max(size, MIN_SIZE), ttl=options.get("ttl", 64),
                            tos=options.get("traffic_class", 0))
        except ValueError:
            if source is not None and not sendable(source):
                raise SocketAddressError(source) from None
            raise
        try:
            for address in addresses:
                if sendable(address):
                    pinger.add(address)
        except BaseException:
            pinger.close()
            raise
    return pinger
