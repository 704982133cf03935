"""fastping: ping thousands of hosts at once, fast, for years, without leaking.

    >>> import fastping
    >>> fastping.ping("127.0.0.1", count=2, interval=0.1).received
    2
    >>> with fastping.Pinger(["127.0.0.1", "::1"], timeout=0.5) as pinger:
    ...     sorted(result.status.value for result in pinger.ping().values())
    ['ok', 'ok']
"""

from typing import TYPE_CHECKING, Any

from ._results import HostStats, Result, Status
from .pinger import Pinger, async_multiping, async_ping, multiping, ping

if TYPE_CHECKING:
    from .monitor import EventKind, Health, HostState, Monitor, MonitorEvent

_MONITOR_NAMES = frozenset({"EventKind", "Health", "HostState", "Monitor", "MonitorEvent"})


def __getattr__(name: str) -> Any:
    # The monitor module (and its threading) loads on first use, not with the package: the
    # command's rounds start faster without it.
    if name in _MONITOR_NAMES:
        from . import monitor

        return getattr(monitor, name)
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
    "async_multiping",
    "async_ping",
    "multiping",
    "ping",
]
__version__ = "0.1.0"
