"""Pinger: rounds of probes over one engine, and the ping()/multiping() conveniences.

A Pinger owns one compiled Engine (one epoll descriptor, one timerfd, one ICMP
socket per address family) for its whole life, however many hosts and rounds
it sees. Every way out of a round (its end, a raising callback, Ctrl-C, stop())
leaves the engine with nothing scheduled and nothing outstanding; close(), or
leaving a ``with`` block, releases the descriptors.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from . import _engine
from ._resolve import Address, check_family, check_int, check_seconds, parse_literal, resolve
from ._results import HostStats, Result, Status

MIN_SIZE = _engine.TAG_LEN
MAX_SIZE = 65507  # the largest ICMP payload an IPv4 datagram can carry
MAX_TIMEOUT = 3600.0
MAX_INTERVAL = 86400.0

_ERROR_STATUS: dict[int, dict[int, Status]] = {
    socket.AF_INET: {3: Status.UNREACHABLE, 11: Status.TTL_EXCEEDED},
    socket.AF_INET6: {1: Status.UNREACHABLE, 2: Status.UNREACHABLE, 3: Status.TTL_EXCEEDED},
}

RecvCallback = Callable[[Result], object]
IdleCallback = Callable[[dict[str, Result]], object]


class _Stopped(Exception):
    """stop() was called while a round of run() was in flight."""


@dataclass(slots=True)
class _Host:
    name: str
    address: Address
    index: int


class Pinger:
    """Ping a set of hosts in rounds, over one engine and a fixed set of descriptors.

    Options are checked before any socket is opened: a wrong type raises
    TypeError, an out-of-range value ValueError. ``privileged=None`` uses raw
    sockets when permitted and unprivileged ICMP datagram sockets otherwise;
    True or False insists on one kind.

    ``on_recv(result)`` is called for each reply as it is matched;
    ``on_idle(results)`` after each round. An exception raised by either
    propagates to the caller of ping()/run(), after the engine is left clean.
    """

    def __init__(
        self,
        hosts: Iterable[str] = (),
        *,
        timeout: float = 1.0,
        size: int = 56,
        ttl: int | None = None,
        tos: int | None = None,
        source: str | None = None,
        interface: str | None = None,
        privileged: bool | None = None,
        family: int | None = None,
        on_recv: RecvCallback | None = None,
        on_idle: IdleCallback | None = None,
    ) -> None:
        self._engine: _engine.Engine | None = None
        self._timeout = check_seconds("timeout", timeout, maximum=MAX_TIMEOUT, allow_zero=False)
        check_int("size", size, minimum=MIN_SIZE, maximum=MAX_SIZE)
        check_int("ttl", ttl, minimum=1, maximum=255, optional=True)
        check_int("tos", tos, minimum=0, maximum=255, optional=True)
        if privileged is not None and not isinstance(privileged, bool):
            raise TypeError(f"privileged must be None or a bool, not {type(privileged).__name__}")
        self._family = check_family(family)
        source4, source6 = _check_source(source)
        _check_interface(interface)
        for name, callback in (("on_recv", on_recv), ("on_idle", on_idle)):
            if callback is not None and not callable(callback):
                raise TypeError(f"{name} must be callable or None")
        if isinstance(hosts, str):
            raise TypeError("hosts must be an iterable of host strings, not one str")
        self.on_recv = on_recv
        self.on_idle = on_idle
        self._hosts: dict[str, _Host] = {}
        self._by_index: dict[int, _Host] = {}
        self._duplicates: dict[str, int] = {}
        self._stop_requested = False
        self._in_run = False
        self._in_round = False
        self._engine = _engine.Engine(
            timeout=self._timeout, payload_size=size, ttl=ttl, tos=tos, privileged=privileged,
            source4=source4, source6=source6, interface=interface,
        )
        try:
            for host in hosts:
                self.add(host)
        except BaseException:
            self.close()
            raise

    # ---- lifetime ------------------------------------------------------------

    def close(self) -> None:
        """Release every descriptor. Idempotent."""
        if self._engine is not None:
            self._engine.close()

    @property
    def closed(self) -> bool:
        return self._engine is None or self._engine.closed

    def __enter__(self) -> Pinger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _live_engine(self) -> _engine.Engine:
        if self._engine is None or self._engine.closed:
            raise ValueError("this Pinger is closed")
        return self._engine

    # ---- hosts ---------------------------------------------------------------

    def add(self, host: str) -> str:
        """Add a host (name or literal); returns the address it resolved to.

        Adding a host that is already there does nothing.
        """
        engine = self._live_engine()
        address = resolve(host, self._family)
        name = host.strip()
        if name in self._hosts:
            return self._hosts[name].address.text
        index = engine.add_host(address.family, address.packed, address.scope_id)
        entry = _Host(name, address, index)
        self._hosts[name] = entry
        self._by_index[index] = entry
        self._duplicates[name] = 0
        return address.text

    def remove(self, host: str) -> None:
        """Remove a host; its probes in flight are forgotten."""
        engine = self._live_engine()
        entry = self._hosts.pop(host.strip() if isinstance(host, str) else host, None)
        if entry is None:
            raise ValueError(f"{host!r} is not in this Pinger")
        engine.remove_host(entry.index)
        del self._by_index[entry.index]
        del self._duplicates[entry.name]

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(self._hosts)

    @property
    def duplicates(self) -> dict[str, int]:
        """Duplicate replies seen per host since it was added."""
        return dict(self._duplicates)

    # ---- rounds --------------------------------------------------------------

    def ping(self) -> dict[str, Result]:
        """Probe every host once; return each host's Result, in the order hosts were added."""
        engine = self._live_engine()
        if self._in_round:
            raise RuntimeError("ping() cannot be called from within a round (e.g. a callback)")
        entries = list(self._hosts.values())
        results: dict[int, Result] = {}
        if not entries:
            return {}
        engine.reserve(len(entries))
        self._in_round = True
        try:
            engine.schedule_now([entry.index for entry in entries])
            while True:
                status, events = engine.run(until_idle=True)
                self._dispatch(events, results)
                if status == "idle":
                    break
                if status == "woken" and self._in_run and self._stop_requested:
                    raise _Stopped
        except BaseException:
            engine.cancel_all()
            raise
        finally:
            self._in_round = False
        return {entry.name: results[entry.index] for entry in entries}

    def run(self, count: int | None = None, interval: float = 1.0) -> Iterator[dict[str, Result]]:
        """Ping every host once per interval (seconds), count times or until stop().

        Yields each round's results. A round lasts until every host has
        answered or timed out; the next starts interval seconds after the
        previous one started, or at once if that has passed.
        """
        check_int("count", count, minimum=1, maximum=2**63 - 1, optional=True)
        seconds = check_seconds("interval", interval, maximum=MAX_INTERVAL, allow_zero=True)
        self._live_engine()
        return self._rounds(count, seconds)

    def _rounds(self, count: int | None, interval: float) -> Iterator[dict[str, Result]]:
        self._stop_requested = False
        self._in_run = True
        try:
            done = 0
            while count is None or done < count:
                started = time.monotonic()
                try:
                    results = self.ping()
                except _Stopped:
                    return
                if self.on_idle is not None:
                    self.on_idle(results)
                yield results
                done += 1
                if self._stop_requested or (count is not None and done >= count):
                    return
                if self._wait_until(started + interval):
                    return
        finally:
            self._in_run = False

    def _wait_until(self, deadline: float) -> bool:
        """Sleep in the engine until deadline (stray duplicates still counted); True if stopped."""
        engine = self._live_engine()
        while not self._stop_requested:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            status, events = engine.run(timeout=remaining, until_idle=False)
            self._dispatch(events, {})
            if status == "deadline":
                return False
        return True

    def stop(self) -> None:
        """End a run() loop promptly. Safe from another thread, a callback or a signal handler."""
        self._stop_requested = True
        if self._engine is not None:
            self._engine.wake()

    # ---- events ----------------------------------------------------------------

    def _dispatch(self, events: list[_engine.EventTuple], results: dict[int, Result]) -> None:
        on_recv = self.on_recv
        for kind, index, seq, rtt, ttl, icmp_type, icmp_code, router, errno, *_ in events:
            entry = self._by_index.get(index)
            if entry is None:
                continue
            if kind == _engine.DUPLICATE:
                self._duplicates[entry.name] += 1
                continue
            name, address = entry.name, entry.address.text
            if kind == _engine.REPLY:
                result = Result(name, address, Status.OK, rtt=rtt, ttl=ttl or None, seq=seq)
                results[index] = result
                if on_recv is not None:
                    on_recv(result)
            elif kind == _engine.TIMEOUT:
                results[index] = Result(name, address, Status.TIMEOUT, seq=seq)
            elif kind == _engine.ICMP_ERROR:
                status = _ERROR_STATUS[entry.address.family].get(icmp_type, Status.ICMP_ERROR)
                results[index] = Result(name, address, status, rtt=rtt, seq=seq,
                                        icmp_type=icmp_type, icmp_code=icmp_code, router=router)
            else:
                results[index] = Result(name, address, Status.SEND_ERROR, seq=seq, errno=errno)

    # ---- introspection ----------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """Packets the engine has sent, matched and dropped, by reason."""
        return self._live_engine().counters()

    def resources(self) -> dict[str, int]:
        """What the engine holds now: descriptors, armed timer, scheduled and outstanding probes.

        Still answers once closed (all zero), so a caller can check nothing is left.
        """
        if self._engine is None:
            raise ValueError("this Pinger was never opened")
        return self._engine.resources()


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


def _check_interface(interface: object) -> None:
    if interface is None:
        return
    if not isinstance(interface, str):
        raise TypeError(f"interface must be a str, not {type(interface).__name__}")
    try:
        socket.if_nametoindex(interface)
    except (OSError, ValueError):
        raise ValueError(f"no such network interface: {interface!r}") from None


class _Tally:
    """Accumulates rounds into per-host statistics."""

    def __init__(self) -> None:
        self.sent: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.rtts: dict[str, list[float]] = {}
        self.addresses: dict[str, str] = {}

    def add_round(self, results: dict[str, Result]) -> None:
        for name, result in results.items():
            self.addresses[name] = result.address
            self.rtts.setdefault(name, [])
            self.errors.setdefault(name, 0)
            self.sent[name] = self.sent.get(name, 0) + 1
            if result.rtt is not None and result.ok:
                self.rtts[name].append(result.rtt)
            elif result.status not in (Status.OK, Status.TIMEOUT):
                self.errors[name] += 1

    def stats(self, name: str, duplicates: int = 0) -> HostStats:
        rtts = self.rtts.get(name, [])
        return HostStats(name, self.addresses.get(name), sent=self.sent.get(name, 0),
                         received=len(rtts), duplicates=duplicates,
                         errors=self.errors.get(name, 0), rtts=tuple(rtts))


def multiping(
    hosts: Iterable[str],
    count: int = 1,
    interval: float = 1.0,
    timeout: float = 1.0,
    *,
    size: int = 56,
    ttl: int | None = None,
    tos: int | None = None,
    source: str | None = None,
    interface: str | None = None,
    privileged: bool | None = None,
    family: int | None = None,
) -> dict[str, HostStats]:
    """Ping many hosts count times, interval seconds apart; statistics per host.

    A host that cannot be resolved is reported in its HostStats (``error``)
    without failing the others.
    """
    if isinstance(hosts, str):
        raise TypeError("hosts must be an iterable of host strings, not one str")
    names = list(hosts)
    check_int("count", count, minimum=1, maximum=2**63 - 1)
    check_seconds("interval", interval, maximum=MAX_INTERVAL, allow_zero=True)
    unresolved: dict[str, str] = {}
    with Pinger(timeout=timeout, size=size, ttl=ttl, tos=tos, source=source,
                interface=interface, privileged=privileged, family=family) as pinger:
        for name in names:
            try:
                pinger.add(name)
            except (ValueError, TypeError, socket.gaierror) as error:
                unresolved[name] = str(error)
        tally = _Tally()
        if pinger.hosts:
            for results in pinger.run(count=count, interval=interval):
                tally.add_round(results)
        duplicates = pinger.duplicates
    stats: dict[str, HostStats] = {}
    for name in names:
        key = name.strip() if isinstance(name, str) else name
        if name in unresolved:
            stats[name] = HostStats(name, None, error=unresolved[name])
        else:
            stats[name] = tally.stats(key, duplicates.get(key, 0))
    return stats


def ping(
    host: str,
    count: int = 4,
    interval: float = 1.0,
    timeout: float = 1.0,
    **options: Any,
) -> HostStats:
    """Ping one host count times; statistics as multiping's.

    Unlike multiping, a host that cannot be resolved raises: ValueError or
    socket.gaierror, naming it. Keyword options are Pinger's.
    """
    resolve(host, check_family(options.get("family")))
    return multiping([host], count, interval, timeout, **options)[host]
