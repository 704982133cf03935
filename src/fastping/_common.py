"""What Pinger and Monitor share: checked engine options, the host table, the engine's lifetime."""

from __future__ import annotations

import _socket as socket  # not socket.py: see _resolve
from collections.abc import Mapping

from . import _engine
from ._engine import Engine
from ._resolve import Address, check_family, check_int, check_seconds, parse_literal, resolve
from ._results import Tally
from ._typing_lite import TYPE_CHECKING, NamedTuple

# Exit statuses shared by every command, as fping's: 3 bad arguments, 4 a system error.
EXIT_USAGE, EXIT_SYSTEM = 3, 4
MIN_SIZE = _engine.TAG_LEN
MAX_SIZE = _engine.MAX_PAYLOAD  # the largest ICMP payload an IPv4 datagram can carry
MAX_TIMEOUT = 3600.0
MAX_INTERVAL = 86400.0
MAX_FWMARK = 2**32 - 1  # SO_MARK is a 32-bit mark; 0 means none

# Types only: nothing reads them at run time, and typing costs every command's start.
if TYPE_CHECKING:
    from typing import TypedDict, TypeVar

    from ._usage import UsageParser as UsageParser

    OwnerT = TypeVar("OwnerT", bound="EngineOwner")

    class EngineKeywords(TypedDict, total=False):
        """The engine options Pinger, Monitor, ping() and multiping() take by keyword, defined
        here once (ENGINE_DEFAULTS are their defaults; EngineOptions.check checks them)."""

        size: int  # ICMP payload bytes
        ttl: int | None
        tos: int | None
        source: str | None  # an address to send from
        interface: str | None  # a device to bind to
        privileged: bool | None  # raw sockets (True), datagram ones (False), or either (None)
        family: int | None  # 4 or 6, if hosts may resolve to one family only
        gap: float  # the least time between two sends, 0 for as fast as is safe
        icmp_timestamp: bool  # ICMP timestamp requests (IPv4, raw sockets) instead of echo
        dont_fragment: bool  # a probe larger than the path MTU fails rather than fragments
        fwmark: int | None  # SO_MARK for policy routing, 1 to 2**32-1 (needs CAP_NET_ADMIN)
        random_payload: bool  # random bytes past the tag, fresh each probe, not a fixed filler
        receive_tos: bool  # read each reply's TOS / traffic class (Result.tos)
        receive_destination: bool  # read the address each reply was sent to (Result.destination)
        out_interface: str | None  # a device to send through, receiving from any (fping --oiface)


ENGINE_DEFAULTS: EngineKeywords = {"size": 56, "ttl": None, "tos": None, "source": None,
                                   "interface": None, "privileged": None, "family": None,
                                   "gap": 0.0, "icmp_timestamp": False,
                                   "dont_fragment": False, "fwmark": None,
                                   "random_payload": False, "receive_tos": False,
                                   "receive_destination": False, "out_interface": None}


class EngineOptions(NamedTuple):
    """Options for one engine, checked before any socket is opened."""

    timeout: float
    size: int
    ttl: int | None
    tos: int | None
    privileged: bool | None
    source4: bytes | None
    source6: bytes | None
    interface: str | None
    family: int | None
    gap: float
    icmp_timestamp: bool
    dont_fragment: bool
    fwmark: int | None
    random_payload: bool
    receive_tos: bool
    receive_destination: bool
    out_interface: str | None

    @classmethod
    def check(cls, timeout: object, options: Mapping[str, object],
              owner: str = "EngineOptions.check") -> EngineOptions:
        """Raises TypeError for an unknown option or a wrong type, ValueError for a value out
        of range. options are EngineKeywords, by name; those not given take their defaults."""
        unknown = options.keys() - ENGINE_DEFAULTS.keys()
        if unknown:
            raise TypeError(f"{owner}() got an unexpected keyword argument {min(unknown)!r}")
        given = {**ENGINE_DEFAULTS, **options}
        payload = check_int("size", given["size"], minimum=MIN_SIZE, maximum=MAX_SIZE)
        assert payload is not None
        ttl = check_int("ttl", given["ttl"], minimum=1, maximum=255, optional=True)
        tos = check_int("tos", given["tos"], minimum=0, maximum=255, optional=True)
        privileged = given["privileged"]
        if privileged is not None and not isinstance(privileged, bool):
            raise TypeError(f"privileged must be None or a bool, not {type(privileged).__name__}")
        source4, source6 = _check_source(given["source"])
        family = check_family(given["family"])
        icmp_timestamp = _check_bool("icmp_timestamp", given["icmp_timestamp"])
        if icmp_timestamp:
            family = _timestamp_family(family, privileged, source6)
        return cls(check_timeout(timeout), payload, ttl, tos, privileged, source4, source6,
                   _check_interface(given["interface"]), family,
                   check_seconds("gap", given["gap"], maximum=MAX_INTERVAL, allow_zero=True),
                   icmp_timestamp, _check_bool("dont_fragment", given["dont_fragment"]),
                   check_int("fwmark", given["fwmark"], minimum=1, maximum=MAX_FWMARK,
                             optional=True),
                   _check_bool("random_payload", given["random_payload"]),
                   _check_bool("receive_tos", given["receive_tos"]),
                   _check_bool("receive_destination", given["receive_destination"]),
                   _check_interface(given["out_interface"], "out_interface"))

    def open_engine(self) -> _engine.Engine:
        engine = _engine.Engine(
            timeout=self.timeout, payload_size=self.size, ttl=self.ttl, tos=self.tos,
            privileged=self.privileged, source4=self.source4, source6=self.source6,
            interface=self.interface, icmp_timestamp=self.icmp_timestamp,
            dont_fragment=self.dont_fragment, fwmark=self.fwmark,
            random_payload=self.random_payload, receive_tos=self.receive_tos,
            receive_destination=self.receive_destination,
            out_interface=0 if self.out_interface is None else
            socket.if_nametoindex(self.out_interface),
        )
        engine.set_send_gap(self.gap)
        return engine


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def _timestamp_family(family: int | None, privileged: bool | None,
                      source6: bytes | None) -> int:
    """The family of an engine sending ICMP timestamp requests: IPv4, whatever the hosts
    resolve to. ValueError for options that cannot go with them."""
    if family == socket.AF_INET6 or source6 is not None:
        raise ValueError(_engine.TIMESTAMP_IPV6_HELP)
    if privileged is False:
        raise ValueError(_engine.TIMESTAMP_DATAGRAM_HELP)
    return socket.AF_INET


def default_timeout(period: float) -> float:
    """How long a heartbeat's probe waits when nobody said: its period, but at most 1 s."""
    return min(1.0, period)


def check_timeout(timeout: object) -> float:
    """A probe timeout in seconds: TypeError or ValueError as check_seconds raises them."""
    return check_seconds("timeout", timeout, maximum=MAX_TIMEOUT, allow_zero=False)


def _check_source(source: object) -> tuple[bytes | None, bytes | None]:
    if source is None:
        return None, None
    if not isinstance(source, str):
        raise TypeError(f"source must be an IP address str, not {type(source).__name__}")
    address = parse_literal(source.strip())
    if address is None:
        raise ValueError(f"source must be an IP address, not {source!r}")
    if address.family == socket.AF_INET:
        return address.packed, None
    return None, address.packed


def _check_interface(interface: object, name: str = "interface") -> str | None:
    if interface is None:
        return None
    if not isinstance(interface, str):
        raise TypeError(f"{name} must be a str, not {type(interface).__name__}")
    try:
        socket.if_nametoindex(interface)
    except (OSError, ValueError):
        raise ValueError(f"no such network interface: {interface!r}") from None
    return interface


class EngineOwner:
    """The lifetime shared by Pinger and Monitor: one engine, closed exactly once.

    An engine belongs to the process that opened it: in a forked child every use raises
    RuntimeError, and close() only releases the child's copies of the descriptors.
    """

    _engine: Engine | None
    _family: int | None  # the only family hosts may resolve to, if one

    def close(self) -> None:
        """Release every descriptor. Idempotent.

        During a round (from a signal handler, a callback or another thread) the round
        ends at once and the engine is closed as its loop returns.
        """
        if self._engine is not None:
            self._engine.close()

    @property
    def closed(self) -> bool:
        return self._engine is None or self._engine.closed

    @property
    def _forked(self) -> bool:
        return self._engine is not None and self._engine.forked

    def __enter__(self: OwnerT) -> OwnerT:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- the host table, which the engine keeps (Engine.hosts: {name: index}) ----------

    @property
    def hosts(self) -> tuple[str, ...]:
        """The hosts' names (as given, stripped), in the order added."""
        return () if self._engine is None else tuple(self._engine.hosts)

    def _resolve(self, host: str) -> tuple[str, Address]:
        """The table's name for host (stripped) and its address; raises as resolve() does.
        Outside any lock: DNS may be slow."""
        address = resolve(host, self._family)
        return host.strip(), address

    @staticmethod
    def _insert(engine: Engine, name: str, address: Address, timeout: float | None) -> int:
        """Adds the host to the (live) engine, unless a host of that name is there; its index.
        timeout is the host's own, None to follow the engine's."""
        index = engine.add_host(name, address.family, address.packed, address.scope_id,
                                address.text)
        engine.set_host_timeout(index, timeout)
        return index

    def _index(self, engine: Engine, host: object) -> tuple[str, int]:
        """A host's name (stripped) and index in the engine; ValueError if it is not there."""
        name = host.strip() if isinstance(host, str) else None
        index = None if name is None else engine.hosts.get(name)
        if name is None or index is None:
            raise ValueError(f"{host!r} is not in this {type(self).__name__}")
        return name, index

    def _read_tallies(self) -> dict[str, Tally]:
        """Every host's Tally, in the order added (the caller sees to threads)."""
        return self._live_engine().track_tallies()

    def _delete(self, host: object) -> str:
        """Removes a host by name (ValueError if there is none); the name."""
        engine = self._live_engine()
        name, _ = self._index(engine, host)
        engine.remove_host(name)
        return name

    def _live_engine(self) -> Engine:
        engine = self._engine
        if engine is None or engine.closed:
            raise ValueError(f"this {type(self).__name__} is closed")
        if engine.forked:
            raise RuntimeError(f"this {type(self).__name__} was made before this process "
                               f"forked: {_engine.FORKED_HELP}")
        return engine



def __getattr__(name: str) -> object:
    # UsageParser, the commands' parser, loads argparse (and re, gettext: 16 M instructions)
    # on first use: the fastping command parses its usual arguments without it.
    if name == "UsageParser":
        from ._usage import UsageParser

        return UsageParser
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
