"""fping's options newer than Debian's fping 5.1 (so not in the differential suite), each
against what fping 5.5's man page (doc/fping.pod) and doc/fping-json.md say."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fping_harness import FASTPING
from netsim import NetsimUnavailable, SimulatedNetwork

from fastping.cli import targets
from fastping.cli.arguments import UsageError


def fastping(*arguments: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FASTPING, *arguments], capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_print_ttl_shows_each_replys_ttl() -> None:
    # "Displays the IPv4 TTL value from the IP Header in the output."
    done = fastping("--print-ttl", "-c", "2", "-p", "50", "127.0.0.1")
    assert done.returncode == 0, done.stderr
    assert all(line.endswith(" (TTL 64)") for line in done.stdout.splitlines()), done.stdout
    done = fastping("--print-ttl", "-e", "127.0.0.1")
    assert re.fullmatch(r"127\.0\.0\.1 is alive \(TTL 64\) \([\d.]+ ms\)\n", done.stdout)



def test_print_tos_shows_each_replys_tos_before_its_ttl() -> None:
    # "Displays the TOS value in the output": loopback echoes the request's (-O's), and
    # fping's print_recv_ext puts " (TOS n)" before " (TTL n)", both before -e's RTT.
    done = fastping("--print-tos", "-O", "0xb8", "-c", "2", "-p", "50", "127.0.0.1", "::1")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 4 and all(line.endswith("% loss) (TOS 184)") for line in lines), lines
    done = fastping("--print-tos", "--print-ttl", "-e", "127.0.0.1")
    assert re.fullmatch(r"127\.0\.0\.1 is alive \(TOS 0\) \(TTL 64\) \([\d.]+ ms\)\n",
                        done.stdout), done.stdout
    assert fastping("--print-tos", "-a", "-O", "16", "::1").stdout == "::1 (TOS 16)\n"
    # -J: "tos" before "ttl", as fping's own tests expect.
    done = fastping("-J", "--print-tos", "--print-ttl", "-c", "1", "127.0.0.1")
    reply = json.loads(done.stdout.splitlines()[0])["resp"]
    assert list(reply)[-2:] == ["tos", "ttl"] and (reply["tos"], reply["ttl"]) == (0, 64)


def test_print_reply_dst_shows_the_address_each_reply_was_sent_to() -> None:
    # fping prints it as " (SRC address)" (JSON "src"), before --print-tos's TOS: from -S's
    # source here, as loopback answers the address it was asked from.
    done = fastping("--print-reply-dst", "--print-tos", "-S", "127.0.0.2", "-c", "2", "-p",
                    "50", "127.0.0.3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and all(line.endswith("% loss) (SRC 127.0.0.2) (TOS 0)")
                                   for line in lines), lines
    assert fastping("--print-reply-dst", "-a", "::1").stdout == "::1 (SRC ::1)\n"
    done = fastping("-J", "--print-reply-dst", "--print-ttl", "-c", "1", "127.0.0.1")
    reply = json.loads(done.stdout.splitlines()[0])["resp"]
    assert list(reply)[-2:] == ["src", "ttl"] and reply["src"] == "127.0.0.1"

@pytest.mark.parametrize(("style", "pattern"), [
    ("ctime", r"\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\] "),
    ("iso", r"\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}\] "),
    ("rfc3339", r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] "),
])
def test_timestamp_formats(style: str, pattern: str) -> None:
    done = fastping("-D", f"--timestamp-format={style}", "-c", "1", "127.0.0.1")
    assert done.returncode == 0, done.stderr
    assert re.match(pattern + r"127\.0\.0\.1 : \[0\], 64 bytes, ", done.stdout), done.stdout
    # Without -D, no timestamp; an unknown format is a bad argument.
    assert fastping(f"--timestamp-format={style}", "-c", "1", "127.0.0.1").stdout.startswith(
        "127.0.0.1 : [0]")
    assert fastping("-D", "--timestamp-format=unix", "-c", "1", "127.0.0.1").returncode == 3


def test_json_output_follows_fpings_schema() -> None:
    done = fastping("-J", "-s", "-c", "2", "-p", "50", "127.0.0.1", "::1")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert [next(iter(record)) for record in records] == [
        "resp", "resp", "resp", "resp", "summary", "summary", "stats"]
    assert lines[0].startswith('{"resp": {"host": "127.0.0.1", "seq": 0, "size": 64, "rtt": ')
    assert {record["resp"]["host"] for record in records[:4]} == {"127.0.0.1", "::1"}
    summary = records[4]["summary"]
    assert set(summary) == {"host", "xmt", "rcv", "loss", "rttMin", "rttAvg", "rttMax"}
    assert (summary["host"], summary["xmt"], summary["rcv"], summary["loss"]) == (
        "127.0.0.1", 2, 2, 0)
    assert summary["rttMin"] <= summary["rttAvg"] <= summary["rttMax"]
    stats = records[6]["stats"]
    assert (stats["targets"], stats["alive"], stats["icmpEchosSent"],
            stats["icmpEchoRepliesReceived"]) == (2, 2, 4, 4)
    assert set(stats) >= {"unreachable", "unknownAddresses", "timeouts", "otherIcmpReceived",
                          "rttMin", "rttAvg", "rttMax", "elapsed"}
    assert done.stderr == ""
    # -D adds the time as the first field, in -D's format.
    done = fastping("-J", "-D", "--timestamp-format=rfc3339", "-c", "1", "127.0.0.1")
    assert re.match(r'\{"resp": \{"timestamp": "\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "host": ',
                    done.stdout), done.stdout


def test_json_vcount_and_interval_records() -> None:
    done = fastping("-J", "-C", "3", "-p", "50", "-q", "127.0.0.1")
    assert done.returncode == 0, done.stderr
    (record,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert record["vSum"]["host"] == "127.0.0.1" and len(record["vSum"]["values"]) == 3
    done = fastping("-J", "-c", "12", "-p", "50", "-Q", "0.25", "127.0.0.1")
    records = [json.loads(line) for line in done.stdout.splitlines()]
    intervals = [record["intSum"] for record in records if "intSum" in record]
    assert len(intervals) >= 1 and all(abs(item["time"] - time.time()) < 60
                                       for item in intervals)
    assert "summary" in records[-1]
    # "Format output JSON (-c, -C, or -l required)"
    assert fastping("-J", "127.0.0.1").returncode == 3


def test_squiet_cumulative_counts_since_the_start() -> None:
    done = fastping("-c", "14", "-p", "50", "-Q", "0.2,cumulative", "127.0.0.1")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # -Q is -q, with summaries
    sent = [int(line.split(" = ")[1].split("/")[0]) for line in done.stderr.splitlines()
            if line.startswith("127.0.0.1 ")]
    # Each interval's counts include the ones before; the last line is the final summary.
    assert len(sent) >= 3 and sent == sorted(sent) and sent[-1] == 14, done.stderr
    done = fastping("-c", "14", "-p", "50", "-Q", "0.2", "127.0.0.1")
    sent = [int(line.split(" = ")[1].split("/")[0]) for line in done.stderr.splitlines()
            if line.startswith("127.0.0.1 ")]
    assert sum(sent[:-1]) <= sent[-1] and max(sent[:-1]) < 14, done.stderr


def test_netdata_format_charts_once_then_values() -> None:
    process = subprocess.Popen([FASTPING, "-N", "-l", "-Q", "0.3", "-p", "50", "127.0.0.1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == ("CHART fping.127_0_0_1_packets '' 'FPing Packets for host 127.0.0.1' "
                        "packets '127.0.0.1' fping.packets line 110020 0")
    assert sum(line.startswith("CHART ") for line in lines) == 3
    assert lines.count("BEGIN fping.127_0_0_1_latency") >= 2
    assert all(re.fullmatch(r"SET (xmt|rcv|returned|min|avg|max) = \d+", line)
               for line in lines if line.startswith("SET "))


def test_fast_reachable_stops_once_enough_are_alive() -> None:
    try:
        with SimulatedNetwork({"198.18.0.10": {}, "198.18.0.20": {"silent": True}}) as net:
            started = time.monotonic()
            done = subprocess.run(["ip", "netns", "exec", net.name, FASTPING, "-X", "1",
                                   "-t", "3000", "198.18.0.10", "198.18.0.20"],
                                  capture_output=True, text=True, timeout=60, check=False)
            elapsed = time.monotonic() - started
            slow = subprocess.run(["ip", "netns", "exec", net.name, FASTPING, "-x", "1",
                                   "-r", "0", "-t", "1000", "198.18.0.10", "198.18.0.20"],
                                  capture_output=True, text=True, timeout=60, check=False)
    except NetsimUnavailable as reason:
        pytest.skip(f"no simulated network here: {reason}")
    # "immediately exits true once N alive hosts have been found": not after 3 s.
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Enough hosts reachable (required: 1, reachable: 1)\n"
    assert elapsed < 2.0
    assert slow.returncode == 0 and slow.stdout == done.stdout


def test_oiface_sends_through_the_interface_given() -> None:
    # "Set the outgoing interface": loopback's, here (tests/test_netns.py shows another
    # device's drops the probes); not with -I, which binds to one.
    done = fastping("--oiface", "lo", "-c", "1", "127.0.0.1", "::1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(" : [0], 64 bytes, ") == 2


TIMES = r"timestamps: Originate=\d+ Receive=\d+ Transmit=\d+ Localreceive=\d+"


def test_icmp_timestamp_lines_as_fping_5_5() -> None:
    # "Print ICMP timestamps for originate, receive, and transmit, together with the local
    # receive time in the same format, in addition to normal output": after a comma, but
    # with -a (fping's print_recv_ext); 20 bytes, a timestamp reply's.
    assert re.fullmatch(rf"127\.0\.0\.1 is alive, {TIMES}\n",
                        fastping("--icmp-timestamp", "127.0.0.1").stdout)
    assert re.fullmatch(rf"127\.0\.0\.1 {TIMES}\n",
                        fastping("--icmp-timestamp", "-a", "127.0.0.1").stdout)
    done = fastping("--icmp-timestamp", "-J", "-c", "1", "127.0.0.1")
    reply = json.loads(done.stdout.splitlines()[0])["resp"]
    assert reply["size"] == 20 and set(reply["timestamps"]) == {
        "originate", "receive", "transmit", "localreceive"}
    # "Cannot be used together with -b because ICMP timestamp messages have a fixed size."
    done = fastping("--icmp-timestamp", "-b", "20", "127.0.0.1")
    assert (done.returncode, done.stderr) == (3, "fastping: cannot change ICMP Timestamp size\n")


@pytest.mark.parametrize("arguments", [("--check-source",), ("--seqmap-timeout", "5000"),
                                       ("-T", "5")])
def test_options_accepted_as_no_ops(arguments: tuple[str, ...]) -> None:
    # fastping always checks a reply's source (the tag's cookie covers the address) and never
    # reuses a sequence number while it matters; -T is ignored, as by fping.
    done = fastping(*arguments, "-c", "1", "-q", "127.0.0.1")
    assert done.returncode == 0, done.stderr


def _generate(*given: str) -> list[str]:
    args = argparse.Namespace(targets=list(given), file=None, generate=True)
    return targets.targets(args)


def test_generate_takes_ipv6_and_caps_at_131072() -> None:
    # fping 5.5: IPv6 prefixes of 65 to 128 bits; at most 131072 addresses.
    assert _generate("2001:db8::/126") == ["2001:db8::", "2001:db8::1", "2001:db8::2",
                                           "2001:db8::3"]
    assert len(_generate("127.0.0.0", "127.1.255.255")) == 131072
    with pytest.raises(UsageError, match="too many addresses"):
        _generate("127.0.0.0", "127.2.0.0")
    with pytest.raises(UsageError, match="between 65 and 128"):
        _generate("2001:db8::/64")
    assert fastping("-a", "-g", "::1/128").stdout == "::1\n"


def test_target_names_of_255_bytes_at_most(tmp_path: Path) -> None:
    for length, status, words in ((255, 2, "Name or service not known"),
                                  (256, 3, "fastping: target name too long")):
        names = tmp_path / f"names{length}.txt"
        names.write_text("a" * length + " rest of the line\n127.0.0.1\n")
        done = fastping("-f", str(names))
        assert done.returncode == status and words in done.stderr, done.stderr


# -k: "Set FWMARK on ping packets for policy-based routing" (fping 5.5's man page). In a
# namespace of the test's own, a rule sends what carries mark 7 to a prohibit route, ahead of
# the local table (moved behind it): marked probes to loopback fail to send (EACCES), while
# unmarked ones, and ones marked 8, are answered.
MARKED_NAMESPACE = """set -e
ip link set lo up
for family in -4 -6; do
    ip $family rule add pref 100 table local
    ip $family rule del pref 0 table local
    ip $family rule add pref 10 fwmark 7 prohibit
done
exec "$@"
"""


def _in_namespace(*command: str) -> subprocess.CompletedProcess[str]:
    """command run in a new network namespace, loopback up, with MARKED_NAMESPACE's rules."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("a namespace of its own needs root, unshare(1) and ip(8)")
    return subprocess.run(["unshare", "--net", "sh", "-c", MARKED_NAMESPACE, "sh", *command],
                          capture_output=True, text=True, timeout=60, check=False, cwd="/")


def test_fwmark_routes_every_probe_by_its_mark() -> None:
    marked = _in_namespace(FASTPING, "-k", "7", "-c", "2", "-p", "100",
                                  "127.0.0.1", "::1")
    assert marked.returncode == 1 and marked.stdout == "", marked
    assert marked.stderr.splitlines() == ["", "127.0.0.1 : xmt/rcv/%loss = 2/0/100%",
                                          "::1       : xmt/rcv/%loss = 2/0/100%"], marked
    swept = _in_namespace(FASTPING, "--fwmark=7", "-r", "1", "127.0.0.1", "::1")
    assert swept.returncode == 1, swept
    assert swept.stdout == "127.0.0.1 is unreachable\n::1 is unreachable\n", swept
    assert swept.stderr == ("127.0.0.1: error while sending ping: Permission denied\n"
                            "::1: error while sending ping: Permission denied\n"), swept
    for other in (("-k", "8"), ()):
        answered = _in_namespace(FASTPING, *other, "-c", "1", "127.0.0.1", "::1")
        assert answered.returncode == 0, answered
        assert re.fullmatch(r"127\.0\.0\.1 : \[0\], 64 bytes, .*\n::1       : \[0\], .*\n",
                            answered.stdout), answered


def test_fwmark_in_the_python_api() -> None:
    script = ("import fastping\n"
              "for mark in (7, 8, None):\n"
              "    stats = fastping.multiping(['127.0.0.1', '::1'], 2, 0.05, 0.5, fwmark=mark)\n"
              "    print(mark, sorted((h, s.received, s.errors) for h, s in stats.items()))\n")
    done = _in_namespace(sys.executable, "-c", script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "7 [('127.0.0.1', 0, 2), ('::1', 0, 2)]",
        "8 [('127.0.0.1', 2, 0), ('::1', 2, 0)]",
        "None [('127.0.0.1', 2, 0), ('::1', 2, 0)]"]


@pytest.mark.parametrize(("value", "message"), [
    ("0", "-k must be between 1 and 4294967295, not 0"),  # fping: its usage, as atol gives 0
    ("4294967296", "-k must be between 1 and 4294967295, not 4294967296"),
    ("seven", "argument -k/--fwmark: invalid int value: 'seven'"),
])
def test_fwmark_out_of_range_is_a_usage_error(value: str, message: str) -> None:
    done = fastping("-k", value, "-c", "1", "127.0.0.1")
    assert done.returncode == 3 and done.stdout == ""
    assert done.stderr.splitlines()[-1] == f"fastping: {message}"


def test_fwmark_without_cap_net_admin_is_a_system_error() -> None:
    # fping warns "fwmark ipv4: Operation not permitted" and sends unmarked probes; fastping
    # refuses to send probes that policy routing would take elsewhere than asked.
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv(1) to drop root")
    script = ("sysctl -qw net.ipv4.ping_group_range='0 2147483647' && "
              'exec setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"')
    done = _in_namespace("sh", "-c", script, "sh", FASTPING, "-k", "7", "-c", "1",
                                "127.0.0.1")
    assert done.returncode == 4 and done.stdout == "", done
    assert done.stderr.startswith("fastping: cannot open an ICMP socket with a fwmark: setting "
                                  "SO_MARK needs root or CAP_NET_ADMIN"), done


# -R: "Instead of using all-zeros as the packet data, generate random bytes. Use to defeat,
# e.g., link data compression." Captured in a namespace of the test's own by raw sockets,
# which get a copy of every echo request loopback delivers: the bytes past fastping's tag.
CAPTURE = """
import json, socket, subprocess, sys
capture = {4: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
           6: socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)}
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=30)
fillers = {4: [], 6: []}
for family, sock in capture.items():
    sock.setblocking(False)
    for _ in range(1000):
        try:
            packet = sock.recv(65536)
        except BlockingIOError:
            break
        icmp = packet[(packet[0] & 0x0F) * 4:] if family == 4 else packet
        if icmp[0] in (8, 128):  # echo requests
            fillers[family].append(icmp[8 + 16:].hex())
print(json.dumps({"status": done.returncode, "stderr": done.stderr, "fillers": fillers}))
"""


def _fillers(*options: str) -> dict[str, list[bytes]]:
    done = _in_namespace(sys.executable, "-c", CAPTURE, FASTPING, *options, "-c", "3",
                                "-p", "20", "-b", "64", "-q", "127.0.0.1", "::1")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == 0, report["stderr"]  # every probe answered: checksums right
    return {family: [bytes.fromhex(text) for text in texts]
            for family, texts in report["fillers"].items()}


def test_random_fills_each_probe_with_its_own_bytes() -> None:
    fixed = bytes(range(16, 64))  # the filler: byte i is i mod 256, past the 16-byte tag
    for family, fillers in _fillers().items():
        assert fillers == [fixed] * 3, family
    for family, fillers in _fillers("-R").items():
        assert len(fillers) == 3 and all(len(filler) == 48 for filler in fillers), family
        assert len(set(fillers)) == 3 and fixed not in fillers, (family, fillers)
        assert all(len(set(filler)) > 16 for filler in fillers), (family, fillers)
