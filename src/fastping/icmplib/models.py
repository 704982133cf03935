"""icmplib's result classes: a Host (ping, multiping) and a Hop (traceroute).

Times are milliseconds, as icmplib's: ``rtts`` as measured, the statistics rounded to
microseconds, 0.0 where there is nothing to compute them from.
"""

from __future__ import annotations


class Host:
    """What a host answered: its address, the probes sent to it and the RTTs of its replies."""

    __slots__ = ("_address", "_packets_sent", "_rtts")

    def __init__(self, address: str, packets_sent: int, rtts: list[float]) -> None:
        self._address = address
        self._packets_sent = packets_sent
        self._rtts = rtts

    def __repr__(self) -> str:
        return f"<Host [{self._address}]>"

    def __str__(self) -> str:
        rule = "-" * 60
        return (f"  {self._address}\n{rule}\n"
                f"  Packets sent:     {self._packets_sent}\n"
                f"  Packets received: {self.packets_received}\n"
                f"  Packet loss:      {self.packet_loss * 100}%\n"
                f"  Round-trip times: {self.min_rtt} ms / {self.avg_rtt} ms / "
                f"{self.max_rtt} ms\n"
                f"  Jitter:           {self.jitter} ms\n{rule}")

    @property
    def address(self) -> str:
        """The address of the host that answered."""
        return self._address

    @property
    def min_rtt(self) -> float:
        return round(min(self._rtts), 3) if self._rtts else 0.0

    @property
    def avg_rtt(self) -> float:
        return round(sum(self._rtts) / len(self._rtts), 3) if self._rtts else 0.0

    @property
    def max_rtt(self) -> float:
        return round(max(self._rtts), 3) if self._rtts else 0.0

    @property
    def rtts(self) -> list[float]:
        """Each reply's round-trip time, milliseconds, in the order the probes were sent."""
        return self._rtts

    @property
    def packets_sent(self) -> int:
        return self._packets_sent

    @property
    def packets_received(self) -> int:
        return len(self._rtts)

    @property
    def packet_loss(self) -> float:
        """The share of probes unanswered, 0.0 to 1.0, to two decimals."""
        if not self._packets_sent:
            return 0.0
        return round(1 - len(self._rtts) / self._packets_sent, 2)

    @property
    def jitter(self) -> float:
        """The mean absolute difference between consecutive RTTs (icmplib's definition, not
        RFC 3550's smoothed one); 0.0 with fewer than two replies."""
        if len(self._rtts) < 2:
            return 0.0
        deltas = [abs(a - b) for a, b in zip(self._rtts, self._rtts[1:], strict=False)]
        return round(sum(deltas) / len(deltas), 3)

    @property
    def is_alive(self) -> bool:
        return bool(self._rtts)


class Hop(Host):
    """A Host on the route to a destination, ``distance`` hops away (the probes' TTL)."""

    __slots__ = ("_distance",)

    def __init__(self, address: str, packets_sent: int, rtts: list[float],
                 distance: int) -> None:
        super().__init__(address, packets_sent, rtts)
        self._distance = distance

    def __repr__(self) -> str:
        return f"<Hop {self._distance} [{self._address}]>"

    def __str__(self) -> str:
        return f"  #{self._distance:<2} {super().__str__()[2:]}"

    @property
    def distance(self) -> int:
        return self._distance
