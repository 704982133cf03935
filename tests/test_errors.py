"""Bad input gets a clear error naming it, raised before any socket is opened."""

from __future__ import annotations

import math
from typing import Any

import pytest
from conftest import open_fds

import fastping
from fastping import Pinger


def test_engine_options_are_the_same_everywhere(fd_baseline: int) -> None:
    # Defined once (EngineKeywords): a misspelt one is refused by name by each taker.
    for make, name in ((lambda **o: fastping.Monitor(**o), "Monitor"),
                       (lambda **o: fastping.multiping(["127.0.0.1"], **o), "Pinger")):
        with pytest.raises(TypeError, match=f"{name}\\(\\) got an unexpected keyword argument"):
            make(ttls=3)
        with pytest.raises(ValueError, match="ttl"):
            make(ttl=0)
    assert open_fds() == fd_baseline


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": -1.0}, ValueError, "timeout"),
        ({"timeout": math.nan}, ValueError, "timeout"),
        ({"timeout": math.inf}, ValueError, "timeout"),
        ({"timeout": 1e9}, ValueError, "timeout"),
        ({"timeout": "1"}, TypeError, "timeout"),
        ({"timeout": True}, TypeError, "timeout"),
        ({"size": 15}, ValueError, "size"),
        ({"size": 70000}, ValueError, "size"),
        ({"size": 56.0}, TypeError, "size"),
        ({"ttl": 0}, ValueError, "ttl"),
        ({"ttl": 256}, ValueError, "ttl"),
        ({"ttl": "64"}, TypeError, "ttl"),
        ({"tos": -1}, ValueError, "tos"),
        ({"tos": 256}, ValueError, "tos"),
        ({"source": "not-an-address"}, ValueError, "source"),
        ({"source": 127}, TypeError, "source"),
        ({"interface": "no-such-if0"}, ValueError, "no-such-if0"),
        ({"interface": 3}, TypeError, "interface"),
        ({"privileged": "yes"}, TypeError, "privileged"),
        ({"dont_fragment": 1}, TypeError, "dont_fragment"),
        ({"family": 5}, ValueError, "family"),
        ({"on_recv": 42}, TypeError, "on_recv"),
        ({"on_idle": "print"}, TypeError, "on_idle"),
        ({"hosts": "127.0.0.1"}, TypeError, "iterable"),
        ({"sizes": 56}, TypeError, "Pinger\\(\\) got an unexpected keyword argument 'sizes'"),
    ],
)
def test_bad_pinger_options(options: dict[str, Any], error: type[Exception], message: str,
                            fd_baseline: int) -> None:
    with pytest.raises(error, match=message):
        Pinger(**options)
    assert open_fds() == fd_baseline


@pytest.mark.parametrize(
    ("host", "error", "message"),
    [
        ("999.1.1.1", ValueError, "invalid IPv4 address: '999.1.1.1'"),
        ("1.2.3", ValueError, "invalid IPv4 address"),
        ("127.0.0.1.", ValueError, "invalid IPv4 address"),
        ("127.0.0.010", ValueError, "invalid IPv4 address"),  # octal to some tools
        ("::1::2", ValueError, "invalid IPv6 address: '::1::2'"),
        ("fe80::1%no-such-if0", ValueError, "unknown interface"),
        ("", ValueError, "empty"),
        ("   ", ValueError, "empty"),
        ("a..b", ValueError, "invalid host name: 'a..b'"),
        ("127.0.0.1\0", ValueError, "invalid host name"),
        ("\udcff", ValueError, "invalid host name"),
        ("x" * 64 + ".example", ValueError, "invalid host name"),
        (None, TypeError, "host must be a str"),
        (b"127.0.0.1", TypeError, "host must be a str"),
        (2130706433, TypeError, "host must be a str"),
    ],
)
def test_bad_hosts(host: Any, error: type[Exception], message: str,
                   make_pinger: Any) -> None:
    pinger = make_pinger()
    with pytest.raises(error, match=message.replace("(", r"\(").replace(".", r"\.")):
        pinger.add(host)
    assert pinger.hosts == ()
    with pytest.raises(error):
        fastping.ping(host, count=1)


def test_wrong_family(make_pinger: Any) -> None:
    with pytest.raises(ValueError, match="not an IPv6 address"):
        make_pinger(family=6).add("127.0.0.1")
    with pytest.raises(ValueError, match="not an IPv4 address"):
        make_pinger(family=4).add("::1")


def test_remove_unknown_host(make_pinger: Any) -> None:
    with pytest.raises(ValueError, match=r"'127\.0\.0\.9' is not in this Pinger"):
        make_pinger(["127.0.0.1"]).remove("127.0.0.9")


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"count": 0}, ValueError, "count"),
        ({"count": -1}, ValueError, "count"),
        ({"count": 1.5}, TypeError, "count"),
        ({"interval": -0.1}, ValueError, "interval"),
        ({"interval": math.nan}, ValueError, "interval"),
        ({"interval": "1"}, TypeError, "interval"),
    ],
)
def test_bad_run_arguments(arguments: dict[str, Any], error: type[Exception], message: str,
                           make_pinger: Any) -> None:
    pinger = make_pinger(["127.0.0.1"])
    with pytest.raises(error, match=message):
        pinger.run(**arguments)
    with pytest.raises(error, match=message):
        fastping.multiping(["127.0.0.1"], **arguments)


def test_multiping_rejects_a_single_string() -> None:
    with pytest.raises(TypeError, match="not one str"):
        fastping.multiping("127.0.0.1")


def test_ping_from_inside_a_round_is_refused(make_pinger: Any) -> None:
    errors: list[BaseException] = []

    def on_recv(result: fastping.Result) -> None:
        try:
            pinger.ping()
        except RuntimeError as error:
            errors.append(error)

    pinger = make_pinger(["127.0.0.1"], on_recv=on_recv)
    assert pinger.ping()["127.0.0.1"].ok
    assert len(errors) == 1 and "within a round" in str(errors[0])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Pinger(timeout=1e-10), "timeout must be between 1e-06 and"),
        (lambda: Pinger(gap=1e-7), "gap must be 0 or between 1e-06 and"),
        (lambda: fastping.Monitor(period=1e-10, timeout=0.5), "period must be between 1e-06"),
        (lambda: fastping.Monitor(period=1.0, send_slack=1e-9), "send_slack must be 0 or"),
        (lambda: fastping.multiping(["127.0.0.1"], interval=1e-8), "interval must be 0 or"),
    ],
)
def test_durations_below_a_microsecond_raise_value_error(make: Any, message: str) -> None:
    # The engine cannot represent them: they used to pass, then fail (OSError EINVAL) or be
    # truncated (a Monitor probing each host once and never again).
    before = open_fds()
    with pytest.raises(ValueError, match=message):
        make()
    assert open_fds() == before


def test_smallest_durations_and_zero_gap_are_accepted() -> None:
    with Pinger(["127.0.0.1"], timeout=1e-6, gap=0) as pinger:
        assert list(pinger.ping()) == ["127.0.0.1"]
    with Pinger(timeout=0.5, gap=1e-6):
        pass


def test_host_text_is_stripped_everywhere_it_enters() -> None:
    with Pinger([" 127.0.0.1\n"], timeout=0.5) as pinger:
        assert pinger.add("127.0.0.1 ") == "127.0.0.1"
        assert pinger.hosts == ("127.0.0.1",)
        assert list(pinger.ping()) == ["127.0.0.1"]
        with pytest.raises(ValueError, match="must not be empty"):
            pinger.add(" \t")
    with fastping.Monitor(["\t127.0.0.1"], period=1.0) as monitor:
        monitor.add("127.0.0.1 ")
        assert monitor.hosts == ("127.0.0.1",)
    # multiping keys its results by the text given, so results[host] works for what the
    # caller passed; each HostStats names the host stripped.
    stats = fastping.multiping(["127.0.0.1 ", " "], timeout=0.5)
    assert list(stats) == ["127.0.0.1 ", " "]
    assert stats["127.0.0.1 "].host == "127.0.0.1" and stats["127.0.0.1 "].received == 1
    assert stats[" "].error == "host must not be empty"
    assert fastping.ping(" 127.0.0.1", count=1, timeout=0.5).host == "127.0.0.1"
