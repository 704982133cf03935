"""Every way out leaves nothing behind: descriptors, timers and probes return to baseline.

The failure fastping exists to avoid is a pinger whose cost grows with time
because something opened per round is never released. These tests count the
process's descriptors and the engine's own resources around normal rounds,
raising callbacks, Ctrl-C, garbage collection and double close.
"""

from __future__ import annotations

import errno
import gc
import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable

import pytest
from conftest import isolated_command, loopback_hosts, open_fds, run_isolated

import fastping
from fastping import Pinger

MakePinger = Callable[..., Pinger]


def assert_idle(pinger: Pinger) -> None:
    resources = pinger.resources()
    assert resources["outstanding"] == 0
    assert resources["scheduled"] == 0
    assert resources["timer_armed"] == 0


def test_thousand_rounds_keep_descriptors_and_tables_constant(make_pinger: MakePinger) -> None:
    pinger = make_pinger(loopback_hosts(20))
    pinger.ping()
    fds, resources = open_fds(), pinger.resources()
    for _ in range(1000):
        results = pinger.ping()
        assert all(result.ok for result in results.values())
    assert open_fds() == fds
    assert pinger.resources() == resources
    assert_idle(pinger)


def test_thousand_pingers_opened_and_closed(fd_baseline: int) -> None:
    for _ in range(1000):
        with Pinger(["127.0.0.1", "::1"]) as pinger:
            pinger.ping()
    assert open_fds() == fd_baseline


def test_close_twice_and_use_after_close(make_pinger: MakePinger, fd_baseline: int) -> None:
    pinger = make_pinger(["127.0.0.1"])
    pinger.ping()
    pinger.close()
    pinger.close()
    assert pinger.closed
    assert open_fds() == fd_baseline
    assert pinger.resources()["descriptors"] == 0
    with pytest.raises(ValueError, match="closed"):
        pinger.ping()
    with pytest.raises(ValueError, match="closed"):
        pinger.add("127.0.0.2")


class CallbackFailure(Exception):
    pass


def test_raising_on_recv_propagates_and_leaves_engine_clean(make_pinger: MakePinger) -> None:
    calls = 0

    def on_recv(result: fastping.Result) -> None:
        nonlocal calls
        calls += 1
        raise CallbackFailure(result.host)

    hosts = loopback_hosts(1000)
    pinger = make_pinger(hosts, on_recv=on_recv)
    fds = open_fds()
    with pytest.raises(CallbackFailure):
        pinger.ping()
    assert calls == 1
    assert_idle(pinger)
    assert open_fds() == fds
    # The engine is reusable, and replies to the abandoned round are never
    # taken for the new one's.
    pinger.on_recv = None
    results = pinger.ping()
    assert all(result.ok for result in results.values())
    assert len(results) == 1000


def test_raising_on_idle_propagates_out_of_run(make_pinger: MakePinger) -> None:
    def on_idle(results: dict[str, fastping.Result]) -> None:
        raise CallbackFailure("idle")

    pinger = make_pinger(["127.0.0.1"], on_idle=on_idle)
    with pytest.raises(CallbackFailure):
        for _ in pinger.run(count=5, interval=0.01):
            pass
    assert_idle(pinger)


def test_breaking_out_of_run_leaves_engine_idle(make_pinger: MakePinger) -> None:
    pinger = make_pinger(loopback_hosts(10))
    for number, _ in enumerate(pinger.run(interval=0.0)):
        if number == 3:
            break
    assert_idle(pinger)


def test_keyboard_interrupt_during_wait(make_pinger: MakePinger) -> None:
    pinger = make_pinger(["127.0.0.1"])
    fds = open_fds()
    main = threading.main_thread().ident
    assert main is not None and threading.current_thread() is threading.main_thread()
    timer = threading.Timer(0.2, signal.pthread_kill, args=(main, signal.SIGINT))
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        for _ in pinger.run(interval=30.0):
            pass
    timer.join()
    assert time.monotonic() - started < 5.0
    assert_idle(pinger)
    assert open_fds() == fds
    assert pinger.ping()["127.0.0.1"].ok


UNANSWERED_ROUND = """
import json, os, sys
import fastping
before = len(os.listdir("/proc/self/fd"))
pinger = fastping.Pinger(["127.0.0.1"], timeout=60)
print("ready", flush=True)
try:
    pinger.ping()
    outcome = "returned"
except KeyboardInterrupt:
    outcome = "interrupted"
resources = pinger.resources()
pinger.close()
after = len(os.listdir("/proc/self/fd"))
print(json.dumps({"outcome": outcome, "resources": resources, "before": before, "after": after}))
"""


def test_keyboard_interrupt_during_an_unanswered_round() -> None:
    # In a network namespace of its own whose kernel ignores echo requests,
    # the round waits for its 60 s timeout until Ctrl-C arrives.
    command = isolated_command(UNANSWERED_ROUND, "sysctl -qw net.ipv4.icmp_echo_ignore_all=1")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None and process.stderr is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            process.kill()
            pytest.skip(f"no private network namespace here: {process.stderr.read()}")
        time.sleep(0.3)
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert time.monotonic() - started < 5.0
    report = json.loads(out)
    assert report["outcome"] == "interrupted", err
    assert report["resources"]["outstanding"] == 0
    assert report["resources"]["timer_armed"] == 0
    assert report["after"] == report["before"]


def test_unclosed_pinger_is_collected_with_a_resource_warning(fd_baseline: int) -> None:
    pinger = Pinger(["127.0.0.1", "::1"])
    pinger.ping()
    assert open_fds() == fd_baseline + 4
    with pytest.warns(ResourceWarning, match="unclosed"):
        del pinger
        gc.collect()
    assert open_fds() == fd_baseline


def test_failed_construction_leaks_nothing(fd_baseline: int) -> None:
    with pytest.raises(ValueError):
        Pinger(["127.0.0.1", "999.0.0.1"])
    gc.collect()
    assert open_fds() == fd_baseline


SEND_ERRORS = """
import errno, json, time
import fastping
with fastping.Pinger(["198.18.0.1", "127.0.0.1", "2001:db8::1", "::1"], timeout=30) as pinger:
    started = time.monotonic()
    results = pinger.ping()
    elapsed = time.monotonic() - started
    print(json.dumps({
        "statuses": {host: str(result.status) for host, result in results.items()},
        "errnos": {host: result.errno for host, result in results.items()},
        "elapsed": elapsed, "counters": pinger.counters(), "resources": pinger.resources(),
    }))
"""


def test_send_errors_mark_the_probe_and_never_stall() -> None:
    # A namespace of the test's own has only loopback: other destinations
    # have no route, so sendto() fails at once for them.
    out = run_isolated(SEND_ERRORS)
    report = json.loads(out)
    assert report["statuses"] == {"198.18.0.1": "send_error", "127.0.0.1": "ok",
                                  "2001:db8::1": "send_error", "::1": "ok"}
    assert report["errnos"]["198.18.0.1"] == errno.ENETUNREACH
    assert report["errnos"]["2001:db8::1"] == errno.ENETUNREACH
    assert report["elapsed"] < 5.0  # not the 30 s timeout
    assert report["counters"]["send_errors"] == 2
    assert report["resources"]["outstanding"] == 0


def test_pinging_with_more_than_1024_descriptors_open(fd_baseline: int) -> None:
    # select() breaks past FD_SETSIZE (1,024); epoll does not care, and fastping uses no select.
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"the descriptor limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
    hogs = []
    try:
        while open_fds() < 1100:
            hogs.append(open("/dev/null"))  # noqa: SIM115 - held open on purpose
        with Pinger(["127.0.0.1", "::1"]) as pinger:
            assert pinger.resources()["descriptors"] == 4
            results = pinger.ping()
            assert all(result.ok for result in results.values())
            assert pinger._engine is not None and pinger._engine.fileno() > 1024
        with fastping.Monitor(["127.0.0.1"], period=0.01) as monitor:
            for _ in monitor.events():
                break
    finally:
        for hog in hogs:
            hog.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
