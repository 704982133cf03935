"""How fastping scales: one round at 1,000, 10,000 and 100,000 hosts, and a Monitor's CPU per probe.

Run with: python -m pytest benchmarks/test_scale.py (pytest-benchmark; root or
net.ipv4.ping_group_range; loopback only, 127.16.0.0 upward, where every address answers).

- test_one_round: Pinger.ping() over N hosts, the Pinger built once per size, so a round's cost
  is what is measured. On loopback every probe must be answered: a lost reply fails the test
  (the count is in extra_info either way), as must an engine keeping over 256 bytes a host
  (extra_info: engine_bytes_per_host).
- test_monitor_cpu_per_probe: a Monitor over 1,000 hosts at a 0.1 s period (10,000 probes a
  second) runs for a few seconds; the benchmark is one such run, and extra_info holds the
  process CPU time per probe sent, the CPU share of one core and the engine's bytes a host
  (with the health window and statistics: at most 256). No probe may be lost.
"""

from __future__ import annotations

import ipaddress
import resource
import time
from collections.abc import Iterator

import pytest

import fastping

FIRST_HOST = ipaddress.IPv4Address("127.16.0.0")
ROUND_SIZES = [1_000, 10_000, 100_000]
MONITOR_HOSTS = 1_000
MONITOR_PERIOD_S = 0.1
MONITOR_RUN_S = 3.0
MAX_ENGINE_BYTES_PER_HOST = 256  # the budget for the engine's state of one host


def loopback_hosts(count: int) -> list[str]:
    return [str(FIRST_HOST + offset) for offset in range(count)]


def process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # all threads, the Monitor's included
    return usage.ru_utime + usage.ru_stime


@pytest.fixture(scope="module", params=ROUND_SIZES, ids=lambda count: f"{count}_hosts")
def pinger(request: pytest.FixtureRequest) -> Iterator[fastping.Pinger]:
    with fastping.Pinger(loopback_hosts(request.param), timeout=2.0) as pinger:
        yield pinger


def test_one_round(benchmark, pinger: fastping.Pinger) -> None:  # type: ignore[no-untyped-def]
    lost_per_round: list[int] = []

    def one_round() -> None:
        results = pinger.ping()
        lost_per_round.append(sum(not result.ok for result in results.values()))

    # 100,000 hosts take seconds a round: fewer rounds there, so the file runs in minutes
    rounds = 3 if len(pinger.hosts) >= 100_000 else 10
    benchmark.pedantic(one_round, rounds=rounds, warmup_rounds=1)
    benchmark.extra_info["hosts"] = len(pinger.hosts)
    benchmark.extra_info["engine_bytes_per_host"] = pinger.resources()["host_bytes"]
    benchmark.extra_info["lost_replies_per_round"] = lost_per_round
    assert lost_per_round and max(lost_per_round) == 0, (
        f"replies lost per round over {len(pinger.hosts)} hosts: {lost_per_round}")
    assert benchmark.extra_info["engine_bytes_per_host"] <= MAX_ENGINE_BYTES_PER_HOST


def test_monitor_cpu_per_probe(benchmark) -> None:  # type: ignore[no-untyped-def]
    measured: dict[str, float] = {}

    def run_monitor() -> None:
        with fastping.Monitor(loopback_hosts(MONITOR_HOSTS), period=MONITOR_PERIOD_S) as monitor:
            wall_start, cpu_start = time.perf_counter(), process_cpu_seconds()
            monitor.start()
            time.sleep(MONITOR_RUN_S)
            monitor.stop()
            monitor.join()
            cpu = process_cpu_seconds() - cpu_start
            wall = time.perf_counter() - wall_start
            measured["engine_bytes_per_host"] = monitor.resources()["host_bytes"]
            states = monitor.states().values()
            measured["sent"] = sum(state.sent for state in states)
            measured["received"] = sum(state.received for state in states)
            measured["lost"] = sum(state.lost for state in states)
        measured["cpu_us_per_probe"] = cpu / max(measured["sent"], 1) * 1e6
        measured["cpu_share_of_core"] = cpu / wall

    benchmark.pedantic(run_monitor, rounds=1, iterations=1)
    benchmark.extra_info.update(measured)
    expected = MONITOR_HOSTS * MONITOR_RUN_S / MONITOR_PERIOD_S
    # each host's first probe is on a phase within the first period: allow one period short
    assert measured["sent"] >= expected - MONITOR_HOSTS
    assert measured["lost"] == 0, measured
    assert measured["engine_bytes_per_host"] <= MAX_ENGINE_BYTES_PER_HOST, measured
    # the last period's probes may still be in flight at stop(): neither received nor lost
    assert measured["sent"] - measured["received"] <= MONITOR_HOSTS, measured


def test_open_ping_close_one_host(benchmark) -> None:  # type: ignore[no-untyped-def]
    """What a short-lived caller pays: an engine opened, one probe, every descriptor closed."""

    def cycle() -> bool:
        with fastping.Pinger(["127.0.0.1"]) as pinger:
            return pinger.ping()["127.0.0.1"].ok

    assert benchmark(cycle)
