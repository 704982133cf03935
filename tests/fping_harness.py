"""Runs Debian's fping and fastping on the same targets and compares what they print.

fping is installed as the tests install prometheus (apt-get if root and missing; else the
tests skip). Both run with the same arguments, on loopback or inside a simulated network's
namespace (tests/netsim.py); their outputs are compared line for line once RTT numbers,
times of day and the program's name are masked.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

FASTPING = str(Path(sys.executable).with_name("fastping"))
RUN_TIMEOUT = 30.0
HANDLERS_TIMEOUT = 3.0  # for both programs to have their signal handlers in place

# What differs between two runs of one tool: RTTs and clock times. Each is replaced by a mark.
_MASKS = [
    (re.compile(r"\[\d+\.\d{5}\] "), "[STAMP] "),  # -D
    (re.compile(r"\[\d\d:\d\d:\d\d\]"), "[HH:MM:SS]"),  # -Q, SIGQUIT
    (re.compile(r"SET (min|avg|max) = \d+"), r"SET \1 = NS"),  # -N latencies (ns)
    (re.compile(r'"time": \d+'), '"time": T'),  # -J intSum
    (re.compile(r" +\d+\.\d+ sec \(elapsed"), " S sec (elapsed"),  # -s, right-aligned
    (re.compile(r"\d+\.\d+(e[+-]\d+)?"), "R"),  # every other decimal is an RTT in ms
]


def mask(text: str) -> str:
    """text with RTTs, times and the program's name (fping, /usr/bin/fping or fastping, at a
    line's start) masked."""
    text = re.sub(r"^(\S*/)?f(ast)?ping([:,] )", r"PROGRAM\3", text, flags=re.MULTILINE)
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def fping_binary() -> str:
    """Debian's fping; installed from Debian if missing and we may (root, apt)."""
    if shutil.which("fping") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "fping"]
        done = subprocess.run(install, env=env, capture_output=True, timeout=900, check=False)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True,
                           timeout=900, check=False)
            subprocess.run(install, env=env, capture_output=True, timeout=900, check=False)
    found = shutil.which("fping")
    if found is None:
        pytest.skip("needs fping (Debian's fping package), and it could not be installed "
                    "here (installing needs root and apt-get)")
    return found


@dataclasses.dataclass(frozen=True)
class Case:
    """One invocation, run by both tools.

    usage: a bad argument, which fping 5.1 answers with exit status 1 and fastping with 3
    (its documented status for bad arguments, as fping's man page documents it too); both
    print nothing on stdout. same_message: fping's one-line reason is fastping's too.
    """

    arguments: tuple[str, ...]
    stdin: str = ""
    usage: bool = False
    same_message: bool = False

    @property
    def label(self) -> str:
        return " ".join(self.arguments) or "(stdin)"


@dataclasses.dataclass(frozen=True)
class Outcome:
    status: int
    stdout: str
    stderr: str


def run(command: list[str], stdin: str, prefix: tuple[str, ...] = ()) -> Outcome:
    done = subprocess.run([*prefix, *command], input=stdin, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, check=False, cwd="/")
    return Outcome(done.returncode, done.stdout, done.stderr)


def run_both(fping: str, case: Case, prefix: tuple[str, ...] = ()) -> tuple[Outcome, Outcome]:
    """fping's outcome and fastping's, for one case (prefix: e.g. ip netns exec NAME)."""
    return (run([fping, *case.arguments], case.stdin, prefix),
            run([FASTPING, *case.arguments], case.stdin, prefix))


def compare(case: Case, theirs: Outcome, ours: Outcome) -> None:
    """Asserts that fastping did what fping did, as the case says it should."""
    context = f"\n--- fping {case.label}\n{theirs}\n--- fastping\n{ours}"
    if case.usage:
        assert (theirs.status, ours.status) == (1, 3), context
        assert theirs.stdout == ours.stdout == "", context
        assert ours.stderr.startswith("fastping: ") and "Traceback" not in ours.stderr, context
        if case.same_message:
            assert mask(ours.stderr) == mask(theirs.stderr), context
        return
    assert ours.status == theirs.status, context
    assert mask(ours.stdout).splitlines() == \
        mask(theirs.stdout).splitlines(), context
    assert mask(ours.stderr).splitlines() == \
        mask(theirs.stderr).splitlines(), context


def shape(text: str) -> list[str]:
    """text masked, every number too, each distinct line once in order of its first
    appearance: what two runs of different lengths print alike (for runs a signal ends)."""
    lines = re.sub(r"( [R-])+$", " R...", re.sub(r"\d+", "N", mask(text)),
                   flags=re.MULTILINE).splitlines()  # (-C's lists of RTTs, of any length)
    return list(dict.fromkeys(lines))


def _catches_sigquit(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True  # gone: nothing to wait for
    caught = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught, 16) & (1 << (signal.SIGQUIT - 1)))


def run_both_signalled(fping: str, arguments: tuple[str, ...], signals: list[tuple[float, int]],
                       prefix: tuple[str, ...] = ()) -> tuple[Outcome, Outcome]:
    """Starts both programs with arguments, side by side; once both handle SIGQUIT, sends
    both each signal after its delay (seconds); their outcomes once they end. (prefix: ip
    netns exec NAME, which execs the program in the same process.)"""
    processes = [subprocess.Popen([*prefix, program, *arguments], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, cwd="/")
                 for program in (fping, FASTPING)]
    try:
        deadline = time.monotonic() + HANDLERS_TIMEOUT
        while time.monotonic() < deadline and not all(
                _catches_sigquit(process.pid) for process in processes):
            time.sleep(0.005)
        for delay, signum in signals:
            time.sleep(delay)
            for process in processes:
                process.send_signal(signum)
        outcomes = []
        for process in processes:
            out, err = process.communicate(timeout=RUN_TIMEOUT)
            outcomes.append(Outcome(process.returncode, out, err))
    finally:
        for process in processes:
            process.kill()
            process.wait()
    return outcomes[0], outcomes[1]
