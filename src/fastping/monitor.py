"""Monitor: heartbeat every host once per period, for as long as it runs, at constant cost.

Each host is probed once per period on a phase of its own, so 1,000 hosts at
1 s are one probe a millisecond, never a burst of 1,000. The schedule is the
engine's heap behind its one timerfd; each host's health (up/down with
hysteresis) and rolling statistics over a fixed window live in C arrays, so a
round costs no Python at all unless a host changes state or the caller asked
for every reply. Nothing grows with uptime: not descriptors, not timers, not
memory.

Threads. The loop runs in the thread that calls run() or iterates events()
(or on a background thread after start(), or in an asyncio loop). Other
threads may add and remove hosts, read states and call stop() at any time:
their requests are queued, the loop is woken through the engine (no extra
descriptor), and they wait for the loop to carry them out, so the engine is
only ever touched by one thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar

from . import _engine
from ._common import (
    MAX_INTERVAL,
    EngineOptions,
    EngineOwner,
    check_timeout,
    default_timeout,
)
from ._monitor_hosts import Schedules, resolve_all
from ._monitor_options import check_buckets, default_slack
from ._monitor_probes import OnDemand
from ._monitor_records import EventKind, HostState, MonitorEvent, monitor_events
from ._monitor_requests import Request, new_future, serve
from ._resolve import check_callback, check_hosts, check_int, check_seconds
from ._results import Event, Health, Result, Tally

if TYPE_CHECKING:
    from concurrent.futures import Future

    from typing_extensions import Unpack

    from ._common import EngineKeywords
    from ._resolve import Address

__all__ = ["EventKind", "Health", "HostState", "Monitor", "MonitorEvent"]

T = TypeVar("T")

_REQUEST_TIMEOUT = 30.0
# Hosts add_many() inserts a request: the loop is held up a few milliseconds at a time, not
# the second 100,000 hosts take, and the requests' own cost is lost among the insertions.
_BATCH = 4096
_HOLDUP = 0.1  # seconds of replies the receive buffers hold beyond a wake-up's
EventCallback = Callable[[MonitorEvent], object]


class Monitor(EngineOwner):
    """Watch hosts continuously: per-host health, rolling statistics, events on change.

    ``down_after`` consecutive losses make a host down, ``up_after``
    consecutive replies make it up; until then it is unknown. ``window`` is
    how many recent probes the rolling statistics cover. With
    ``replies=True`` every probe outcome is an event too. ``buckets`` (RTT
    bounds in seconds, increasing) also keeps a cumulative histogram of each
    host's RTTs, for exporters (see histograms()). ``send_slack`` (seconds)
    lets probes due that close together share one wake-up: more slack, less
    CPU, lumpier sends; by default enough for 128 probes a wake-up, between a
    fortieth of the period (at most 25 ms) and an eighth (at most 125 ms), as
    the hosts come and go (see send_slack). ``on_event(event)``
    is called for each event; an exception from it ends the loop and
    propagates, after the engine is left clean. Engine options are Pinger's;
    ``timeout`` defaults to the smaller of 1 s and the period.
    """

    # Whether the engine keeps each host's RTT extremes since the last mark (16 bytes a host):
    # only a reader of intervals needs them (the command's -Q, in a subclass of its own).
    _spans = False

    def __init__(
        self,
        hosts: Iterable[str] = (),
        *,
        period: float = 1.0,
        timeout: float | None = None,
        down_after: int = 3,
        up_after: int = 1,
        window: int = 32,
        buckets: Sequence[float] = (),
        send_slack: float | None = None,
        replies: bool = False,
        on_event: EventCallback | None = None,
        **engine_options: Unpack[EngineKeywords],
    ) -> None:
        self._engine: _engine.Engine | None = None
        self._period = check_seconds("period", period, maximum=MAX_INTERVAL, allow_zero=False)
        options = EngineOptions.check(
            default_timeout(self._period) if timeout is None else timeout, engine_options,
            "Monitor")
        down = check_int("down_after", down_after, minimum=1, maximum=1_000_000)
        up = check_int("up_after", up_after, minimum=1, maximum=1_000_000)
        samples = check_int("window", window, minimum=1, maximum=65_536)
        self._buckets = check_buckets(buckets)
        self._fixed_slack = (None if send_slack is None else
                             check_seconds("send_slack", send_slack, maximum=self._period,
                                           allow_zero=True))
        if not isinstance(replies, bool):
            raise TypeError(f"replies must be a bool, not {type(replies).__name__}")
        check_callback("on_event", on_event)
        check_hosts(hosts)
        self.on_event = on_event
        self._family = options.family
        self._timeout = options.timeout
        self._schedules = Schedules(self._period, self._timeout)
        self._on_demand = OnDemand(self._call, lambda: self.send_slack)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when the loop ends
        self._requests: list[Request] = []
        self._loop_thread: int | None = None  # the thread running the loop, if any
        self._stop_requested = False
        self._close_requested = False
        self._background: threading.Thread | None = None
        self._engine = options.open_engine()
        try:
            assert down is not None and up is not None and samples is not None
            self._engine.track(down, up, samples, replies, self._buckets, self._spans)
            for host in hosts:
                self.add(host)
        except BaseException:
            self.close()
            raise

    # ---- lifetime ------------------------------------------------------------

    def close(self) -> None:
        """Stop the loop (waiting for it to end) and release every descriptor. Idempotent.

        From within the loop (a callback, a signal handler), the loop ends first and
        then closes. In a forked child, releases the child's copies of the descriptors.
        """
        engine = self._engine
        if engine is None or engine.closed:
            return
        if engine.forked:  # the loop, if any, runs in the parent: nothing to wait for
            engine.close()
            return
        self.stop()
        if self._loop_thread == threading.get_ident():
            self._close_requested = True
            return
        self.join()
        with self._lock:
            engine.close()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the loop is not running; True if it is not."""
        if self._forked:
            return True
        if self._background is not None and self._background.ident != threading.get_ident():
            self._background.join(timeout)
        with self._idle:
            if self._loop_thread == threading.get_ident():
                return False
            return self._idle.wait_for(lambda: self._loop_thread is None, timeout)

    @property
    def running(self) -> bool:
        return self._loop_thread is not None and not self._forked

    # ---- requests from any thread ----------------------------------------------

    def _call(self, work: Callable[[], T]) -> T:
        """Run work on the engine: at once if the loop is not running elsewhere, else in it."""
        self._live_engine()  # first: in a forked child, the lock may be held for ever
        with self._lock:
            self._live_engine()
            if self._loop_thread is None:
                return work()
            if self._loop_thread == threading.get_ident():
                direct = True
            else:
                direct = False
                future: Future[T] = new_future()
                self._requests.append((work, future))
        if direct:
            return work()
        self._live_engine().wake()
        return future.result(timeout=_REQUEST_TIMEOUT)

    def _serve_requests(self) -> None:
        with self._lock:
            requests, self._requests = self._requests, []
        serve(requests)

    # ---- hosts ---------------------------------------------------------------

    def add(self, host: str, *, period: float | None = None,
            timeout: float | None = None) -> str:
        """Add a host (from any thread, running or not); returns its address.

        ``period`` and ``timeout`` (seconds) are the host's own; by default the Monitor's,
        and a host with a period of its own waits at most that long. A host added while
        the monitor runs is probed from then on, on a phase of its own. Adding a host that
        is already there only sets its period and timeout anew.
        """
        own = self._schedules.own(period, timeout)
        resolved = [self._resolve(host)]  # before any lock: DNS may be slow
        [outcome] = self._insert_all(resolved, *own)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def add_many(self, hosts: Iterable[str], *, period: float | None = None,
                 timeout: float | None = None) -> dict[str, str | Exception]:
        """Add hosts as add() adds each, _BATCH hosts a request to a running loop (add() is
        one request a host, about 200 us); their phases are spread as add()'s are. Returns
        {host: its address, or the exception add() would have raised (a name that does not
        resolve, say)}: a host that cannot be added is left out, the others are added."""
        check_hosts(hosts)
        own = self._schedules.own(period, timeout)
        resolved, outcomes = resolve_all(hosts, self._resolve)  # before any lock
        names = list(resolved)
        for start in range(0, len(names), _BATCH):
            batch = names[start:start + _BATCH]
            inserted = self._insert_all([resolved[host] for host in batch], *own)
            outcomes.update(zip(batch, inserted, strict=True))
        return outcomes

    def _insert_all(self, resolved: list[tuple[str, Address]], own_period: float | None,
                    own_timeout: float | None) -> list[str | Exception]:
        """Inserts resolved hosts with their own period and timeout, in one request."""
        def insert() -> list[str | Exception]:
            engine = self._live_engine()
            running = self._loop_thread is not None
            outcomes = self._schedules.insert(
                engine, lambda name, address: self._insert(engine, name, address, own_timeout),
                resolved, own_period, running)
            if running:
                self._apply_slack()
            return outcomes

        return self._call(insert)

    def probe(self, host: str, *, count: int = 1, interval: float = 0.0,
              timeout: float | None = None) -> list[Result]:
        """Probe a host count times, one after the other (each at least interval after the
        last one's outcome, at most the send slack more), on this running monitor's engine,
        apart from its heartbeats: its Results, in order. From any thread but the loop's.
        The host need not be one of the monitor's; if it is, its state is left alone.
        ``timeout`` is the Monitor's by default."""
        if self._owns_loop():
            raise RuntimeError("probe() from the monitor's own loop would wait for itself")
        future = self.submit_probe(host, count=count, interval=interval, timeout=timeout)
        try:
            each = interval + self.send_slack + (timeout or self._timeout)
            return future.result(count * each + _REQUEST_TIMEOUT)
        finally:
            future.cancel()  # nothing once it is done; else its probe is forgotten

    def submit_probe(self, host: str, *, count: int = 1, interval: float = 0.0,
                     timeout: float | None = None) -> Future[list[Result]]:
        """probe() without the wait: the future of its Results. Cancelling the future (from
        any thread but the loop's) forgets the probe, so a caller may give up at any time."""
        checked = check_int("count", count, minimum=1, maximum=1_000_000)
        assert checked is not None
        gap = check_seconds("interval", interval, maximum=MAX_INTERVAL, allow_zero=True)
        wait = self._timeout if timeout is None else check_timeout(timeout)
        name, address = self._resolve(host)
        future: Future[list[Result]] = new_future()

        def begin() -> None:
            if not self._loop_thread:
                raise RuntimeError("probe() needs the Monitor running (start())")
            self._on_demand.begin(self._live_engine(), name, address, checked, gap, wait, future)

        self._call(begin)
        return future

    def remove(self, host: str) -> None:
        """Remove a host (from any thread); its pending probes are forgotten."""
        def delete() -> None:
            self._schedules.set_own(self._delete(host), None)
            if self._loop_thread is not None:
                self._apply_slack()

        self._call(delete)

    @property
    def send_slack(self) -> float:
        """The send slack (seconds) for the hosts there are now: as given, or the default."""
        if self._fixed_slack is not None:
            return self._fixed_slack
        hosts = 0 if self._engine is None else len(self._engine.hosts)
        return default_slack(self._schedules.shortest, hosts)

    def _apply_slack(self) -> None:
        """The send slack for the hosts there are now, and receive buffers for a wake-up's
        replies and _HOLDUP seconds more: by rate, not hosts (one host at 20,000 probes a
        second had room for a few milliseconds)."""
        engine = self._live_engine()
        slack = self.send_slack
        engine.set_send_slack(slack)
        rate = self._schedules.rate(len(engine.hosts))
        engine.reserve(int(rate * (slack + _HOLDUP)) + 1024)

    def _read_host(self, host: str, read: Callable[[_engine.Engine, int], T]) -> T:
        """read(engine, index) of one host, on the engine's thread (ValueError if absent)."""
        def work() -> T:
            engine = self._live_engine()
            return read(engine, self._index(engine, host)[1])

        return self._call(work)

    def state(self, host: str) -> HostState:
        """One host's live state (from any thread)."""
        return self._read_host(host, _engine.Engine.track_summary)

    def states(self) -> dict[str, HostState]:
        """Every host's live state (from any thread), in the order hosts were added."""
        def read() -> dict[str, HostState]:
            engine = self._live_engine()
            return {name: engine.track_summary(index) for name, index in engine.hosts.items()}

        return self._call(read)

    def tally(self, host: str) -> Tally:
        """One host's counts since it was added (from any thread): see tallies()."""
        return self._read_host(host, _engine.Engine.track_tally)

    def tallies(self) -> dict[str, Tally]:
        """Every host's counts since it was added (from any thread), in the order hosts were
        added: sent, received, errors, RTT sums and extremes (cheaper than states())."""
        return self._call(self._read_tallies)

    def histograms(self) -> dict[str, tuple[tuple[float, ...], tuple[int, ...], float, int]]:
        """Every host's RTT histogram since it was added (from any thread).

        {host: (bounds, cumulative counts per bound, sum of RTTs in seconds,
        count of replies)}; empty unless the Monitor was made with buckets.
        """
        if not self._buckets:
            return {}

        def read() -> dict[str, tuple[tuple[float, ...], tuple[int, ...], float, int]]:
            engine = self._live_engine()
            return {name: (self._buckets, *engine.track_histogram(index))
                    for name, index in engine.hosts.items()}

        return self._call(read)

    def _read_engine(self, read: Callable[[_engine.Engine], T]) -> T:
        """read(engine) on the engine's thread (from any thread): for the exporter's scrapes,
        which copy what they need of it at once and render it away from that thread."""
        return self._call(lambda: read(self._live_engine()))

    def counters(self) -> dict[str, int]:
        """Packets the engine has sent, matched and dropped, by reason (from any thread)."""
        return self._call(lambda: self._live_engine().counters()._asdict())

    def resources(self) -> dict[str, int]:
        """What the engine holds now (from any thread); all zero once closed."""
        if self._engine is None:
            raise ValueError("this Monitor was never opened")
        engine = self._engine
        resources = self._call(engine.resources) if not engine.closed else engine.resources()
        return resources._asdict()

    # ---- the loop ----------------------------------------------------------------

    def _begin(self) -> None:
        """Claim the engine for this thread and spread every host over one period.

        Whatever interrupts it, the caller's finally gives the engine back (_end).
        """
        with self._lock:
            self._live_engine()
            if self._loop_thread is not None:
                raise RuntimeError("this Monitor is already running")
            self._loop_thread = threading.get_ident()
            self._stop_requested = False
        engine = self._live_engine()
        hosts = list(engine.hosts.items())
        for position, (name, index) in enumerate(hosts):
            self._schedules.schedule(engine, name, index, position / len(hosts))
        self._schedules.added = 0
        self._apply_slack()

    def _end(self) -> None:
        """Forget everything in flight and hand the engine back; serve late requests."""
        with self._idle:
            engine = self._engine
            try:
                if engine is not None and not engine.closed:
                    self._on_demand.finish_all(engine, RuntimeError("the Monitor stopped"))
                    engine.cancel_all()
                requests, self._requests = self._requests, []
                # Nobody else touches the engine while we hold the lock.
                serve(requests)
            finally:
                self._loop_thread = None
                if self._close_requested and engine is not None:
                    engine.close()
                self._idle.notify_all()

    def _owns_loop(self) -> bool:
        return self._loop_thread == threading.get_ident()

    def _turn(self, timeout: float | None) -> list[Event]:
        """One turn of the loop: serve requests, run the engine; its events, those of
        on-demand probes taken out."""
        self._serve_requests()
        if self._stop_requested:
            return []
        engine = self._live_engine()
        status, events = engine.run(timeout=timeout, until_idle=False, prompt=True)
        if status == "closed":
            self._stop_requested = True
        return self._on_demand.take(engine, events)

    def _step(self, timeout: float | None) -> list[MonitorEvent]:
        """One turn of the loop, its engine's events turned into ours."""
        events = self._turn(timeout)
        if not events:
            return []
        converted = monitor_events(events, time.time())
        if self.on_event is not None:
            for monitor_event in converted:
                self.on_event(monitor_event)
        return converted

    def events(self) -> Iterator[MonitorEvent]:
        """Run the monitor in this thread, yielding events as they happen, until stop().

        Leaving the loop early (break) stops the monitor.
        """
        return self._events(None)

    def _events(self, began: Future[None] | None) -> Generator[MonitorEvent, None, None]:
        turns = self._turns(began)
        try:
            for _ in turns:
                yield from self._step(None)
        finally:
            turns.close()

    def _turns(self, began: Future[None] | None) -> Generator[None, None, None]:
        """Claims the loop and yields once for each turn the caller takes (_turn or _step),
        until stop(); the loop is given back however it ends."""
        if self._owns_loop():
            raise RuntimeError("this Monitor is already running")
        # _begin inside the try: an interrupt at any instant after it claimed the loop
        # still reaches the finally, which is the one place that gives it back.
        try:
            self._begin()
            if began is not None:
                began.set_result(None)
            while not self._stop_requested:
                yield
        finally:
            if self._owns_loop():
                self._end()

    def run(self) -> None:
        """Run the monitor in this thread until stop() (from a callback, thread or signal)."""
        events = self._events(None)
        try:
            for _ in events:
                pass
        finally:
            events.close()

    def start(self) -> None:
        """Run the monitor on a background thread; stop() or close() ends it."""
        self._live_engine()
        if self._loop_thread is not None:
            raise RuntimeError("this Monitor is already running")
        began: Future[None] = new_future()

        def main() -> None:
            try:
                for _ in self._events(began):
                    pass
            except BaseException as error:
                if began.done():
                    raise
                began.set_exception(error)

        self._background = threading.Thread(target=main, name="fastping-monitor", daemon=True)
        self._background.start()
        began.result(_REQUEST_TIMEOUT)

    def stop(self) -> None:
        """End the loop within one tick. Safe from any thread, a callback or a signal handler."""
        self._stop_requested = True
        engine = self._engine
        if engine is not None:
            engine.wake()

    def __aiter__(self) -> AsyncIterator[MonitorEvent]:
        """Run the monitor in the running asyncio loop, with no thread: ``async for``.

        The engine's epoll descriptor is registered with the loop; stop(),
        leaving the loop (break), an exception or cancelling the task stops
        the monitor and leaves nothing open.
        """
        from ._monitor_async import AsyncEvents  # only asyncio users pay its import

        return AsyncEvents(self)
