"""What a Monitor reports: its events (MonitorEvent, of an EventKind) and each host's live
state (HostState, which the engine fills in from its per-host track)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from . import _engine
from ._results import Event, Health, Result


class EventKind(str, enum.Enum):
    UP = "up"  # the host is up: `result` is the reply that made it so
    DOWN = "down"  # the host is down: `result` is the loss that made it so
    REPLY = "reply"  # a reply (only with replies=True)
    LOSS = "loss"  # a timeout or an error (only with replies=True)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class MonitorEvent:
    """Something that happened to one host; ``time`` is the wall clock (time.time())."""

    kind: EventKind
    host: str
    address: str
    time: float
    health: Health  # the host's health after this event
    previous: Health | None  # before it, for UP and DOWN
    result: Result  # the probe outcome behind the event


@dataclass(frozen=True, slots=True)
class HostState:
    """One host's live state. Times are in seconds, ``since`` on the wall clock.

    Lifetime counters (sent, received, lost, duplicates) and the lifetime_*
    RTTs run since the host was added; loss and the other RTT statistics
    cover the last ``window_probes`` probes; RTT statistics are None when none
    of those was answered.
    """

    host: str
    address: str
    health: Health
    since: float
    streak: int  # consecutive outcomes like the last one
    sent: int
    received: int
    lost: int
    duplicates: int
    send_errors: int
    last_rtt: float | None
    last_ttl: int | None  # of the last reply
    jitter: float  # RFC 3550 interarrival jitter of the RTTs
    window_probes: int
    window_replies: int
    loss: float  # over the window, 0.0 to 1.0
    min: float | None
    avg: float | None
    max: float | None
    stddev: float | None
    p50: float | None
    p90: float | None
    p99: float | None
    lifetime_min: float | None
    lifetime_avg: float | None
    lifetime_max: float | None
    ups: int = 0  # health changes to up since the host was added
    downs: int = 0  # and to down


def monitor_events(events: Sequence[Event], now: float) -> list[MonitorEvent]:
    """The engine's events of one turn as the Monitor reports them (duplicates are not
    events to it), all stamped with the turn's wall-clock time."""
    converted = []
    for event in events:
        result = event.result  # the outcome, or for HEALTH the one that changed it
        if event.kind == _engine.DUPLICATE or result is None or event.health is None:
            continue
        if event.kind == _engine.HEALTH:
            kind = EventKind.UP if event.health is Health.UP else EventKind.DOWN
        else:
            kind = EventKind.REPLY if result.ok else EventKind.LOSS
        converted.append(MonitorEvent(kind, event.host, result.address, now, event.health,
                                      event.previous, result))
    return converted
