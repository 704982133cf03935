"""icmplib's ping(), multiping() and their asyncio forms, on one fastping engine a call.

icmplib's multiping runs an async_ping per address, each with its own socket, at most
``concurrent_tasks`` at a time. Here every address is a host of one Pinger and each of the
``count`` rounds probes them all at once: the results are icmplib's (a Host per address
given, in the order given, RTTs in milliseconds, 0.0 for none, ICMP errors and timeouts
counted as losses), the time is a round's, not the addresses' over ``concurrent_tasks``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .._results import Result, Status
from ..pinger import Pinger, async_rounds
from ._session import RequestOptions, async_target, open_pinger, socket_errors, target
from .models import Host

if TYPE_CHECKING:
    from typing_extensions import Unpack


class _Pings:
    """One call's addresses (each name resolved as icmplib does) and what their probes got."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self.sent = dict.fromkeys(self.addresses, 0)
        self.rtts: dict[str, list[float]] = {address: [] for address in self.addresses}

    def add_round(self, results: dict[str, Result]) -> None:
        for address, result in results.items():
            if result.status is not Status.SEND_ERROR:
                self.sent[address] += 1
            if result.ok and result.rtt is not None:
                self.rtts[address].append(result.rtt * 1000)

    def hosts(self) -> list[Host]:
        """A Host per address given, in order (an address given twice shares its probes)."""
        return [Host(address, self.sent[address], list(self.rtts[address]))
                for address in self.addresses]


def _start(addresses: list[str], timeout: float, source: str | None, privileged: bool,
           options: RequestOptions) -> tuple[_Pings, Pinger]:
    """The call's record and its Pinger, for addresses resolved as icmplib does."""
    return _Pings(addresses), open_pinger(addresses, timeout, privileged, source, options)


def multiping(addresses: Iterable[str], count: int = 2, interval: float = 0.5,
              timeout: float = 2, concurrent_tasks: int = 50, source: str | None = None,
              family: int | None = None, privileged: bool = True,
              **kwargs: Unpack[RequestOptions]) -> list[Host]:
    """Ping every address count times, interval seconds apart; a Host per address, in the
    order given. Raises NameLookupError for a name that does not resolve,
    SocketPermissionError and SocketAddressError as icmplib does."""
    resolved = [target(address, family) for address in addresses]
    pings, pinger = _start(resolved, timeout, source, privileged, kwargs)
    with pinger, socket_errors(privileged, source):
        if pinger.hosts and count > 0:
            for results in pinger.run(count=count, interval=interval):
                pings.add_round(results)
    return pings.hosts()


def ping(address: str, count: int = 4, interval: float = 1, timeout: float = 2,
         id: int | None = None, source: str | None = None, family: int | None = None,
         privileged: bool = True, **kwargs: Unpack[RequestOptions]) -> Host:
    """Ping one address (or name: its first address) count times; its Host."""
    return multiping([address], count, interval, timeout, source=source, family=family,
                     privileged=privileged, **kwargs)[0]


async def async_multiping(addresses: Iterable[str], count: int = 2, interval: float = 0.5,
                          timeout: float = 2, concurrent_tasks: int = 50,
                          source: str | None = None, family: int | None = None,
                          privileged: bool = True,
                          **kwargs: Unpack[RequestOptions]) -> list[Host]:
    """multiping() for asyncio: the engine is driven from the running loop, with no thread
    (names are resolved as icmplib's async_multiping does, before the first probe)."""
    resolved = [await async_target(address, family) for address in addresses]
    pings, pinger = _start(resolved, timeout, source, privileged, kwargs)
    with pinger, socket_errors(privileged, source):
        async for results in async_rounds(pinger, count, interval):
            pings.add_round(results)
    return pings.hosts()


async def async_ping(address: str, count: int = 4, interval: float = 1, timeout: float = 2,
                     id: int | None = None, source: str | None = None,
                     family: int | None = None, privileged: bool = True,
                     **kwargs: Unpack[RequestOptions]) -> Host:
    """ping() for asyncio."""
    hosts = await async_multiping([address], count, interval, timeout, source=source,
                                  family=family, privileged=privileged, **kwargs)
    return hosts[0]
