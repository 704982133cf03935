"""fastping: ping thousands of hosts at once, fast, for years, without leaking.

    >>> import fastping
    >>> fastping.ping("127.0.0.1", count=2, interval=0.1).received
    2
    >>> with fastping.Pinger(["127.0.0.1", "::1"], timeout=0.5) as pinger:
    ...     sorted(result.status.value for result in pinger.ping().values())
    ['ok', 'ok']
"""

from __future__ import annotations

from ._typing_lite import TYPE_CHECKING
from ._version import __version__

if TYPE_CHECKING:
    from ._results import Health, Result, Status, Tally, Timestamps
    from ._stats import HostStats
    from .monitor import EventKind, HostState, Monitor, MonitorEvent
    from .pinger import Pinger, async_multiping, async_ping, multiping, ping

# Each public name's module, loaded on first use, not with the package: a program loads
# only the modules it uses (import fastping alone: 2.5 M instructions rather than 45 M).
_MODULES = {
    **dict.fromkeys(("Health", "Result", "Status", "Tally", "Timestamps"), "_results"),
    **dict.fromkeys(("Pinger", "async_multiping", "async_ping", "multiping", "ping"), "pinger"),
    "HostStats": "_stats",  # with dataclasses
    **dict.fromkeys(("EventKind", "HostState", "Monitor", "MonitorEvent"), "monitor"),  # threads
}


def __getattr__(name: str) -> object:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(__import__(f"{__name__}.{module}", fromlist=[name]), name)
    globals()[name] = value  # found at once the next time
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULES})


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
