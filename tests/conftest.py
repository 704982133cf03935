"""Fixtures that own every Pinger a test makes and check that nothing leaks.

Every test that uses `make_pinger` gets its Pingers closed at teardown and
the process's descriptor count compared with what it was before the test.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import fastping


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
