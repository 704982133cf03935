"""Whole-process time (compare.py --processes): ``fastping -C1 -q`` against ``fping -C1 -q -i 0``.

Each command pings the same loopback host file once and exits; the measure launcher
(benchmarks/measure.c) times it from fork to exit, start-up included, which is what a cron
job or SmokePing's FPing probe pays per call. Alongside, for scale: this Python starting and
doing nothing, and importing the command's module (what fastping pays before its first
probe). Medians over the repetitions, contenders alternating, each repetition in a rotated
order; ratios against fping at the same size.
"""

from __future__ import annotations

import shutil
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

FPING = "fping -C1 -q -i 0"
FASTPING = "fastping -C1 -q"


class Contender(NamedTuple):
    name: str
    argv: Callable[[Path], list[str]]
    per_size: bool  # False: the same at every size (start-up alone), measured once per repetition


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
            for size in sizes if contender.per_size else [0]:
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
    rows: list[dict[str, object]] = []
    for (name, size), wall in sorted(walls.items(), key=lambda item: (item[0][1], item[0][0])):
        base = walls.get((FPING, size))
        rows.append({"contender": name, "hosts": size or None,
                     "wall_ms": statistics.median(wall) * 1000,
                     "cpu_ms": statistics.median(cpus[(name, size)]) * 1000,
                     "wall_vs_fping": (statistics.median(wall) / statistics.median(base)
                                       if base else None),
                     "cpu_vs_fping": (statistics.median(cpus[(name, size)])
                                      / statistics.median(cpus[(FPING, size)])
                                      if base else None),
                     "runs": len(wall), "incomplete": incomplete.get((name, size), 0)})
    return rows, skipped


def processes_table(rows: list[dict[str, object]]) -> str:
    lines = ["### Whole processes: start to exit, one round (median)", "",
             "| contender | hosts | wall ms | CPU ms | wall vs fping | CPU vs fping | runs "
             "(not all answered) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        hosts = row["hosts"]
        ratios = ["-" if row[key] is None else f"{row[key]:.2f}x"
                  for key in ("wall_vs_fping", "cpu_vs_fping")]
        lines.append(f"| {row['contender']} | {'-' if hosts is None else f'{hosts:,}'} | "
                     f"{row['wall_ms']:.1f} | {row['cpu_ms']:.1f} | {' | '.join(ratios)} | "
                     f"{row['runs']} ({row['incomplete']}) |")
    return "\n".join(lines)
