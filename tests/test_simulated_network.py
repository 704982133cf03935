"""fastping against hosts that misbehave on purpose: a simulated network (tests/netsim.py).

Each behaviour a real network can show (loss, delay, jitter, duplicates, reordering, replies
after the timeout, corrupt, forged and truncated replies, ICMP errors with good and malformed
quotes, floods of other pingers' replies) is one or more simulated hosts whose behaviour is
deterministic, so the tests assert exact counts: what fastping reports per probe (Result) and
what its engine counted (counters()). The hosts live in one namespace per module; each test
pings hosts of its own, because some behaviours (seeded loss, stale copies) keep state per host.
fastping runs in a child process in that namespace, as in tests/test_netns.py.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import netsim
import pytest

# ---- the simulated hosts ---------------------------------------------------------------------


def v4(subnet: int, host: int) -> str:
    return f"198.18.{subnet}.{host}"


def v6(subnet: int, host: int) -> str:
    return f"2001:db8:5:{subnet}::{host:x}"


def both(subnet: int, host: int) -> list[str]:
    return [v4(subnet, host), v6(subnet, host)]


def router(family: int, number: int) -> str:
    return v4(2, number) if family == 4 else v6(2, number)


HOSTS: dict[str, dict[str, Any]] = {}

# Replies that are right but unusual in shape or order.
PLAIN = both(1, 1)
IP_OPTIONS = v4(1, 2)
TTL_37 = both(1, 3)
REORDERED = [*both(1, 4), *both(1, 5)]  # the four replies of a round come back newest first
HOSTS.update({address: {} for address in PLAIN})
HOSTS[IP_OPTIONS] = {"ip_options": True}
HOSTS.update({address: {"ttl": 37} for address in TTL_37})
HOSTS.update({address: {"reorder": len(REORDERED)} for address in REORDERED})

# Delays in ms, each with jitter: (delay, jitter) -> hosts.
DELAYED = {(20, 3): both(3, 20), (50, 6): both(3, 50)}
for (delay, jitter), addresses in DELAYED.items():
    HOSTS.update({a: {"delay_ms": delay, "jitter_ms": jitter} for a in addresses})

LOSS, LOSS_SEED = 0.25, 1234
LOSSY = [v4(10, n) for n in range(1, 41)] + [v6(10, n) for n in range(1, 11)]
HOSTS.update({address: {"loss": LOSS, "seed": LOSS_SEED} for address in LOSSY})

COPIES = {v4(4, 3): 3, v6(4, 2): 2}
SLOW_ANCHOR = v4(4, 100)  # answers after 30 ms: every copy arrives within its round
HOSTS.update({address: {"copies": copies} for address, copies in COPIES.items()})
HOSTS[SLOW_ANCHOR] = {"delay_ms": 30}

LATE_DELAY_MS = 150
LATE = both(5, 1)
HOSTS.update({address: {"delay_ms": LATE_DELAY_MS} for address in LATE})

# Replies that must never count, and where each lands with a raw socket: the counter it
# increments per reply, or None when the kernel drops it before fastping sees it.
FORGED_EXPECTATIONS: dict[str, dict[int, str | None]] = {
    # The BPF filter on the raw socket passes only our identifier.
    "ident": {4: None, 6: None},
    "seq": {4: "malformed", 6: "malformed"},  # our cookie and serial, another sequence
    # A serial not yet sent, its sequence agreeing: the cookie, made for the probe's own
    # serial, is not that serial's, and it names no probe of ours: someone else's.
    "serial": {4: "foreign", 6: "foreign"},
    # A bad cookie on the serial of our probe to that very host: a forgery of its answer.
    "cookie": {4: "malformed", 6: "malformed"},
    # fastping checks ICMPv4 checksums itself; the kernel drops bad ICMPv6 ones.
    "checksum": {4: "malformed", 6: None},
    "truncate_tag": {4: "malformed", 6: "malformed"},  # our cookie, then half a serial
    # 6 bytes of ICMP: the raw socket's ICMPv4 filter needs 8 and drops it; ICMPv6's needs 4.
    "truncate_header": {4: None, 6: "malformed"},
    "source": {4: "foreign", 6: "foreign"},  # a good reply, from another address
}
# On datagram sockets the kernel drops these itself: no socket has that identifier, it
# verifies every ICMP checksum, and it needs a whole ICMP header.
DROPPED_BY_KERNEL_FOR_DATAGRAM = {"ident", "checksum", "truncate_header"}
FORGED: dict[tuple[str, int], str] = {}
for number, forge in enumerate(FORGED_EXPECTATIONS, start=1):
    for family, address in zip((4, 6), both(6, number), strict=True):
        FORGED[(forge, family)] = address
        HOSTS[address] = ({"source": v4(7, number) if family == 4 else v6(7, number)}
                          if forge == "source" else {"forge": forge})
FLOODED = both(6, 100)  # 20 other pingers' replies ahead of each answer
HOSTS.update({address: {"foreign": 20} for address in FLOODED})

# ICMP errors: host -> (status, type, code, router, quote).
ERRORS: dict[str, tuple[str, int, int, str, str]] = {
    v4(8, 1): ("unreachable", 3, 1, router(4, 1), "full"),
    v4(8, 2): ("unreachable", 3, 13, router(4, 2), "short"),  # RFC 792: 8 bytes of the probe
    v4(8, 3): ("ttl_exceeded", 11, 0, router(4, 3), "full"),
    v4(8, 4): ("icmp_error", 12, 0, router(4, 4), "full"),  # parameter problem
    v6(8, 1): ("unreachable", 1, 3, router(6, 1), "full"),
    v6(8, 2): ("unreachable", 1, 0, router(6, 2), "short"),
    v6(8, 3): ("ttl_exceeded", 3, 0, router(6, 3), "full"),
    v6(8, 4): ("icmp_error", 4, 0, router(6, 4), "full"),
}
for address, (_, icmp_type, code, reporter, quote) in ERRORS.items():
    HOSTS[address] = {"error": [icmp_type, code], "router": reporter, "quote": quote}

# Errors whose quote is not of a probe of ours, or not well formed: the counter per error.
BAD_QUOTE_EXPECTATIONS = {
    "tiny": "malformed",  # the quoted echo cut to 6 bytes
    "bad_header": "malformed",  # the quoted IP header is not IP
    "not_icmp": "foreign",  # it quotes a UDP datagram
    "wrong_dst": "foreign",  # a probe to another address
    "cookie": "malformed",  # our probe's serial and destination, a bad cookie: forged
}
BAD_QUOTES: dict[tuple[str, int], str] = {}
for number, quote in enumerate(BAD_QUOTE_EXPECTATIONS, start=1):
    for family, address in zip((4, 6), both(9, number), strict=True):
        BAD_QUOTES[(quote, family)] = address
        HOSTS[address] = {"error": [3, 1] if family == 4 else [1, 3],
                          "router": router(family, 9), "quote": quote}

# Answers every probe at once, and again once 65,536 later probes have arrived: just when
# the probe with the same ICMP sequence, 65,536 serials on, is waiting for its reply.
WRAP = v4(11, 1)
WRAP_PROBES = 1 << 16
HOSTS[WRAP] = {"stale_after": WRAP_PROBES}

# Answers 300 ms late: at 20,000 probes a second, 6,000 replies are always on their way.
DELAYED_FAST = v4(17, 1)
HOSTS[DELAYED_FAST] = {"delay_ms": 300}

SWITCHED = v4(12, 1)  # answers until the control file silences it
HOSTS[SWITCHED] = {}

# Targets that read their own probes and forge, from what they learned, answers for a silent
# neighbour (victim) with serials around their own: (forger, victim) pairs, per kind.
FORGE_SPAN = 2
FORGERS: dict[str, list[tuple[str, str]]] = {
    kind: [(v4(13, 2 * n + 1), v4(13, 2 * n + 2)), (v6(13, 2 * n + 1), v6(13, 2 * n + 2))]
    for n, kind in enumerate(("reply", "error"))}
for kind, pairs in FORGERS.items():
    for forger, victim in pairs:
        HOSTS[forger] = {"forge_for": victim, "forge_span": FORGE_SPAN, "forge_kind": kind}
        HOSTS[victim] = {"silent": True}

# RFC 792 quotes (8 bytes of the probe, no tag) from a router, for a host that answers 5 ms
# later, and for hosts that never answer: host -> (type, code, router).
SHORT_AHEAD = {v4(14, 1): (3, 1, router(4, 14)), v6(14, 1): (1, 3, router(6, 14))}
SHORT_ONLY = {v4(14, 2): (3, 13, router(4, 15)), v6(14, 2): (1, 0, router(6, 15))}
for address, (icmp_type, code, reporter) in SHORT_AHEAD.items():
    HOSTS[address] = {"error": [icmp_type, code], "router": reporter, "quote": "short",
                      "error_first": True, "delay_ms": 5}
for address, (icmp_type, code, reporter) in SHORT_ONLY.items():
    HOSTS[address] = {"error": [icmp_type, code], "router": reporter, "quote": "short"}

# Hosts that answer, and two that also flood forged unreachables carrying our identifier
# (5,000 a second each) at whoever pings them.
FLOODERS = [v4(15, 1), v6(15, 1)]
FLOOD_RATE = 5000
HOSTS.update({host: {"error_flood": FLOOD_RATE, "router": router(4 if ":" not in host else 6,
                                                                    16)} for host in FLOODERS})
UNDER_FLOOD = [v4(16, n) for n in range(1, 51)] + [v6(16, n) for n in range(1, 51)]
HOSTS.update({host: {} for host in UNDER_FLOOD})


# ---- the client, run in the namespace ----------------------------------------------------------


def _client() -> None:
    """Runs in the namespace: does what the JSON spec in argv[1] says, prints a JSON report.

    Shipped to the child as source, so it imports everything it uses.
    """
    import json
    import sys
    import threading
    import time

    import fastping

    spec = json.loads(sys.argv[1])

    def plain(result: fastping.Result) -> dict[str, object]:
        fields = result._asdict()
        fields["status"] = result.status.value
        return fields

    def rounds(group: dict[str, Any]) -> dict[str, object]:
        """Rounds of one Pinger; with settle, it goes on counting that long after the last."""
        done: list[dict[str, object]] = []
        with fastping.Pinger(group["hosts"], **group["options"]) as pinger:
            for results in pinger.run(interval=group["interval"]):
                done.append({name: plain(result) for name, result in results.items()})
                if len(done) == group["rounds"]:
                    if not group["settle"]:
                        break
                    # run() now waits out the interval in the engine, still counting what
                    # arrives, until this stop() (settle < interval - round: no extra round).
                    threading.Timer(group["settle"], pinger.stop).start()
            return {"rounds": done, "counters": pinger.counters(),
                    "duplicates": pinger.duplicates,
                    "tallies": {name: tally._asdict() for name, tally in pinger.tallies().items()}}

    def wrap(host: str, probes: int) -> dict[str, object]:
        """A Monitor probing one host as fast as it may until `probes` probes went out and
        all but the last 2,048 were answered (a busy responder falls behind the sends)."""
        # A 2 s timeout: the user-space responder on a busy machine may fall over 1 s behind,
        # and a probe's sequence comes round again only 65,536 probes (over 3 s) later.
        with fastping.Monitor([host], period=5e-5, timeout=2.0) as monitor:
            monitor.start()
            deadline = time.monotonic() + spec["seconds"]
            while time.monotonic() < deadline:
                state = monitor.state(host)
                if state.sent >= probes and state.received >= probes - 2048:
                    break
                time.sleep(0.05)
            # Counters and what is in flight, read together in the monitor's loop.
            counters, resources = monitor._call(
                lambda: (monitor._live_engine().counters()._asdict(),
                         monitor._live_engine().resources()._asdict()))
            state = monitor.state(host)
            return {"counters": counters, "resources": resources,
                    "lost": state.lost, "received": state.received,
                    "duplicates": state.duplicates, "max_rtt": state.max}

    def held(host: str) -> dict[str, object]:
        """A Monitor at 20,000 probes a second whose loop a callback holds for 400 ms, once."""
        holds: list[float] = []

        def hold_once(event: fastping.MonitorEvent) -> None:
            if not holds and event.result.ok:
                holds.append(time.monotonic())
                time.sleep(0.4)

        with fastping.Monitor([host], period=5e-5, timeout=1.0, replies=True,
                              on_event=hold_once) as monitor:
            monitor.start()
            time.sleep(1.2)
            monitor.stop()
            monitor.join()
            state = monitor.state(host)
            return {"held": len(holds), "sent": state.sent, "lost": state.lost,
                    "counters": monitor.counters()}

    def switch(host: str) -> dict[str, object]:
        """A Monitor over a host silenced at its first UP and let answer again at its DOWN."""
        sys.path.insert(0, spec["netsim_dir"])
        import netsim

        log: list[dict[str, object]] = []
        deadline = time.monotonic() + spec["seconds"]
        with fastping.Monitor([host], period=0.05, timeout=0.04, down_after=3, up_after=2,
                              replies=True) as monitor:
            for event in monitor.events():
                entry = {"kind": event.kind.value, "status": event.result.status.value,
                         "health": event.health.value,
                         "previous": event.previous and event.previous.value}
                log.append(entry)
                if event.kind.value in ("up", "down"):
                    entry["streak"] = monitor.state(host).streak
                ups = sum(e["kind"] == "up" for e in log)
                if event.kind.value == "up" and ups == 1:
                    netsim.write_control(spec["control"], {host: {"silent": True}})
                elif event.kind.value == "down":
                    netsim.write_control(spec["control"], {})
                if ups == 2 or time.monotonic() > deadline:
                    break
        return {"log": log}

    report: dict[str, object] = {}
    if spec["action"] == "pinger":
        report["groups"] = [rounds(group) for group in spec["groups"]]
    elif spec["action"] == "wrap":
        report.update(wrap(spec["host"], spec["probes"]))
    elif spec["action"] == "switch":
        report.update(switch(spec["host"]))
    elif spec["action"] == "held":
        report.update(held(spec["host"]))
    print(json.dumps(report))


CLIENT_SOURCE = netsim.client_source(_client)


@pytest.fixture(scope="module")
def network() -> Iterator[netsim.SimulatedNetwork]:
    yield from netsim.network_or_skip(HOSTS)


def group(hosts: list[str], *, rounds: int = 1, interval: float = 0.0, settle: float = 0.0,
          timeout: float = 0.2, **options: Any) -> dict[str, Any]:
    """One Pinger's worth of rounds for the client."""
    return {"hosts": hosts, "rounds": rounds, "interval": interval, "settle": settle,
            "options": {"timeout": timeout, **options}}


def run_groups(network: netsim.SimulatedNetwork, *groups: dict[str, Any]) -> list[dict[str, Any]]:
    report = network.run(CLIENT_SOURCE, {"action": "pinger", "groups": list(groups)})
    reports: list[dict[str, Any]] = report["groups"]
    for done, asked in zip(reports, groups, strict=True):
        assert len(done["rounds"]) == asked["rounds"]
    return reports


def counters_like(sent: int, **nonzero: int) -> dict[str, int]:
    """The counters of an engine that sent `sent` probes: zero but for those named."""
    zero = dict.fromkeys(("replies", "timeouts", "icmp_errors", "send_errors", "duplicates",
                          "late", "foreign", "malformed", "unverified"), 0)
    return {"sent": sent, **zero, **nonzero}


def statuses(report: dict[str, Any]) -> list[dict[str, str]]:
    return [{host: result["status"] for host, result in round_.items()}
            for round_ in report["rounds"]]


def all_status(hosts: list[str], status: str, rounds: int) -> list[dict[str, str]]:
    return [dict.fromkeys(hosts, status) for _ in range(rounds)]


PRIVILEGE = pytest.mark.parametrize("privileged", [True, False], ids=["raw", "datagram"])


# ---- replies -----------------------------------------------------------------------------------


@PRIVILEGE
def test_unusual_but_valid_replies_are_replies(
    network: netsim.SimulatedNetwork, privileged: bool
) -> None:
    # Plain, with IPv4 options, with another TTL, and four replies per round that arrive
    # newest first: each is its own host's reply, whatever the order.
    hosts = [*PLAIN, IP_OPTIONS, *TTL_37, *REORDERED]
    rounds = 3
    (report,) = run_groups(network, group(hosts, rounds=rounds, privileged=privileged))
    assert statuses(report) == all_status(hosts, "ok", rounds)
    assert report["counters"] == counters_like(len(hosts) * rounds, replies=len(hosts) * rounds)
    for round_ in report["rounds"]:
        assert {host: round_[host]["ttl"] for host in TTL_37} == dict.fromkeys(TTL_37, 37)
        assert all(result["address"] == host for host, result in round_.items())
        # The reordered hosts are held until the last of them is probed, then answered
        # newest first: the host probed first waited longest.
        by_seq = sorted(REORDERED, key=lambda host: round_[host]["seq"])
        rtts = [round_[host]["rtt"] for host in by_seq]
        assert rtts == sorted(rtts, reverse=True)


def test_rtts_match_the_configured_delays(network: netsim.SimulatedNetwork) -> None:
    hosts = [host for addresses in DELAYED.values() for host in addresses]
    rounds = 8
    (report,) = run_groups(network, group(hosts, rounds=rounds))
    assert statuses(report) == all_status(hosts, "ok", rounds)
    for (delay, jitter), addresses in DELAYED.items():
        rtts_ms = [round_[host]["rtt"] * 1000 for round_ in report["rounds"] for host in addresses]
        # The responder sends no earlier than delay + jitter and within about a millisecond
        # of it (its wait has millisecond resolution): 20 ms +3 is 20-25, 50 ms +6 is 50-60.
        # Never early: an RTT is kernel time to kernel time. Late only when the responder, a
        # Python process sharing the machine's two cores, is held up: rarely, never typically.
        slack = 2 if delay == 20 else 4
        assert min(rtts_ms) >= delay, (delay, rtts_ms)
        late = [rtt for rtt in rtts_ms if rtt > delay + jitter + slack]
        assert len(late) <= len(rtts_ms) // 10, (delay, rtts_ms)
        assert statistics.median(rtts_ms) <= delay + jitter + slack, (delay, rtts_ms)


def test_loss_is_the_configured_rate(network: netsim.SimulatedNetwork) -> None:
    rounds = 8
    (report,) = run_groups(network, group(LOSSY, rounds=rounds, timeout=0.15))
    lost = {host: sum(round_[host]["status"] == "timeout" for round_ in report["rounds"])
            for host in LOSSY}
    # The responder draws once per probe from each host's seeded generator: replay it.
    assert lost == {host: netsim.expected_losses(LOSS_SEED, host, rounds, LOSS) for host in LOSSY}
    probes = len(LOSSY) * rounds
    total_lost = sum(lost.values())
    # And that seeded sample is a fair one: within four standard deviations of the rate.
    assert abs(total_lost - LOSS * probes) <= 4 * math.sqrt(probes * LOSS * (1 - LOSS))
    assert report["counters"] == counters_like(probes, replies=probes - total_lost,
                                               timeouts=total_lost)


@PRIVILEGE
def test_duplicates_are_counted_as_duplicates_never_as_replies(
    network: netsim.SimulatedNetwork, privileged: bool
) -> None:
    hosts = [*COPIES, SLOW_ANCHOR]
    rounds = 4
    (report,) = run_groups(network, group(hosts, rounds=rounds, privileged=privileged))
    assert statuses(report) == all_status(hosts, "ok", rounds)
    extra = {host: (copies - 1) * rounds for host, copies in COPIES.items()}
    assert report["duplicates"] == {**extra, SLOW_ANCHOR: 0}
    sent = len(hosts) * rounds
    assert report["counters"] == counters_like(sent, replies=sent,
                                               duplicates=sum(extra.values()))


def test_the_engine_tallies_every_outcome_as_the_results_show_it(
    network: netsim.SimulatedNetwork,
) -> None:
    # The engine's per-host counts (what HostStats and the command report) against each
    # probe's Result, for hosts that answer late, lose, repeat and fail with ICMP errors.
    hosts = [*PLAIN, *[a for addresses in DELAYED.values() for a in addresses], *LOSSY[:10],
             *COPIES, SLOW_ANCHOR, *ERRORS]
    rounds = 6
    (report,) = run_groups(network, group(hosts, rounds=rounds, timeout=0.15))
    for host in hosts:
        results = [round_[host] for round_ in report["rounds"]]
        rtts = [result["rtt"] for result in results if result["status"] == "ok"]
        tally = report["tallies"][host]
        errors = sum(result["status"] not in ("ok", "timeout") for result in results)
        assert (tally["sent"], tally["received"], tally["icmp_errors"], tally["send_errors"],
                tally["duplicates"]) == (rounds, len(rtts), errors, 0,
                                         report["duplicates"][host]), host
        # Kernel nanoseconds both: the same extremes exactly, the same sums to rounding.
        assert (tally["min"], tally["max"]) == ((min(rtts), max(rtts)) if rtts else (None, None))
        assert tally["total"] == pytest.approx(math.fsum(rtts), rel=1e-12, abs=1e-15)
        if rtts:
            mean = tally["total"] / tally["received"]
            stddev = math.sqrt(max(tally["squares"] / tally["received"] - mean * mean, 0.0))
            assert stddev == pytest.approx(statistics.pstdev(rtts), rel=1e-6, abs=1e-9), host
    assert report["duplicates"][v4(4, 3)] == 2 * rounds


@PRIVILEGE
def test_replies_after_the_timeout_are_late_never_success(
    network: netsim.SimulatedNetwork, privileged: bool
) -> None:
    rounds = 3
    (report,) = run_groups(network, group(LATE, rounds=rounds, timeout=0.1, interval=0.4,
                                          settle=0.2, privileged=privileged))
    assert statuses(report) == all_status(LATE, "timeout", rounds)
    probes = len(LATE) * rounds
    assert report["counters"] == counters_like(probes, timeouts=probes, late=probes)


# ---- packets that must never count -------------------------------------------------------------


def forged_outcomes(network: netsim.SimulatedNetwork, cases: dict[tuple[str, int], str],
                    privileged: bool) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """What fastping made of each forger, next to what it should have: (seen, expected).

    One Pinger per forger, each also pinging a good host, which must go on answering:
    nothing a forger sends may crash or wedge the engine.
    """
    rounds = 2
    good = {4: PLAIN[0], 6: PLAIN[1]}
    reports = run_groups(network, *(group([host, good[family]], rounds=rounds, timeout=0.1,
                                          privileged=privileged)
                                    for (_, family), host in cases.items()))
    seen, expected = {}, {}
    for ((forge, family), host), report in zip(cases.items(), reports, strict=True):
        seen[forge, family] = (statuses(report), report["counters"])
        counter = FORGED_EXPECTATIONS[forge][family]
        if not privileged and forge in DROPPED_BY_KERNEL_FOR_DATAGRAM:
            counter = None
        counters = counters_like(2 * rounds, replies=rounds, timeouts=rounds)
        if counter is not None:
            counters[counter] += rounds
        expected[forge, family] = ([{host: "timeout", good[family]: "ok"}] * rounds, counters)
    return seen, expected


@PRIVILEGE
def test_forged_corrupt_and_truncated_replies_never_count(
    network: netsim.SimulatedNetwork, privileged: bool
) -> None:
    cases = {case: host for case, host in FORGED.items() if case[0] != "truncate_tag"}
    seen, expected = forged_outcomes(network, cases, privileged)
    assert seen == expected


@PRIVILEGE
def test_a_reply_with_our_cookie_and_half_a_serial_is_malformed(
    network: netsim.SimulatedNetwork, privileged: bool
) -> None:
    # Our identifier and our whole cookie, so ours, but cut short: truncated, which
    # engine.h counts as malformed, not as someone else's (foreign).
    cases = {case: host for case, host in FORGED.items() if case[0] == "truncate_tag"}
    seen, expected = forged_outcomes(network, cases, privileged)
    assert seen == expected


def test_a_flood_of_other_pingers_replies_changes_nothing(
    network: netsim.SimulatedNetwork,
) -> None:
    rounds = 3
    (report,) = run_groups(network, group(FLOODED, rounds=rounds))
    assert statuses(report) == all_status(FLOODED, "ok", rounds)
    probes = len(FLOODED) * rounds
    # The kernel filter drops them all (no foreign count, no wake-up): only ours arrive.
    assert report["counters"] == counters_like(probes, replies=probes)


# ---- ICMP errors -------------------------------------------------------------------------------


@PRIVILEGE
def test_icmp_errors_are_attributed_to_their_host_with_type_code_and_router(
    network: netsim.SimulatedNetwork, privileged: bool
) -> None:
    hosts = [*ERRORS, *PLAIN]  # interleaved with hosts that answer
    rounds = 2
    (report,) = run_groups(network, group(hosts, rounds=rounds, privileged=privileged))
    for round_ in report["rounds"]:
        for host, (status, icmp_type, code, reporter, _) in ERRORS.items():
            result = round_[host]
            got = (result["status"], result["icmp_type"], result["icmp_code"], result["router"])
            assert got == (status, icmp_type, code, reporter), host
            assert result["address"] == host
        assert [round_[host]["status"] for host in PLAIN] == ["ok"] * len(PLAIN)
    errors, replies = len(ERRORS) * rounds, len(PLAIN) * rounds
    # The short quotes carry no tag: each is held as unverified until its probe's timeout.
    short = sum(quote == "short" for *_, quote in ERRORS.values()) * rounds
    assert report["counters"] == counters_like(errors + replies, replies=replies,
                                               icmp_errors=errors, unverified=short)


def test_errors_with_malformed_or_foreign_quotes_never_count(
    network: netsim.SimulatedNetwork,
) -> None:
    # Raw sockets only: with datagram sockets the kernel judges the quote and hands over
    # only the quoted echo (it drops most of these, and passes a quoted IP header of
    # version 0 as a good error, which the probe's cookie and serial then confirm).
    rounds = 2
    cases = list(BAD_QUOTES.items())
    reports = run_groups(network, *(group([host], rounds=rounds, timeout=0.1)
                                    for _, host in cases))
    for ((quote, family), host), report in zip(cases, reports, strict=True):
        assert statuses(report) == all_status([host], "timeout", rounds), (quote, family)
        counter = BAD_QUOTE_EXPECTATIONS[quote]
        assert report["counters"] == counters_like(rounds, timeouts=rounds,
                                                   **{counter: rounds}), (quote, family)


@PRIVILEGE
@pytest.mark.parametrize("kind", ["reply", "error"])
def test_a_target_cannot_forge_answers_for_another_host(
    network: netsim.SimulatedNetwork, privileged: bool, kind: str
) -> None:
    # The forger sees its own probes' tags, and answers from its silent neighbour for serials
    # around its own (the neighbour's probe among them): echo replies, or unreachables quoting
    # the whole forged probe. A tag is good for its own probe's serial and address only.
    rounds = 3
    pairs = FORGERS[kind]
    reports = run_groups(network, *(group(list(pair), rounds=rounds, privileged=privileged)
                                    for pair in pairs))
    forged = rounds * (2 * FORGE_SPAN + 1)
    for (forger, victim), report in zip(pairs, reports, strict=True):
        assert statuses(report) == [{forger: "ok", victim: "timeout"}] * rounds, victim
        counters = report["counters"]
        # Those naming the victim's probe are forged-looking (malformed), those naming
        # another probe or none are not ours (foreign): every one counted, none as a reply.
        assert counters["malformed"] >= rounds, counters
        assert counters == counters_like(
            2 * rounds, replies=rounds, timeouts=rounds, malformed=counters["malformed"],
            foreign=forged - counters["malformed"]), victim


@PRIVILEGE
def test_short_quote_errors_never_beat_the_genuine_reply(
    network: netsim.SimulatedNetwork, privileged: bool
) -> None:
    # An error quoting 8 bytes of the probe carries no tag: anyone who knows the identifier
    # and a sequence can send it. It arrives 5 ms ahead of the real reply, which must win.
    hosts = list(SHORT_AHEAD)
    rounds = 3
    (report,) = run_groups(network, group(hosts, rounds=rounds, privileged=privileged))
    assert statuses(report) == all_status(hosts, "ok", rounds)
    probes = len(hosts) * rounds
    assert report["duplicates"] == dict.fromkeys(hosts, 0)
    assert report["counters"] == counters_like(probes, replies=probes, unverified=probes)


@PRIVILEGE
def test_short_quote_errors_for_a_silent_host_are_reported_at_its_timeout(
    network: netsim.SimulatedNetwork, privileged: bool
) -> None:
    hosts = list(SHORT_ONLY)
    rounds = 2
    timeout = 0.2
    (report,) = run_groups(network, group(hosts, rounds=rounds, timeout=timeout,
                                          privileged=privileged))
    for round_ in report["rounds"]:
        for host, (icmp_type, code, reporter) in SHORT_ONLY.items():
            result = round_[host]
            got = (result["status"], result["icmp_type"], result["icmp_code"], result["router"])
            assert got == ("unreachable", icmp_type, code, reporter), host
            assert result["rtt"] < timeout / 2  # when the error came, not the timeout
    probes = len(hosts) * rounds
    assert report["counters"] == counters_like(probes, icmp_errors=probes, unverified=probes)


def test_datagram_sockets_shrug_off_a_flood_of_forged_errors(
    network: netsim.SimulatedNetwork,
) -> None:
    # Each forged unreachable leaves a pending error on the datagram socket, which the
    # kernel reports on the next send or receive, and queues on its error queue: neither
    # may fail a probe it is not about, or the engine's loop.
    hosts = [*FLOODERS, *UNDER_FLOOD]
    rounds = 150
    (report,) = run_groups(network, group(hosts, rounds=rounds, interval=0.02, timeout=0.5,
                                          privileged=False))
    counters = report["counters"]
    probes = len(hosts) * rounds
    summary = {key: counters[key] for key in ("sent", "replies", "send_errors", "timeouts")}
    assert summary == {"sent": probes, "replies": probes, "send_errors": 0, "timeouts": 0}
    assert statuses(report) == all_status(hosts, "ok", rounds)


# ---- a long run: sequence wrap-around, and a host that goes down and up ----------------------


def test_stale_replies_across_sequence_wraparound_never_match(
    network: netsim.SimulatedNetwork,
) -> None:
    # Every probe is answered at once and again 65,536 probes later, that second copy
    # arriving while the probe with its ICMP sequence is outstanding. Matched on the sequence
    # alone it would be taken for that probe's reply (and the real one for a duplicate).
    probes = WRAP_PROBES + 4096
    report = network.run(CLIENT_SOURCE, {"action": "wrap", "host": WRAP, "probes": probes,
                                         "seconds": 40.0}, timeout=60)
    counters = report["counters"]
    assert counters["sent"] >= probes
    replies = counters["replies"]
    # Those in flight when the counters were read, never lost.
    assert counters["sent"] - replies == report["resources"]["outstanding"], counters
    assert report["lost"] == 0 and counters["timeouts"] == 0
    # Each stale copy is late (its probe's ring slot long reused); the one for the probe
    # after the last reply may have been read just before the counters were.
    assert replies - WRAP_PROBES <= counters["late"] <= replies - WRAP_PROBES + 1
    assert counters["duplicates"] == report["duplicates"] == 0
    assert counters["foreign"] == counters["malformed"] == 0
    assert report["max_rtt"] < 0.5  # no reply was matched to a probe 65,536 earlier


def test_replies_in_flight_wait_out_a_held_up_loop(network: netsim.SimulatedNetwork) -> None:
    # 6,000 replies on their way when a callback holds the loop for 400 ms: the receive
    # buffers must hold them all (sized by hosts, one, they held a few milliseconds' worth).
    report = network.run(CLIENT_SOURCE, {"action": "held", "host": DELAYED_FAST})
    assert report["held"] == 1 and report["sent"] > 2000
    assert report["counters"]["timeouts"] == 0 and report["lost"] == 0, report["counters"]


def test_monitor_host_goes_down_after_down_after_losses_and_up_again(
    network: netsim.SimulatedNetwork,
) -> None:
    report = network.run(CLIENT_SOURCE, {
        "action": "switch", "host": SWITCHED, "control": network.control_path,
        "netsim_dir": os.path.dirname(os.path.abspath(netsim.__file__)), "seconds": 10.0})
    log = report["log"]
    kinds = [entry["kind"] for entry in log]
    changes = [(e["kind"], e["previous"], e["streak"]) for e in log if e["kind"] in ("up", "down")]
    # up_after=2: two replies; down_after=3: three losses in a row; then two replies again.
    assert changes == [("up", "unknown", 2), ("down", "up", 3), ("up", "down", 2)], kinds
    first_up, down, second_up = (i for i, kind in enumerate(kinds) if kind in ("up", "down"))
    assert kinds[:first_up] == ["reply", "reply"]
    # Silenced at the first UP: any replies already on their way, then exactly three losses.
    between = kinds[first_up + 1:down]
    assert between == ["reply"] * (len(between) - 3) + ["loss"] * 3
    assert log[down]["status"] == "timeout"
    # Let answer again at the DOWN: any losses already on their way, then exactly two replies.
    after = kinds[down + 1:second_up]
    assert after == ["loss"] * (len(after) - 2) + ["reply"] * 2


def test_addresses_are_only_in_the_documentation_ranges() -> None:
    allowed = [ipaddress.ip_network(prefix) for prefix in netsim.ROUTED.values()]
    for address, behaviour in HOSTS.items():
        for used in (address, behaviour.get("source"), behaviour.get("router")):
            if used:
                ip = ipaddress.ip_address(used)
                assert any(ip in network for network in allowed), used


def test_command_reports_duplicates_per_interval_and_in_total(
    network: netsim.SimulatedNetwork,
) -> None:
    host = v4(4, 3)  # answers every probe three times: two duplicates each
    command = ["ip", "netns", "exec", network.name, sys.executable, "-m", "fastping", "--json",
               "-c", "6", "-p", "60", "-Q", "0.1", host, SLOW_ANCHOR]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd="/",
                          check=False)
    assert done.returncode == 0, done.stderr
    summaries = [record for line in done.stdout.splitlines()
                 if (record := json.loads(line))["type"] == "summary" and record["host"] == host]
    interval = [record["duplicates"] for record in summaries if record["interval"]]
    final = [record for record in summaries if not record["interval"]]
    assert len(final) == 1 and final[0]["duplicates"] == 12 and final[0]["received"] == 6
    # Each report counts the duplicates since the one before, never again.
    assert interval and 0 < sum(interval) <= 12


def test_command_intervals_partition_the_replies_with_their_extremes(
    network: netsim.SimulatedNetwork,
) -> None:
    # -Q reports count since the one before; the engine keeps each interval's least and
    # greatest RTT. A host with a jittered delay answers every probe in order, so the
    # intervals' reply counts cut -C's list of RTTs into slices whose extremes they must be.
    host = DELAYED[(20, 3)][0]
    command = ["ip", "netns", "exec", network.name, sys.executable, "-m", "fastping", "--json",
               "-C", "12", "-p", "40", "-Q", "0.1", host]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd="/",
                          check=False)
    assert done.returncode == 0, done.stderr
    summaries = [record for line in done.stdout.splitlines()
                 if (record := json.loads(line))["type"] == "summary"]
    intervals = [record for record in summaries if record["interval"]]
    (final,) = [record for record in summaries if not record["interval"]]
    rtts = final["rtts_ms"]
    assert final["received"] == len(rtts) == 12 and None not in rtts
    assert len(intervals) >= 3
    start = 0
    for record in intervals:
        replies = rtts[start:start + record["received"]]
        start += record["received"]
        if replies:
            assert (record["min_ms"], record["max_ms"]) == (min(replies), max(replies)), record
        else:
            assert record["min_ms"] is record["max_ms"] is None
    assert start <= 12 and sum(record["sent"] for record in intervals) <= 12
