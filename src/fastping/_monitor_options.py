"""What a Monitor is made with: its histogram buckets, checked, and its default send slack."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from . import _engine
from ._common import MAX_INTERVAL
from ._resolve import check_seconds

# A wake-up costs about as much CPU as 10 to 20 probes (50-110 us, measured on a KVM guest),
# so by default one carries this many probes when a period has them (see default_slack).
_PROBES_PER_WAKEUP = 128


def default_slack(period: float, hosts: int) -> float:
    """The send slack that gives each wake-up _PROBES_PER_WAKEUP probes, within bounds.

    At least a fortieth of the period (at most 25 ms), at most an eighth (at most 125 ms),
    so that sends still come in at least 8 even clumps a period: 1,000 hosts at 1 s go out
    125 at a time, 8 times a second; 100,000 hosts, 2,500 at a time, 40 times a second.
    """
    low = min(period / 40, 0.025)
    high = min(period / 8, 0.125)
    wanted = period * _PROBES_PER_WAKEUP / hosts if hosts else high
    return min(max(wanted, low), high)


def check_buckets(buckets: object) -> tuple[float, ...]:
    if isinstance(buckets, (str, bytes)) or not isinstance(buckets, Iterable):
        raise TypeError("buckets must be a sequence of RTT bounds in seconds")
    bounds = tuple(buckets)
    for bound in bounds:
        check_seconds("bucket bound", bound, maximum=MAX_INTERVAL, allow_zero=False)
    if len(bounds) > _engine.TRACK_MAX_BUCKETS:
        raise ValueError(f"at most {_engine.TRACK_MAX_BUCKETS} buckets, not {len(bounds)}")
    if any(b <= a for a, b in itertools.pairwise(bounds)):
        raise ValueError("bucket bounds must be strictly increasing")
    return tuple(float(bound) for bound in bounds)
