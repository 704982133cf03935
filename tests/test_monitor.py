"""Monitor: heartbeats over real loopback sockets, health with hysteresis, threads, stopping."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from conftest import loopback_hosts, open_fds, run_isolated

import fastping
from fastping import EventKind, Health, Monitor, MonitorEvent

MakeMonitor = Callable[..., Monitor]
# Python 3.11's socket module lacks the constant; this is its value on Linux.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


@pytest.fixture
def make_monitor(fd_baseline: int) -> Iterator[MakeMonitor]:
    """A Monitor factory; every Monitor is closed after the test and descriptors checked."""
    made: list[Monitor] = []

    def make(*args: object, **kwargs: object) -> Monitor:
        monitor = Monitor(*args, **kwargs)  # type: ignore[arg-type]
        made.append(monitor)
        return monitor

    yield make
    for monitor in made:
        monitor.close()
        assert not monitor.running
        assert monitor.resources()["descriptors"] == 0


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def assert_at_rest(monitor: Monitor) -> None:
    resources = monitor.resources()
    assert (resources["scheduled"], resources["outstanding"], resources["timer_armed"]) == (0, 0, 0)


def test_hosts_come_up_with_statistics(make_monitor: MakeMonitor) -> None:
    hosts = loopback_hosts(20)
    monitor = make_monitor(hosts, period=0.05)
    monitor.start()
    assert monitor.running
    wait_for(lambda: all(s.health is Health.UP and s.received >= 5
                         for s in monitor.states().values()))
    states = monitor.states()
    assert list(states) == hosts
    for host, state in states.items():
        assert state.host == host and state.address == host
        assert state.sent >= state.received >= 5 and state.lost == 0
        assert state.loss == 0.0 and state.window_replies == state.window_probes
        assert state.last_rtt is not None and 0 < state.last_rtt < 0.1
        assert state.min is not None and state.avg is not None and state.max is not None
        assert state.p50 is not None and state.p90 is not None and state.p99 is not None
        assert 0 < state.min <= state.p50 <= state.p90 <= state.p99 <= state.max
        assert state.min <= state.avg <= state.max
        assert state.stddev is not None and state.stddev >= 0 and state.jitter >= 0
        assert state.since <= time.time()
    resources = monitor.resources()
    # Still one epoll, one timerfd, one IPv4 socket; one heap entry per host.
    assert resources["descriptors"] == 3
    assert resources["scheduled"] == 20
    monitor.stop()
    assert monitor.join(timeout=5)
    assert_at_rest(monitor)


def test_engine_records_are_what_the_api_hands_on() -> None:
    # counters() and resources() are the engine's records as dicts.
    from fastping._results import Counters, Resources
    with Monitor(["127.0.0.1"], period=0.05) as monitor:
        assert list(monitor.counters()) == list(Counters._fields)
        assert list(monitor.resources()) == list(Resources._fields)
    assert monitor.resources() == dict.fromkeys(Resources._fields, 0)


def test_window_bounds_the_statistics(make_monitor: MakeMonitor) -> None:
    monitor = make_monitor(["127.0.0.1"], period=0.01, window=4)
    monitor.start()
    wait_for(lambda: monitor.state("127.0.0.1").sent >= 12)
    state = monitor.state("127.0.0.1")
    assert state.window_probes == 4
    assert state.sent >= 12 and state.received >= 11


def request_send_times(sniffer: socket.socket, ident: int, seconds: float) -> list[float]:
    """Kernel timestamps of our echo requests seen on loopback for the given time."""
    times = []
    deadline = time.monotonic() + seconds
    sniffer.settimeout(0.05)
    while time.monotonic() < deadline:
        try:
            packet, ancillary, _, _ = sniffer.recvmsg(2048, 64)
        except TimeoutError:
            continue
        header = (packet[0] & 0x0F) * 4
        if packet[header] != 8 or int.from_bytes(packet[header + 4:header + 6], "big") != ident:
            continue
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds_part, nanoseconds = struct.unpack("qq", data[:16])
                times.append(seconds_part + nanoseconds / 1e9)
    return times


def test_sends_are_spread_evenly_over_the_period(make_monitor: MakeMonitor) -> None:
    hosts, period = 200, 0.2
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sniffer:
        sniffer.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sniffer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        monitor = make_monitor(loopback_hosts(hosts), period=period)
        monitor.start()
        ident = monitor._call(lambda: monitor._live_engine().identifier(socket.AF_INET))
        times = request_send_times(sniffer, ident, 3 * period)
        monitor.stop()
    # 200 hosts in 0.2 s: 128 a wake-up would be two clumps a period; at most an eighth of
    # the period apart, 25 each, is as lumpy as the default gets.
    slack = monitor.send_slack
    assert slack == pytest.approx(period / 8)
    # Skip the first period (start-up), then look at two whole periods.
    times = sorted(t for t in times if t >= times[0] + period)
    assert len(times) >= hosts
    window = times[: 2 * hosts]
    gaps = [b - a for a, b in itertools.pairwise(window)]
    # Evenly: a clump of hosts * slack / period probes every slack. Never a bigger burst,
    # never a longer silence. A wake-up up to `late` behind (a loaded or sanitized run)
    # stretches a silence by that much, and sends that much more of the next clump with it.
    late = 0.01
    per_clump = hosts * slack / period
    busiest = max(sum(1 for t in window if start <= t < start + slack / 2) for start in window)
    assert busiest <= per_clump + hosts * late / period, (
        f"{busiest} probes within {slack * 500:.1f} ms")
    assert max(gaps) < slack + late, f"a {max(gaps) * 1000:.1f} ms gap"
    clumps = 1 + sum(gap > slack / 2 for gap in gaps)
    assert clumps >= 2 * 8 - 2, f"{clumps} clumps in two periods"


@pytest.mark.parametrize(("hosts", "period", "slack", "slack_for_half"), [
    (1_000, 1.0, 0.125, 0.125),  # 8 clumps of 125 a second: at most an eighth, 125 ms
    (5_000, 1.0, 0.0256, 0.0512),  # 128 a wake-up
    (10_000, 1.0, 0.025, 0.0256),  # at least 25 ms: 40 clumps of 250
    (6_000, 0.2, 0.005, 0.2 * 128 / 3_000),  # at least a fortieth of a short period
    (1, 0.04, 0.005, 0.005),  # and at most an eighth
])
def test_default_send_slack_follows_the_host_count(hosts: int, period: float, slack: float,
                                                   slack_for_half: float,
                                                   make_monitor: MakeMonitor) -> None:
    names = loopback_hosts(hosts)
    monitor = make_monitor(names, period=period)
    assert monitor.send_slack == pytest.approx(slack)
    monitor.start()
    for host in names[: hosts // 2]:
        monitor.remove(host)
    assert monitor.send_slack == pytest.approx(slack_for_half)
    for host in names[: hosts // 2]:
        monitor.add(host)
    assert monitor.send_slack == pytest.approx(slack)
    monitor.stop()
    assert make_monitor(["127.0.0.1"], period=period, send_slack=0.001).send_slack == 0.001


DOWN_AND_UP = """
import json, signal, time
import fastping
signal.alarm(30)

def ignore_echo(on):
    with open("/proc/sys/net/ipv4/icmp_echo_ignore_all", "w") as knob:
        knob.write("1" if on else "0")

log = []
with fastping.Monitor(["127.0.0.1"], period=0.02, timeout=0.05, down_after=3,
                      up_after=2) as monitor:
    for event in monitor.events():
        state = monitor.state("127.0.0.1")
        log.append({"kind": event.kind.value, "previous": event.previous.value,
                    "health": event.health.value, "cause": event.result.status.value,
                    "streak": state.streak, "lost": state.lost, "received": state.received})
        if len(log) == 1:
            ignore_echo(True)
        elif len(log) == 2:
            ignore_echo(False)
        else:
            break
print(json.dumps(log))
"""


def test_down_after_losses_and_up_again_with_hysteresis() -> None:
    # In a namespace of its own, loopback can be told to stop answering.
    log = json.loads(run_isolated(DOWN_AND_UP))
    assert [entry["kind"] for entry in log] == ["up", "down", "up"]
    first_up, down, up_again = log
    assert (first_up["previous"], first_up["cause"], first_up["streak"]) == ("unknown", "ok", 2)
    assert (down["previous"], down["cause"], down["streak"]) == ("up", "timeout", 3)
    assert (up_again["previous"], up_again["cause"], up_again["streak"]) == ("down", "ok", 2)
    assert down["lost"] >= 3


def test_replies_option_reports_every_outcome(make_monitor: MakeMonitor) -> None:
    monitor = make_monitor(["127.0.0.1", "::1"], period=0.02, replies=True)
    events: list[MonitorEvent] = []
    for event in monitor.events():
        events.append(event)
        if len(events) == 12:
            break
    kinds = [event.kind for event in events]
    assert kinds.count(EventKind.UP) == 2
    assert kinds.count(EventKind.REPLY) == 10
    for event in events:
        assert event.result.ok and event.result.rtt is not None
        assert event.health is Health.UP
    assert {event.host for event in events} == {"127.0.0.1", "::1"}
    assert not monitor.running
    assert_at_rest(monitor)


def test_add_and_remove_from_other_threads_while_running(make_monitor: MakeMonitor) -> None:
    seen: dict[str, float] = {}
    monitor = make_monitor(["127.0.0.1"], period=0.02, replies=True,
                           on_event=lambda event: seen.__setitem__(event.host, time.monotonic()))
    monitor.start()
    added = loopback_hosts(40, start="127.0.3.1")
    workers = [threading.Thread(target=lambda part=part: [monitor.add(h) for h in part])
               for part in (added[:20], added[20:])]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
    assert len(monitor.hosts) == 41
    wait_for(lambda: all(monitor.state(host).health is Health.UP for host in added))
    removed = added[:20]
    remover = threading.Thread(target=lambda: [monitor.remove(h) for h in removed])
    remover.start()
    remover.join(timeout=10)
    removed_at = time.monotonic()
    assert set(monitor.hosts) == {"127.0.0.1", *added[20:]}
    assert monitor.resources()["hosts"] == 21
    with pytest.raises(ValueError, match="not in this Monitor"):
        monitor.state(removed[0])
    time.sleep(0.1)
    # A removed host's probes are forgotten: nothing about it after removal.
    assert all(seen[host] <= removed_at for host in removed)
    assert all(seen[host] > removed_at for host in added[20:])


def test_stop_from_a_callback(make_monitor: MakeMonitor) -> None:
    monitor = make_monitor(["127.0.0.1"], period=5.0,
                           on_event=lambda event: monitor.stop())
    started = time.monotonic()
    monitor.run()
    assert time.monotonic() - started < 2.0
    assert_at_rest(monitor)


def test_stop_from_another_thread_returns_within_a_tick(make_monitor: MakeMonitor) -> None:
    monitor = make_monitor(["127.0.0.1"], period=30.0)
    stopped_at: list[float] = []

    def stop() -> None:
        stopped_at.append(time.monotonic())
        monitor.stop()

    timer = threading.Timer(0.2, stop)
    timer.start()
    monitor.run()
    returned = time.monotonic()
    timer.join()
    assert returned - stopped_at[0] < 0.5
    assert_at_rest(monitor)


def test_stop_from_a_signal_handler(make_monitor: MakeMonitor) -> None:
    monitor = make_monitor(["127.0.0.1"], period=30.0)
    previous = signal.signal(signal.SIGALRM, lambda number, frame: monitor.stop())
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        started = time.monotonic()
        monitor.run()
        assert time.monotonic() - started < 2.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert_at_rest(monitor)


class Boom(Exception):
    pass


def test_raising_callback_ends_run_cleanly(make_monitor: MakeMonitor) -> None:
    def explode(event: MonitorEvent) -> None:
        raise Boom(event.host)

    monitor = make_monitor(["127.0.0.1", "::1"], period=0.05, on_event=explode)
    with pytest.raises(Boom):
        monitor.run()
    assert not monitor.running
    assert_at_rest(monitor)
    # And it can run again.
    monitor.on_event = None
    monitor.start()
    wait_for(lambda: monitor.state("::1").sent >= 2)


def test_keyboard_interrupt_ends_run_cleanly(make_monitor: MakeMonitor) -> None:
    monitor = make_monitor(["127.0.0.1"], period=30.0)
    main = threading.main_thread().ident
    assert main is not None
    timer = threading.Timer(0.2, signal.pthread_kill, args=(main, signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        monitor.run()
    timer.join()
    assert not monitor.running
    assert_at_rest(monitor)


# The interrupt is flagged while the main thread already waits in the engine, and no signal
# interrupts that wait: as when Ctrl-C lands while the loop is sending rather than waiting.
FLAGGED_DURING_WAIT = """
import _thread, threading, time
import fastping
monitor = fastping.Monitor(["127.0.0.1"], period=0.05)
threading.Timer(0.5, _thread.interrupt_main).start()
started = time.monotonic()
try:
    for event in monitor.events():
        pass
except KeyboardInterrupt:
    print(f"interrupted after {time.monotonic() - started:.2f} s")
monitor.close()
"""


def test_an_interrupt_flagged_outside_the_wait_still_ends_the_loop() -> None:
    done = subprocess.run([sys.executable, "-c", FLAGGED_DURING_WAIT], capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    # The host stays up, so no event ever ends the wait: the engine's own check must.
    assert done.stdout.startswith("interrupted after ")
    assert float(done.stdout.split()[2]) < 2.0


def test_close_from_within_a_callback(make_monitor: MakeMonitor) -> None:
    monitor = make_monitor(["127.0.0.1"], period=0.05, on_event=lambda event: monitor.close())
    monitor.run()
    assert monitor.closed


def test_running_twice_is_refused(make_monitor: MakeMonitor) -> None:
    monitor = make_monitor(["127.0.0.1"], period=1.0)
    monitor.start()
    with pytest.raises(RuntimeError, match="already running"):
        monitor.run()
    with pytest.raises(RuntimeError, match="already running"):
        monitor.start()


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"period": 0}, ValueError, "period"),
        ({"period": -1}, ValueError, "period"),
        ({"period": "1"}, TypeError, "period"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"down_after": 0}, ValueError, "down_after"),
        ({"up_after": 1.5}, TypeError, "up_after"),
        ({"window": 0}, ValueError, "window"),
        ({"replies": 1}, TypeError, "replies"),
        ({"on_event": 3}, TypeError, "on_event"),
        ({"hosts": "127.0.0.1"}, TypeError, "iterable"),
        ({"hosts": ["127.0.0.1", "1.2.3.4.5"]}, ValueError, "invalid IPv4 address"),
    ],
)
def test_bad_monitor_options(options: dict[str, object], error: type[Exception], message: str,
                             fd_baseline: int) -> None:
    with pytest.raises(error, match=message):
        Monitor(**options)  # type: ignore[arg-type]
    assert open_fds() == fd_baseline


def test_closed_monitor_refuses_work(make_monitor: MakeMonitor) -> None:
    monitor = make_monitor(["127.0.0.1"])
    monitor.close()
    monitor.close()
    for call in (lambda: monitor.add("127.0.0.2"), monitor.run, monitor.start, monitor.states):
        with pytest.raises(ValueError, match="closed"):
            call()


def test_ten_thousand_cycles_with_every_kind_of_exit(fd_baseline: int) -> None:
    """The seed's lesson: start and stop, every way there is, and nothing accumulates."""
    monitor = Monitor(["127.0.0.1"], period=1.0, replies=True)
    pinger = fastping.Pinger(["127.0.0.1"])
    fds = open_fds()

    def first_event_then_break() -> None:
        for _ in monitor.events():
            break

    def stop_from_callback() -> None:
        monitor.on_event = lambda event: monitor.stop()
        monitor.run()
        monitor.on_event = None

    def raising_callback() -> None:
        monitor.on_event = lambda event: 1 / 0
        with pytest.raises(ZeroDivisionError):
            monitor.run()
        monitor.on_event = None

    def interrupted() -> None:
        monitor.on_event = lambda event: signal.raise_signal(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            monitor.run()
        monitor.on_event = None

    def pinger_normal_end() -> None:
        assert len(list(pinger.run(count=1))) == 1

    def pinger_raising_callback() -> None:
        pinger.on_recv = lambda result: 1 / 0
        with pytest.raises(ZeroDivisionError):
            pinger.ping()
        pinger.on_recv = None

    def pinger_stopped() -> None:
        for _ in pinger.run(interval=0):
            pinger.stop()

    async def consume_forever() -> None:
        async for _ in monitor:
            pass

    async def cancel_after_first_event() -> None:
        async for _ in monitor:
            break  # leaving the loop early; then a cancelled task:
        task = asyncio.create_task(consume_forever())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    def task_cancelled() -> None:
        asyncio.run(cancel_after_first_event())

    def timed_out() -> None:
        with pytest.raises((asyncio.TimeoutError, TimeoutError)):
            asyncio.run(asyncio.wait_for(consume_forever(), timeout=0.001))

    kinds = [first_event_then_break, stop_from_callback, raising_callback, interrupted,
             pinger_normal_end, pinger_raising_callback, pinger_stopped, task_cancelled,
             timed_out]
    try:
        for cycle in range(10_000):
            kinds[cycle % len(kinds)]()
        assert open_fds() == fds
        assert_at_rest(monitor)
        resources = pinger.resources()
        assert (resources["outstanding"], resources["scheduled"], resources["timer_armed"]) == (
            0, 0, 0)
        assert monitor.resources()["ring_capacity"] == 1024
    finally:
        monitor.close()
        pinger.close()
    assert open_fds() == fd_baseline


def test_add_many_probes_every_host_on_spread_phases(make_monitor: MakeMonitor) -> None:
    # 300 hosts added in one call to a running monitor (several requests of its loop): each
    # is probed, on a phase of its own (first sends spread over the period, not one burst),
    # and a host that cannot be added is its exception, the others added all the same.
    period = 0.5
    monitor = make_monitor(["127.0.0.1"], period=period, family=4)
    monitor.start()
    hosts = loopback_hosts(300)
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sniffer:
        sniffer.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sniffer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        ident = monitor._call(lambda: monitor._live_engine().identifier(socket.AF_INET))
        outcomes = monitor.add_many([*hosts, " ", "::1"], period=period, timeout=0.2)
        times = request_send_times(sniffer, ident, 2 * period)
    assert [outcomes[host] for host in hosts] == hosts
    assert isinstance(outcomes[" "], ValueError) and isinstance(outcomes["::1"], ValueError)
    assert set(monitor.hosts) == {"127.0.0.1", *hosts}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(
            state.received > 0 for state in monitor.states().values()):
        time.sleep(0.05)
    assert all(state.received > 0 for state in monitor.states().values())
    # The first period's sends: spread over it, never the 300 in one clump.
    first = sorted(t for t in times if t < times[0] + period)
    assert len(first) >= 250
    busiest = max(sum(1 for t in first if start <= t < start + period / 4) for start in first)
    assert busiest <= len(first) / 2, f"{busiest} of {len(first)} sends in a quarter period"


def test_probes_on_demand_keep_their_interval(make_monitor: MakeMonitor) -> None:
    # An interval shorter than the send slack (0.125 s here): the engine may send a probe
    # that early, so probes on demand went back to back. Each must wait its interval.
    interval, count = 0.05, 5
    monitor = make_monitor(["127.0.0.1"], period=3600)  # one heartbeat, at the start
    monitor.start()
    assert monitor.send_slack > interval
    ident = monitor._call(lambda: monitor._live_engine().identifier(socket.AF_INET))
    time.sleep(0.2)
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sniffer:
        sniffer.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        future = monitor.submit_probe("127.0.0.2", count=count, interval=interval)
        times = request_send_times(sniffer, ident, count * interval + 1.0)
    results = future.result(10)
    assert [result.status.value for result in results] == ["ok"] * count
    assert len(times) == count, times
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.9 * interval, [f"{gap * 1000:.1f} ms" for gap in gaps]
