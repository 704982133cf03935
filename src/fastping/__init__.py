"""fastping: ping thousands of hosts at once, fast, for years, without leaking.

    >>> import fastping
    >>> fastping.ping("127.0.0.1", count=2, interval=0.1).received
    2
    >>> with fastping.Pinger(["127.0.0.1", "::1"], timeout=0.5) as pinger:
    ...     sorted(result.status.value for result in pinger.ping().values())
    ['ok', 'ok']
"""

from __future__ import annotations

from ._results import Health, Result, Status, Tally, Timestamps
from ._typing_lite import TYPE_CHECKING
from ._version import __version__
from .pinger import Pinger, async_multiping, async_ping, multiping, ping

if TYPE_CHECKING:
    from typing import Any

    from ._stats import HostStats
    from .monitor import EventKind, HostState, Monitor, MonitorEvent

_MONITOR_NAMES = frozenset({"EventKind", "HostState", "Monitor", "MonitorEvent"})


def __getattr__(name: str) -> Any:
    # The monitor module (with threading and dataclasses) and HostStats (with dataclasses)
    # load on first use, not with the package: the command starts faster without them.
    if name in _MONITOR_NAMES:
        from . import monitor

        return getattr(monitor, name)
    if name == "HostStats":
        from ._stats import HostStats

        return HostStats
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "EventKind",
    "Health",
    "HostState",
    "HostStats",
    "Monitor",
    "MonitorEvent",
    "Pinger",
    "Result",
    "Status",
    "Tally",
    "Timestamps",
    "__version__",
    "async_multiping",
    "async_ping",
    "multiping",
    "ping",
]
