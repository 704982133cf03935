"""Pinger: rounds of probes over one engine, and the ping()/multiping() conveniences.

A Pinger owns one compiled Engine (one epoll descriptor, one timerfd, one ICMP
socket per address family) for its whole life, however many hosts and rounds
it sees. Every way out of a round (its end, a raising callback, Ctrl-C, stop())
leaves the engine with nothing scheduled and nothing outstanding; close(), or
leaving a ``with`` block, releases the descriptors.
"""

from __future__ import annotations

import _socket as socket  # not socket.py: see _resolve
import math
import time
from array import array
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping

from . import _engine
from ._common import (
    MAX_INTERVAL,
    EngineOptions,
    EngineOwner,
    check_timeout,
)
from ._resolve import check_callback, check_family, check_hosts, check_int, check_seconds, resolve
from ._results import Result, Tally
from ._typing_lite import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeVar

    from typing_extensions import Unpack

    from ._common import EngineKeywords
    from ._stats import HostStats

    _Round = TypeVar("_Round")  # what a round of run() yields

# up_after and down_after for an engine that keeps counts but no health: never reached
_NEVER = 2**32 - 1
RecvCallback = Callable[[Result], object]
IdleCallback = Callable[[dict[str, Result]], object]


class _Stopped(Exception):
    """stop() was called while a round of run() was in flight."""


class _ClosedDuringRound(ValueError):
    """close() was called while a round was in flight: run() ends, ping() raises this."""


class Pinger(EngineOwner):
    """Ping a set of hosts in rounds, over one engine and a fixed set of descriptors.

    Options are checked before any socket is opened: a wrong type raises
    TypeError, an out-of-range value ValueError. ``gap`` is the least time
    (seconds) between two sends; 0, the default, sends as fast as is safe.
    ``privileged=None`` uses raw sockets when permitted and unprivileged ICMP
    datagram sockets otherwise; True or False insists on one kind.

    ``on_recv(result)`` is called for each reply as it is matched;
    ``on_idle(results)`` after each round. An exception raised by either
    propagates to the caller of ping()/run(), after the engine is left clean.
    """

    def __init__(
        self,
        hosts: Iterable[str] = (),
        *,
        timeout: float = 1.0,
        on_recv: RecvCallback | None = None,
        on_idle: IdleCallback | None = None,
        **engine_options: Unpack[EngineKeywords],
    ) -> None:
        self._engine: _engine.Engine | None = None
        options = EngineOptions.check(timeout, engine_options, "Pinger")
        check_callback("on_recv", on_recv)
        check_callback("on_idle", on_idle)
        check_hosts(hosts)
        self.on_recv = on_recv
        self.on_idle = on_idle
        self._family = options.family
        self._timeout = options.timeout
        self._stop_requested = False
        self._in_run = False
        self._in_round = False
        # While aping() awaits: wakes it, from any thread (a closed descriptor never would).
        self._wake_round: Callable[[], object] | None = None
        self._engine = options.open_engine()
        try:
            # Every outcome is an event and health never changes: the engine keeps only each
            # host's counts (tally()), with their extremes since the last mark for intervals.
            self._engine.track(_NEVER, _NEVER, 0, True, spans=True)
            for host in hosts:
                self.add(host)
        except BaseException:
            self.close()
            raise

    # ---- hosts ---------------------------------------------------------------

    def add(self, host: str, *, timeout: float | None = None) -> str:
        """Add a host (name or literal); returns the address it resolved to.

        ``timeout`` (seconds) is the host's own, for every round; by default it waits as
        long as the round's. Adding a host that is already there changes only its timeout.
        """
        engine = self._live_engine()
        own = None if timeout is None else check_timeout(timeout)
        name, address = self._resolve(host)
        return engine.address_text(self._insert(engine, name, address, own))

    def _add_ipv4_literals(self, names: list[str], start: int, stop: int) -> int:
        """add() for names[start:stop], in one call, for as long as each is an IPv4 address
        in dotted-quad form (its own address: nothing to resolve or strip); where it stopped,
        the first other name's position (for add()) or stop. The command's bulk path: 10,000
        hosts from -f or -g cost a tenth of what 10,000 add() calls do."""
        return self._live_engine().add_ipv4_literals(names, start, stop)

    def remove(self, host: str) -> None:
        """Remove a host; its probes in flight are forgotten."""
        self._delete(host)

    @property
    def duplicates(self) -> dict[str, int]:
        """Duplicate replies seen per host since it was added."""
        return {name: tally.duplicates for name, tally in self.tallies().items()}

    def tally(self, host: str) -> Tally:
        """A host's counts since it was added, as the engine keeps them: probes sent,
        replies, errors, duplicates, RTT sums and extremes (what HostStats are made of)."""
        engine = self._live_engine()
        return engine.track_tally(self._index(engine, host)[1])

    def tallies(self, *, mark: bool = False) -> dict[str, Tally]:
        """Every host's tally(), in the order hosts were added. With ``mark``, an interval
        begins: the next tallies' ``span_min``/``span_max`` cover the RTTs from now on (the
        interval's counts are the differences, Tally.since)."""
        tallies = self._read_tallies()
        if mark:
            self._live_engine().track_mark()
        return tallies

    def _answered(self) -> int:
        """How many hosts have had a reply since they were added (tallies() without a Tally
        made a host: the command's exit status)."""
        return self._live_engine().track_answered()

    # ---- rounds --------------------------------------------------------------

    def ping(self, *, timeout: float | None = None) -> dict[str, Result]:
        """Probe every host once; return each host's Result, in the order hosts were added.

        ``timeout`` (seconds) is how long this round's probes wait, but for hosts with a
        timeout of their own; by default the Pinger's. Raises ValueError if the Pinger is
        closed during the round.
        """
        engine, names, indexes = self._begin_round(timeout)
        results: dict[int, Result] = {}
        self._play_round(engine, indexes, timeout, results, None)
        return self._round_results(names, indexes, results)

    def _ping_rtts(self, *, timeout: float | None = None) -> array[float]:
        """ping(), each host's RTT alone (seconds; NaN where no reply came), at its index
        in the engine (_indexes()): the command's quiet -C, with no Result made a host."""
        engine, _, indexes = self._begin_round(timeout)
        # (Room for every index the engine's table has: cheaper than the largest one's.)
        rtts = array("d", [math.nan]) * engine.resources().host_capacity
        self._play_round(engine, indexes, timeout, None, rtts)
        return rtts

    def _indexes(self) -> Mapping[str, int]:
        """Each host's index in the engine (where _ping_rtts() keeps its RTT), by name."""
        return self._live_engine().hosts

    def _play_round(self, engine: _engine.Engine, indexes: list[int], timeout: float | None,
                    results: dict[int, Result] | None, rtts: array[float] | None) -> None:
        """A round to these hosts, its outcomes as Results into results or as RTTs into
        rtts (see Engine.run)."""
        replies: list[Result] | None = [] if self.on_recv is not None else None
        self._in_round = True
        try:
            self._schedule_round(engine, indexes, timeout)
            while indexes:
                status, _ = engine.run(until_idle=True, prompt=replies is not None,
                                       results=results, replies=replies, rtts=rtts)
                self._dispatch(replies)
                if status == "idle":
                    break
                if engine.closed:  # by a signal handler, another thread or on_recv
                    raise _ClosedDuringRound("this Pinger was closed during the round")
                if status == "woken" and self._in_run and self._stop_requested:
                    raise _Stopped
        except BaseException:
            self._abandon_round(engine)
            raise
        finally:
            self._in_round = False

    async def aping(self, *, timeout: float | None = None) -> dict[str, Result]:
        """ping() for asyncio: driven from the running loop through the engine's descriptor.

        No thread is used. Cancelling the task abandons the round and leaves
        the engine clean.
        """
        import asyncio  # here, not at the top: only asyncio users pay its import

        loop = asyncio.get_running_loop()
        engine, names, indexes = self._begin_round(timeout)
        results: dict[int, Result] = {}
        replies: list[Result] | None = [] if self.on_recv is not None else None
        ready = asyncio.Event()
        descriptor = -1
        self._in_round = True
        try:
            self._schedule_round(engine, indexes, timeout)
            descriptor = engine.fileno()
            loop.add_reader(descriptor, ready.set)
            self._wake_round = lambda: loop.call_soon_threadsafe(ready.set)
            while indexes:
                status, _ = engine.run(timeout=0, until_idle=True, results=results,
                                            replies=replies)
                self._dispatch(replies)
                if status == "idle":
                    break
                if status == "full":
                    await asyncio.sleep(0)  # a batch at a time: other tasks run between
                else:
                    ready.clear()
                    await ready.wait()
                if engine.closed:  # by on_recv, another task or thread (close() sets ready)
                    raise _ClosedDuringRound("this Pinger was closed during the round")
        except BaseException:
            self._abandon_round(engine)
            raise
        finally:
            self._wake_round = None
            if descriptor >= 0:
                loop.remove_reader(descriptor)
            self._in_round = False
        return self._round_results(names, indexes, results)

    def _round_results(self, names: list[str], indexes: list[int],
                       results: dict[int, Result]) -> dict[str, Result]:
        """By name, in the order added; hosts removed during the round (by a callback) left out."""
        hosts = self._engine.hosts if self._engine is not None else {}
        return {name: results[index] for name, index in zip(names, indexes, strict=True)
                if hosts.get(name) == index and index in results}

    def _begin_round(self, timeout: float | None) -> tuple[_engine.Engine, list[str], list[int]]:
        """The engine and the round's hosts, by name and index (two lists: no tuple a host).
        The caller then claims the round (_in_round) right before its try, so that no
        interrupt can land between claim and release."""
        engine = self._live_engine()
        if self._in_round:
            raise RuntimeError("ping() cannot be called from within a round (e.g. a callback)")
        if timeout is not None:
            check_timeout(timeout)
        return engine, list(engine.hosts), list(engine.hosts.values())

    def _schedule_round(self, engine: _engine.Engine, indexes: list[int],
                        timeout: float | None) -> None:
        """One probe to every host, as soon as the engine safely can, with the round's timeout
        (the engine's for the sends of this round only: each round sets its own)."""
        if indexes:
            engine.set_timeout(self._timeout if timeout is None else timeout)
            engine.reserve(len(indexes))
            engine.schedule_now(indexes)

    @staticmethod
    def _abandon_round(engine: _engine.Engine) -> None:
        """Whatever ended the round (an exception, Ctrl-C, stop, close): nothing stays in flight."""
        if not engine.closed:
            engine.cancel_all()

    def run(self, count: int | None = None, interval: float = 1.0, *,
            timeout: float | None = None) -> Iterator[dict[str, Result]]:
        """Ping every host once per interval (seconds), count times or until stop().

        Yields each round's results. A round lasts until every host has
        answered or timed out (after ``timeout``, as in ping()); the next starts
        interval seconds after the previous one started, or at once if that has passed.
        """
        seconds = self._check_run(count, interval, timeout)

        def play() -> dict[str, Result]:
            results = self.ping(timeout=timeout)
            if self.on_idle is not None:
                self.on_idle(results)
            return results

        return self._rounds(count, seconds, play)

    def _run_rtts(self, count: int | None, interval: float) -> Iterator[array[float]]:
        """run(), each round as _ping_rtts() gives it (on_idle is not called)."""
        return self._rounds(count, self._check_run(count, interval, None), self._ping_rtts)

    def _check_run(self, count: int | None, interval: float, timeout: float | None) -> float:
        """run()'s arguments checked (the interval in seconds), on a live engine."""
        check_int("count", count, minimum=1, maximum=2**63 - 1, optional=True)
        seconds = check_seconds("interval", interval, maximum=MAX_INTERVAL, allow_zero=True)
        if timeout is not None:
            check_timeout(timeout)
        self._live_engine()
        return seconds

    def _rounds(self, count: int | None, interval: float,
                play: Callable[[], _Round]) -> Iterator[_Round]:
        self._stop_requested = False
        self._in_run = True
        try:
            done = 0
            while count is None or done < count:
                started = time.monotonic()
                try:
                    results = play()
                except (_Stopped, _ClosedDuringRound):
                    return
                yield results
                done += 1
                # (Closed by the caller's loop body, or by on_idle: the run just ends.)
                if self._stop_requested or self.closed or (count is not None and done >= count):
                    return
                if self._wait_until(started + interval):
                    return
        finally:
            self._in_run = False

    def _wait_until(self, deadline: float) -> bool:
        """Sleep in the engine until deadline (stray duplicates still counted); True if stopped."""
        engine = self._live_engine()
        while not (self._stop_requested or engine.closed):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            status, _ = engine.run(timeout=remaining, until_idle=False, results={})
            if status == "deadline":
                return False
        return True

    def close(self) -> None:
        """Release every descriptor. Idempotent.

        During a round (from a signal handler, a callback, another thread or task), the
        round ends at once and the engine is closed as its loop returns: run() ends,
        ping() and aping() raise ValueError.
        """
        super().close()
        wake_round = self._wake_round
        if wake_round is not None:
            import contextlib  # here: only aping() sets a waker, and a command starts faster

            with contextlib.suppress(RuntimeError):  # its event loop is already closed
                wake_round()

    def stop(self) -> None:
        """End a run() loop promptly. Safe from another thread, a callback or a signal handler."""
        self._stop_requested = True
        if self._engine is not None:
            self._engine.wake()

    # ---- events ----------------------------------------------------------------

    def _dispatch(self, replies: list[Result] | None) -> None:
        """Hands on_recv the replies (taking them off the list)."""
        if replies and self.on_recv is not None:
            on_recv = self.on_recv
            for result in replies:
                on_recv(result)
            replies.clear()

    # ---- introspection ----------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """Packets the engine has sent, matched and dropped, by reason."""
        return self._live_engine().counters()._asdict()

    def resources(self) -> dict[str, int]:
        """What the engine holds now: descriptors, armed timer, scheduled and outstanding probes.

        Still answers once closed (all zero), so a caller can check nothing is left.
        """
        if self._engine is None:
            raise ValueError("this Pinger was never opened")
        return self._engine.resources()._asdict()


class _ManyHosts:
    """What multiping and async_multiping share: checked arguments, a Pinger over every
    host that resolves (the others noted), and each host's RTTs, round by round."""

    def __init__(self, hosts: Iterable[str], count: int, interval: float, timeout: float,
                 options: EngineKeywords) -> None:
        check_hosts(hosts)
        self.names = list(hosts)
        check_int("count", count, minimum=1, maximum=2**63 - 1)
        check_seconds("interval", interval, maximum=MAX_INTERVAL, allow_zero=True)
        self.unresolved: dict[str, str] = {}
        self.rtts: dict[str, list[float]] = {}
        self.pinger = Pinger(timeout=timeout, **options)
        for name in self.names:
            try:
                self.pinger.add(name)
            except (ValueError, TypeError, socket.gaierror) as error:
                self.unresolved[name] = str(error)

    def add_round(self, results: dict[str, Result]) -> None:
        rtts = self.rtts
        for name, result in results.items():
            if result.ok and result.rtt is not None:
                rtts.setdefault(name, []).append(result.rtt)

    def stats(self) -> dict[str, HostStats]:
        """Each host's HostStats: its counts as the engine kept them, and its RTTs."""
        from ._stats import HostStats  # see _stats: only these conveniences need it

        engine = self.pinger._live_engine()
        tallies = self.pinger.tallies()
        stats: dict[str, HostStats] = {}
        for name in self.names:
            if name in self.unresolved:
                stats[name] = HostStats(name, None, error=self.unresolved[name])
            else:
                key = name.strip()
                address = engine.address_text(engine.hosts[key])
                stats[name] = HostStats.of(key, address, tallies[key],
                                           tuple(self.rtts.get(key, ())))
        return stats


def multiping(
    hosts: Iterable[str],
    count: int = 1,
    interval: float = 1.0,
    timeout: float = 1.0,
    **options: Unpack[EngineKeywords],
) -> dict[str, HostStats]:
    """Ping many hosts count times, interval seconds apart; statistics per host.

    A host that cannot be resolved is reported in its HostStats (``error``)
    without failing the others. Keyword options are the engine's (EngineKeywords:
    size, ttl, tos, source, interface, privileged, family, gap), as Pinger's.
    """
    job = _ManyHosts(hosts, count, interval, timeout, options)
    with job.pinger as pinger:
        if pinger.hosts:
            for results in pinger.run(count=count, interval=interval):
                job.add_round(results)
        return job.stats()


def ping(
    host: str,
    count: int = 4,
    interval: float = 1.0,
    timeout: float = 1.0,
    **options: Unpack[EngineKeywords],
) -> HostStats:
    """Ping one host count times; statistics as multiping's.

    Unlike multiping, a host that cannot be resolved raises: ValueError or
    socket.gaierror, naming it. Keyword options are multiping's.
    """
    resolve(host, check_family(options.get("family")))
    return multiping([host], count, interval, timeout, **options)[host]


async def async_rounds(pinger: Pinger, count: int,
                       interval: float) -> AsyncIterator[dict[str, Result]]:
    """count rounds of aping(), started interval seconds apart (none without hosts): run()
    for the async conveniences, here and in fastping.icmplib."""
    import asyncio  # here, not at the top: only asyncio users pay its import

    loop = asyncio.get_running_loop()
    for number in range(count if pinger.hosts else 0):
        started = loop.time()
        yield await pinger.aping()
        if number + 1 < count:
            await asyncio.sleep(max(0.0, started + interval - loop.time()))


async def async_multiping(hosts: Iterable[str], count: int = 1, interval: float = 1.0,
                          timeout: float = 1.0,
                          **options: Unpack[EngineKeywords]) -> dict[str, HostStats]:
    """multiping() for asyncio, with no thread; cancelling it leaves nothing open."""
    job = _ManyHosts(hosts, count, interval, timeout, options)
    with job.pinger as pinger:
        async for results in async_rounds(pinger, count, interval):
            job.add_round(results)
        return job.stats()


async def async_ping(host: str, count: int = 4, interval: float = 1.0, timeout: float = 1.0,
                     **options: Unpack[EngineKeywords]) -> HostStats:
    """ping() for asyncio: raises as ping() does if the host cannot be resolved."""
    resolve(host, check_family(options.get("family")))
    return (await async_multiping([host], count, interval, timeout, **options))[host]
