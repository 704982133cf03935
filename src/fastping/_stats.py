"""One host's HostStats, what ping() and multiping() hand back.

A module of its own, loaded when first used: dataclasses (and the inspect module it
imports) would otherwise be a quarter of the command's start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._results import Tally


@dataclass(frozen=True, slots=True)
class HostStats:
    """What several probes to one host came to.

    ``loss`` is a fraction (0.0 to 1.0); times are in seconds and ``None``
    when nothing was received. ``error`` is set, and nothing was sent, when
    the host could not be resolved. ``min``, ``avg``, ``max`` and ``stddev``
    (the population deviation, as ping's mdev) are the engine's, from its
    per-host counts (see HostStats.of).
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
    min: float | None = None
    avg: float | None = None
    max: float | None = None
    stddev: float | None = None

    def __post_init__(self) -> None:
        loss = 1.0 - self.received / self.sent if self.sent else (1.0 if self.error else 0.0)
        object.__setattr__(self, "loss", loss)

    @classmethod
    def of(cls, host: str, address: str, tally: Tally, rtts: tuple[float, ...]) -> HostStats:
        """A host's statistics from its Tally, as the engine kept it, and its replies' RTTs."""
        return cls(host, address, sent=tally.sent, received=tally.received,
                   duplicates=tally.duplicates, errors=tally.errors, rtts=rtts,
                   min=tally.min, avg=tally.avg, max=tally.max, stddev=tally.stddev)

    @property
    def alive(self) -> bool:
        return self.received > 0
