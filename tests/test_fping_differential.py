"""fastping against Debian's fping 5.1, invocation by invocation: the same exit status, and
the same stdout and stderr line for line once RTTs and times are masked (fping_harness).

Loopback cases run here; the simulated network's (tests/netsim.py) run in its namespace,
where hosts answer late, never, or with ICMP errors from a router."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from fping_harness import Case, compare, fping_binary, run_both, run_both_signalled, shape
from netsim import NetsimUnavailable, SimulatedNetwork

LOOP, LOOP2, LOOP6 = "127.0.0.1", "127.0.0.2", "::1"
TARGETS_FILE = Path(__file__).with_name("data") / "fping_targets.txt"

LOOPBACK = [
    # sweeps
    Case((LOOP,)),
    Case((LOOP, LOOP6)),
    Case(("-e", LOOP)),
    Case(("-a", LOOP, "nosuch.invalid")),
    Case(("-u", LOOP)),
    Case(("-s", LOOP, "nosuch.invalid")),
    Case(("-q", "-s", LOOP)),
    Case(("-A", "localhost")),
    Case(("-n", LOOP)),
    Case(("-x", "1", LOOP, "nosuch.invalid")),
    Case(("-x", "2", LOOP, "nosuch.invalid")),
    Case(("-g", "127.0.0.0/30")),
    Case(("-a", "-g", "127.0.0.1", "127.0.0.4")),
    Case(("-f", str(TARGETS_FILE))),
    Case((), stdin=f"{LOOP}\n# a comment\n  {LOOP2} trailing words\n"),
    Case(("-4", LOOP6)),
    Case(("999.1.1.1",)),
    Case(("-r", "0", "-t", "100", LOOP)),
    Case(("-q", "nosuch.invalid", LOOP)),
    # counts
    # Two targets' lines come in the order of their replies: -i 10 (fping's default) sends
    # each 10 ms after the one before, where fastping's -i 0 sends both at once.
    Case(("-c", "2", "-p", "100", "-i", "10", LOOP, LOOP6)),
    Case(("-C", "2", "-p", "100", "-i", "10", LOOP, LOOP6)),
    Case(("-C", "3", "-q", "-p", "50", LOOP, LOOP2)),
    Case(("-c", "1", "-q", LOOP)),
    Case(("-c", "2", "-p", "50", "-s", LOOP)),
    Case(("-c", "1", "-a", LOOP)),
    Case(("-D", "-c", "1", LOOP)),
    Case(("-o", "-c", "2", "-p", "50", LOOP)),
    Case(("-d", "-c", "1", LOOP)),
    Case(("-A", "-n", "-c", "1", LOOP)),
    Case(("-m", "-A", "-c", "1", "localhost")),
    Case(("-b", "100", "-c", "1", LOOP)),
    Case(("-Q", "0", "-c", "1", LOOP)),
    Case(("-i", "10", "-c", "1", LOOP, LOOP2)),
    Case(("-H", "5", "-O", "0x10", "-c", "1", LOOP)),
    Case(("-c", "1", "nosuch.invalid", LOOP)),
    Case(("-c", "1", "--ipv4", "--period=50", "--count=2", LOOP)),
    Case((LOOP, "-c", "1", "-i", "10", LOOP6, "-q")),
    Case(("-x", "1", "-c", "1", "-q", LOOP, "nosuch.invalid")),
    Case(("-x", "1", "-c", "2", "-p", "50", LOOP)),  # (-x silences -c's per-probe lines)
    Case(("-e", "-c", "1", LOOP)),
    Case(("-a", "-s", LOOP, LOOP6)),
    Case(("-n", "-i", "10", "-c", "1", LOOP6, "localhost")),  # (fping's -i: v6 first)
    Case(("-A", "-C", "2", "-p", "50", "-i", "10", "localhost", LOOP6)),
    Case(("--stats", "--quiet", "--vcount=2", "--period=50", "--addr", LOOP)),
    # bad arguments
    Case(("-c", "1", "-l", LOOP), usage=True, same_message=True),
    Case(("-a", "-u", LOOP), usage=True, same_message=True),
    Case(("-n", "-d", LOOP), usage=True, same_message=True),
    Case(("-4", "-6", LOOP), usage=True, same_message=True),
    Case(("-H", "300", LOOP), usage=True, same_message=True),
    Case(("-B", "10", LOOP), usage=True, same_message=True),
    Case(("-g", "127.0.0.1", "127.3.0.0"), usage=True, same_message=True),
    Case(("-c", "0", LOOP), usage=True),
    Case(("-Z", LOOP), usage=True),
    Case(("-g", LOOP), usage=True),
    Case((LOOP, "-f", str(TARGETS_FILE)), usage=True),
    # a system error: fping's status 4 and words
    Case(("-f", "/nonexistent/targets.txt")),
]

ALIVE, ALIVE2, SILENT = "198.18.0.10", "198.18.0.11", "198.18.0.20"
UNREACHABLE, EXPIRED, ALIVE6 = "198.18.0.30", "198.18.0.31", "2001:db8:5::10"
DOUBLING = "198.18.0.40"  # every reply twice
NO_ROUTE = "192.0.2.1"  # TEST-NET-1: the namespace routes only 198.18.0.0/15 (and 2001:db8:5::)
SIMULATED_HOSTS = {
    ALIVE: {"delay_ms": 2.0},
    ALIVE2: {"delay_ms": 3.0},
    SILENT: {"silent": True},
    UNREACHABLE: {"error": [3, 1], "router": "198.18.0.254"},
    EXPIRED: {"error": [11, 0], "router": "198.18.0.253"},
    ALIVE6: {"delay_ms": 2.0},
    DOUBLING: {"delay_ms": 2.0, "copies": 2},
}
SIMULATED = [
    Case((ALIVE, ALIVE2)),
    Case(("-e", "-a", ALIVE, ALIVE2)),
    Case(("-r", "1", "-t", "100", ALIVE, SILENT)),
    Case(("-u", "-r", "0", "-t", "100", ALIVE, SILENT)),
    Case(("-r", "1", "-t", "100", UNREACHABLE)),
    Case(("-r", "2", "-t", "100", EXPIRED)),
    Case(("-q", "-r", "1", "-t", "100", UNREACHABLE)),
    Case(("-s", "-r", "1", "-t", "100", ALIVE, SILENT, UNREACHABLE)),
    # no route in the namespace: each send fails there, and nothing leaves it
    Case(("-s", "-r", "1", "-t", "100", ALIVE, NO_ROUTE)),
    Case(("-s", "-C", "2", "-p", "200", "-t", "100", NO_ROUTE, ALIVE)),
    # duplicates: not replies in the summaries, but in -s's "ICMP Echo Replies received"
    Case(("-s", "-c", "3", "-p", "100", DOUBLING)),
    Case(("-x", "1", "-r", "0", "-t", "100", ALIVE, SILENT)),
    Case(("-c", "3", "-p", "100", ALIVE, ALIVE2)),
    # A timeout well before the next round: with -t equal to -p, fping itself prints a
    # timeout before or after the next round's first reply, as the microseconds fall.
    Case(("-C", "3", "-p", "200", "-t", "100", ALIVE, SILENT)),
    # quiet: the RTTs kept as the engine's columns, each loss a "-"; an ICMP error's too
    Case(("-C", "2", "-q", "-p", "200", "-t", "100", SILENT, ALIVE, UNREACHABLE, NO_ROUTE)),
    Case(("-x", "2", "-C", "1", "-q", "-t", "100", ALIVE, SILENT, ALIVE2)),
    Case(("-c", "2", "-p", "200", "-t", "100", ALIVE, UNREACHABLE)),
    Case(("-s", "-c", "2", "-p", "200", "-t", "100", ALIVE, SILENT)),
    Case(("-c", "2", "-p", "200", "-t", "100", "-D", ALIVE, SILENT)),
    Case(("-l", "-Q", "1", "-c", "1", ALIVE), usage=True, same_message=True),
    Case(("-C", "2", "-p", "100", "-i", "10", ALIVE6, ALIVE)),
]


# -M against loopback's MTU, made 1280 in a namespace of the run's own: 1,400-byte probes go
# in fragments, or with -M fail to send (EMSGSIZE, "Message too long"); 100-byte ones go whole.
SMALL_MTU = ("unshare", "--net", "sh", "-c", 'ip link set lo mtu 1280 up && exec "$@"', "sh")
DONTFRAG = [
    Case(("-M", "-b", "1400", "-c", "2", "-p", "100", "-i", "10", LOOP, LOOP6)),
    Case(("-M", "-b", "1400", "-C", "2", "-q", "-p", "100", LOOP, LOOP6)),
    Case(("-M", "-b", "1400", "-r", "1", "-t", "100", LOOP, LOOP6)),  # once each: no retry
    Case(("-M", "-b", "1400", "-s", "-r", "0", LOOP)),
    Case(("--dontfrag", "--size=1400", "-u", LOOP)),
    Case(("-M", "-b", "100", "-c", "2", "-p", "100", "-i", "10", LOOP, LOOP6)),
    Case(("-M", "-b", "100", LOOP, LOOP6)),
    Case(("-b", "1400", "-c", "2", "-p", "100", "-i", "10", LOOP, LOOP6)),
    Case(("-b", "1400", "-s", LOOP, LOOP6)),
]


@pytest.fixture(scope="module")
def fping() -> str:
    return fping_binary()


@pytest.fixture(scope="module")
def network() -> Iterator[SimulatedNetwork]:
    try:
        with SimulatedNetwork(SIMULATED_HOSTS) as simulated:
            yield simulated
    except NetsimUnavailable as reason:
        pytest.skip(f"no simulated network here: {reason}")


def test_the_matrix_is_at_least_forty_invocations() -> None:
    assert len(LOOPBACK) + len(SIMULATED) + len(DONTFRAG) >= 40


@pytest.mark.parametrize("case", LOOPBACK, ids=lambda case: case.label)
def test_loopback_as_fping(fping: str, case: Case) -> None:
    compare(case, *run_both(fping, case))


@pytest.mark.parametrize("case", SIMULATED, ids=lambda case: case.label)
def test_simulated_network_as_fping(fping: str, network: SimulatedNetwork, case: Case) -> None:
    compare(case, *run_both(fping, case, ("ip", "netns", "exec", network.name)))


@pytest.mark.parametrize("case", DONTFRAG, ids=lambda case: case.label)
def test_dont_fragment_against_a_small_mtu_as_fping(fping: str, case: Case) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("a namespace of its own needs root, unshare(1) and ip(8)")
    compare(case, *run_both(fping, case, SMALL_MTU))


SIGNALLED = [
    # (arguments, [(seconds, signal), ...]): runs a signal ends, or interrupts with a report
    (("-l", "-p", "100", LOOP, LOOP6), [(0.45, signal.SIGQUIT), (0.3, signal.SIGINT)]),
    (("-l", "-q", "-p", "100", LOOP), [(0.35, signal.SIGINT)]),
    (("-l", "-p", "50", "-Q", "0.3", LOOP, LOOP6), [(0.8, signal.SIGINT)]),
    (("-l", "-p", "50", "-Q", "0.3,cumulative", LOOP), [(0.8, signal.SIGINT)]),
    (("-c", "30", "-p", "50", "-q", LOOP, LOOP6), [(0.4, signal.SIGQUIT), (0.3, signal.SIGINT)]),
    (("-C", "30", "-p", "50", LOOP), [(0.4, signal.SIGQUIT), (0.3, signal.SIGINT)]),
    (("-N", "-l", "-Q", "0.3", "-p", "50", LOOP), [(0.8, signal.SIGINT)]),
    (("-s", "-l", "-p", "100", LOOP), [(0.35, signal.SIGINT)]),
    (("-a", "-l", "-p", "100", LOOP), [(0.35, signal.SIGINT)]),  # (-l overrides -a)
]


SIGNALLED_SIMULATED = [
    (("-l", "-p", "200", "-t", "100", ALIVE, UNREACHABLE, SILENT), [(0.7, signal.SIGINT)]),
    (("-l", "-p", "200", "-t", "100", "-q", EXPIRED), [(0.5, signal.SIGINT)]),
    (("-l", "-p", "100", "-Q", "0.4", ALIVE, SILENT), [(1.0, signal.SIGINT)]),
    # a sweep goes on after SIGQUIT's block (fastping's comes at the end of an attempt)
    (("-r", "3", "-t", "300", ALIVE, SILENT), [(0.5, signal.SIGQUIT)]),
]


@pytest.mark.parametrize(("arguments", "signals"), SIGNALLED,
                         ids=[" ".join(arguments) for arguments, _ in SIGNALLED])
def test_signalled_runs_print_as_fping(fping: str, arguments: tuple[str, ...],
                                       signals: list[tuple[float, int]]) -> None:
    # How many probes each sent depends on when each started: the lines' shapes, numbers
    # masked, are compared, each distinct one once, in order.
    theirs, ours = run_both_signalled(fping, arguments, signals)
    context = f"\n--- fping\n{theirs}\n--- fastping\n{ours}"
    assert ours.status == theirs.status, context
    assert shape(ours.stdout) == shape(theirs.stdout), context
    assert shape(ours.stderr) == shape(theirs.stderr), context


@pytest.mark.parametrize(("arguments", "signals"), SIGNALLED_SIMULATED,
                         ids=[" ".join(arguments) for arguments, _ in SIGNALLED_SIMULATED])
def test_signalled_runs_in_the_simulated_network_print_as_fping(
        fping: str, network: SimulatedNetwork, arguments: tuple[str, ...],
        signals: list[tuple[float, int]]) -> None:
    theirs, ours = run_both_signalled(fping, arguments, signals,
                                      ("ip", "netns", "exec", network.name))
    context = f"\n--- fping\n{theirs}\n--- fastping\n{ours}"
    assert ours.status == theirs.status, context
    assert shape(ours.stdout) == shape(theirs.stdout), context
    assert shape(ours.stderr) == shape(theirs.stderr), context
