"""One host's HostStats, what ping() and multiping() hand back.

A module of its own, loaded when first used: dataclasses (and the inspect module it
imports) would otherwise be a quarter of the command's start-up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class HostStats:
    """What several probes to one host came to.

    ``loss`` is a fraction (0.0 to 1.0); times are in seconds and ``None``
    when nothing was received. ``error`` is set, and nothing was sent, when
    the host could not be resolved.
    """

    host: str
    address: str | None
    sent: int = 0
    received: int = 0
    duplicates: int = 0
    errors: int = 0
    rtts: tuple[float, ...] = ()
    error: str | None = None
    loss: float = field(init=False)
    min: float | None = field(init=False)
    avg: float | None = field(init=False)
    max: float | None = field(init=False)
    stddev: float | None = field(init=False)

    def __post_init__(self) -> None:
        rtts = self.rtts
        count = len(rtts)
        loss = 1.0 - self.received / self.sent if self.sent else (1.0 if self.error else 0.0)
        avg = math.fsum(rtts) / count if count else None
        # Population deviation, as ping's mdev reports it.
        stddev = (
            math.sqrt(math.fsum((r - avg) ** 2 for r in rtts) / count) if avg is not None else None
        )
        object.__setattr__(self, "loss", loss)
        object.__setattr__(self, "min", min(rtts) if count else None)
        object.__setattr__(self, "avg", avg)
        object.__setattr__(self, "max", max(rtts) if count else None)
        object.__setattr__(self, "stddev", stddev)

    @property
    def alive(self) -> bool:
        return self.received > 0
