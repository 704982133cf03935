"""What Pinger and Monitor share: checked engine options, the host table, the engine's lifetime."""

from __future__ import annotations

import argparse
import socket
from typing import NamedTuple, NoReturn, TypeVar

from . import _engine
from ._engine import Engine
from ._resolve import Address, check_family, check_int, check_seconds, parse_literal, resolve

# Exit statuses shared by every command, as fping's: 3 bad arguments, 4 a system error.
EXIT_USAGE, EXIT_SYSTEM = 3, 4
MIN_SIZE = _engine.TAG_LEN
MAX_SIZE = 65507  # the largest ICMP payload an IPv4 datagram can carry
MAX_TIMEOUT = 3600.0
MAX_INTERVAL = 86400.0

OwnerT = TypeVar("OwnerT", bound="EngineOwner")

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

    @classmethod
    def check(cls, *, timeout: object, size: object, ttl: object, tos: object, source: object,
              interface: object, privileged: object, family: object,
              gap: object = 0.0) -> EngineOptions:
        """Raises TypeError for a wrong type, ValueError for a value out of range."""
        seconds = check_seconds("timeout", timeout, maximum=MAX_TIMEOUT, allow_zero=False)
        payload = check_int("size", size, minimum=MIN_SIZE, maximum=MAX_SIZE)
        assert payload is not None
        checked_ttl = check_int("ttl", ttl, minimum=1, maximum=255, optional=True)
        checked_tos = check_int("tos", tos, minimum=0, maximum=255, optional=True)
        if privileged is not None and not isinstance(privileged, bool):
            raise TypeError(f"privileged must be None or a bool, not {type(privileged).__name__}")
        source4, source6 = _check_source(source)
        return cls(seconds, payload, checked_ttl, checked_tos, privileged, source4, source6,
                   _check_interface(interface), check_family(family),
                   check_seconds("gap", gap, maximum=MAX_INTERVAL, allow_zero=True))

    def open_engine(self) -> _engine.Engine:
        engine = _engine.Engine(
            timeout=self.timeout, payload_size=self.size, ttl=self.ttl, tos=self.tos,
            privileged=self.privileged, source4=self.source4, source6=self.source6,
            interface=self.interface,
        )
        engine.set_send_gap(self.gap)
        return engine


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


def _check_interface(interface: object) -> str | None:
    if interface is None:
        return None
    if not isinstance(interface, str):
        raise TypeError(f"interface must be a str, not {type(interface).__name__}")
    try:
        socket.if_nametoindex(interface)
    except (OSError, ValueError):
        raise ValueError(f"no such network interface: {interface!r}") from None
    return interface


def check_callback(name: str, callback: object) -> None:
    if callback is not None and not callable(callback):
        raise TypeError(f"{name} must be callable or None")


def check_hosts(hosts: object) -> None:
    if isinstance(hosts, (str, bytes)):
        raise TypeError("hosts must be an iterable of host strings, not one str")


class Host(NamedTuple):
    """One host of a table; made untracked by the garbage collector, as 1,000,000 may be."""

    name: str
    address: Address
    engine_index: int


class HostTable:
    """The hosts of one engine, by the name the user gave and by engine index."""

    def __init__(self, family: int | None) -> None:
        self.family = family
        self.by_name: dict[str, Host] = {}
        self.by_index: dict[int, Host] = {}

    def resolve(self, host: str) -> tuple[str, Address]:
        """The table's name for host and its address; raises as resolve() does."""
        address = resolve(host, self.family)
        return host.strip(), address

    def insert(self, engine: _engine.Engine, name: str, address: Address) -> Host:
        """Adds the host to the engine, unless a host of that name is there already."""
        existing = self.by_name.get(name)
        if existing is not None:
            return existing
        index = engine.add_host(address.family, address.packed, address.scope_id, name,
                                address.text)
        try:
            entry = _engine.new_untracked(Host, (name, address, index))
            self.by_name[name] = entry
            self.by_index[index] = entry
        except BaseException:  # Ctrl-C: the engine must not keep a host the table lacks
            self.by_name.pop(name, None)
            self.by_index.pop(index, None)
            if not engine.closed:
                engine.remove_host(index)
            raise
        return entry

    def delete(self, engine: _engine.Engine, host: object, owner: str) -> Host:
        entry = self.by_name.pop(host.strip(), None) if isinstance(host, str) else None
        if entry is None:
            raise ValueError(f"{host!r} is not in this {owner}")
        engine.remove_host(entry.engine_index)
        del self.by_index[entry.engine_index]
        return entry


class EngineOwner:
    """The lifetime shared by Pinger and Monitor: one engine, closed exactly once.

    An engine belongs to the process that opened it: in a forked child every use raises
    RuntimeError, and close() only releases the child's copies of the descriptors.
    """

    _engine: Engine | None

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

    def _live_engine(self) -> Engine:
        engine = self._engine
        if engine is None or engine.closed:
            raise ValueError(f"this {type(self).__name__} is closed")
        if engine.forked:
            raise RuntimeError(f"this {type(self).__name__} was made before this process "
                               f"forked: {_engine.FORKED_HELP}")
        return engine


class UsageParser(argparse.ArgumentParser):
    """An argument parser whose every error is one line on stderr and exit status 3."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")
