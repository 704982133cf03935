"""fastping.icmplib against icmplib itself: the same calls through both, compared.

Each test runs a list of calls through icmplib (from PyPI, the test extra) and through
fastping.icmplib in a child process inside the simulated network's namespace
(tests/netsim.py): its loopback (127.0.0.1, ::1), hosts that answer at once or after a delay,
stay silent or answer with an unreachable, and routes of routers that answer Time Exceeded.
The namespace has no other traffic: icmplib's raw sockets, which see every ICMP message of
their namespace, lose replies when other pingers flood the machine's own loopback (its
filter is in Python), so comparing them there would compare the machine's load. It has no
name server either: unknown names fail at once.

Compared, call by call: the class and repr of each result, its address, counts, loss,
every attribute's type, the RTTs (milliseconds: see RTT_SPREAD_MS), and for exceptions the
class and its bases, by name.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import netsim
import pytest

pytest.importorskip("icmplib", reason="icmplib is in the test extra")

# The RTTs of two runs (two sets of probes), in the same unit. fastping's are kernel time to
# kernel time, icmplib's from Python's clock before its send to when its event loop read the
# reply; the simulated hosts' answers come late when the responder (Python) is held up. So the
# two agree within RTT_SPREAD_MS, and the unit is pinned by hosts that answer after DELAY_MS:
# never sooner, so an RTT in seconds or microseconds would fail.
RTT_SPREAD_MS = 100.0
DELAY_SLACK_MS = 15.0  # the median of fastping's RTTs of a host answering after DELAY_MS
DELAY_MS = 40.0
PLAIN = {4: "198.18.1.1", 6: "2001:db8:5:1::1"}
DELAYED = {4: "198.18.3.40", 6: "2001:db8:5:3::28"}
SILENT = {4: "198.18.9.1", 6: "2001:db8:5:9::1"}
UNREACHABLE = {4: "198.18.8.1", 6: "2001:db8:5:8::1"}
UNREACHABLE_ROUTER = {4: "198.18.2.1", 6: "2001:db8:5:2::1"}
# A route of three routers, the second silent: traceroute lists hops 1, 3 and 4.
ROUTED = {4: "198.18.11.1", 6: "2001:db8:5:11::1"}
ROUTERS = {4: ["198.18.2.11", "", "198.18.2.13"], 6: ["2001:db8:5:2::11", "", "2001:db8:5:2::13"]}
# One router, then an unreachable from another: the route never ends (up to max_hops).
DEAD_END = {4: "198.18.12.1", 6: "2001:db8:5:12::1"}
DEAD_END_ROUTERS = {4: ("198.18.2.21", "198.18.2.22"), 6: ("2001:db8:5:2::21", "2001:db8:5:2::22")}
UNREACH = {4: (3, 1), 6: (1, 3)}
UNKNOWN = "no-such-host.invalid"

HOSTS: dict[str, dict[str, Any]] = {}
for family in (4, 6):
    HOSTS[PLAIN[family]] = {}
    HOSTS[DELAYED[family]] = {"delay_ms": DELAY_MS}
    HOSTS[SILENT[family]] = {"silent": True}
    HOSTS[UNREACHABLE[family]] = {"error": UNREACH[family], "router": UNREACHABLE_ROUTER[family]}
    HOSTS[ROUTED[family]] = {"hops": ROUTERS[family]}
    first, last = DEAD_END_ROUTERS[family]
    HOSTS[DEAD_END[family]] = {"hops": [first], "error": UNREACH[family], "router": last}


def _client() -> None:
    """Runs spec's calls through spec's module; prints what each returned or raised."""
    import asyncio
    import importlib
    import json
    import sys

    spec = json.loads(sys.argv[1])
    module = importlib.import_module(spec["module"])
    attributes = ("address", "packets_sent", "packets_received", "packet_loss", "min_rtt",
                  "avg_rtt", "max_rtt", "jitter", "rtts", "is_alive", "distance")

    def describe(value: object) -> object:
        if isinstance(value, list):
            return [describe(item) for item in value]
        if not hasattr(value, "rtts"):
            return value
        fields = {name: getattr(value, name) for name in attributes if hasattr(value, name)}
        types = {name: type(field).__name__ for name, field in fields.items()}
        types["rtts"] = sorted({type(rtt).__name__ for rtt in fields["rtts"]})
        return {**fields, "class": type(value).__name__, "repr": repr(value), "types": types}

    outcomes = []
    for call in spec["calls"]:
        kwargs = call["kwargs"]
        if "payload" in kwargs:  # bytes, sent as text in JSON
            kwargs["payload"] = kwargs["payload"].encode()
        try:
            value = getattr(module, call["function"])(*call["args"], **kwargs)
            if asyncio.iscoroutine(value):
                value = asyncio.run(value)
            outcomes.append({"value": describe(value)})
        except Exception as error:
            outcomes.append({"error": [cls.__name__ for cls in type(error).__mro__],
                             "message": str(error)})
    print(json.dumps(outcomes))


CLIENT_SOURCE = netsim.client_source(_client)


@pytest.fixture(scope="module")
def network() -> Iterator[netsim.SimulatedNetwork]:
    yield from netsim.network_or_skip(HOSTS)


def call(function: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"function": function, "args": list(args), "kwargs": kwargs}


def run_both(network: netsim.SimulatedNetwork | None,
             calls: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    """Each call's outcome through icmplib and through fastping.icmplib, side by side."""
    outcomes = {}
    for module in ("icmplib", "fastping.icmplib"):
        spec = {"module": module, "calls": calls}
        if network is None:
            done = subprocess.run([sys.executable, "-c", CLIENT_SOURCE, json.dumps(spec)],
                                  capture_output=True, text=True, timeout=60, cwd="/",
                                  check=True)
            outcomes[module] = json.loads(done.stdout.splitlines()[-1])
        else:
            outcomes[module] = network.run(CLIENT_SOURCE, spec, timeout=60)
    return list(zip(outcomes["icmplib"], outcomes["fastping.icmplib"], strict=True))


def assert_same(theirs: Any, ours: Any) -> None:
    """Same outcome: the same exception class (and bases), or equal results, RTTs close."""
    assert theirs.keys() == ours.keys(), (theirs, ours)
    if "error" in theirs:
        assert theirs["error"] == ours["error"], (theirs, ours)
        return
    assert_same_value(theirs["value"], ours["value"])


def assert_same_value(theirs: Any, ours: Any) -> None:
    if isinstance(theirs, list):
        assert isinstance(ours, list) and len(theirs) == len(ours), (theirs, ours)
        for their_item, our_item in zip(theirs, ours, strict=True):
            assert_same_value(their_item, our_item)
        return
    if not isinstance(theirs, dict):
        assert theirs == ours
        return
    timed = {"rtts", "min_rtt", "avg_rtt", "max_rtt", "jitter"}
    assert {k: v for k, v in theirs.items() if k not in timed} == \
        {k: v for k, v in ours.items() if k not in timed}, (theirs, ours)
    assert len(theirs["rtts"]) == len(ours["rtts"])
    pairs = [(theirs[name], ours[name]) for name in sorted(timed - {"rtts"})]
    pairs += list(zip(theirs["rtts"], ours["rtts"], strict=True))
    for their_rtt, our_rtt in pairs:
        assert abs(their_rtt - our_rtt) <= RTT_SPREAD_MS, (theirs, ours)
    if theirs["address"] in DELAYED.values():
        assert min(theirs["rtts"]) >= DELAY_MS and min(ours["rtts"]) >= DELAY_MS, (theirs, ours)


FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
PRIVILEGE = pytest.mark.parametrize("privileged", [True, False], ids=["raw", "datagram"])
LOOPBACK = {4: "127.0.0.1", 6: "::1"}


@FAMILIES
@PRIVILEGE
def test_ping_answering_delayed_silent_and_unreachable_hosts(
    network: netsim.SimulatedNetwork, family: int, privileged: bool,
) -> None:
    options = {"count": 3, "interval": 0.05, "timeout": 0.3, "privileged": privileged}
    hosts = [LOOPBACK[family], PLAIN[family], DELAYED[family], SILENT[family],
             UNREACHABLE[family]]
    pairs = run_both(network, [call("ping", host, **options) for host in hosts])
    for theirs, ours in pairs:
        assert_same(theirs, ours)
    answered, delayed, silent, unreachable = (ours["value"] for _, ours in pairs[1:])
    assert answered["rtts"] and len(answered["rtts"]) == 3 and answered["is_alive"]
    assert statistics.median(delayed["rtts"]) < DELAY_MS + DELAY_SLACK_MS, delayed
    for lost in (silent, unreachable):  # icmplib counts an ICMP error as a loss
        assert lost["packets_sent"] == 3 and lost["packet_loss"] == 1.0
        assert lost["min_rtt"] == lost["avg_rtt"] == lost["jitter"] == 0.0


@FAMILIES
def test_multiping_keeps_order_and_duplicates_with_icmplib_defaults(
    network: netsim.SimulatedNetwork, family: int,
) -> None:
    hosts = [DELAYED[family], LOOPBACK[family], SILENT[family], DELAYED[family],
             LOOPBACK[6 if family == 4 else 4], "localhost", "999.1.1.1", "::1::2"]
    pairs = run_both(network, [call("multiping", hosts, timeout=0.5),
                               call("async_multiping", hosts, count=1, timeout=0.5)])
    for theirs, ours in pairs:
        assert_same(theirs, ours)
    listed = pairs[0][1]["value"]
    assert [host["address"] for host in listed] == [*hosts[:5], "127.0.0.1", *hosts[6:]]
    assert [host["packets_sent"] for host in listed] == [2, 2, 2, 2, 2, 2, 0, 0]


@FAMILIES
def test_traceroute_lists_the_routers_that_answer(
    network: netsim.SimulatedNetwork, family: int,
) -> None:
    routers = [router for router in ROUTERS[family] if router]
    first, last = DEAD_END_ROUTERS[family]
    pairs = run_both(network, [
        call("traceroute", ROUTED[family], count=2, timeout=0.3),
        call("traceroute", ROUTED[family], count=1, timeout=0.3, first_hop=2, max_hops=3),
        call("traceroute", DEAD_END[family], count=2, timeout=0.3, max_hops=4),
        call("traceroute", SILENT[family], count=1, timeout=0.2, max_hops=2),
        call("traceroute", PLAIN[family], count=3, interval=0.0),
    ])
    for theirs, ours in pairs:
        assert_same(theirs, ours)
    route, partial, dead_end, silent, direct = (ours["value"] for _, ours in pairs)
    assert [(hop["distance"], hop["address"]) for hop in route] == [
        (1, routers[0]), (3, routers[1]), (4, ROUTED[family])]
    assert [hop["class"] for hop in route] == ["Hop"] * 3
    assert [hop["packets_sent"] for hop in route] == [2, 2, 2]
    assert [(hop["distance"], hop["address"]) for hop in partial] == [(3, routers[1])]
    assert [(hop["distance"], hop["address"]) for hop in dead_end] == [
        (1, first), (2, last), (3, last), (4, last)]
    assert [hop["packets_sent"] for hop in dead_end] == [2, 1, 1, 1]  # an unreachable stops
    assert silent == []
    assert [(hop["distance"], len(hop["rtts"])) for hop in direct] == [(1, 3)]


def test_names_resolve_as_icmplib_and_unknown_ones_raise_name_lookup_error(
    network: netsim.SimulatedNetwork,
) -> None:
    pairs = run_both(network, [
        call("resolve", "localhost"),
        call("resolve", "localhost", 4),
        call("resolve", UNKNOWN),
        call("async_resolve", UNKNOWN),
        call("ping", UNKNOWN, count=1),
        call("async_ping", UNKNOWN, count=1),
        call("multiping", ["127.0.0.1", UNKNOWN], count=1),
        call("traceroute", UNKNOWN),
        call("ping", "localhost", count=1, interval=0.0),
        call("is_hostname", "localhost"),
        call("is_hostname", "127.0.0.1"),
        call("is_hostname", "a_b.example"),
        call("is_ipv4_address", "999.1.1.1"),
        call("is_ipv4_address", "::1"),
        call("is_ipv6_address", "::1"),
        call("is_ipv6_address", "localhost"),
    ])
    for theirs, ours in pairs:
        assert_same(theirs, ours)
    assert pairs[0][1]["value"] == ["127.0.0.1"]
    for _, ours in pairs[2:8]:
        assert ours["error"][:2] == ["NameLookupError", "ICMPLibError"], ours
        assert UNKNOWN in ours["message"]


@FAMILIES
def test_options_and_socket_errors(network: netsim.SimulatedNetwork, family: int) -> None:
    client = netsim.CLIENT[family]
    other_family = netsim.CLIENT[6 if family == 4 else 4]
    target = PLAIN[family]
    pairs = run_both(network, [
        call("ping", target, count=2, interval=0.0, source=client),
        call("ping", target, count=1, source="198.51.100.7" if family == 4 else "2001:db8:9::9"),
        call("ping", target, count=1, source=other_family),
        call("ping", target, count=2, interval=0.0, payload_size=8, traffic_class=0x20,
             id=4321),
        call("ping", target, count=2, interval=0.0, payload="x" * 100, ttl=3),
        call("multiping", [target], count=1, concurrent_tasks=1, privileged=False),
        call("ping", target, count=1, no_such_option=1),
        call("ping", target, count=0),
    ])
    for theirs, ours in pairs:
        assert_same(theirs, ours)
    assert [ours.get("error", [None])[0] for _, ours in pairs] == [
        None, "SocketAddressError", "SocketAddressError", None, None, None, "TypeError", None]


def test_unprivileged_sockets_refused_raise_socket_permission_error() -> None:
    # This namespace's net.ipv4.ping_group_range: if it lets us open datagram sockets, both
    # answer; if not, both raise SocketPermissionError.
    pairs = run_both(None, [call("ping", "127.0.0.1", count=1, privileged=False)])
    for theirs, ours in pairs:
        assert_same(theirs, ours)
    with open("/proc/sys/net/ipv4/ping_group_range") as file:
        low, high = (int(field) for field in file.read().split())
    if not low <= os.getgid() <= high:
        assert pairs[0][1]["error"][:3] == [
            "SocketPermissionError", "ICMPSocketError", "ICMPLibError"]


MANY_HOSTS = 1000


def test_multiping_of_many_hosts_needs_no_descriptor_per_host() -> None:
    # One engine a call: 1,000 loopback hosts ping with 16 descriptors allowed in all.
    source = (
        "import resource\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))\n"
        "from fastping import icmplib\n"
        f"hosts = icmplib.multiping([f'127.0.{{n // 250}}.{{n % 250 + 1}}' "
        f"for n in range({MANY_HOSTS})], count=2, interval=0.1, timeout=1)\n"
        "print(sum(h.packets_received for h in hosts), sum(h.packets_sent for h in hosts))\n"
    )
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] > 16
    done = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True,
                          timeout=60, cwd="/", check=True)
    assert done.stdout.split() == [str(2 * MANY_HOSTS)] * 2


def test_engine_set_ttl_checks_its_range_and_loopback_still_answers() -> None:
    import fastping

    with fastping.Pinger(["127.0.0.1"], timeout=0.5) as pinger:
        engine = pinger._live_engine()
        for wrong in (0, 256, -1):
            with pytest.raises(ValueError, match="ttl must be from 1 to 255"):
                engine.set_ttl(wrong)
        engine.set_ttl(1)  # loopback is no hop away
        assert pinger.ping()["127.0.0.1"].ok
        engine.set_ttl(None)
        assert pinger.ping()["127.0.0.1"].ok
    with pytest.raises(ValueError):
        engine.set_ttl(1)  # closed
