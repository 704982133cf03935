"""The engine's records that a round's results do not need, made when first used (through
fastping._results, whose names they are): a probe's Status, a host's Health, the binding's
Event, its Counters.
Each is 0.7 M to 1.1 M instructions to make, which every command would pay at its start for
nothing (a round of -C1 -q uses none of them)."""

from __future__ import annotations

import enum

from ._results import Result  # (for typing.get_type_hints of Event)
from ._typing_lite import NamedTuple


class Status(str, enum.Enum):
    """How one probe ended."""

    OK = "ok"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    TTL_EXCEEDED = "ttl_exceeded"
    ICMP_ERROR = "icmp_error"  # any other ICMP error (parameter problem)
    SEND_ERROR = "send_error"

    def __str__(self) -> str:
        return self.value


class Health(str, enum.Enum):
    """A monitored host's health."""

    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"

    def __str__(self) -> str:
        return self.value


class Event(NamedTuple):
    """One thing the engine reports about one host (the binding's record, not public).

    ``kind`` is one of the engine's REPLY, TIMEOUT, ICMP_ERROR, SEND_ERROR, DUPLICATE or
    HEALTH; ``host`` the name the host was added with. ``result`` is the probe's outcome
    (for HEALTH, the outcome that changed the health; None for DUPLICATE). ``health`` is
    the host's health after it when the engine tracks health, else None; ``previous`` its
    health before, for HEALTH.
    """

    kind: int
    host: str
    result: Result | None
    health: Health | None
    previous: Health | None
    host_index: int  # the host's in the engine


class Counters(NamedTuple):
    """What an engine has seen since it opened (Engine.counters()): probes sent, their outcomes,
    and the packets dropped, by reason. Pinger.counters() and Monitor.counters() hand it on as
    a dict (``_asdict()``), as documented."""

    sent: int
    replies: int
    timeouts: int
    icmp_errors: int
    send_errors: int
    duplicates: int
    late: int
    foreign: int
    malformed: int
    unverified: int


# fastping._results' names, where users and pickle have always found them.
for _record in (Health, Event, Counters):
    _record.__module__ = "fastping._results"
