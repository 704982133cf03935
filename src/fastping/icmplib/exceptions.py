"""icmplib's exception classes, with its hierarchy and messages, so that ``except`` clauses
written for icmplib catch what fastping.icmplib raises."""

from __future__ import annotations

from typing import ClassVar, Protocol


class ICMPLibError(Exception):
    """The base of every exception raised here."""


class NameLookupError(ICMPLibError):
    """A name that does not exist or cannot be resolved."""

    def __init__(self, name: str) -> None:
        super().__init__(f"The name '{name}' cannot be resolved")


class ICMPSocketError(ICMPLibError):
    """The base of the exceptions about the ICMP sockets."""


class SocketAddressError(ICMPSocketError):
    """The source address cannot be assigned to the socket."""

    def __init__(self, address: str) -> None:
        super().__init__(f"The requested address ({address}) cannot be assigned to the socket")


class SocketPermissionError(ICMPSocketError):
    """The privileges are insufficient to create the socket."""

    def __init__(self, privileged: bool) -> None:
        if privileged:
            message = "Root privileges are required to create the socket"
        else:
            message = ("A prior configuration of your OS is required to use ICMP sockets "
                       "without root privileges (net.ipv4.ping_group_range)")
        super().__init__(message)


class SocketUnavailableError(ICMPSocketError):
    """An action on a socket that is closed."""

    def __init__(self) -> None:
        super().__init__("The socket can no longer be used after its closure")


class SocketBroadcastError(ICMPSocketError):
    """A broadcast address on a socket that does not allow broadcast."""

    def __init__(self) -> None:
        super().__init__("Broadcast is not allowed: please use the 'broadcast' property to "
                         "allow it")


class TimeoutExceeded(ICMPSocketError):
    """A timeout was reached."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"The timeout has been reached ({timeout}s)")


class ICMPReplyLike(Protocol):
    """What the ICMP errors need of the reply they are about: its ICMP code."""

    @property
    def code(self) -> int: ...


class ICMPError(ICMPLibError):
    """The base of the exceptions for ICMP error messages; ``reply`` is the message."""

    def __init__(self, message: str, reply: ICMPReplyLike) -> None:
        super().__init__(message)
        self._reply = reply

    @property
    def reply(self) -> ICMPReplyLike:
        return self._reply


class _CodedError(ICMPError):
    """An ICMP error whose message says what its code means (_CODES, by family)."""

    _CODES: ClassVar[dict[int, str]] = {}
    _UNKNOWN = ""

    def __init__(self, reply: ICMPReplyLike) -> None:
        super().__init__(self._CODES.get(reply.code, f"{self._UNKNOWN}, bad code: {reply.code}"),
                         reply)


class DestinationUnreachable(_CodedError):
    """The destination or a gateway says the destination cannot be reached."""

    _UNKNOWN = "Destination unreachable"


class ICMPv4DestinationUnreachable(DestinationUnreachable):
    _CODES: ClassVar[dict[int, str]] = {
        0: "Destination network unreachable",
        1: "Destination host unreachable",
        2: "Destination protocol unreachable",
        3: "Destination port unreachable",
        4: "Fragmentation needed and DF set",
        5: "Source route failed",
        6: "Destination network unknown",
        7: "Destination host unknown",
        8: "Source host isolated",
        9: "Destination network prohibed",
        10: "Destination host prohibed",
        11: "Destination network unreachable for ToS",
        12: "Destination host unreachable for ToS",
        13: "Packet filtered",
        14: "Precedence violation",
        15: "Precedence cutoff",
    }


class ICMPv6DestinationUnreachable(DestinationUnreachable):
    _CODES: ClassVar[dict[int, str]] = {
        0: "No route to destination",
        1: "Communication with destination administratively prohibited",
        2: "Beyond scope of source address",
        3: "Address unreachable",
        4: "Port unreachable",
        5: "Source address failed ingress/egress policy",
        6: "Reject route to destination",
    }


class TimeExceeded(_CodedError):
    """A gateway discarded the datagram: its time to live reached zero."""

    _UNKNOWN = "Time exceeded"


class ICMPv4TimeExceeded(TimeExceeded):
    _CODES: ClassVar[dict[int, str]] = {
        0: "Time to live exceeded",
        1: "Fragment reassembly time exceeded",
    }


class ICMPv6TimeExceeded(TimeExceeded):
    _CODES: ClassVar[dict[int, str]] = {
        0: "Hop limit exceeded",
        1: "Fragment reassembly time exceeded",
    }
