"""Turning what the user typed into addresses, and checking options, before any socket opens.

Literals never touch the resolver: text made only of digits and dots is meant
as an IPv4 address and text with a colon as an IPv6 one, so "999.1.1.1" is a
ValueError at once rather than a DNS query for a name that cannot exist.
Names are resolved once, with getaddrinfo, and the first address is used.
"""

from __future__ import annotations

# The C module itself, not socket.py, which builds its enums on import (2 ms of a command's
# start); ipaddress (1.3 ms) only for IPv6 literals.
import _socket as socket

from . import _engine
from ._typing_lite import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import ipaddress

_IPV4_LITERAL_CHARS = frozenset("0123456789.")
FAMILIES = {4: socket.AF_INET, 6: socket.AF_INET6, socket.AF_INET: socket.AF_INET,
            socket.AF_INET6: socket.AF_INET6}


class Address(NamedTuple):
    family: int
    packed: bytes
    text: str
    scope_id: int = 0


_AF_INET, _inet_pton = socket.AF_INET, socket.inet_pton
# Address(...) goes through a generated __new__; this checks nothing, and leaves the tuple
# to reference counting alone (see new_untracked).
_new_address = _engine.new_untracked


def _from_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, scope: str | None) -> Address:
    if ip.version == 4:
        return _new_address(Address, (socket.AF_INET, ip.packed, str(ip), 0))
    scope_id = 0
    if scope:
        try:
            scope_id = int(scope) if scope.isdigit() else socket.if_nametoindex(scope)
        except OSError:
            raise ValueError(f"unknown interface {scope!r} in scoped address") from None
    text = f"{ip}%{scope}" if scope else str(ip)
    return _new_address(Address, (socket.AF_INET6, ip.packed, text, scope_id))


def parse_literal(text: str) -> Address | None:
    """The address text spells; None if not meant as a literal; ValueError if malformed."""
    # inet_pton, strict dotted quads only, is ten times faster than ipaddress: a sweep of
    # 100,000 addresses spends 0.05 s here rather than 0.5 s. It takes no leading zeros
    # either, so the text it accepts is already canonical.
    if "\0" in text:  # C would see only what comes before it
        raise ValueError(f"invalid host name: {text!r}")
    try:
        return _new_address(Address, (_AF_INET, _inet_pton(_AF_INET, text), text, 0))
    except (OSError, ValueError):  # ValueError: a lone surrogate, refused below as a name
        if text and set(text) <= _IPV4_LITERAL_CHARS:
            raise ValueError(f"invalid IPv4 address: {text!r}") from None
    if ":" in text:
        import ipaddress

        address, _, scope = text.partition("%")
        try:
            return _from_ip(ipaddress.IPv6Address(address), scope or None)
        except ValueError as error:
            if "interface" in str(error):
                raise
            raise ValueError(f"invalid IPv6 address: {text!r}") from None
    return None


def resolve(host: object, family: int | None = None) -> Address:
    """Resolve one host: an IPv4/IPv6 literal or a name.

    Raises TypeError for a non-string, ValueError for an empty or malformed
    host or one of the wrong family, socket.gaierror (naming the host) when a
    name does not resolve.
    """
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    text = host.strip()
    if not text:
        raise ValueError("host must not be empty")
    address = parse_literal(text)
    if address is None:
        try:
            infos = socket.getaddrinfo(text, None, family or socket.AF_UNSPEC, socket.SOCK_DGRAM)
        except socket.gaierror as error:
            message = f"cannot resolve {text!r}: {error.strerror}"
            raise socket.gaierror(error.errno, message) from None
        except UnicodeError:
            raise ValueError(f"invalid host name: {text!r}") from None
        infos = [info for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]
        if not infos:
            raise socket.gaierror(socket.EAI_NONAME, f"cannot resolve {text!r}: no IP address")
        resolved_family, sockaddr = infos[0][0], infos[0][4]
        # The resolver's text, packed and printed again: canonical, as a literal's is.
        packed = socket.inet_pton(resolved_family, str(sockaddr[0]).partition("%")[0])
        text = socket.inet_ntop(resolved_family, packed)
        scope_id = int(sockaddr[3]) if len(sockaddr) == 4 else 0
        address = _new_address(Address, (resolved_family, packed,
                                          f"{text}%{scope_id}" if scope_id else text, scope_id))
    if family is not None and address.family != family:
        wanted = 4 if family == socket.AF_INET else 6
        raise ValueError(f"{text!r} is not an IPv{wanted} address")
    return address


# ---- option checks, shared by the API and the CLI ----------------------------------


# The shortest period, timeout or gap: the engine counts in nanoseconds, and anything shorter
# than a microsecond is below what a timer or a round trip can resolve (and 1e-10 s would be
# truncated to nothing).
MIN_SECONDS = 1e-6


def check_seconds(name: str, value: object, *, maximum: float, allow_zero: bool) -> float:
    """A finite duration in seconds; bool is refused, as it is almost always a mistake."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    seconds = float(value)
    # (NaN fails both tests.)
    if not ((seconds == 0 and allow_zero) or MIN_SECONDS <= seconds <= maximum):
        zero = "0 or " if allow_zero else ""
        raise ValueError(f"{name} must be {zero}between {MIN_SECONDS:g} and {maximum:g} "
                         f"seconds, not {value!r}")
    return seconds


def check_int(name: str, value: object, *, minimum: int, maximum: int,
              optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{name} must be between {minimum} and {maximum}, not {value}")
    return value


def check_family(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or value not in FAMILIES:
        raise ValueError(f"family must be None, 4 or 6, not {value!r}")
    return FAMILIES[value]


def check_callback(name: str, callback: object) -> None:
    if callback is not None and not callable(callback):
        raise TypeError(f"{name} must be callable or None")


def check_hosts(hosts: object) -> None:
    if isinstance(hosts, (str, bytes)):
        raise TypeError("hosts must be an iterable of host strings, not one str")
