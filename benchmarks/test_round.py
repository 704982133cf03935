"""One round of probes to every host, as a user's Pinger.ping() does it.

Run with: python -m pytest benchmarks/ (pytest-benchmark; loopback only).
The Pinger is built once per size: a round's cost is what is measured.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest

import fastping


def loopback_hosts(count: int) -> list[str]:
    first = ipaddress.IPv4Address("127.1.0.1")
    return [str(first + offset) for offset in range(count)]


@pytest.fixture(scope="module", params=[1_000, 10_000], ids=lambda n: f"{n}_hosts")
def pinger(request: pytest.FixtureRequest) -> Iterator[fastping.Pinger]:
    with fastping.Pinger(loopback_hosts(request.param), timeout=2.0) as pinger:
        yield pinger


def test_one_round(benchmark, pinger: fastping.Pinger) -> None:  # type: ignore[no-untyped-def]
    results = benchmark(pinger.ping)
    answered = sum(result.ok for result in results.values())
    assert answered == len(pinger.hosts)
    benchmark.extra_info["hosts"] = len(pinger.hosts)
    benchmark.extra_info["lost_replies"] = len(pinger.hosts) - answered


def test_open_ping_close_one_host(benchmark) -> None:  # type: ignore[no-untyped-def]
    def cycle() -> bool:
        with fastping.Pinger(["127.0.0.1"]) as pinger:
            return pinger.ping()["127.0.0.1"].ok

    assert benchmark(cycle)
