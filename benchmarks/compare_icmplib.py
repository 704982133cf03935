"""icmplib against fastping.icmplib: the same icmplib call, the same loopback hosts.

``multiping(hosts, count=2, interval=0.1, timeout=1)`` (icmplib's defaults otherwise:
concurrent_tasks=50, privileged=True) over 1,000 and 10,000 loopback addresses (127.16.0.1
upward), through icmplib and through fastping.icmplib, each run in a fresh worker process,
alternating, --repetitions times (default 3). Printed as medians: wall time and CPU time
around the call, peak RSS, hosts alive and replies (the worst repetition), and the RTTs the
call reported (median, 99th percentile, greatest, in µs): on loopback a reply takes tens of
microseconds, so what exceeds that is time the pinger charged to the network.

Called by compare.py --icmplib, or on its own: ``python benchmarks/compare_icmplib.py``.
Needs root (icmplib's raw sockets) and icmplib; pings loopback addresses only.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from compare import cpu_seconds, peak_rss_kib, read_hosts, write_host_file

MODULES = ("icmplib", "fastping.icmplib")
CALL = {"count": 2, "interval": 0.1, "timeout": 1}
DEFAULT_SIZES = (1_000, 10_000)
WORKER_LIMIT_S = 600.0


def worker(module_name: str, path: str) -> dict[str, object]:
    """One multiping through module_name over the hosts in path: what it cost and reported."""
    module = importlib.import_module(module_name)
    hosts = read_hosts(path)
    wall_start, cpu_start = time.perf_counter(), cpu_seconds()
    results = module.multiping(hosts, **CALL)
    wall, cpu = time.perf_counter() - wall_start, cpu_seconds() - cpu_start
    rtts = sorted(rtt for host in results for rtt in host.rtts)
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_kib": peak_rss_kib(),
            "alive": sum(host.is_alive for host in results),
            "replies": len(rtts), "sent": sum(host.packets_sent for host in results),
            "rtt_median_ms": statistics.median(rtts) if rtts else None,
            "rtt_p99_ms": rtts[int(0.99 * (len(rtts) - 1))] if rtts else None,
            "rtt_max_ms": rtts[-1] if rtts else None}


def run_worker(module_name: str, host_file: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, __file__, "--worker", module_name, str(host_file)],
                          capture_output=True, text=True, timeout=WORKER_LIMIT_S, check=False)
    if done.returncode != 0:
        return {"failed": done.stderr.strip()[-300:]}
    report: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return report


def _median(reports: list[dict[str, object]], key: str) -> float | None:
    values = [float(report[key]) for report in reports if report.get(key) is not None]  # type: ignore[arg-type]
    return statistics.median(values) if values else None


def compare_icmplib(sizes: Sequence[int], repetitions: int,
                    progress: Callable[[str], None]) -> list[dict[str, object]]:
    """A row per size and module: medians over the repetitions, worst counts."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="fastping-icmplib-") as directory:
        for size in sizes:
            host_file = write_host_file(Path(directory), size)
            reports: dict[str, list[dict[str, object]]] = {name: [] for name in MODULES}
            for repetition in range(repetitions):
                for name in MODULES[repetition % 2:] + MODULES[:repetition % 2]:
                    progress(f"icmplib: {size:,} hosts, {name}, run {repetition + 1}")
                    reports[name].append(run_worker(name, host_file))
            for name, runs in reports.items():
                done = [run for run in runs if "failed" not in run]
                row: dict[str, object] = {
                    "hosts": size, "module": name, "repetitions": len(done),
                    "failures": [run["failed"] for run in runs if "failed" in run]}
                for key in ("wall_s", "cpu_s", "peak_rss_kib", "rtt_median_ms", "rtt_p99_ms",
                            "rtt_max_ms"):
                    row[key] = _median(done, key)
                for key in ("alive", "replies"):
                    row[f"{key}_worst"] = min((int(run[key]) for run in done), default=0)  # type: ignore[call-overload]
                rows.append(row)
    return rows


def _cell(value: object, scale: float = 1.0, digits: int = 2) -> str:
    return "-" if value is None else f"{float(value) * scale:,.{digits}f}"  # type: ignore[arg-type]


def icmplib_table(rows: list[dict[str, object]]) -> str:
    lines = [
        f"### icmplib.multiping({', '.join(f'{k}={v}' for k, v in CALL.items())}) over loopback "
        "hosts: icmplib and fastping.icmplib (medians)", "",
        "| hosts | module | wall s | CPU s | peak RSS MiB | alive (worst) | replies (worst) "
        "| median RTT µs | p99 RTT µs | max RTT µs |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        failures = f" ({len(row['failures'])} failed)" if row["failures"] else ""  # type: ignore[arg-type]
        lines.append(
            f"| {row['hosts']:,} | {row['module']}{failures} | {_cell(row['wall_s'])} "
            f"| {_cell(row['cpu_s'])} | {_cell(row['peak_rss_kib'], 1 / 1024, 1)} "
            f"| {row['alive_worst']:,} | {row['replies_worst']:,} "
            f"| {_cell(row['rtt_median_ms'], 1000, 0)} | {_cell(row['rtt_p99_ms'], 1000, 0)} "
            f"| {_cell(row['rtt_max_ms'], 1000, 0)} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), metavar="N")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(*args.worker)))
        return 0
    rows = compare_icmplib(args.sizes, args.repetitions,
                           lambda message: print(message, file=sys.stderr, flush=True))
    print(json.dumps(rows, indent=2) if args.json else icmplib_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
