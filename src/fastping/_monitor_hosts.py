"""A Monitor's hosts' schedules (the Monitor's period or one of a host's own, phases spread
as hosts come) and the insertion of a batch of resolved hosts on the loop thread.

Why batches: a host added to a running Monitor goes through its loop (one request, one
wake-up, one thread switch each way): about 200 us a host, 20 s for 100,000. A batch is one
request however many hosts it holds, and the send slack and receive buffers are set once
after it, not once a host.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from ._common import MAX_INTERVAL, check_timeout
from ._resolve import check_seconds

if TYPE_CHECKING:
    from . import _engine
    from ._resolve import Address

# Hosts added while running take the phases golden * k mod 1 (k = 0, 1, 2 ...): however many
# come, each lands in the largest gap left, so they stay spread over the period.
_GOLDEN = (math.sqrt(5) - 1) / 2


Resolved = tuple[str, "Address"]  # the table's name for a host, and its address


def resolve_all(hosts: Iterable[str], resolve: Callable[[str], Resolved],
                ) -> tuple[dict[str, Resolved], dict[str, str | Exception]]:
    """({host: resolved} for each host resolve() takes, {host: why not} for the others).
    Outside any lock: DNS may be slow."""
    resolved: dict[str, Resolved] = {}
    failed: dict[str, str | Exception] = {}
    for host in hosts:
        try:
            resolved[host] = resolve(host)
        except (OSError, ValueError, TypeError) as error:
            failed[host] = error
    return resolved, failed


class Schedules:
    """How each host of a Monitor is scheduled: its period (the Monitor's, or its own) and,
    for hosts added while running, its phase. Keeps the shortest period of all (the send
    slack must stay below it, or a host with a short period would be sent to twice in one
    wake-up) and the probe rate of the hosts with periods of their own."""

    def __init__(self, period: float, timeout: float) -> None:
        self.default = period
        self._timeout = timeout
        self._own: dict[str, float] = {}
        self.shortest = period
        self._own_rate = 0.0  # probes a second
        self.added = 0  # hosts added while running: their phases

    def own(self, period: float | None,
            timeout: float | None) -> tuple[float | None, float | None]:
        """A host's own period and timeout (None: the Monitor's), checked; a host with a
        period of its own shorter than the Monitor's timeout waits at most that period."""
        own_period = (None if period is None else
                      check_seconds("period", period, maximum=MAX_INTERVAL, allow_zero=False))
        own_timeout = None if timeout is None else check_timeout(timeout)
        if own_timeout is None and own_period is not None and own_period < self._timeout:
            own_timeout = own_period
        return own_period, own_timeout

    def of(self, name: str) -> float:
        return self._own.get(name, self.default)

    def set_own(self, name: str, period: float | None) -> None:
        """The host's own period from now on; None: the Monitor's."""
        old = self._own.pop(name, None)
        if old is not None:
            self._own_rate -= 1 / old
        if period is not None:
            self._own[name] = period
            self._own_rate += 1 / period
            self.shortest = min(self.shortest, period)
        elif old is not None and old <= self.shortest:
            self.shortest = min(self._own.values(), default=self.default)

    def rate(self, hosts: int) -> float:
        """Probes a second of this many hosts (those with periods of their own among them)."""
        return (hosts - len(self._own)) / self.default + self._own_rate

    def insert(self, engine: _engine.Engine, insert_one: Callable[[str, Address], int],
               resolved: Sequence[tuple[str, Address]], period: float | None,
               running: bool) -> list[str | Exception]:
        """Inserts each (name, address) with insert_one (which returns its index) and this
        own period; while running, schedules each host whose period changed (a new one, too)
        on a phase of its own. In order, each one's address as text, or the error that kept
        it out (no socket for its family, say): one host never fails the others."""
        outcomes: list[str | Exception] = []
        for name, address in resolved:
            was_period = self.of(name) if name in engine.hosts else None
            try:
                index = insert_one(name, address)
            except (OSError, ValueError) as error:
                outcomes.append(error)
                continue
            self.set_own(name, period)
            if running and was_period != self.of(name):
                self.schedule(engine, name, index, _GOLDEN * self.added % 1.0)
                self.added += 1
            outcomes.append(engine.address_text(index))
        return outcomes

    def schedule(self, engine: _engine.Engine, name: str, index: int, phase: float) -> None:
        """The host's probes from now on, the first at phase (0 to 1) of its period."""
        period = self.of(name)
        engine.schedule(index, delay=phase * period, period=period)
