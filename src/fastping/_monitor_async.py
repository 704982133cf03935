"""``async for event in monitor``: a Monitor driven from the running asyncio loop, with no
thread, through the engine's pollable epoll descriptor."""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._monitor_records import MonitorEvent
    from .monitor import Monitor


class AsyncEvents:
    """The async iterator behind ``async for event in monitor``.

    Not an async generator: one abandoned by ``break`` is only closed when
    the event loop gets round to finalising it, which would leave the monitor
    running (and the descriptor registered) until then. This object ends the
    run the moment it is dropped.
    """

    def __init__(self, monitor: Monitor) -> None:
        import asyncio  # here, not at the top: only asyncio users pay its import

        self._open = False
        self._monitor = monitor
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._pending: collections.deque[MonitorEvent] = collections.deque()
        if monitor._owns_loop():
            raise RuntimeError("this Monitor is already running")
        try:
            monitor._begin()
            self._descriptor = monitor._live_engine().fileno()
            self._loop.add_reader(self._descriptor, self._ready.set)
            self._open = True
        finally:
            if not self._open and monitor._owns_loop():
                monitor._end()

    def __aiter__(self) -> AsyncEvents:
        return self

    async def __anext__(self) -> MonitorEvent:
        try:
            while not self._pending:
                if self._monitor._stop_requested or not self._open:
                    raise StopAsyncIteration
                self._pending.extend(self._monitor._step(0))
                if not self._pending:
                    self._ready.clear()
                    await self._ready.wait()
            return self._pending.popleft()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """End the run: unregister the descriptor, forget what is in flight. Idempotent."""
        if not self._open:
            return
        self._open = False
        if not self._loop.is_closed():
            self._loop.remove_reader(self._descriptor)
        self._monitor._end()

    def __del__(self) -> None:
        self.close()
