"""Real sockets against real routers, users and sysctls, inside throwaway network namespaces.

Loopback alone cannot produce an ICMP error from a router, a socket without
CAP_NET_RAW, a closed net.ipv4.ping_group_range or a resolver with no way
out, and the host's own network must never be touched to get them. So each
test builds what it needs in network namespaces it creates and deletes (only
198.18.0.0/15 and 2001:db8::/32 inside them), and runs fastping there in a
child process, which prints a JSON report; the test process itself stays in
the host namespace and only asserts on the report.
"""

from __future__ import annotations

import inspect
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

COMMAND_TIMEOUT = 10.0  # ip, sysctl: these answer at once or never
CHILD_TIMEOUT = 30.0  # a child runs at most a couple of 1 s rounds

# The child process, run as a privilege-dropping prefix plus `python -c`.
ROOT: list[str] = []
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
# Root, but without CAP_NET_RAW anywhere: what many containers give.
ROOT_WITHOUT_NET_RAW = ["setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw"]

OPEN_RANGE = "0 2147483647"
CLOSED_RANGE = "1 0"

# client 198.18.0.1 -- 198.18.0.2 router 198.18.1.1 -- 198.18.1.2 far
# The router also has an unreachable route for 198.19.0.0/16 (2001:db8:99::/48).
ROUTER = {4: "198.18.0.2", 6: "2001:db8:1::2"}
FAR = {4: "198.18.1.2", 6: "2001:db8:2::2"}
NO_ROUTE = {4: ("198.19.0.5", "198.19.0.6"), 6: ("2001:db8:99::5", "2001:db8:99::6")}
LOOPBACK = {4: "127.0.0.1", 6: "::1"}
UNREACHABLE_TYPE_CODE = {4: (3, 1), 6: (1, 0)}  # host unreachable / no route to destination
TIME_EXCEEDED_TYPE_CODE = {4: (11, 0), 6: (3, 0)}  # hop limit exceeded in transit


def _child() -> None:
    """Runs in the namespace: does what the JSON spec in argv[1] says, prints a JSON report.

    Shipped to the child as source, so it imports everything it uses.
    """
    import dataclasses
    import json
    import socket
    import sys

    import fastping

    spec = json.loads(sys.argv[1])
    report: dict[str, object] = {}

    def plain(record: object) -> dict[str, object]:
        # Results are named tuples, statistics dataclasses.
        fields = record._asdict() if hasattr(record, "_asdict") else dataclasses.asdict(record)
        if "status" in fields:
            fields["status"] = fields["status"].value
        return fields

    try:
        if spec["action"] == "round":
            with fastping.Pinger(**spec["options"]) as pinger:
                for host in spec["hosts"]:
                    pinger.add(host)
                report["raw"] = {
                    "4": pinger._engine.is_raw(socket.AF_INET),
                    "6": pinger._engine.is_raw(socket.AF_INET6),
                }
                report["results"] = {name: plain(r) for name, r in pinger.ping().items()}
        elif spec["action"] == "ping":
            report["stats"] = plain(fastping.ping(spec["host"], count=1, timeout=1.0))
        elif spec["action"] == "multiping":
            stats = fastping.multiping(spec["hosts"], count=1, timeout=1.0)
            report["stats"] = {name: plain(s) for name, s in stats.items()}
    except Exception as error:
        report["error"] = {"type": type(error).__name__, "message": str(error)}
    print(json.dumps(report))


CHILD_SOURCE = inspect.getsource(_child) + "\n_child()\n"


def run_command(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)


def check_command(*command: str) -> None:
    done = run_command(*command)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")


class Netns:
    """A named network namespace this test run created, with lo up."""

    def __init__(self, name: str) -> None:
        self.name = name

    def ip(self, *args: str) -> None:
        check_command("ip", "-n", self.name, *args)

    def sysctl(self, key: str, value: str) -> None:
        # Every sysctl used here is per network namespace.
        check_command("ip", "netns", "exec", self.name, "sysctl", "-qw", f"{key}={value}")

    def run(self, spec: dict[str, Any], as_user: list[str] = ROOT) -> dict[str, Any]:
        """Run _child in this namespace, as_user, and return its report."""
        command = ["ip", "netns", "exec", self.name, *as_user,
                   sys.executable, "-c", CHILD_SOURCE, json.dumps(spec)]
        # cwd "/": nothing importable from the cwd, and readable by any user.
        done = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT,
                              cwd="/")
        assert done.returncode == 0, f"child failed:\n{done.stderr}"
        report: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
        return report


@pytest.fixture(scope="session")
def can_make_netns() -> None:
    """Skips unless this process may create network namespaces (root with iproute2)."""
    if shutil.which("ip") is None:
        pytest.skip("needs iproute2's ip(8)")
    if os.geteuid() != 0:
        pytest.skip("creating network namespaces needs root")
    probe = f"fastping-probe-{os.getpid()}"
    done = run_command("ip", "netns", "add", probe)
    if done.returncode != 0:
        pytest.skip(f"'ip netns add' is not permitted here: {done.stderr.strip()}")
    run_command("ip", "netns", "del", probe)


_serial = itertools.count()


@contextmanager
def namespaces() -> Iterator[Callable[[], Netns]]:
    """A maker of namespaces, all deleted when the block is left, however it is left."""
    made: list[Netns] = []

    def make() -> Netns:
        netns = Netns(f"fastping-{os.getpid()}-{next(_serial)}")
        check_command("ip", "netns", "add", netns.name)
        made.append(netns)
        netns.ip("link", "set", "lo", "up")
        return netns

    try:
        yield make
    finally:
        # Deleting a namespace also destroys the veth ends inside it.
        for netns in made:
            run_command("ip", "netns", "del", netns.name)


@pytest.fixture
def make_netns(can_make_netns: None) -> Iterator[Callable[[], Netns]]:
    with namespaces() as make:
        yield make


@pytest.fixture
def topology(can_make_netns: None) -> Iterator[dict[str, Netns]]:
    """client -- router -- far; the router forwards and owns the unreachable routes.

    A fresh router per test: its kernel allows a source only about five
    "unreachable" replies and then one a second (net.ipv4.route.error_cost,
    a host-wide sysctl not to be touched), but keeps that count per namespace.
    """
    with namespaces() as make:
        client, router, far = make(), make(), make()
        for netns in (client, router, far):
            # Link-local addresses too must be usable at once: neighbour
            # discovery for forwarded packets is sent from them.
            netns.sysctl("net.ipv6.conf.default.accept_dad", "0")
        # Both veth ends are created straight inside the namespaces, never on the host.
        client.ip("link", "add", "c0", "type", "veth", "peer", "name", "r0", "netns", router.name)
        router.ip("link", "add", "r1", "type", "veth", "peer", "name", "f0", "netns", far.name)
        for netns, device in ((client, "c0"), (router, "r0"), (router, "r1"), (far, "f0")):
            netns.ip("link", "set", device, "up")
        # nodad: usable at once instead of after duplicate address detection.
        for netns, device, v4, v6 in (
            (client, "c0", "198.18.0.1/24", "2001:db8:1::1/64"),
            (router, "r0", "198.18.0.2/24", "2001:db8:1::2/64"),
            (router, "r1", "198.18.1.1/24", "2001:db8:2::1/64"),
            (far, "f0", "198.18.1.2/24", "2001:db8:2::2/64"),
        ):
            netns.ip("address", "add", v4, "dev", device)
            netns.ip("-6", "address", "add", v6, "dev", device, "nodad")

        # The datagram-socket variants run as root with privileged=False.
        client.sysctl("net.ipv4.ping_group_range", OPEN_RANGE)
        router.sysctl("net.ipv4.ip_forward", "1")
        router.sysctl("net.ipv6.conf.all.forwarding", "1")
        # The tests ask the router for many errors in quick succession.
        router.sysctl("net.ipv4.icmp_ratelimit", "0")
        router.sysctl("net.ipv6.icmp.ratelimit", "0")
        router.ip("route", "add", "unreachable", "198.19.0.0/16")
        router.ip("-6", "route", "add", "unreachable", "2001:db8:99::/48")

        for prefix in ("198.18.1.0/24", "198.19.0.0/16"):
            client.ip("route", "add", prefix, "via", ROUTER[4])
        for prefix in ("2001:db8:2::/64", "2001:db8:99::/48"):
            client.ip("-6", "route", "add", prefix, "via", ROUTER[6])
        far.ip("route", "add", "default", "via", "198.18.1.1")
        far.ip("-6", "route", "add", "default", "via", "2001:db8:2::1")
        yield {"client": client, "router": router, "far": far}


def round_spec(hosts: list[str], **options: Any) -> dict[str, Any]:
    return {"action": "round", "hosts": hosts, "options": {"timeout": 1.0, **options}}


def results_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert "error" not in report, report["error"]
    results: dict[str, dict[str, Any]] = report["results"]
    return results


def icmp_error(status: str, family: int, type_code: dict[int, tuple[int, int]]) -> dict[str, Any]:
    """The fields of a Result for an ICMP error the router reports."""
    icmp_type, icmp_code = type_code[family]
    return {"status": status, "router": ROUTER[family], "icmp_type": icmp_type,
            "icmp_code": icmp_code}


def fields(result: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    return {key: result[key] for key in like}


# ---- ICMP errors from a router, matched to the probe they quote -------------------------

PRIVILEGE = pytest.mark.parametrize("privileged", [True, False], ids=["raw", "datagram"])
FAMILY = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


@PRIVILEGE
@FAMILY
def test_unreachable_destination_names_the_router(
    topology: dict[str, Netns], family: int, privileged: bool
) -> None:
    host = NO_ROUTE[family][0]
    report = topology["client"].run(round_spec([host], privileged=privileged))
    result = results_of(report)[host]
    expected = icmp_error("unreachable", family, UNREACHABLE_TYPE_CODE)
    assert fields(result, expected) == expected
    assert result["address"] == host
    assert report["raw"][str(family)] is privileged


@PRIVILEGE
@FAMILY
def test_ttl_1_beyond_the_router_is_ttl_exceeded(
    topology: dict[str, Netns], family: int, privileged: bool
) -> None:
    host = FAR[family]
    client = topology["client"]
    # Without a TTL limit far answers, so the error below is the TTL's doing.
    assert results_of(client.run(round_spec([host], privileged=privileged)))[host]["status"] == "ok"
    result = results_of(client.run(round_spec([host], privileged=privileged, ttl=1)))[host]
    expected = icmp_error("ttl_exceeded", family, TIME_EXCEEDED_TYPE_CODE)
    assert fields(result, expected) == expected


@PRIVILEGE
@pytest.mark.parametrize("ttl", [None, 1])
def test_each_result_is_attributed_to_its_own_host(
    topology: dict[str, Netns], privileged: bool, ttl: int | None
) -> None:
    # Hosts that answer, hosts the router refuses and (with TTL 1) a host one
    # hop too far, interleaved in one round over both families.
    ok = {"status": "ok", "router": None, "icmp_type": None, "icmp_code": None}
    expected: dict[str, dict[str, Any]] = {}
    for family in (4, 6):
        unreachable = icmp_error("unreachable", family, UNREACHABLE_TYPE_CODE)
        expected[LOOPBACK[family]] = ok
        expected[NO_ROUTE[family][0]] = unreachable
        expected[ROUTER[family]] = ok
        expected[FAR[family]] = (
            ok if ttl is None else icmp_error("ttl_exceeded", family, TIME_EXCEEDED_TYPE_CODE)
        )
        expected[NO_ROUTE[family][1]] = unreachable
    spec = round_spec(list(expected), privileged=privileged, ttl=ttl)
    results = results_of(topology["client"].run(spec))
    if any(results[NO_ROUTE[family][1]]["status"] == "timeout" for family in (4, 6)):
        # The router's kernel rate-limits the "unreachable" errors it sends each source (a
        # host-wide budget, net.ipv4.route.error_cost, left alone); under load the second
        # may be held back. A second until its budget refills, then the same round again.
        time.sleep(1.1)
        results = results_of(topology["client"].run(spec))
    assert {host: fields(results[host], want) for host, want in expected.items()} == expected
    assert all(result["address"] == host for host, result in results.items())


# ---- unprivileged ICMP datagram sockets ------------------------------------------------


@pytest.fixture(scope="session")
def nobody_can_import_fastping(can_make_netns: None) -> None:
    """Skips unless uid 65534 can run this interpreter and import fastping from its venv."""
    done = subprocess.run([*NOBODY, sys.executable, "-c", "import fastping"], cwd="/",
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT)
    if done.returncode != 0:
        pytest.skip(f"uid 65534 cannot import fastping from {sys.prefix}: "
                    f"{done.stderr.strip().splitlines()[-1:]}")


# (who runs the child, privileged=) for every way a datagram socket gets used.
UNPRIVILEGED = pytest.mark.parametrize(("as_user", "privileged"), [
    pytest.param(ROOT, False, id="root-insisting-on-datagram"),
    pytest.param(NOBODY, None, id="nobody-auto"),
    pytest.param(ROOT_WITHOUT_NET_RAW, None, id="root-without-CAP_NET_RAW-auto"),
])


@pytest.fixture
def single_netns(make_netns: Callable[[], Netns], request: pytest.FixtureRequest) -> Netns:
    """A fresh namespace per test, so its ping_group_range is the test's own."""
    # Only the nobody variant needs the venv readable by uid 65534.
    if request.node.callspec.params.get("as_user") is NOBODY:
        request.getfixturevalue("nobody_can_import_fastping")
    return make_netns()


@UNPRIVILEGED
def test_datagram_sockets_when_the_group_range_allows_them(
    single_netns: Netns, as_user: list[str], privileged: bool | None
) -> None:
    single_netns.sysctl("net.ipv4.ping_group_range", OPEN_RANGE)
    hosts = [LOOPBACK[4], LOOPBACK[6]]
    report = single_netns.run(round_spec(hosts, privileged=privileged), as_user)
    results = results_of(report)
    assert {host: results[host]["status"] for host in hosts} == {host: "ok" for host in hosts}
    assert report["raw"] == {"4": False, "6": False}


@UNPRIVILEGED
@FAMILY
def test_closed_group_range_is_a_permission_error_that_says_what_to_do(
    single_netns: Netns, as_user: list[str], privileged: bool | None, family: int
) -> None:
    single_netns.sysctl("net.ipv4.ping_group_range", CLOSED_RANGE)
    report = single_netns.run(round_spec([LOOPBACK[family]], privileged=privileged), as_user)
    assert report.get("error", {}).get("type") == "PermissionError", report
    message = report["error"]["message"]
    assert "ping_group_range" in message
    if privileged is None:  # raw sockets were an option too, so say how to get them
        assert "CAP_NET_RAW" in message



@PRIVILEGE
@FAMILY
def test_reply_tos_and_destination_are_read_from_each_kind_of_socket(
    single_netns: Netns, privileged: bool, family: int
) -> None:
    # Loopback echoes the request's TOS / traffic class: raw IPv4 reads it (and the reply's
    # destination) from the header, the others from control messages (IP_RECVTOS /
    # IPV6_RECVTCLASS, IP_PKTINFO / IPV6_RECVPKTINFO).
    single_netns.sysctl("net.ipv4.ping_group_range", OPEN_RANGE)
    host, source = {4: ("127.0.0.3", "127.0.0.2"), 6: ("::1", "::1")}[family]
    for tos in (0xB8, 0):
        spec = round_spec([host], privileged=privileged, tos=tos, source=source,
                          receive_tos=True, receive_destination=True)
        report = single_netns.run(spec)
        assert report["raw"][str(family)] is privileged
        like = {"status": "ok", "tos": tos, "destination": source}
        assert fields(results_of(report)[host], like) == like
    # Not asked for: not read.
    result = results_of(single_netns.run(round_spec([host], privileged=privileged, tos=0xB8)))
    like = {"status": "ok", "tos": None, "destination": None}
    assert fields(result[host], like) == like


def test_out_interface_sends_through_that_device(make_netns: Callable[[], Netns]) -> None:
    # A TUN device nobody reads drops what it is given: loopback answers through lo only.
    netns = make_netns()
    netns.ip("tuntap", "add", "dev", "t0", "mode", "tun")
    netns.ip("link", "set", "t0", "up")
    hosts = [LOOPBACK[4], LOOPBACK[6]]
    statuses = {}
    for device in ("lo", "t0"):
        results = results_of(netns.run(round_spec(hosts, out_interface=device)))
        statuses[device] = {host: results[host]["status"] for host in hosts}
    assert statuses["lo"] == {host: "ok" for host in hosts}
    assert "ok" not in statuses["t0"].values(), statuses

# ---- names that do not resolve, with nowhere for DNS queries to go -------------------------


# A fresh namespace has only lo: whatever nameserver resolv.conf names, a
# query to it fails at once without leaving the namespace.


def test_unknown_name_raises_gaierror_naming_it(make_netns: Callable[[], Netns]) -> None:
    report = make_netns().run({"action": "ping", "host": "no-such-host.invalid"})
    assert report.get("error", {}).get("type") == "gaierror", report
    assert "no-such-host.invalid" in report["error"]["message"]


def test_multiping_reports_the_unknown_name_and_pings_the_rest(
    make_netns: Callable[[], Netns],
) -> None:
    report = make_netns().run(
        {"action": "multiping", "hosts": ["no-such-host.invalid", "127.0.0.1"]}
    )
    assert "error" not in report, report["error"]
    unknown, loopback = report["stats"]["no-such-host.invalid"], report["stats"]["127.0.0.1"]
    assert "no-such-host.invalid" in unknown["error"]
    assert (unknown["sent"], unknown["address"]) == (0, None)
    assert (loopback["error"], loopback["sent"], loopback["received"]) == (None, 1, 1)
