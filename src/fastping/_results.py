"""The typed results fastping hands back: one probe's Result, one host's HostStats."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import NamedTuple


class Status(str, enum.Enum):
    """How one probe ended."""

    OK = "ok"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    TTL_EXCEEDED = "ttl_exceeded"
    ICMP_ERROR = "icmp_error"  # any other ICMP error (parameter problem)
    SEND_ERROR = "send_error"

    def __str__(self) -> str:
        return self.value


class Result(NamedTuple):
    """One probe to one host: how it ended and, if answered, how fast.

    ``rtt`` is in seconds. For ICMP errors, ``router`` is the address that
    reported it and ``icmp_type``/``icmp_code`` say what it was; for send
    errors, ``errno`` says why. Immutable, like every result here; a named
    tuple rather than a dataclass because a round of 100,000 hosts makes
    100,000 of them, and a tuple is made six times faster.
    """

    host: str
    address: str
    status: Status
    rtt: float | None = None
    ttl: int | None = None
    seq: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    router: str | None = None
    errno: int | None = None

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


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
