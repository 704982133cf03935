"""ICMP timestamp requests (type 13) and their replies (type 14), as fping's --icmp-timestamp.

The packet functions against the pure-Python reference (tests/icmp_reference.py); the engine
against loopback (Linux answers timestamp requests on raw sockets) and against the simulated
network (tests/netsim.py), whose hosts answer, duplicate, forge, corrupt and truncate timestamp
replies and report errors quoting the requests. Where a request's cookie lives: icmp.h.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import icmp_reference as ref
import netsim
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastping
from fastping import _engine

KEY = bytes(range(16))
DST4 = bytes([198, 51, 100, 7])
DAY_MS = 86_400_000


def raw_sockets_allowed() -> bool:
    return os.geteuid() == 0


needs_raw = pytest.mark.skipif(not raw_sockets_allowed(),
                               reason="ICMP timestamp requests need a raw socket (root)")


# ---- the packets ---------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(1, (1 << 64) - 1), st.binary(min_size=8, max_size=8))
def test_build_timestamp_is_the_references(ident: int, serial: int, cookie: bytes) -> None:
    built = _engine.build_timestamp(ident, serial, cookie)
    assert built == ref.build_timestamp(ident, serial, cookie)
    assert len(built) == ref.ICMP_HEADER_LEN + _engine.TIMESTAMP_DATA_LEN == 20
    assert ref.checksum(built) == 0
    (originate,) = struct.unpack_from("!I", built, 8)
    assert originate & ref.NONSTANDARD  # RFC 792's mark: not a clock reading


def test_build_timestamp_rejects() -> None:
    with pytest.raises(ValueError, match="cookie"):
        _engine.build_timestamp(1, 1, b"short")
    with pytest.raises(ValueError, match="16-bit"):
        _engine.build_timestamp(1 << 16, 1, bytes(8))


def timestamp_reply(ident: int = 0x4242, seq: int = 7, times: tuple[int, int, int] = (
        0x80001234, 5_000_000, 5_000_001), *, code: int = 0, extra: bytes = b"") -> bytes:
    return ref.icmp_message(ref.ICMP4_TIMESTAMP_REPLY, code, struct.pack("!HH", ident, seq),
                            struct.pack("!III", *times) + extra)


def ipv4(message: bytes, ttl: int = 64) -> bytes:
    header = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(message), 0, 0, ttl, 1, 0,
                                   DST4, bytes([192, 0, 2, 1])))
    struct.pack_into("!H", header, 10, ref.checksum(bytes(header)))
    return bytes(header) + message


def same_parse(layer: str, data: bytes) -> ref.Parsed:
    got = _engine.parse(layer, data)
    assert got == ref.parse(layer, data), f"{layer} {data.hex()}"
    return got


@pytest.mark.parametrize("extra", [b"", b"\0" * 4])
def test_parse_timestamp_reply(extra: bytes) -> None:
    reply = timestamp_reply(extra=extra)
    for layer, data in (("icmp4", reply), ("ipv4", ipv4(reply, ttl=9))):
        parsed = same_parse(layer, data)
        assert parsed[0] == ref.TIMESTAMP_REPLY
        assert parsed[1:6] == (14, 0, 9 if layer == "ipv4" else 0, 0x4242, 7)
        assert parsed[9] == (0x80001234, 5_000_000, 5_000_001)


@pytest.mark.parametrize("length", range(8, 20))
def test_parse_timestamp_reply_short_is_malformed(length: int) -> None:
    # A well-summed reply that stops before its transmit time: it cannot hold the three.
    cut = timestamp_reply()[:length]
    message = cut[:2] + b"\0\0" + cut[4:]
    message = message[:2] + struct.pack("!H", ref.checksum(message)) + message[4:]
    for layer, data in (("icmp4", message), ("ipv4", ipv4(message))):
        assert same_parse(layer, data)[0] == ref.MALFORMED


def test_parse_timestamp_reply_bad_checksum_or_code_is_malformed() -> None:
    reply = timestamp_reply()
    corrupt = reply[:12] + bytes([reply[12] ^ 1]) + reply[13:]
    for message in (corrupt, timestamp_reply(code=1)):
        for layer, data in (("icmp4", message), ("ipv4", ipv4(message))):
            assert same_parse(layer, data)[0] == ref.MALFORMED


@pytest.mark.parametrize("quoted_bytes", [8, 12, 20])
def test_parse_error_quoting_a_timestamp_request(quoted_bytes: int) -> None:
    request = ref.build_timestamp(0xABCD, 0x10007, ref.probe_cookie(KEY, 0x10007, DST4))
    quote = ipv4(request)[:20 + quoted_bytes]
    error = ref.icmp_message(11, 0, bytes(4), quote)
    for layer, data in (("icmp4", error), ("ipv4", ipv4(error, ttl=3))):
        parsed = same_parse(layer, data)
        assert parsed[0] == ref.ERROR
        assert parsed[4:6] == (0xABCD, 7)
        assert parsed[6] == request[8:quoted_bytes]
        assert parsed[8] == ref.ICMP4_TIMESTAMP_REQUEST


@settings(max_examples=500, deadline=None)
@given(st.binary(min_size=0, max_size=40), st.integers(0, 255))
def test_parse_mutated_timestamp_messages(tail: bytes, code: int) -> None:
    for message_type in (ref.ICMP4_TIMESTAMP_REQUEST, ref.ICMP4_TIMESTAMP_REPLY):
        message = ref.icmp_message(message_type, code, tail[:4].ljust(4, b"\0"), tail[4:])
        for layer, data in (("icmp4", message), ("ipv4", ipv4(message))):
            same_parse(layer, data)


# ---- options and errors, before any packet ----------------------------------------------


def test_timestamp_options_that_cannot_be() -> None:
    with pytest.raises(ValueError, match="echo requests only"):
        fastping.Pinger(icmp_timestamp=True, privileged=False)
    with pytest.raises(ValueError, match="IPv4 only"):
        fastping.Pinger(icmp_timestamp=True, family=6)
    with pytest.raises(ValueError, match="IPv4 only"):
        fastping.Monitor(icmp_timestamp=True, source="::1")
    with pytest.raises(TypeError, match="icmp_timestamp"):
        fastping.Pinger(icmp_timestamp=1)  # type: ignore[arg-type]


@needs_raw
def test_timestamp_hosts_are_ipv4() -> None:
    with fastping.Pinger(icmp_timestamp=True) as pinger:
        with pytest.raises(ValueError, match="IPv4"):
            pinger.add("::1")
        assert pinger.hosts == ()


@pytest.mark.skipif(shutil.which("setpriv") is None or os.geteuid() != 0,
                    reason="needs root to drop to an unprivileged user with setpriv")
def test_unprivileged_gets_a_clear_error() -> None:
    """Without CAP_NET_RAW, even where datagram ICMP sockets are allowed, the error says why."""
    source = ("import fastping\n"
              "try:\n"
              "    fastping.Pinger(['127.0.0.1'], icmp_timestamp=True)\n"
              "except PermissionError as error:\n"
              "    print('PermissionError', error)\n")
    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
         "--bounding-set=-all", sys.executable, "-c", source],
        capture_output=True, text=True, timeout=60, cwd="/", check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("PermissionError")
    assert "timestamp requests need one" in done.stdout
    assert "echo requests only" in done.stdout


# ---- loopback ------------------------------------------------------------------------------


def ms_of_day(seconds: float) -> int:
    return int(seconds * 1000) % DAY_MS


def near_ms(a: int, b: int, tolerance: int) -> bool:
    """Whether two times of day are within tolerance ms, across midnight too."""
    difference = abs(a - b) % DAY_MS
    return min(difference, DAY_MS - difference) <= tolerance


@needs_raw
def test_loopback_answers_with_its_times() -> None:
    hosts = ["127.0.0.1", "127.0.7.1", "127.0.7.2"]
    before = time.time()
    with fastping.Pinger(hosts, icmp_timestamp=True, timeout=1.0) as pinger:
        results = pinger.ping()
        counters = pinger.counters()
    after = time.time()
    assert list(results) == hosts
    for result in results.values():
        assert result.ok, result
        assert result.rtt is not None and 0 < result.rtt < 1.0
        stamps = result.timestamps
        assert isinstance(stamps, fastping.Timestamps)
        # One machine, one clock: every time lies within the round, to the millisecond.
        span = int((after - before) * 1000) + 2
        for value in stamps:
            assert near_ms(value, ms_of_day(before), span), (stamps, before)
        assert (stamps.local_receive - stamps.originate) % DAY_MS <= span
    assert counters["replies"] == len(hosts)
    assert counters["foreign"] == counters["malformed"] == 0


@needs_raw
def test_loopback_echo_results_carry_no_times() -> None:
    with fastping.Pinger(["127.0.0.1"]) as pinger:
        (result,) = pinger.ping().values()
    assert result.ok and result.timestamps is None


@needs_raw
def test_monitor_and_ping_take_the_option() -> None:
    stats = fastping.ping("127.0.0.1", count=2, interval=0.05, icmp_timestamp=True)
    assert stats.received == 2
    with fastping.Monitor(["127.0.0.1"], period=0.05, icmp_timestamp=True,
                          replies=True) as monitor:
        deadline = time.monotonic() + 5
        for event in monitor.events():
            if event.result.ok or time.monotonic() > deadline:
                break
    assert event.result.ok and event.result.timestamps is not None


# ---- the simulated network ---------------------------------------------------------------


def v4(subnet: int, host: int) -> str:
    return f"198.18.{subnet}.{host}"


ROUTER = v4(2, 1)
# host -> (behaviour, what each probe's outcome is, the counter each forged reply lands in)
CASES: dict[str, tuple[dict[str, Any], str, str | None]] = {
    v4(40, 1): ({}, "ok", None),
    v4(40, 2): ({"delay_ms": 30}, "ok", None),
    v4(40, 3): ({"copies": 2}, "ok", "duplicates"),
    v4(40, 4): ({"forge": "cookie"}, "timeout", "malformed"),  # our probe, another originate
    v4(40, 5): ({"forge": "checksum"}, "timeout", "malformed"),
    v4(40, 6): ({"forge": "truncate_times"}, "timeout", "malformed"),
    v4(40, 7): ({"forge": "seq"}, "timeout", "foreign"),  # names no probe sent there
    v4(40, 8): ({"forge": "ident"}, "timeout", None),  # the kernel's filter drops it
    v4(40, 9): ({"source": v4(41, 9)}, "timeout", "foreign"),
    v4(40, 10): ({"error": [3, 1], "router": ROUTER, "quote": "full"}, "unreachable", None),
    v4(40, 11): ({"error": [11, 0], "router": ROUTER, "quote": "short"}, "ttl_exceeded",
                 "unverified"),
    v4(40, 12): ({"error": [3, 1], "router": ROUTER, "quote": "cookie"}, "timeout",
                 "malformed"),
    v4(40, 13): ({"error": [3, 1], "router": ROUTER, "quote": "wrong_dst"}, "timeout",
                 "foreign"),
}
ROUNDS = 3


def _client() -> None:
    """Runs in the namespace: ROUNDS rounds of timestamp requests, results and counters."""
    import json
    import sys

    import fastping

    spec = json.loads(sys.argv[1])
    done = []
    with fastping.Pinger(spec["hosts"], icmp_timestamp=True, timeout=0.3) as pinger:
        for results in pinger.run(count=spec["rounds"], interval=0.4):
            done.append({host: {"status": result.status.value, "rtt": result.rtt,
                                "timestamps": result.timestamps, "router": result.router}
                         for host, result in results.items()})
        print(json.dumps({"rounds": done, "counters": pinger.counters()}))


CLIENT_SOURCE = f"from __future__ import annotations\n{inspect.getsource(_client)}\n_client()\n"


@pytest.fixture(scope="module")
def report() -> Iterator[dict[str, Any]]:
    try:
        with netsim.SimulatedNetwork({host: case[0] for host, case in CASES.items()}) as network:
            before = time.time()
            yield {**network.run(CLIENT_SOURCE, {"hosts": list(CASES), "rounds": ROUNDS}),
                   "before": before, "after": time.time()}
    except netsim.NetsimUnavailable as reason:
        pytest.skip(f"no simulated network here: {reason}")


@pytest.mark.parametrize("host", list(CASES))
def test_simulated_outcomes(report: dict[str, Any], host: str) -> None:
    behaviour, status, _ = CASES[host]
    assert len(report["rounds"]) == ROUNDS
    for results in report["rounds"]:
        result = results[host]
        assert result["status"] == status, (host, behaviour, result)
        if status == "ok":
            originate, receive, transmit, local_receive = result["timestamps"]
            # The responder's clock is ours: its times lie between our send and receipt.
            assert near_ms(receive, originate, int(result["rtt"] * 1000) + 2)
            assert transmit == receive
            assert (local_receive - originate) % DAY_MS <= int(result["rtt"] * 1000) + 2
        else:
            assert result["timestamps"] is None
        if "error" in behaviour:
            assert result["router"] == (ROUTER if status != "timeout" else None)


def test_simulated_counters(report: dict[str, Any]) -> None:
    expected = dict.fromkeys(("duplicates", "malformed", "foreign", "unverified"), 0)
    for _, _, counter in CASES.values():
        if counter is not None:
            expected[counter] += ROUNDS
    counters = report["counters"]
    assert {name: counters[name] for name in expected} == expected
    statuses = [case[1] for case in CASES.values()]
    assert counters["sent"] == ROUNDS * len(CASES)
    assert counters["replies"] == ROUNDS * statuses.count("ok")
    # The unverified error is reported (and counted) when its probe times out unanswered.
    assert counters["icmp_errors"] == ROUNDS * (statuses.count("unreachable")
                                                + statuses.count("ttl_exceeded"))
    assert counters["timeouts"] == ROUNDS * statuses.count("timeout")


# ---- the command ---------------------------------------------------------------------------

COMMAND = str(Path(sys.executable).with_name("fastping"))
TIMESTAMP_LINE = re.compile(
    r"^127\.0\.0\.1 : \[(\d)\], 20 bytes, \d+\.\d{3} ms \(\d+\.\d{3} avg, 0% loss\), "
    r"timestamps: Originate=(\d+) Receive=(\d+) Transmit=(\d+) Localreceive=(\d+)$")


@needs_raw
def test_command_prints_the_times_as_fping_does() -> None:
    done = subprocess.run([COMMAND, "--icmp-timestamp", "-c", "2", "-p", "20", "127.0.0.1"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2, lines
    for number, line in enumerate(lines):
        match = TIMESTAMP_LINE.match(line)
        assert match is not None, line
        assert int(match.group(1)) == number
        originate, receive, transmit, local = map(int, match.group(2, 3, 4, 5))
        assert near_ms(receive, originate, 50) and near_ms(local, transmit, 50)


def test_command_refuses_ipv6_with_timestamps() -> None:
    done = subprocess.run([COMMAND, "--icmp-timestamp", "-6", "-c", "1", "::1"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 3
    assert "IPv4 only" in done.stderr and "Traceback" not in done.stderr
