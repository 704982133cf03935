"""What the engine reports, typed: a probe's Result and Status, a host's Health, Event,
the record the binding hands up for each thing that happened, and the records of its counters
and resources (a host's HostStats is in _stats, a monitored host's HostState in monitor)."""

from __future__ import annotations

import enum
from typing import NamedTuple


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


class Result(NamedTuple):
    """One probe to one host: how it ended and, if answered, how fast.

    ``rtt`` is in seconds. For ICMP errors, ``router`` is the address that
    reported it and ``icmp_type``/``icmp_code`` say what it was; for send
    errors, ``errno`` says why. Immutable, like every result here; a named
    tuple rather than a dataclass because a round of 100,000 hosts makes
    100,000 of them, and a tuple is made six times faster.
    """

    host: str
    address: str
    status: Status
    rtt: float | None = None
    ttl: int | None = None
    seq: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    router: str | None = None
    errno: int | None = None

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


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


class Resources(NamedTuple):
    """What an engine holds right now (Engine.resources()); all zero once closed. Handed on as
    a dict (``_asdict()``) by Pinger.resources() and Monitor.resources()."""

    descriptors: int
    timer_armed: int
    scheduled: int
    outstanding: int
    hosts: int
    host_capacity: int
    ring_capacity: int
    host_bytes: int
    table_bytes: int

