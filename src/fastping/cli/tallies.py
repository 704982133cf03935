"""Per-target counts, as the summaries and the -s block report them."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .._results import Result
    from ..monitor import HostState


class Counts:
    """One target's counts, in constant memory (a list of RTTs only for -C)."""

    __slots__ = ("errors", "max", "min", "received", "rtts", "sent", "squares", "total")

    def __init__(self, *, sent: int = 0, received: int = 0, total: float = 0.0,
                 min: float | None = None, max: float | None = None,
                 rtts: list[float | None] | None = None) -> None:
        self.sent = sent
        self.received = received
        self.total = total
        self.squares = 0.0
        self.min = min
        self.max = max
        self.rtts = rtts
        self.errors = 0

    def add(self, result: Result) -> None:
        self.sent += 1
        rtt = result.rtt if result.ok else None
        if self.rtts is not None:
            self.rtts.append(rtt)
        if rtt is None:
            self.errors += result.status.value not in ("ok", "timeout")
            return
        self.received += 1
        self.total += rtt
        self.squares += rtt * rtt
        self.min = rtt if self.min is None else min(self.min, rtt)
        self.max = rtt if self.max is None else max(self.max, rtt)

    @classmethod
    def of(cls, state: HostState) -> Counts:
        """A host's tally from what a Monitor's engine kept of it."""
        total = (state.lifetime_avg or 0.0) * state.received
        # (The engine does not tell ICMP errors from timeouts here: all count as lost.)
        return cls(sent=state.sent, received=state.received, total=total,
                   min=state.lifetime_min, max=state.lifetime_max)

    @property
    def avg(self) -> float | None:
        return self.total / self.received if self.received else None

    @property
    def stddev(self) -> float | None:
        if not self.received:
            return None
        mean = self.total / self.received
        return math.sqrt(max(self.squares / self.received - mean * mean, 0.0))

    @property
    def loss_percent(self) -> int:
        return round(100 * (self.sent - self.received) / self.sent) if self.sent else 0


class Totals(NamedTuple):
    """The whole run's numbers, for fping's -s block and the JSON total record."""

    targets: int
    alive: int
    unreachable: int
    unknown: int
    sent: int
    received: int
    errors: int  # ICMP errors received: lost, but not timed out
    duplicates: int
    times: list[float]  # every target's least and greatest RTT
    total: float  # seconds: every RTT added up
    elapsed: float
