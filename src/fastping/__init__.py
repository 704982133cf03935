"""fastping: ping thousands of hosts at once, fast, for years, without leaking.

    >>> import fastping
    >>> fastping.ping("127.0.0.1", count=2, interval=0.1).received
    2
    >>> with fastping.Pinger(["127.0.0.1", "::1"], timeout=0.5) as pinger:
    ...     sorted(result.status.value for result in pinger.ping().values())
    ['ok', 'ok']
"""

from ._results import HostStats, Result, Status
from .monitor import EventKind, Health, HostState, Monitor, MonitorEvent
from .pinger import Pinger, async_multiping, async_ping, multiping, ping

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
