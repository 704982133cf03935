"""icmplib's functions on fastping's engine: ``from fastping import icmplib``.

The names, signatures, defaults, results (Host and Hop, milliseconds, 0.0 for no reply)
and exceptions of icmplib 3's ``ping``, ``multiping``, ``traceroute``, their asyncio forms
and its helpers, so that a script written for icmplib runs unchanged, with each call on one
engine (one socket per address family) however many addresses it pings. icmplib's socket
classes and ICMPRequest/ICMPReply have no counterpart: fastping's engine is the socket.
"""

from .exceptions import (
    DestinationUnreachable,
    ICMPError,
    ICMPLibError,
    ICMPSocketError,
    ICMPv4DestinationUnreachable,
    ICMPv4TimeExceeded,
    ICMPv6DestinationUnreachable,
    ICMPv6TimeExceeded,
    NameLookupError,
    SocketAddressError,
    SocketBroadcastError,
    SocketPermissionError,
    SocketUnavailableError,
    TimeExceeded,
    TimeoutExceeded,
)
from .models import Hop, Host
from .ping import async_multiping, async_ping, multiping, ping
from .traceroute import traceroute
from .utils import async_resolve, is_hostname, is_ipv4_address, is_ipv6_address, resolve

__all__ = [
    "DestinationUnreachable",
    "Hop",
    "Host",
    "ICMPError",
    "ICMPLibError",
    "ICMPSocketError",
    "ICMPv4DestinationUnreachable",
    "ICMPv4TimeExceeded",
    "ICMPv6DestinationUnreachable",
    "ICMPv6TimeExceeded",
    "NameLookupError",
    "SocketAddressError",
    "SocketBroadcastError",
    "SocketPermissionError",
    "SocketUnavailableError",
    "TimeExceeded",
    "TimeoutExceeded",
    "async_multiping",
    "async_ping",
    "async_resolve",
    "is_hostname",
    "is_ipv4_address",
    "is_ipv6_address",
    "multiping",
    "ping",
    "resolve",
    "traceroute",
]
