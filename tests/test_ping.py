"""Pinging real loopback hosts: rounds, runs, callbacks, statistics, two engines at once."""

from __future__ import annotations

import gc
import math
import pickle
import socket
import statistics
import threading
import time
from array import array
from collections.abc import Callable

import pytest
from conftest import loopback_hosts
from hypothesis import example, given, settings
from hypothesis import strategies as st

import fastping
from fastping import HostStats, Pinger, Result, Status, Tally, _engine

MakePinger = Callable[..., Pinger]


def assert_all_ok(results: dict[str, Result], hosts: list[str]) -> None:
    assert list(results) == hosts
    for host, result in results.items():
        assert result.host == host
        assert result.status is Status.OK, result
        assert result.rtt is not None and 0 < result.rtt < 1.0
        assert result.ttl is not None and result.ttl > 0


def test_one_host(make_pinger: MakePinger) -> None:
    pinger = make_pinger(["127.0.0.1"])
    results = pinger.ping()
    assert_all_ok(results, ["127.0.0.1"])
    assert results["127.0.0.1"].address == "127.0.0.1"
    assert pinger.counters()["replies"] == 1


def test_ipv6_loopback(make_pinger: MakePinger) -> None:
    pinger = make_pinger(["::1"])
    assert_all_ok(pinger.ping(), ["::1"])
    assert pinger._engine is not None
    assert pinger._engine.identifier(socket.AF_INET6) is not None


def test_name_and_both_families_in_one_round(make_pinger: MakePinger) -> None:
    pinger = make_pinger(["localhost", "127.0.0.1", "::1"])
    results = pinger.ping()
    assert_all_ok(results, ["localhost", "127.0.0.1", "::1"])
    assert results["localhost"].address in ("127.0.0.1", "::1")
    # Still one socket per family: epoll + timerfd + IPv4 + IPv6.
    assert pinger.resources()["descriptors"] == 4


def test_thousand_loopback_hosts_in_one_round(make_pinger: MakePinger) -> None:
    hosts = loopback_hosts(1000)
    pinger = make_pinger(hosts, timeout=2.0)
    results = pinger.ping()
    assert_all_ok(results, hosts)
    assert len({result.seq for result in results.values()}) == 1000
    counters = pinger.counters()
    assert counters["sent"] == counters["replies"] == 1000
    assert counters["timeouts"] == counters["duplicates"] == counters["malformed"] == 0
    resources = pinger.resources()
    assert resources["outstanding"] == resources["scheduled"] == resources["timer_armed"] == 0


def test_ten_thousand_hosts_lose_no_reply(make_pinger: MakePinger) -> None:
    hosts = loopback_hosts(10_000, start="127.1.0.1")
    pinger = make_pinger(hosts, timeout=3.0)
    results = pinger.ping()
    assert sum(result.ok for result in results.values()) == 10_000


def test_sequence_wraps_without_stale_matches(make_pinger: MakePinger) -> None:
    # 70 rounds of 1,000 hosts: 70,000 probes, past the 16-bit sequence space.
    hosts = loopback_hosts(1000)
    pinger = make_pinger(hosts)
    for _ in range(70):
        results = pinger.ping()
        assert sum(result.ok for result in results.values()) == 1000
    counters = pinger.counters()
    assert counters["replies"] == 70_000
    assert counters["late"] == counters["malformed"] == counters["duplicates"] == 0


def test_run_yields_count_rounds_at_interval(make_pinger: MakePinger) -> None:
    pinger = make_pinger(["127.0.0.1", "::1"])
    started = time.monotonic()
    rounds = list(pinger.run(count=3, interval=0.05))
    elapsed = time.monotonic() - started
    assert len(rounds) == 3
    for results in rounds:
        assert_all_ok(results, ["127.0.0.1", "::1"])
    # Two waits of one interval each between three rounds.
    assert elapsed >= 0.1
    seqs = [results["127.0.0.1"].seq for results in rounds]
    assert len(set(seqs)) == 3


def test_stop_from_callback_ends_run(make_pinger: MakePinger) -> None:
    seen: list[dict[str, Result]] = []
    pinger = make_pinger(["127.0.0.1"], on_idle=lambda results: seen.append(results))
    for number, _results in enumerate(pinger.run(interval=0.01)):
        if number == 4:
            pinger.stop()
    assert len(seen) == 5


def test_stop_from_another_thread_interrupts_the_wait(make_pinger: MakePinger) -> None:
    pinger = make_pinger(["127.0.0.1"])
    timer = threading.Timer(0.2, pinger.stop)
    timer.start()
    started = time.monotonic()
    rounds = list(pinger.run(interval=30.0))
    timer.join()
    # Stopped in the middle of a 30 s wait, promptly.
    assert len(rounds) == 1
    assert time.monotonic() - started < 5.0
    assert pinger.resources()["outstanding"] == 0


def test_on_recv_sees_every_reply(make_pinger: MakePinger) -> None:
    hosts = loopback_hosts(50)
    received: list[Result] = []
    pinger = make_pinger(hosts, on_recv=received.append)
    pinger.ping()
    assert sorted(result.host for result in received) == sorted(hosts)


def test_remove_host(make_pinger: MakePinger) -> None:
    pinger = make_pinger(["127.0.0.1", "127.0.0.2"])
    pinger.remove("127.0.0.1")
    assert pinger.hosts == ("127.0.0.2",)
    assert list(pinger.ping()) == ["127.0.0.2"]
    assert pinger.add("127.0.0.1") == "127.0.0.1"
    assert_all_ok(pinger.ping(), ["127.0.0.2", "127.0.0.1"])


def test_hosts_removed_and_added_by_a_callback_during_a_round(make_pinger: MakePinger) -> None:
    hosts = loopback_hosts(200)
    first, last = hosts[0], hosts[-1]
    pinger = make_pinger(hosts, timeout=0.5)

    def change_hosts(result: Result) -> None:
        if pinger.on_recv is not None:
            pinger.on_recv = None
            pinger.remove(first if result.host != first else hosts[1])  # answered, or not yet
            pinger.remove(last)
            pinger.add("127.0.3.1")

    pinger.on_recv = change_hosts
    results = pinger.ping()
    # Removed hosts are left out, answered or not; the new one waits for the next round.
    assert len(pinger.hosts) == len(hosts) - 1
    assert list(results) == [host for host in pinger.hosts if host != "127.0.3.1"]
    assert last not in results and "127.0.3.1" not in results
    assert all(result.ok for result in results.values())
    assert set(pinger.ping()) == set(pinger.hosts) and "127.0.3.1" in pinger.hosts


def test_adding_a_host_twice_is_a_no_op(make_pinger: MakePinger) -> None:
    pinger = make_pinger(["127.0.0.1", "127.0.0.1", " 127.0.0.1 "])
    assert pinger.hosts == ("127.0.0.1",)
    assert pinger.resources()["hosts"] == 1


def test_empty_pinger_round(make_pinger: MakePinger) -> None:
    assert make_pinger().ping() == {}


@pytest.mark.parametrize("size", [56, 1400])
def test_options_reach_the_wire(size: int, make_pinger: MakePinger) -> None:
    # A raw socket of the test's own watches our echo requests go out on loopback.
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sniffer:
        sniffer.setblocking(False)
        pinger = make_pinger(["127.0.0.1"], size=size, ttl=7, tos=0x10)
        assert pinger._engine is not None
        assert_all_ok(pinger.ping(), ["127.0.0.1"])
        requests = []
        while True:
            try:
                packet = sniffer.recv(65535)
            except BlockingIOError:
                break
            header_len = (packet[0] & 0x0F) * 4
            ident = int.from_bytes(packet[header_len + 4:header_len + 6], "big")
            # Our echo requests only: other processes may be pinging loopback too.
            if packet[header_len] == 8 and ident == pinger._engine.identifier(socket.AF_INET):
                requests.append(packet)
    assert requests, "the sniffer saw no echo request"
    packet = requests[-1]
    assert packet[8] == 7  # TTL
    assert packet[1] == 0x10  # TOS
    assert int.from_bytes(packet[2:4], "big") == 20 + 8 + size
    if size <= 552 - 28:
        # Small probes say DF themselves, so the kernel spends no hashed IP ID on them.
        assert packet[6] & 0x40 and packet[4:6] == b"\0\0"


def test_source_address_is_used(make_pinger: MakePinger) -> None:
    pinger = make_pinger(["127.0.0.1"], source="127.0.0.1")
    assert_all_ok(pinger.ping(), ["127.0.0.1"])


def test_ping_statistics() -> None:
    stats = fastping.ping("127.0.0.1", count=3, interval=0.01, timeout=1.0)
    assert isinstance(stats, HostStats)
    assert (stats.sent, stats.received, stats.duplicates, stats.errors) == (3, 3, 0, 0)
    assert stats.loss == 0.0 and stats.alive
    assert len(stats.rtts) == 3
    assert stats.min is not None and stats.max is not None and stats.avg is not None
    assert 0 < stats.min <= stats.avg <= stats.max
    assert stats.stddev is not None and stats.stddev >= 0


def test_ping_statistics_are_the_engines_tally_of_the_rtts() -> None:
    stats = fastping.ping("127.0.0.1", count=5, interval=0.01, timeout=1.0)
    rtts = stats.rtts
    assert len(rtts) == 5
    assert (stats.min, stats.max) == (min(rtts), max(rtts))
    assert stats.avg == pytest.approx(statistics.fmean(rtts), rel=1e-12)
    assert stats.stddev == pytest.approx(statistics.pstdev(rtts), rel=1e-6, abs=1e-10)


def test_tallies_count_each_host_and_a_mark_starts_an_interval(
    make_pinger: MakePinger,
) -> None:
    pinger = make_pinger(["127.0.0.1", "::1"])
    assert pinger.tallies() == {"127.0.0.1": fastping.Tally(), "::1": fastping.Tally()}
    first = [pinger.ping() for _ in range(3)]
    before = pinger.tallies(mark=True)
    for name, tally in before.items():
        rtts = [results[name].rtt for results in first]
        assert (tally.sent, tally.received, tally.errors, tally.duplicates) == (3, 3, 0, 0)
        assert (tally.min, tally.max) == (tally.span_min, tally.span_max) == (min(rtts),
                                                                              max(rtts))
        assert tally.loss == 0.0
    marked = pinger.tallies()
    assert all(t.span_min is None and t.span_max is None for t in marked.values())
    second = pinger.ping()
    for name, tally in pinger.tallies().items():
        interval = tally.since(before[name])
        assert (interval.sent, interval.received) == (1, 1)
        assert interval.min == interval.max == second[name].rtt
        assert interval.total == pytest.approx(second[name].rtt, rel=1e-9)
        assert tally == pinger.tally(name)
    with pytest.raises(ValueError, match="not in this Pinger"):
        pinger.tally("127.0.0.9")


def test_multiping_reports_bad_hosts_without_failing_others() -> None:
    stats = fastping.multiping(["127.0.0.1", "300.1.2.3", "::1", "::zz"], count=2, interval=0.01)
    assert list(stats) == ["127.0.0.1", "300.1.2.3", "::1", "::zz"]
    assert stats["127.0.0.1"].received == 2 and stats["::1"].received == 2
    for bad in ("300.1.2.3", "::zz"):
        assert stats[bad].sent == 0 and stats[bad].error is not None and bad in stats[bad].error
        assert stats[bad].loss == 1.0 and not stats[bad].alive


def test_two_pingers_in_threads_see_only_their_own_replies() -> None:
    hosts = loopback_hosts(300)
    outcomes: dict[str, object] = {}
    barrier = threading.Barrier(2)

    def work(name: str) -> None:
        with Pinger(hosts) as pinger:
            barrier.wait(timeout=10)
            rounds = [pinger.ping() for _ in range(20)]
            assert pinger._engine is not None
            ident = pinger._engine.identifier(socket.AF_INET)
            outcomes[name] = (rounds, pinger.counters(), pinger.duplicates, ident)

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert set(outcomes) == {"a", "b"}
    for rounds, counters, duplicates, _ in outcomes.values():  # type: ignore[misc]
        for results in rounds:
            assert sum(result.ok for result in results.values()) == 300
        assert counters["replies"] == counters["sent"] == 6000
        assert counters["duplicates"] == 0 and sum(duplicates.values()) == 0
    # Raw sockets are handed every echo reply on the machine; the kernel
    # filter keeps each engine's own identifier only. Should the two random
    # identifiers collide (1 in 65,536), the cookie tells them apart instead.
    (_, a, _, ident_a), (_, b, _, ident_b) = outcomes["a"], outcomes["b"]  # type: ignore[misc]
    if ident_a == ident_b:
        assert a["foreign"] > 0 and b["foreign"] > 0
    else:
        assert a["foreign"] == b["foreign"] == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_result_is_frozen(host: str, make_pinger: MakePinger) -> None:
    result = make_pinger([host]).ping()[host]
    with pytest.raises(AttributeError):
        result.rtt = 0.0  # type: ignore[misc]


def test_results_and_hosts_stay_out_of_the_garbage_collector(make_pinger: MakePinger) -> None:
    # 100,000 tracked results per round would set off full collections of the whole program.
    pinger = make_pinger(["127.0.0.1", "::1", "127.0.0.2"], timeout=0.5)
    pinger.add("127.0.0.3")
    results = pinger.ping()
    assert all(result.ok for result in results.values())
    assert not any(gc.is_tracked(result) for result in results.values())
    # Nor the host table (a million hosts, walked by every collection): names and indexes.
    (table,) = gc.get_referents(pinger._engine.hosts)
    assert table == {"127.0.0.1": 0, "::1": 1, "127.0.0.2": 2, "127.0.0.3": 3}
    assert not gc.is_tracked(table)
    # Still a Result in every other way: equal to one built the checked way, and picklable.
    result = results["127.0.0.1"]
    assert result == Result(*result) and type(result) is Result
    assert pickle.loads(pickle.dumps(result)) == result


def test_bulk_ipv4_literals_stop_at_the_first_other_name(make_pinger: MakePinger) -> None:
    # The command's bulk path: dotted quads in one call, anything else left for add().
    pinger = make_pinger()
    names = ["127.0.0.1", "127.0.0.2", "127.0.0.1", "127.0.0.3", "127.0.0.01", "127.0.0.4",
             " 127.0.0.5", "127.0.0.6", "127.0.0.7\0", "localhost", "::1", "\u00e9"]
    assert pinger._add_ipv4_literals(names, 0, len(names)) == 4  # a leading zero: not one
    assert pinger.hosts == ("127.0.0.1", "127.0.0.2", "127.0.0.3")
    assert pinger._add_ipv4_literals(names, 5, 6) == 6  # up to stop, no further
    assert pinger._add_ipv4_literals(names, 7, len(names)) == 8
    for start in (6, 8, 9, 10, 11):  # whitespace, a NUL, a name, IPv6, non-ASCII
        assert pinger._add_ipv4_literals(names, start, len(names)) == start
    assert pinger.hosts == ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.6")
    assert pinger.add("127.0.0.4") == "127.0.0.4"  # the same host: nothing added
    results = pinger.ping()
    assert list(results) == list(pinger.hosts)
    assert all(result.ok and result.address == host for host, result in results.items())


def test_a_round_of_rtts_alone_keeps_each_reply_at_its_host_index(
    make_pinger: MakePinger,
) -> None:
    # The command's quiet -C: a round's RTTs in one buffer, no Result made per host.
    pinger = make_pinger(["127.0.0.1", "::1", "127.0.0.2", "127.0.0.3"], timeout=0.5)
    pinger.remove("127.0.0.2")  # its index is left out of the round: NaN there
    rounds = list(pinger._run_rtts(2, 0.0))
    indexes = pinger._indexes()
    assert dict(indexes) == {"127.0.0.1": 0, "::1": 1, "127.0.0.3": 3}
    assert all(len(rtts) >= 4 for rtts in rounds) and math.isnan(rounds[0][2])
    assert pinger.counters()["replies"] == 6
    assert pinger._answered() == 3  # the hosts there now, each answered
    for host, index in indexes.items():
        rtts = [rtts[index] for rtts in rounds]
        assert all(0 < rtt < 0.5 for rtt in rtts), rtts
        # Exactly the seconds a Result would hold: the engine's own sum of the host's RTTs.
        assert sum(rtts) == pytest.approx(pinger.tally(host).total, rel=1e-12)
    # Outcomes kept as RTTs are not events; a buffer too short leaves a host out.
    engine = pinger._engine
    assert engine is not None
    engine.schedule_now([0, 1, 3])
    short = array("d", [math.nan])
    status, events = engine.run(until_idle=True, rtts=short)
    assert (status, events) == ("idle", []) and 0 < short[0] < 0.5
    assert pinger.counters()["replies"] == 9
    with pytest.raises(BufferError):
        engine.run(until_idle=True, rtts=b"\0" * 8)  # read-only
    with pytest.raises(ValueError):
        engine.run(until_idle=True, rtts=array("f", [0.0]))  # not doubles


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.one_of(st.floats(min_value=0, max_value=1e5),
                                   st.just(math.nan)), min_size=3, max_size=3),
                min_size=0, max_size=4))
def test_rtt_lines_are_fping_formats_text(columns: list[list[float]]) -> None:
    # fping's -C lines written from the columns in C, as fping_formats writes them in Python:
    # every decimal place (its sprint_tm's steps, rounding ties) and the names' padding.
    from fastping.cli import fping_formats as text

    names = {"127.0.0.1": "127.0.0.1", "b\u00e9": "b\u00e9", "never": "never-added"}
    indexes = {"127.0.0.1": 2, "b\u00e9": 0}
    width = max(text.byte_length(name) for name in names.values())
    kept = [array("d", column) for column in columns]
    expected = "".join(
        text.rtts_line(text.pad(name, width), [
            None if math.isnan(column[indexes[key]]) else column[indexes[key]]
            for column in columns] if key in indexes else []) + "\n"
        for key, name in names.items())
    assert _engine.fping_rtt_lines(names, indexes, width, kept) == expected


def test_rtt_lines_round_as_fping_formats_at_each_step() -> None:
    from fastping.cli import fping_formats as text

    values = [0.0, 5e-7, 0.0000125, 0.0001235, 0.000999999, 0.001, 0.0012345, 0.00999949,
              0.0125, 0.09999, 0.1, 0.5, 12.5, 999.9995, 1000.0, 1234.5678, 1e300]
    for value in values + [value * 1.0000001 for value in values]:
        line = _engine.fping_rtt_lines({"h": "h"}, {"h": 0}, 1, [array("d", [value])])
        assert line == f"h : {text.ms(value)}\n", value
    # Whole microseconds and nanoseconds as the engine measures them, halves among them.
    rtts = [count / 1e6 for count in range(0, 200_000, 7)] + [
        count / 1e9 for count in range(0, 20_000_000, 997)] + [
        (count + 0.5) / 10**digits / 1000 for digits in (0, 1, 2, 3) for count in range(2000)]
    names = {str(number): "h" for number in range(len(rtts))}
    lines = _engine.fping_rtt_lines(names, {key: int(key) for key in names}, 1,
                                    [array("d", rtts)])
    assert lines.splitlines() == [f"h : {text.ms(rtt)}" for rtt in rtts]


def summary_line(name: str, tally: Tally, outage_period: float | None) -> str:
    """fping's -c summary line as fastping wrote it in Python before the binding did."""
    from fastping.cli import fping_formats as text

    sent, received = tally.sent, tally.received
    if received <= sent:
        line = f"{name} : xmt/rcv/%loss = {sent}/{received}/{text.loss_percent(sent, received)}%"
        if outage_period is not None:
            line += f", outage(ms) = {int((sent - received) * outage_period * 1000)}"
    else:
        line = f"{name} : xmt/rcv/%return = {sent}/{received}/{received * 100 // sent}%"
    if tally.min is not None and tally.avg is not None and tally.max is not None:
        line += f", min/avg/max = {text.ms(tally.min)}/{text.ms(tally.avg)}/{text.ms(tally.max)}"
    return line


RTT = st.floats(min_value=0, max_value=1e4)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 2**40), st.integers(0, 2**40), RTT, RTT, RTT, st.booleans(),
       st.one_of(st.none(), st.floats(min_value=1e-6, max_value=1e4)))
@example(2**40, 0, 0.0, 0.0, 0.0, False, 8389.0)  # an outage past a long long (-o)
def test_summary_lines_are_fping_formats_text(sent: int, received: int, least: float,
                                              total: float, most: float, extremes: bool,
                                              outage: float | None) -> None:
    # fping's -c/-l lines written in C from the tallies, as they were in Python.
    from fastping.cli import fping_formats as text

    if received > sent and not sent:
        sent = 1  # (nothing sent, replies counted: no tally the engine keeps)
    tally = Tally(sent, received, 0, 0, 0, total, 0.0, least if extremes else None,
                  most if extremes else None)
    names = {"a": "a", "b\u00e9": "b\u00e9", "never": "never-probed"}
    tallies = {"a": tally, "b\u00e9": Tally(sent=sent)}
    width = max(text.byte_length(name) for name in names.values())
    expected = "".join(summary_line(text.pad(name, width), tallies.get(key, Tally()), outage)
                       + "\n" for key, name in names.items())
    assert _engine.fping_summary_lines(names, tallies, width, outage) == expected
