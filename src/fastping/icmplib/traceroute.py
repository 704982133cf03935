"""icmplib's traceroute(), on one fastping engine: probes of increasing TTL, each hop's
address read from the Time Exceeded error the engine matched to the probe.

As icmplib does: ``count`` probes per TTL, one after the other (``interval`` apart after a
Time Exceeded), from ``first_hop`` until the destination answers or ``max_hops``. A
timeout or another ICMP error (unreachable) ends a TTL's probes; a TTL with no answer at
all is left out of the list; an unreachable does not end the route. ``fast`` is accepted
and, as in icmplib 3.0, changes nothing. Raw sockets, as icmplib's traceroute.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .._results import Status
from ._session import RequestOptions, open_pinger, socket_errors, target
from .models import Hop

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..pinger import Pinger

# How each probe's outcome goes on: the next probe at once, after the interval, or none.
_NEXT, _AFTER_INTERVAL, _STOP = 0, 1, 2
_FOLLOW = {Status.OK: _NEXT, Status.TTL_EXCEEDED: _AFTER_INTERVAL}


def _probe_hop(pinger: Pinger, address: str, distance: int, count: int, interval: float,
               timeout: float) -> tuple[Hop | None, bool]:
    """count probes with TTL distance: the Hop that answered them (None if nothing did),
    and whether the destination itself did."""
    pinger._live_engine().set_ttl(distance)
    sent, rtts, reached = 0, [], False
    answered_by: str | None = None
    for _ in range(count):
        result = pinger.ping(timeout=timeout).get(address)
        if result is None or result.status is Status.SEND_ERROR:
            break
        sent += 1
        if result.rtt is None:  # a timeout: the TTL's last answer (if any) stands
            break
        rtts.append(result.rtt * 1000)
        answered_by = result.address if result.ok else result.router
        reached = reached or result.ok
        follow = _FOLLOW.get(result.status, _STOP)
        if follow == _STOP:
            break
        if follow == _AFTER_INTERVAL:
            time.sleep(interval)
    hop = None if answered_by is None else Hop(answered_by, sent, rtts, distance)
    return hop, reached


def traceroute(address: str, count: int = 2, interval: float = 0.05, timeout: float = 2,
               first_hop: int = 1, max_hops: int = 30, fast: bool = False,
               id: int | None = None, source: str | None = None, family: int | None = None,
               **kwargs: Unpack[RequestOptions]) -> list[Hop]:
    """The route to address: a Hop per distance that answered, nearest first."""
    if "ttl" in kwargs:
        raise TypeError("traceroute() got multiple values for keyword argument 'ttl'")
    destination = target(address, family)
    hops: list[Hop] = []
    with open_pinger([destination], timeout, True, source, kwargs) as pinger, \
            socket_errors(True, source):
        if not pinger.hosts:
            return hops
        for distance in range(first_hop, max_hops + 1):
            hop, reached = _probe_hop(pinger, destination, distance, count, interval, timeout)
            if hop is not None:
                hops.append(hop)
            if reached:
                break
    return hops
