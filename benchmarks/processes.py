"""Whole-process time (compare.py --processes): ``fastping -C1 -q`` against ``fping -C1 -q -i 0``.

Each command pings the same loopback host file once and exits; the measure launcher
(benchmarks/measure.c) times it from fork to exit, start-up included, which is what a cron
job or SmokePing's FPing probe pays per call. Alongside, for scale: this Python starting and
doing nothing, and importing the command's module (what fastping pays before its first
probe). Medians over the repetitions, contenders alternating, each repetition in a rotated
order; ratios against fping at the same size.

Times on a busy machine say little; where valgrind is installed, each contender also runs
once under callgrind (up to CALLGRIND_MAX_HOSTS hosts: it runs 50 times slower), whose count
of user-space instructions does not depend on the load. The kernel's share (sending and
receiving, most of fping's time) is not in it, and a program that polls while it waits (fping)
counts more the slower valgrind makes it. An editable install counts its import hook too.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

FPING = "fping -C1 -q -i 0"
FASTPING = "fastping -C1 -q"
CALLGRIND_MAX_HOSTS = 10_000
COLLECTED = re.compile(r"Collected : (\d+)")


class Contender(NamedTuple):
    name: str
    argv: Callable[[Path], list[str]]
    per_size: bool  # False: the same at every size (start-up alone), measured once per repetition

    def sizes(self, sizes: Sequence[int], most: int | None = None) -> list[int]:
        """The host counts to run it with (up to most); [0], no host file, if not per size."""
        if not self.per_size:
            return [0]
        return [size for size in sizes if most is None or size <= most]


def contenders(fastping: str | None, timeout_ms: str) -> tuple[list[Contender], list[str]]:
    found: list[Contender] = []
    skipped = []
    if fastping is not None:
        found.append(Contender(FASTPING, lambda f: [fastping, "-C1", "-q", "-t", timeout_ms,
                                                   "-f", str(f)], True))
    else:
        skipped.append("fastping command: not found beside this python or on PATH")
    fping = shutil.which("fping")
    if fping is not None:
        found.append(Contender(FPING, lambda f: [fping, "-C1", "-q", "-i", "0", "-t",
                                                 timeout_ms, "-f", str(f)], True))
    else:
        skipped.append("fping: not installed (apt-get install fping)")
    found.append(Contender("python -c pass", lambda f: [sys.executable, "-c", "pass"], False))
    found.append(Contender("python -c 'import fastping.cli'", lambda f: [
        sys.executable, "-c", "import fastping.cli"], False))
    return found, skipped


def user_instructions(argv: list[str]) -> int | None:
    """The user-space instructions argv executes (callgrind), None if it cannot tell. A copy
    of a program with file capabilities (fping's cap_net_raw), which valgrind refuses to run,
    runs in its place: we are root."""
    with tempfile.TemporaryDirectory(prefix="fastping-callgrind-") as directory:
        program = Path(argv[0])
        if program.name == "fping":
            program = Path(shutil.copy(program, directory))
        done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                               str(program), *argv[1:]], capture_output=True, text=True,
                              timeout=1200, check=False)
    found = COLLECTED.search(done.stderr)
    return int(found.group(1)) if found else None


def compare_processes(sizes: Sequence[int], repetitions: int, fastping: str | None,
                      timeout_ms: str, host_file: Callable[[int], Path],
                      measure: Callable[[list[str]], Any],
                      progress: Callable[[str], None]) -> tuple[list[dict[str, object]],
                                                                list[str]]:
    """measure(argv) runs a command under the launcher and returns compare.Measured."""
    found, skipped = contenders(fastping, timeout_ms)
    walls: dict[tuple[str, int], list[float]] = {}
    cpus: dict[tuple[str, int], list[float]] = {}
    incomplete: dict[tuple[str, int], int] = {}
    for repetition in range(repetitions):
        shift = repetition % len(found)
        for contender in found[shift:] + found[:shift]:
            for size in contender.sizes(sizes):
                measured = measure(contender.argv(host_file(size) if size else Path()))
                key = (contender.name, size)
                # Exit 1: some host did not answer (fping -i 0 misses replies under load),
                # still a whole run to time; killed by a signal or any other status: not timed.
                if measured.status != 0:
                    incomplete[key] = incomplete.get(key, 0) + 1
                if measured.status not in (0, 1):
                    continue
                walls.setdefault(key, []).append(measured.wall_s)
                cpus.setdefault(key, []).append(measured.cpu_s)
                progress(f"rep {repetition + 1}/{repetitions} {contender.name} "
                         f"{size or '-'}: {measured.wall_s * 1000:.1f} ms wall, "
                         f"{measured.cpu_s * 1000:.1f} ms CPU")
    instructions: dict[tuple[str, int], int | None] = {}
    if shutil.which("valgrind") is not None:
        for contender in found:
            for size in contender.sizes(sizes, CALLGRIND_MAX_HOSTS):
                instructions[(contender.name, size)] = user_instructions(
                    contender.argv(host_file(size) if size else Path()))
                progress(f"callgrind {contender.name} {size or '-'}: "
                         f"{instructions[(contender.name, size)]} instructions")
    else:
        skipped.append("instruction counts: valgrind is not installed (apt-get install valgrind)")
    rows: list[dict[str, object]] = []
    for (name, size), wall in sorted(walls.items(), key=lambda item: (item[0][1], item[0][0])):
        counted = instructions.get((name, size))
        base = walls.get((FPING, size))
        rows.append({"contender": name, "hosts": size or None,
                     "wall_ms": statistics.median(wall) * 1000,
                     "cpu_ms": statistics.median(cpus[(name, size)]) * 1000,
                     "wall_vs_fping": (statistics.median(wall) / statistics.median(base)
                                       if base else None),
                     "cpu_vs_fping": (statistics.median(cpus[(name, size)])
                                      / statistics.median(cpus[(FPING, size)])
                                      if base else None),
                     "user_instructions_m": None if counted is None else counted / 1e6,
                     "runs": len(wall), "incomplete": incomplete.get((name, size), 0)})
    return rows, skipped


def processes_table(rows: list[dict[str, object]]) -> str:
    lines = ["### Whole processes: start to exit, one round (median)", "",
             "| contender | hosts | wall ms | CPU ms | wall vs fping | CPU vs fping | user "
             "instructions (callgrind) | runs (not all answered) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        hosts = row["hosts"]
        ratios = ["-" if row[key] is None else f"{row[key]:.2f}x"
                  for key in ("wall_vs_fping", "cpu_vs_fping")]
        counted = ("-" if row["user_instructions_m"] is None
                   else f"{row['user_instructions_m']:.1f} M")
        lines.append(f"| {row['contender']} | {'-' if hosts is None else f'{hosts:,}'} | "
                     f"{row['wall_ms']:.1f} | {row['cpu_ms']:.1f} | {' | '.join(ratios)} | "
                     f"{counted} | {row['runs']} ({row['incomplete']}) |")
    return "\n".join(lines)
