"""Any mix of timeouts in one engine: per host, per round, and each probe on time.

The engine keeps one FIFO queue per distinct timeout (src/_core/timeouts.h), so
probes with different timeouts, sent interleaved, must still each time out after
its own. The timing tests run in a namespace whose loopback ignores echo
requests, so that every probe waits for its timeout.
"""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
from conftest import loopback_hosts, run_isolated

from fastping import Monitor, _engine

SILENT = "sysctl -qw net.ipv4.icmp_echo_ignore_all=1"

INTERLEAVED = """
import json, time
import fastping
from fastping import _engine

# 30 hosts, their own timeouts cycling through 0.2, 0.05 and 0.1 s: sent interleaved, they
# must time out in three waves, each probe after its own timeout.
hosts = [f"127.0.0.{i}" for i in range(1, 31)]
timeouts = [0.2, 0.05, 0.1]
pinger = fastping.Pinger(timeout=1.0)
own = {}
for number, host in enumerate(hosts):
    own[host] = timeouts[number % 3]
    pinger.add(host, timeout=own[host])
engine = pinger._engine
started = time.monotonic()
engine.schedule_now(list(engine.hosts.values()))
expired = []
while len(expired) < len(hosts):
    status, events = engine.run(until_idle=True, prompt=True)
    now = time.monotonic() - started
    expired += [(event.host, now) for event in events if event.kind == _engine.TIMEOUT]
    if status == "idle":
        break
print(json.dumps({"own": own, "expired": expired, "counters": pinger.counters()}))
"""


def test_interleaved_timeouts_each_expire_on_time() -> None:
    report = json.loads(run_isolated(INTERLEAVED, SILENT))
    own, expired = report["own"], report["expired"]
    assert sorted(host for host, _ in expired) == sorted(own)
    assert report["counters"]["timeouts"] == 30
    for host, when in expired:
        # Each after its own timeout, and well before the next wave's.
        assert own[host] <= when < own[host] + 0.04, (host, when)
    order = [own[host] for host, _ in expired]
    assert order == sorted(order)


ROUNDS = """
import json, time
import fastping

def timed(work):
    started = time.monotonic()
    results = work()
    return time.monotonic() - started, sorted(str(r.status) for r in results.values())

with fastping.Pinger(["127.0.0.1", "127.0.0.2"], timeout=0.4) as pinger:
    pinger.add("127.0.0.3", timeout=0.25)
    report = {
        "default": timed(pinger.ping),
        "round": timed(lambda: pinger.ping(timeout=0.1)),
        "after": timed(pinger.ping),
        "run": [timed(lambda rounds=pinger.run(1, timeout=0.05): next(rounds))],
    }
    pinger.remove("127.0.0.3")
    report["without"] = timed(lambda: pinger.ping(timeout=0.1))
print(json.dumps(report))
"""


def test_a_round_may_wait_less_or_more_than_the_pingers_timeout() -> None:
    report = json.loads(run_isolated(ROUNDS, SILENT))
    three = ["timeout"] * 3
    # The round lasts as long as its longest wait: the host's own 0.25 s beats a round's.
    seconds, statuses = report["default"]
    assert statuses == three and 0.4 <= seconds < 0.5
    seconds, statuses = report["round"]
    assert statuses == three and 0.25 <= seconds < 0.35
    seconds, _ = report["after"]  # the round's timeout was for that round only
    assert 0.4 <= seconds < 0.5
    ((seconds, _),) = report["run"]
    assert 0.25 <= seconds < 0.35
    seconds, statuses = report["without"]
    assert statuses == ["timeout"] * 2 and 0.1 <= seconds < 0.2


def test_hosts_with_periods_of_their_own_share_one_monitor(fd_baseline: int) -> None:
    with Monitor(["127.0.0.1"], period=0.5) as monitor:
        monitor.add("127.0.0.2", period=0.05)
        monitor.add("::1", period=0.1, timeout=0.05)
        monitor.start()
        time.sleep(1.0)
        deadline_states = monitor.states()
        monitor.stop()
        monitor.join()
    sent = {host: state.sent for host, state in deadline_states.items()}
    assert 1 <= sent["127.0.0.1"] <= 3
    assert 15 <= sent["127.0.0.2"] <= 22
    assert 8 <= sent["::1"] <= 11
    assert all(state.received == state.sent or state.received == state.sent - 1
               for state in deadline_states.values())


def test_too_many_distinct_timeouts_is_a_clear_error(make_pinger) -> None:
    pinger = make_pinger(timeout=1.0)
    hosts = loopback_hosts(_engine.MAX_TIMEOUTS, "127.5.0.1")
    # The Pinger's own timeout is one; every host with another is one more.
    for number, host in enumerate(hosts[:-1]):
        pinger.add(host, timeout=0.01 * (number + 1))
    with pytest.raises(ValueError, match=f"at most {_engine.MAX_TIMEOUTS} distinct timeouts"):
        pinger.add(hosts[-1], timeout=5.0)
    # Sharing a timeout costs nothing more, and a released one is free again.
    pinger.add(hosts[-1], timeout=0.01)
    pinger.remove(hosts[1])  # the only host with 0.02 s
    pinger.add("127.5.1.1", timeout=5.0)
    assert all(result.ok for result in pinger.ping().values())


# ---- probes on demand, on a running monitor's engine -----------------------------------------


def engine_descriptors() -> int:
    """This process's epoll descriptors and timerfds: two an engine."""
    kinds = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
             if os.path.exists(f"/proc/self/fd/{fd}")]
    return sum(kind in ("anon_inode:[eventpoll]", "anon_inode:[timerfd]") for kind in kinds)


def test_probes_on_demand_share_the_monitors_engine(fd_baseline: int) -> None:
    with Monitor(["127.0.0.1"], period=0.05) as monitor:
        with pytest.raises(RuntimeError, match="running"):
            monitor.probe("127.0.0.2")
        monitor.start()
        engines = engine_descriptors()
        answers: dict[str, list[str]] = {}

        def ask(host: str) -> None:
            answers[host] = [f"{r.host} {r.status}" for r in monitor.probe(host, count=3)]

        askers = [threading.Thread(target=ask, args=(host,))
                  for host in ("127.0.0.2", "::1", "127.0.0.1", "127.0.0.3")]
        for asker in askers:
            asker.start()
        for asker in askers:
            asker.join(10)
        assert engine_descriptors() == engines  # no engine was opened for them
        assert answers == {host: [f"{host} ok"] * 3
                           for host in ("127.0.0.2", "::1", "127.0.0.1", "127.0.0.3")}
        # The monitor's own hosts are as they were: the probed ones are not among them.
        assert monitor.hosts == ("127.0.0.1",)
        assert monitor.resources()["hosts"] == 1
        state = monitor.state("127.0.0.1")
        assert state.received == state.sent or state.received == state.sent - 1


def test_a_probe_on_demand_waits_its_own_timeout() -> None:
    report = json.loads(run_isolated(ON_DEMAND_SILENT, SILENT))
    assert report["statuses"] == ["timeout", "timeout"]
    assert 0.2 <= report["seconds"] < 0.35  # two probes of 0.1 s, one after the other
    assert report["after"] == "stopped"


ON_DEMAND_SILENT = """
import json, threading, time
import fastping

monitor = fastping.Monitor(["127.0.0.1"], period=1.0, timeout=0.5)
monitor.start()
started = time.monotonic()
results = monitor.probe("127.0.0.2", count=2, timeout=0.1)
seconds = time.monotonic() - started
# A probe still waiting when the monitor stops gets an error, not a hang.
outcome = []
waiter = threading.Thread(target=lambda: outcome.append(
    monitor.probe("127.0.0.3", count=1, timeout=30)))
waiter.start()
time.sleep(0.1)
monitor.stop()
waiter.join(5)
monitor.close()
print(json.dumps({"statuses": [str(r.status) for r in results], "seconds": seconds,
                  "after": "stopped" if not waiter.is_alive() and not outcome else "hung"}))
"""
