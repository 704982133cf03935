"""The edges: close() during a run, an interrupt at any instant, and fork.

Each of these once broke the promise that every way out leaves nothing behind:
close() from a signal handler freed the engine under its own loop (a
use-after-free the ASan build reports), a Ctrl-C while a large Monitor was
still scheduling left it "running" forever with its descriptors open, and a
Pinger used in a forked child stole its parent's replies. The interrupt tests
are randomized: the instant is drawn anew in every trial, many trials a run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import loopback_hosts, open_fds, run_isolated

import fastping
from fastping import Monitor, Pinger

LARGE = 200_000  # hosts: adding and scheduling them takes a few hundred ms
TRIALS = 48
INTERRUPT_WINDOW = 0.3  # seconds: SIGINT lands somewhere in the first this-many


@pytest.fixture
def usr1() -> Iterator[Callable[[Callable[[], object]], None]]:
    """Installs a SIGUSR1 handler for the test; the previous one is put back after."""
    previous = signal.getsignal(signal.SIGUSR1)

    def install(action: Callable[[], object]) -> None:
        signal.signal(signal.SIGUSR1, lambda *_: action())

    yield install
    signal.signal(signal.SIGUSR1, previous)


def signal_main_after(delay: float, signum: int) -> threading.Timer:
    """Delivers signum to the main thread after delay, so it interrupts the engine's wait."""
    timer = threading.Timer(delay, signal.pthread_kill, args=(threading.main_thread().ident,
                                                              signum))
    timer.start()
    return timer


# ---- 1. close() while a run is in progress --------------------------------------------


def test_close_from_a_signal_handler_ends_the_run_and_closes(usr1, fd_baseline) -> None:
    pinger = Pinger(["127.0.0.1", "::1"])
    usr1(pinger.close)
    signal_main_after(0.5, signal.SIGUSR1)
    started = time.monotonic()
    rounds = list(pinger.run(count=3, interval=2))
    # The first round, then the close lands while waiting for the second: the run ends.
    assert len(rounds) == 1 and all(r.ok for r in rounds[0].values())
    assert time.monotonic() - started < 1.5
    assert pinger.closed
    assert pinger.resources()["descriptors"] == 0
    assert open_fds() == fd_baseline
    with pytest.raises(ValueError, match="closed"):
        pinger.ping()


def test_close_from_another_thread_while_the_runner_is_in_a_signal_handler(
        usr1, fd_baseline) -> None:
    pinger = Pinger(["127.0.0.1"])
    closed_by_other = threading.Event()

    def slow_handler() -> None:
        # While this runs, the running thread is in Python, inside the engine's run().
        other = threading.Thread(target=lambda: (pinger.close(), closed_by_other.set()))
        other.start()
        other.join(5)

    usr1(slow_handler)
    signal_main_after(0.3, signal.SIGUSR1)
    rounds = list(pinger.run(count=3, interval=2))
    assert closed_by_other.is_set()
    assert len(rounds) == 1
    assert pinger.closed and pinger.resources()["descriptors"] == 0
    assert open_fds() == fd_baseline


def test_close_from_another_thread_while_the_engine_waits(fd_baseline) -> None:
    pinger = Pinger(["127.0.0.1"])
    closer = threading.Timer(0.3, pinger.close)
    closer.start()
    started = time.monotonic()
    rounds = list(pinger.run(count=3, interval=2))
    closer.join()
    assert len(rounds) == 1
    assert time.monotonic() - started < 1.5
    assert pinger.closed and open_fds() == fd_baseline


def test_close_from_a_signal_handler_during_a_monitor_run(usr1, fd_baseline) -> None:
    monitor = Monitor(["127.0.0.1", "::1"], period=0.05)
    usr1(monitor.close)
    signal_main_after(0.3, signal.SIGUSR1)
    started = time.monotonic()
    monitor.run()
    assert time.monotonic() - started < 1.5
    assert monitor.closed and not monitor.running
    assert open_fds() == fd_baseline


def test_monitor_closed_by_another_thread_while_its_loop_is_in_a_signal_handler(
        usr1, fd_baseline) -> None:
    monitor = Monitor(["127.0.0.1"], period=0.05)
    returned = threading.Event()

    def slow_handler() -> None:
        other = threading.Thread(target=lambda: (monitor.close(), returned.set()))
        other.start()
        time.sleep(0.2)  # the other thread's close() waits for the loop to end

    usr1(slow_handler)
    signal_main_after(0.3, signal.SIGUSR1)
    monitor.run()
    assert returned.wait(2)
    assert monitor.closed and open_fds() == fd_baseline


def test_a_round_closed_mid_way_raises_and_leaves_nothing(usr1, fd_baseline) -> None:
    # 20,000 hosts: the round is still sending and receiving when the signal comes.
    pinger = Pinger(loopback_hosts(20_000, "127.2.0.1"))
    usr1(pinger.close)
    signal_main_after(0.005, signal.SIGUSR1)
    try:
        pinger.ping()
    except ValueError as error:  # closed during the round
        assert "closed" in str(error)
    assert pinger.closed and open_fds() == fd_baseline


def test_close_from_the_run_loop_body_or_a_callback(fd_baseline) -> None:
    pinger = Pinger(["127.0.0.1"])
    rounds = 0
    for _ in pinger.run(count=5, interval=0.01):
        rounds += 1
        pinger.close()
    assert rounds == 1 and pinger.closed
    # 5,000 hosts: the first replies are handed to on_recv long before the round is over.
    pinger = Pinger(loopback_hosts(5000, "127.4.0.1"), on_recv=lambda result: pinger.close())
    with pytest.raises(ValueError, match="closed during the round"):
        pinger.ping()
    assert pinger.closed and open_fds() == fd_baseline


APING_CLOSED = """
import asyncio, json, os, time
import fastping

async def main():
    before = len(os.listdir("/proc/self/fd"))
    pinger = fastping.Pinger(["127.0.0.1"], timeout=30)  # unanswered here: waits 30 s
    task = asyncio.ensure_future(pinger.aping())
    await asyncio.sleep(0.1)
    pinger.close()
    started = time.monotonic()
    try:
        await asyncio.wait_for(task, 5)
        outcome = "returned"
    except ValueError as error:
        outcome = str(error)
    except asyncio.TimeoutError:
        outcome = "still waiting"
    return {"outcome": outcome, "seconds": time.monotonic() - started,
            "leaked": len(os.listdir("/proc/self/fd")) - before}

print(json.dumps(asyncio.run(main())))
"""


def test_aping_closed_by_another_task_ends_at_once() -> None:
    report = json.loads(run_isolated(
        APING_CLOSED, "sysctl -qw net.ipv4.icmp_echo_ignore_all=1"))
    assert "closed during the round" in report["outcome"]
    assert report["seconds"] < 1 and report["leaked"] == 0


# ---- 2. an interrupt at a random instant ------------------------------------------------


def _monitor_run(monitor: Monitor) -> None:
    monitor.run()


def _monitor_start(monitor: Monitor) -> None:
    monitor.start()
    time.sleep(INTERRUPT_WINDOW * 2)


def _pinger_add(pinger: Pinger, hosts: list[str]) -> None:
    # Adding 200,000 hosts may take less than the window: then adding each again (which
    # finds it there) until the signal comes.
    for _ in range(20):
        for host in hosts:
            pinger.add(host)


def _pinger_ping(pinger: Pinger) -> None:
    for _ in range(100):
        pinger.ping()


def _usable_or_closed(owner: Monitor | Pinger) -> None:
    """After an interrupt: no longer running, and if still open, it works."""
    if owner.closed:
        return
    if isinstance(owner, Monitor):
        if owner.running:  # start(): the background loop carries on until stopped
            owner.stop()
            assert owner.join(5)
        assert not owner.running
        owner.add("127.0.0.1")
        assert owner.state("127.0.0.1").host == "127.0.0.1"
    else:
        owner.add("127.0.0.1")
        assert owner.resources()["outstanding"] == 0
        assert owner.resources()["scheduled"] == 0


def test_an_interrupt_at_a_random_instant_leaves_nothing_behind(fd_baseline) -> None:
    """SIGINT in the first 300 ms of Monitor.run(), start(), Pinger.add() and ping() over
    200,000 hosts: while hosts are still being added, scheduled or sent to."""
    hosts = loopback_hosts(LARGE, "127.3.0.1")
    chance = random.Random()
    seed = chance.randrange(2**32)
    chance.seed(seed)
    monitor = Monitor(hosts, period=1.0)
    pinger = Pinger(hosts)
    entries: list[tuple[Callable[[], Monitor | Pinger], Callable[[Any], None]]] = [
        (lambda: monitor, _monitor_run), (lambda: monitor, _monitor_start),
        (Pinger, lambda fresh: _pinger_add(fresh, hosts)), (lambda: pinger, _pinger_ping)]
    interrupted = 0
    for trial in range(TRIALS):
        make, go = entries[trial % len(entries)]
        owner = make()
        delay = chance.uniform(0, INTERRUPT_WINDOW)
        where = f"seed {seed}, trial {trial}, {go.__name__} at {delay:.3f} s"
        timer = signal_main_after(delay, signal.SIGINT)
        try:
            go(owner)
            timer.join()  # done before the signal (start() returns): it still comes
        except KeyboardInterrupt:
            interrupted += 1
        finally:
            timer.join()
        _usable_or_closed(owner)
        if owner is monitor:
            monitor.remove("127.0.0.1")
        elif owner is not pinger:
            closer = threading.Thread(target=owner.close, daemon=True)
            closer.start()
            closer.join(1.0)
            assert not closer.is_alive(), f"close() from another thread hung ({where})"
            assert owner.closed and owner.resources()["descriptors"] == 0, where
    assert interrupted == TRIALS
    for owner in (monitor, pinger):
        closer = threading.Thread(target=owner.close, daemon=True)
        closer.start()
        closer.join(1.0)
        assert not closer.is_alive(), f"close() from another thread hung (seed {seed})"
        assert owner.closed and owner.resources()["descriptors"] == 0
    assert open_fds() == fd_baseline, f"descriptors leaked (seed {seed})"


# ---- 3. fork -------------------------------------------------------------------------------


def _in_child(work: Callable[[], dict[str, object]],
              meanwhile: Callable[[], object] = lambda: None) -> dict[str, object]:
    """Runs work in a forked child, and meanwhile in the parent; returns what the child
    reported (or the error it raised)."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns when forking with threads running (the Monitor's): that is the
        # very case under test.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: report, and never return into pytest
        try:
            os.close(read_end)
            try:
                report = work()
            except BaseException as error:
                report = {"raised": f"{type(error).__name__}: {error}"}
            os.write(write_end, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        meanwhile()
    finally:
        with os.fdopen(read_end, "rb") as reader:
            output = reader.read()
        _, status = os.waitpid(pid, 0)
    assert status == 0
    return dict(json.loads(output))


def test_an_inherited_pinger_refuses_work_in_the_child_and_the_parent_stays_exact() -> None:
    hosts = ["127.0.0.1", "127.0.0.2", "::1"]
    with Pinger(hosts) as pinger:
        pinger.ping()
        parent_fds = open_fds()

        def child() -> dict[str, object]:
            report: dict[str, object] = {}
            for name, use in (("ping", pinger.ping), ("add", lambda: pinger.add("127.0.0.9")),
                              ("counters", pinger.counters)):
                try:
                    use()
                    report[name] = "worked"
                except RuntimeError as error:
                    report[name] = str(error)
            pinger.stop()  # never wakes the parent's engine
            before = open_fds()
            pinger.close()
            report["released"] = before - open_fds()
            report["closed"] = pinger.closed
            # A Pinger of its own works, and exactly, while the parent pings too.
            with Pinger(hosts) as own:
                rounds = list(own.run(count=50, interval=0.005))
                report["own_ok"] = sum(r.ok for results in rounds for r in results.values())
                report["own_duplicates"] = sum(own.duplicates.values())
            return report

        rounds: list[dict[str, fastping.Result]] = []
        # The parent pings all the while the child does.
        report = _in_child(child, meanwhile=lambda: rounds.extend(pinger.run(count=50,
                                                                             interval=0.01)))
        assert all(result.ok for results in rounds for result in results.values())
        assert sum(pinger.duplicates.values()) == 0
        assert pinger.counters()["duplicates"] == 0
        assert open_fds() == parent_fds
    for use in ("ping", "add", "counters"):
        assert "fork" in str(report[use]), report
    assert report["closed"] is True
    assert report["released"] == 4  # epoll, timerfd, the IPv4 and the IPv6 socket
    assert report["own_ok"] == 150 and report["own_duplicates"] == 0, report


def test_a_monitor_running_in_the_parent_is_not_running_in_the_child() -> None:
    with Monitor(["127.0.0.1"], period=0.05) as monitor:
        monitor.start()
        time.sleep(0.2)

        def child() -> dict[str, object]:
            started = time.monotonic()
            report: dict[str, object] = {"running": monitor.running}
            try:
                monitor.add("127.0.0.2")
                report["add"] = "worked"
            except RuntimeError as error:
                report["add"] = str(error)
            monitor.close()
            report["closed"] = monitor.closed
            report["seconds"] = time.monotonic() - started
            return report

        report = _in_child(child)
        assert report["running"] is False
        assert "fork" in str(report["add"])
        assert report["closed"] is True
        assert float(report["seconds"]) < 1.0  # type: ignore[arg-type]
        # The parent's monitor carried on.
        assert monitor.running
        sent = monitor.state("127.0.0.1").sent
        time.sleep(0.2)
        assert monitor.state("127.0.0.1").sent > sent
        assert monitor.counters()["duplicates"] == 0


def test_a_pinger_made_in_the_child_is_its_own() -> None:
    def child() -> dict[str, object]:
        results = fastping.multiping(["127.0.0.1", "::1"], count=3, interval=0)
        return {"received": sum(s.received for s in results.values())}

    assert _in_child(child) == {"received": 6}
