"""SmokePing's FPing probe (lib/Smokeping/probes/FPing.pm), its regular expressions run on
fastping's output: the start-up probe that works out fping's time unit, and the parsing of
-C's summaries, with the probe's own arguments (-C N -q -B1 -r1 -bPACKETSIZE -iMS).

The Perl expressions are written here in Python's syntax, which for these is the same."""

from __future__ import annotations

import re
import subprocess

import pytest
from fping_harness import FASTPING

# new(): `$binary -C 1 $testhost 2>&1`, $testhost "localhost"; pingfactor = 1000 * $2 / $1
STARTUP = re.compile(r"bytes, ([0-9.]+)\sms\s+.*\n.*\n.*:\s+([0-9.]+)")
# ping(): each line of stderr
SUMMARY = re.compile(r"^\S+\s+:\s+[\d\.]")


def smokeping_rtts(stderr: str) -> dict[str, list[float]]:
    """What FPing.pm's ping() keeps of fping's stderr: per host, its RTTs, sorted."""
    rtts: dict[str, list[float]] = {}
    for line in stderr.splitlines():
        if not SUMMARY.match(line):
            continue  # "filter out error messages from fping"
        times = re.split(r"\s+", line)
        address = times.pop(0)
        if times.pop(0) != ":":
            continue
        rtts[address] = sorted(float(time) for time in times if re.match(r"^\d", time))
    return rtts


def test_the_start_up_probe_finds_milliseconds() -> None:
    done = subprocess.run(f"{FASTPING} -C 1 localhost 2>&1", shell=True, capture_output=True,
                          text=True, timeout=60, check=False)
    match = STARTUP.search(done.stdout)
    assert match is not None, done.stdout
    first, summary = float(match[1]), float(match[2])
    assert first > 0
    # The probe's unit: 1000 * $2 / $1, which must be 1000 (milliseconds): the same RTT,
    # printed alike in the reply's line and the summary.
    assert match[1] == match[2]
    assert 1000 * summary / first == pytest.approx(1000)


def test_the_probe_parses_every_rtt_with_packetsize_12() -> None:
    command = [FASTPING, "-C", "3", "-q", "-B1", "-r1", "-b12", "-i10", "-p100",
               "127.0.0.1", "::1", "nosuch.invalid"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr  # the unknown name
    assert done.stdout == ""
    rtts = smokeping_rtts(done.stderr)
    # The error line for the unknown name is filtered out; each host has its three RTTs.
    assert set(rtts) == {"127.0.0.1", "::1"}, done.stderr
    assert all(len(times) == 3 and all(0 < time < 100 for time in times)
               for times in rtts.values()), done.stderr
