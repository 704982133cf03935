"""The asyncio face: no thread, the engine's epoll descriptor registered with the running loop.

Every test runs under the standard asyncio loop and, when it is installed,
under uvloop, the way uvloop's own tests use stdlib asyncio as the reference.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from conftest import loopback_hosts, open_fds, run_isolated

import fastping
from fastping import EventKind, Health, Monitor, Pinger

LOOPS = ["asyncio"]
try:
    import uvloop
except ImportError:  # optional: the tests say so when it is missing
    uvloop = None
else:
    LOOPS.append("uvloop")
    # uvloop opens two descriptors of its own on first use and keeps them for
    # the life of the process; open them now, so they are in every baseline.
    uvloop.run(asyncio.sleep(0))


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest, fd_baseline: int) -> Iterator[Callable[..., Any]]:
    """Runs a coroutine to completion on the loop under test."""

    def run_coroutine(coroutine: Coroutine[Any, Any, Any]) -> Any:
        if request.param == "uvloop":
            return uvloop.run(coroutine)
        return asyncio.run(coroutine)

    yield run_coroutine


def test_uvloop_is_exercised_when_installed() -> None:
    if uvloop is None:
        pytest.skip("uvloop is not installed: only the stdlib loop is tested")
    assert "uvloop" in LOOPS


def test_async_ping(run: Callable[..., Any]) -> None:
    stats = run(fastping.async_ping("127.0.0.1", count=3, interval=0.01))
    assert (stats.sent, stats.received, stats.loss) == (3, 3, 0.0)
    assert stats.min is not None and stats.min > 0


def test_async_ping_raises_for_a_bad_host(run: Callable[..., Any]) -> None:
    with pytest.raises(ValueError, match="invalid IPv4 address"):
        run(fastping.async_ping("300.0.0.1", count=1))


def test_async_multiping_many_hosts_and_a_bad_one(run: Callable[..., Any]) -> None:
    hosts = [*loopback_hosts(500), "::1", "1.2.3.4.5"]
    stats = run(fastping.async_multiping(hosts, count=2, interval=0.01))
    assert list(stats) == hosts
    assert all(stats[host].received == 2 for host in hosts[:-1])
    assert stats["1.2.3.4.5"].error is not None and stats["1.2.3.4.5"].sent == 0


def test_monitor_never_blocks_the_loop(run: Callable[..., Any]) -> None:
    async def main() -> tuple[int, int]:
        ticks = events = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        async def watch(monitor: Monitor) -> None:
            nonlocal events
            async for _ in monitor:
                events += 1

        with Monitor(loopback_hosts(50), period=0.05, replies=True) as monitor:
            tasks = [asyncio.create_task(ticker()), asyncio.create_task(watch(monitor))]
            await asyncio.sleep(0.3)
            monitor.stop()
            await tasks[1]
            tasks[0].cancel()
        return ticks, events

    ticks, events = run(main())
    # 50 hosts every 50 ms for 0.3 s, while a 1 ms ticker kept running.
    assert events >= 200
    assert ticks >= 100


def test_async_for_over_monitor_events(run: Callable[..., Any]) -> None:
    async def main() -> tuple[list[str], dict[str, int]]:
        with Monitor(["127.0.0.1", "::1"], period=0.02, replies=True) as monitor:
            kinds = []
            async for event in monitor:
                kinds.append(event.kind.value)
                if len(kinds) == 10:
                    monitor.stop()
            return kinds, monitor.resources()

    kinds, resources = run(main())
    assert len(kinds) == 10
    assert kinds.count("up") == 2 and kinds.count("reply") == 8
    assert (resources["scheduled"], resources["outstanding"], resources["timer_armed"]) == (0, 0, 0)


def test_cancelling_a_monitor_task_leaves_nothing(run: Callable[..., Any]) -> None:
    async def main() -> None:
        with Monitor(["127.0.0.1"], period=0.01, replies=True) as monitor:
            fds = open_fds()
            for _ in range(500):
                first = asyncio.get_running_loop().create_future()

                async def watch(first: asyncio.Future[None] = first) -> None:
                    async for event in monitor:
                        assert event.kind in (EventKind.UP, EventKind.REPLY)
                        if not first.done():
                            first.set_result(None)

                task = asyncio.create_task(watch())
                await first
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert not monitor.running
            assert open_fds() == fds
            resources = monitor.resources()
            assert (resources["scheduled"], resources["outstanding"],
                    resources["timer_armed"]) == (0, 0, 0)
            assert monitor.state("127.0.0.1").health is Health.UP

    run(main())


CANCELLED_ROUND = """
import asyncio, json, os, sys
import fastping

async def main():
    before = len(os.listdir("/proc/self/fd"))
    with fastping.Pinger(["127.0.0.1", "::1"], timeout=60) as pinger:
        try:
            await asyncio.wait_for(pinger.aping(), timeout=0.2)
            outcome = "returned"
        except (asyncio.TimeoutError, TimeoutError):
            outcome = "timed out"
        resources = pinger.resources()
    return {"outcome": outcome, "resources": resources, "before": before,
            "after": len(os.listdir("/proc/self/fd"))}

if sys.argv[-1] == "uvloop":
    import uvloop
    print(json.dumps(uvloop.run(main())))
else:
    print(json.dumps(asyncio.run(main())))
"""


@pytest.mark.parametrize("loop", LOOPS)
def test_cancelling_an_unanswered_round(loop: str) -> None:
    # In a namespace whose loopback ignores echo requests the round would wait
    # 60 s; wait_for cancels it after 0.2 s.
    script = CANCELLED_ROUND.replace('sys.argv[-1] == "uvloop"', repr(loop == "uvloop"))
    report = json.loads(run_isolated(
        script, "sysctl -qw net.ipv4.icmp_echo_ignore_all=1 net.ipv6.icmp.echo_ignore_all=1"))
    assert report["outcome"] == "timed out"
    resources = report["resources"]
    assert (resources["scheduled"], resources["outstanding"], resources["timer_armed"]) == (0, 0, 0)
    assert report["after"] == report["before"]


def test_break_out_of_async_for_stops_at_once(run: Callable[..., Any]) -> None:
    async def main() -> list[bool]:
        with Monitor(["127.0.0.1"], period=0.01, replies=True) as monitor:
            seen = []
            for _ in range(3):
                async for _event in monitor:
                    break
                # Not when the loop finalises the iterator some time later: now.
                seen.append(monitor.running)
            return seen

    assert run(main()) == [False, False, False]


def test_a_large_round_lets_other_tasks_run(run: Callable[..., Any]) -> None:
    # 20,000 hosts: replies keep every batch full, and the round must still yield between them.
    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        with Pinger(loopback_hosts(20_000, "127.6.0.1")) as pinger:
            task = asyncio.ensure_future(ticker())
            await asyncio.sleep(0)
            before = ticks
            results = await pinger.aping()
            during = ticks - before
            task.cancel()
            assert all(result.ok for result in results.values())
        return during

    assert run(main()) >= 5
