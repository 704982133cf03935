"""The whole run's numbers, for fping's -s block and the JSON total records, made of each
target's own counts: the engine's Tally."""

from __future__ import annotations

from collections.abc import Iterable

from .._results import Tally
from .._typing_lite import NamedTuple


class Totals(NamedTuple):
    targets: int  # probed (names that did not resolve aside)
    alive: int
    unreachable: int
    unknown: int  # names that did not resolve
    timeouts: int  # probes that got no reply (an ICMP error does not end fping's wait)
    sent: int
    received: int  # replies, duplicates aside
    duplicates: int
    errors: int  # ICMP errors received
    least: float | None  # seconds; None without replies
    average: float | None
    greatest: float | None
    elapsed: float


def totals(tallies: Iterable[Tally], unknown: int, elapsed: float) -> Totals:
    tallies = list(tallies)
    received = sum(tally.received for tally in tallies)
    alive = sum(tally.received > 0 for tally in tallies)
    least = min((tally.min for tally in tallies if tally.min is not None), default=None)
    greatest = max((tally.max for tally in tallies if tally.max is not None), default=None)
    average = sum(tally.total for tally in tallies) / received if received else None
    sent = sum(tally.sent for tally in tallies)
    return Totals(
        targets=len(tallies), alive=alive, unreachable=len(tallies) - alive, unknown=unknown,
        timeouts=sent - received - sum(tally.send_errors for tally in tallies), sent=sent,
        received=received, duplicates=sum(tally.duplicates for tally in tallies),
        errors=sum(tally.icmp_errors for tally in tallies), least=least, average=average,
        greatest=greatest, elapsed=elapsed)
