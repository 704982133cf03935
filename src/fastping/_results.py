"""What the engine reports, typed: a probe's Result and Status, a host's Health, Event,
the record the binding hands up for each thing that happened, the records of its counters
and resources, and a host's Tally (a host's HostStats is in _stats, a monitored host's
HostState in monitor). Status, Health, Event and Counters are made in _engine_records
when first used (a quiet round of the command needs none of them: enum alone is 9 M
instructions of its start) and are this module's names all the same."""

from __future__ import annotations

import math

from ._typing_lite import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ._engine_records import Counters as Counters
    from ._engine_records import Event as Event
    from ._engine_records import Health as Health
    from ._engine_records import Status as Status

_MADE_LATER = ("Counters", "Event", "Health", "Status")


def __getattr__(name: str) -> object:
    if name not in _MADE_LATER:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import _engine_records

    for later in _MADE_LATER:  # all of them here from now on, for typing.get_type_hints too
        globals()[later] = getattr(_engine_records, later)
    return globals()[name]


class Timestamps(NamedTuple):
    """What a reply to an ICMP timestamp request (``icmp_timestamp=True``) tells, in
    milliseconds since midnight UTC (RFC 792), as fping's --icmp-timestamp prints them:
    ``originate`` when we sent the request and ``local_receive`` when its reply came (our
    clock), ``receive`` and ``transmit`` when the target got it and answered (its clock, as
    it sent them: a value with the high bit set is not a standard time)."""

    originate: int
    receive: int
    transmit: int
    local_receive: int


class Result(NamedTuple):
    """One probe to one host: how it ended and, if answered, how fast.

    ``rtt`` is in seconds. For ICMP errors, ``router`` is the address that
    reported it and ``icmp_type``/``icmp_code`` say what it was; for send
    errors, ``errno`` says why; for replies to ICMP timestamp requests, ``timestamps``
    carries the times (a Timestamps). Immutable, like every result here; a named
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
    timestamps: Timestamps | None = None
    tos: int | None = None  # a reply's TOS / traffic class, if the engine reads it
    destination: str | None = None  # the address a reply was sent to, if the engine reads it

    @property
    def ok(self) -> bool:
        # By value: Status is a str enum, and this module may not have made it yet.
        return self.status == "ok"


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


class Tally(NamedTuple):
    """One host's counts since it was added, as the engine's per-host track keeps them
    (Engine.track_tally): what HostStats and the command's summaries are made of, the one
    place where RTT statistics are computed. Times are in seconds; ``total`` and ``squares``
    are the sums of the replies' RTTs and of their squares. ``span_min``/``span_max`` are the
    extremes since the engine's last mark (Engine.track_mark), where it keeps them.
    """

    sent: int = 0
    received: int = 0
    duplicates: int = 0
    icmp_errors: int = 0
    send_errors: int = 0
    total: float = 0.0
    squares: float = 0.0
    min: float | None = None
    max: float | None = None
    span_min: float | None = None
    span_max: float | None = None

    @property
    def avg(self) -> float | None:
        return self.total / self.received if self.received else None

    @property
    def stddev(self) -> float | None:
        """The population deviation, as ping's mdev and fping's report it."""
        if not self.received:
            return None
        mean = self.total / self.received
        return math.sqrt(max(self.squares / self.received - mean * mean, 0.0))

    @property
    def errors(self) -> int:
        """Probes lost to an ICMP error or a send error rather than to silence."""
        return self.icmp_errors + self.send_errors

    @property
    def loss(self) -> float:
        """The fraction of probes sent that got no reply, 0.0 before the first."""
        return (self.sent - self.received) / self.sent if self.sent else 0.0

    def since(self, earlier: Tally) -> Tally:
        """What happened after ``earlier`` (this host's tally at the last mark): the counts'
        differences, and the span's extremes as the interval's least and greatest RTT."""
        return Tally(
            sent=self.sent - earlier.sent, received=self.received - earlier.received,
            duplicates=self.duplicates - earlier.duplicates,
            icmp_errors=self.icmp_errors - earlier.icmp_errors,
            send_errors=self.send_errors - earlier.send_errors,
            total=self.total - earlier.total, squares=self.squares - earlier.squares,
            min=self.span_min, max=self.span_max)
