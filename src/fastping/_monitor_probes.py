"""Probes on demand on a running Monitor's engine (the exporter's /probe): a host probed a
few times, one probe after the other, apart from the heartbeats, its Results handed to the
thread that asked. No engine, socket or thread is opened for them.

The host is added to the engine unlisted (so it may also be one of the monitor's own hosts,
whose statistics it leaves alone) and reporting every outcome; everything here runs on the
monitor's loop thread, as all engine work does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _engine
from ._results import Event, Result

if TYPE_CHECKING:
    from concurrent.futures import Future

    from ._resolve import Address

_OUTCOMES = frozenset({_engine.REPLY, _engine.TIMEOUT, _engine.ICMP_ERROR, _engine.SEND_ERROR})


class _Request:
    __slots__ = ("count", "future", "interval", "results")

    def __init__(self, count: int, interval: float, future: Future[Any]) -> None:
        self.count = count
        self.interval = interval
        self.future = future
        self.results: list[Result] = []


class OnDemand:
    """The probes on demand in flight on one engine, by the index of their unlisted host.

    ``call`` runs work on the monitor's loop thread (Monitor._call): a caller that cancels
    its future goes through it to forget the probe at once, not after its timeouts.
    ``slack()`` is the engine's send slack now: the engine may send any probe that much
    before it is due (to share a wake-up), so a probe's next one is scheduled its interval
    plus the slack after its outcome: never sooner than the interval, at most slack later.
    """

    def __init__(self, call: Callable[[Callable[[], object]], object],
                 slack: Callable[[], float]) -> None:
        self._call = call
        self._slack = slack
        self._pending: dict[int, _Request] = {}

    def begin(self, engine: _engine.Engine, name: str, address: Address, count: int,
              interval: float, timeout: float, future: Future[Any]) -> None:
        """Sends the first probe; the future gets the Results once there are count of them."""
        index = engine.add_host(name, address.family, address.packed, address.scope_id,
                                address.text, listed=False)
        try:
            engine.set_host_reporting(index, True)
            engine.set_host_timeout(index, timeout)
            engine.schedule(index)
        except BaseException:
            engine.remove_unlisted(index)
            raise
        self._pending[index] = _Request(count, interval, future)
        future.add_done_callback(lambda done: self._forget(engine, done))

    def _forget(self, engine: _engine.Engine, future: Future[Any]) -> None:
        if future.cancelled():
            with contextlib.suppress(ValueError, RuntimeError):  # closed or stopped meanwhile
                self._call(lambda: self.cancel(engine, future))

    def take(self, engine: _engine.Engine, events: list[Event]) -> list[Event]:
        """Takes the events of probes on demand out of a batch; the others are returned."""
        if not self._pending:
            return events
        others = []
        for event in events:
            request = self._pending.get(event.host_index)
            if request is None:
                others.append(event)
            elif event.kind in _OUTCOMES and event.result is not None:
                request.results.append(event.result)
                if len(request.results) < request.count:
                    delay = request.interval + self._slack() if request.interval else 0.0
                    engine.schedule(event.host_index, delay=delay)
                else:
                    self._finish(engine, event.host_index)
        return others

    def cancel(self, engine: _engine.Engine, future: Future[Any]) -> None:
        """Forgets the probe whose caller gave up (it no longer waits for the future)."""
        for index, request in list(self._pending.items()):
            if request.future is future:
                self._finish(engine, index)

    def finish_all(self, engine: _engine.Engine, error: BaseException) -> None:
        """The loop ends: every caller still waiting gets error."""
        for index in list(self._pending):
            self._finish(engine, index, error)

    def _finish(self, engine: _engine.Engine, index: int,
                error: BaseException | None = None) -> None:
        request = self._pending.pop(index)
        if not engine.closed:
            engine.remove_unlisted(index)
        if request.future.done():
            return
        if error is None:
            request.future.set_result(request.results)
        else:
            request.future.set_exception(error)
