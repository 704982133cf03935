"""Fixtures that own every Pinger a test makes and check that nothing leaks.

Every test that uses `make_pinger` gets its Pingers closed at teardown and
the process's descriptor count compared with what it was before the test.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import fastping

# Started in the background by a shell without job control (nohup, `cmd &` in a script), a
# process inherits SIGINT ignored, and then Python installs no KeyboardInterrupt handler: the
# Ctrl-C tests would wait forever, and the commands they start would too. Put it back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


# Under scripts/asan-tests.sh the ASan runtime is preloaded, and matplotlib's own C extensions
# abort on import there: tests that load matplotlib skip (fastping's charts are pure Python).
needs_matplotlib_outside_asan = pytest.mark.skipif(
    "libasan" in os.environ.get("LD_PRELOAD", ""),
    reason="matplotlib's C extensions abort under the preloaded ASan runtime")


def open_fds() -> int:
    """Descriptors this process has open right now."""
    return len(os.listdir("/proc/self/fd"))


def loopback_hosts(count: int, start: str = "127.0.1.1") -> list[str]:
    """count distinct loopback addresses (the kernel answers every one of 127.0.0.0/8)."""
    first = ipaddress.IPv4Address(start)
    hosts = [str(first + i) for i in range(count)]
    assert ipaddress.IPv4Address(hosts[-1]) in ipaddress.IPv4Network("127.0.0.0/8")
    return hosts


@pytest.fixture
def fd_baseline() -> Iterator[int]:
    """The descriptor count before the test; asserts it is the same after."""
    before = open_fds()
    yield before
    assert open_fds() == before, "the test leaked descriptors"


@pytest.fixture
def make_pinger(fd_baseline: int) -> Iterator[Callable[..., fastping.Pinger]]:
    """A Pinger factory; every Pinger is closed after the test, and descriptors checked."""
    made: list[fastping.Pinger] = []

    def make(*args: Any, **kwargs: Any) -> fastping.Pinger:
        pinger = fastping.Pinger(*args, **kwargs)
        made.append(pinger)
        return pinger

    yield make
    for pinger in made:
        pinger.close()
        assert pinger.resources()["descriptors"] == 0


def isolated_command(script: str, setup: str = "") -> list[str]:
    """A command that runs `python -c script` in a network namespace of its own.

    Only loopback exists there (brought up first), so nothing the script
    sends can leave the machine; setup is shell run before it, as root in
    that namespace (e.g. a sysctl that would be unkind to the host's own).
    """
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) for a private network namespace")
    prelude = "ip link set lo up" + (f" && {setup}" if setup else "")
    return ["unshare", "-n", "sh", "-c", f'{prelude} && exec "$0" -c "$@"', sys.executable,
            script]


def run_isolated(script: str, setup: str = "", timeout: float = 60) -> str:
    """Runs script as isolated_command does; returns its stdout, skips if namespaces are refused."""
    done = subprocess.run(isolated_command(script, setup), capture_output=True, text=True,
                          timeout=timeout, check=False)
    if done.returncode != 0 and "unshare" in done.stderr:
        pytest.skip(f"no private network namespace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    return done.stdout
