"""The whole run's numbers, for fping's -s block and the JSON total record (each target's
own counts are the engine's: a Tally)."""

from __future__ import annotations

from typing import NamedTuple


class Totals(NamedTuple):
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
