"""Side-by-side benchmarks: fastping against the other pingers installed here, on loopback.

One round (the default): every contender pings the same list of loopback addresses (127.16.0.1
upward) once, for each size (default 1,000 and 10,000; --with-100k adds 100,000), repeated
(default 5 times) with the contenders alternating, each repetition in a rotated order. Printed
as medians over the repetitions, in a markdown table per size:

- wall time; CPU time (user + system); peak RSS (ru_maxrss); answered/N (the worst repetition);
  median RTT, against the RTT yardstick (see below);
- commands (fastping's CLI ``fastping -C1 -q -f FILE``, the C reference, ``fping -C1 -q -i 0``,
  ``oping -c 1``) are measured as whole processes, startup included, by a small launcher
  (benchmarks/measure.c, built here): wall time from fork to exit, CPU and peak RSS from wait4()
  (launched from Python, a child's peak RSS would start at Python's);
- libraries (``fastping.Pinger(hosts).ping()`` and ``icmplib.multiping``) are measured in a
  fresh worker process each time: wall and process CPU around the call only (imports excluded;
  for fastping also the round alone, the Pinger built beforehand), peak RSS of that worker;
- the C reference (benchmarks/reference.c, built here with the system cc in a temporary
  directory) runs twice: as shipped, sending in sendmmsg() bursts of 64, for the timing
  ratios; and with ``-b 1``, every probe's send time read just before its own send, whose
  median RTT is the yardstick (in a burst, a probe is charged for the sends before it: on
  loopback, each costs a few microseconds, the RTT itself).

Heartbeat (--heartbeat): 1,000 hosts probed every second for --duration seconds (default 60):
fastping.Monitor (in-process, the run only), ``fastping -l -p 1000 -q``, the C reference's
heartbeat (``-l``: spread in ticks of the Monitor's send slack, as the Monitor spreads, and in
one burst a second),
``fping -l -p 1000 -i 0`` and ``-i 1``, ``oping -i 1`` (whole processes, stopped by SIGINT),
and icmplib.multiping once a second (in-process). Reported: CPU share of one core
(CPU time / wall time), probes sent and answered. Then the steady state, start-up left out:
the command's quiet heartbeat ``fastping -l -p 1000 -Q 3600`` (and ``-Q 10``, a summary block
every 10 s), and ``-l -q`` (which, as fping's, prints a line a probe: only -Q silences a loop)
against a bare Monitor in a script, all as processes whose CPU is read from /proc after a
warm-up and again --duration seconds later.

Exporter (--exporter): fastping's exporter against Debian's prometheus-smokeping-prober, and
/metrics scrapes at 1,000, 10,000 and 100,000 targets (compare_exporter.py).

Nothing is installed: peers that are missing are skipped and named. Needs root (raw sockets).
Run it from the environment fastping is installed in, ideally on a quiet machine:

    nice -n -5 python benchmarks/compare.py                      # 1,000 and 10,000 hosts, x5
    python benchmarks/compare.py --sizes 1000 --repetitions 3 --json
    python benchmarks/compare.py --with-100k
    nice -n -5 python benchmarks/compare.py --heartbeat --duration 60
    python benchmarks/compare.py --processes --with-100k           # start to exit, vs fping
    python benchmarks/compare.py --icmplib --repetitions 3     # see compare_icmplib.py

Pings loopback addresses only.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import ipaddress
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

FIRST_HOST = ipaddress.IPv4Address("127.16.0.1")
DEFAULT_SIZES = (1_000, 10_000)
HUNDRED_K = 100_000
TIMEOUT_S = 1.0  # every contender waits this long for a reply
RUN_LIMIT_S = 120.0  # a single run taking longer is killed and reported as such (oping at 100k)
HERE = Path(__file__).resolve().parent
MEASURE_BINARY = HERE / "measure"  # replaced by main() with the one it builds from measure.c


# ---- what one run measured ----------------------------------------------------------------------


@dataclass
class Run:
    """One contender, one size, one repetition."""

    wall_s: float
    cpu_s: float
    peak_rss_kib: int
    answered: int
    rtt_median_ms: float | None  # the median of the RTTs it reported, None if it reports none
    rtt_is_mean: bool = False  # only a mean is printed (fastping -q): that is in rtt_median_ms
    failed: str | None = None  # why the run did not complete


@dataclass
class Contender:
    """A command (whole process) or a library call (in a worker process)."""

    name: str
    kind: str  # "command" or "library"
    argv: Callable[[Path], list[str]]  # for a command: argv for the host file
    parse: Callable[[str, str], tuple[int, float | None, bool]] | None = None
    worker: str | None = None  # for a library: the worker's name
    results: dict[int, list[Run]] = field(default_factory=dict)


def median_or_none(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


# ---- output parsers: (answered, median or mean RTT in ms, whether it is a mean) -----------------


def parse_reference(stdout: str, stderr: str) -> tuple[int, float | None, bool]:
    match = re.search(r"received=(\d+) .*rtt_median_ms=([\d.]+)", stdout)
    if match is None:
        raise ValueError(f"no summary line from the reference: {stderr.strip()[-300:]}")
    answered = int(match.group(1))
    return answered, float(match.group(2)) if answered else None, False


def parse_fping_vcount(stdout: str, stderr: str) -> tuple[int, float | None, bool]:
    # fping -C1 -q: "127.16.0.1 : 0.004" or "127.16.0.1 : -" per host, on stderr
    rtts = [float(value) for value in re.findall(r"^\S+\s+: ([\d.]+)\s*$", stderr, re.M)]
    return len(rtts), median_or_none(rtts), False


def parse_oping(stdout: str, stderr: str) -> tuple[int, float | None, bool]:
    # "56 bytes from 127.16.0.1 (127.16.0.1): icmp_seq=1 ttl=64 time=0.01 ms"
    replies = re.findall(r"^\d+ bytes from (\S+) .* time=([\d.]+) ms", stdout, re.M)
    answered = len({host for host, _ in replies})
    return answered, median_or_none([float(rtt) for _, rtt in replies]), False


# ---- running a command as a whole process -------------------------------------------------------


@dataclass
class Measured:
    """A command's run, as benchmarks/measure.c reports it, and what it printed."""

    wall_s: float
    cpu_s: float
    peak_rss_kib: int
    status: int  # exit status, or minus the signal that ended it
    stdout: str
    stderr: str


MEASURE_LINE = re.compile(r"^measure: wall_s=([\d.]+) user_s=([\d.]+) sys_s=([\d.]+) "
                          r"maxrss_kib=(\d+) status=(-?\d+)$", re.M)


def run_command(argv: list[str], *, stop_after: float | None = None,
                limit: float = RUN_LIMIT_S) -> Measured:
    """Run argv under the measure launcher, output to files; what it measured.

    With stop_after, the command gets SIGINT after that many seconds (how fping -l and oping
    are stopped); one still running after limit seconds gets SIGTERM.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen([str(MEASURE_BINARY), *argv], stdout=out, stderr=err,
                                 stdin=subprocess.DEVNULL)
        timers = [threading.Timer(limit, child.send_signal, (signal.SIGTERM,))]
        if stop_after is not None:
            timers.append(threading.Timer(stop_after, child.send_signal, (signal.SIGINT,)))
        for timer in timers:
            timer.start()
        child.wait()
        for timer in timers:
            timer.cancel()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    lines = MEASURE_LINE.findall(stderr)
    if not lines:
        raise RuntimeError(f"measure printed no report: {stderr.strip()[-300:]}")
    wall, user, system, rss, status = lines[-1]
    return Measured(float(wall), float(user) + float(system), int(rss), int(status), stdout,
                    MEASURE_LINE.sub("", stderr))


def measure_command(contender: Contender, host_file: Path) -> Run:
    assert contender.parse is not None
    measured = run_command(contender.argv(host_file))
    run = Run(measured.wall_s, measured.cpu_s, measured.peak_rss_kib, 0, None)
    if measured.status < 0:
        run.failed = f"ended by signal {-measured.status}"
        return run
    try:
        run.answered, run.rtt_median_ms, run.rtt_is_mean = contender.parse(measured.stdout,
                                                                           measured.stderr)
    except ValueError as error:
        run.failed = str(error)
    return run


def run_worker(arguments: list[str], limit: float = RUN_LIMIT_S) -> dict[str, object]:
    """Run this script as a worker process; its one JSON line."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", *arguments]
    measured = run_command(argv, limit=limit)
    lines = measured.stdout.strip().splitlines()
    if measured.status != 0 or not lines:
        return {"failed": f"worker exited {measured.status}: {measured.stderr.strip()[-300:]}"}
    report: dict[str, object] = json.loads(lines[-1])
    return report


# ---- workers: the in-process measurements, each in a fresh interpreter --------------------------


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


def peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def read_hosts(path: str) -> list[str]:
    return Path(path).read_text().split()


def worker_fastping_round(path: str) -> dict[str, object]:
    import fastping

    hosts = read_hosts(path)
    rss_before = peak_rss_kib()
    wall_start, cpu_start = time.perf_counter(), cpu_seconds()
    with fastping.Pinger(hosts, timeout=TIMEOUT_S) as pinger:
        round_wall_start, round_cpu_start = time.perf_counter(), cpu_seconds()
        results = pinger.ping()
        round_wall, round_cpu = time.perf_counter() - round_wall_start, \
            cpu_seconds() - round_cpu_start
    wall, cpu = time.perf_counter() - wall_start, cpu_seconds() - cpu_start
    rtts = [result.rtt * 1000 for result in results.values() if result.ok and result.rtt]
    return {"wall_s": wall, "cpu_s": cpu, "round_wall_s": round_wall, "round_cpu_s": round_cpu,
            "peak_rss_kib": peak_rss_kib(), "rss_before_kib": rss_before,
            "answered": len(rtts), "rtt_median_ms": median_or_none(rtts)}


def worker_icmplib_round(path: str) -> dict[str, object]:
    import icmplib  # type: ignore[import-untyped]

    hosts = read_hosts(path)
    rss_before = peak_rss_kib()
    wall_start, cpu_start = time.perf_counter(), cpu_seconds()
    replies = icmplib.multiping(hosts, count=1, interval=0, timeout=TIMEOUT_S)
    wall, cpu = time.perf_counter() - wall_start, cpu_seconds() - cpu_start
    rtts = [host.avg_rtt for host in replies if host.is_alive]  # already in ms
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_kib": peak_rss_kib(),
            "rss_before_kib": rss_before, "answered": len(rtts),
            "rtt_median_ms": median_or_none(rtts)}


def worker_fastping_monitor(path: str, duration: float) -> dict[str, object]:
    import fastping

    hosts = read_hosts(path)
    with fastping.Monitor(hosts, period=1.0) as monitor:
        wall_start, cpu_start = time.perf_counter(), cpu_seconds()
        monitor.start()
        time.sleep(duration)
        monitor.stop()
        monitor.join()
        wall, cpu = time.perf_counter() - wall_start, cpu_seconds() - cpu_start
        states = monitor.states().values()
        sent = sum(state.sent for state in states)
        received = sum(state.received for state in states)
    return {"wall_s": wall, "cpu_s": cpu, "sent": sent, "received": received,
            "peak_rss_kib": peak_rss_kib(), "send_slack_s": monitor.send_slack}


def worker_icmplib_heartbeat(path: str, duration: float) -> dict[str, object]:
    import icmplib

    hosts = read_hosts(path)
    sent = received = rounds = 0
    wall_start, cpu_start = time.perf_counter(), cpu_seconds()
    # A round every second on a fixed grid, as a heartbeat would; a late round starts at once.
    while (elapsed := time.perf_counter() - wall_start) < duration:
        time.sleep(max(0.0, rounds - elapsed))
        replies = icmplib.multiping(hosts, count=1, interval=0, timeout=TIMEOUT_S)
        rounds += 1
        sent += len(replies)
        received += sum(host.is_alive for host in replies)
    wall, cpu = time.perf_counter() - wall_start, cpu_seconds() - cpu_start
    return {"wall_s": wall, "cpu_s": cpu, "sent": sent, "received": received, "rounds": rounds,
            "peak_rss_kib": peak_rss_kib()}


WORKERS: dict[str, Callable[..., dict[str, object]]] = {
    "fastping-round": worker_fastping_round,
    "icmplib-round": worker_icmplib_round,
    "fastping-monitor": worker_fastping_monitor,
    "icmplib-heartbeat": worker_icmplib_heartbeat,
}


def measure_library(contender: Contender, host_file: Path) -> list[tuple[str, Run]]:
    """One worker run; fastping's also yields the round-only row."""
    assert contender.worker is not None
    report = run_worker([contender.worker, str(host_file)])
    if "failed" in report:
        return [(contender.name, Run(0.0, 0.0, 0, 0, None, failed=str(report["failed"])))]
    rss, answered, rtt = report["peak_rss_kib"], report["answered"], report["rtt_median_ms"]
    runs = [(contender.name, Run(float(report["wall_s"]), float(report["cpu_s"]),  # type: ignore[arg-type]
                                 int(rss), int(answered), rtt))]  # type: ignore[call-overload,arg-type]
    if "round_wall_s" in report:
        runs.append((ROUND_ONLY, Run(float(report["round_wall_s"]),  # type: ignore[arg-type]
                                     float(report["round_cpu_s"]),  # type: ignore[arg-type]
                                     int(rss), int(answered), rtt)))  # type: ignore[call-overload,arg-type]
    return runs


# ---- the contenders -----------------------------------------------------------------------------

REFERENCE = "C reference (sendmmsg bursts of 64) [process]"
YARDSTICK = "C reference -b 1 (RTT yardstick) [process]"
ROUND_ONLY = "fastping Pinger.ping(), round only [in-process]"


def fastping_command() -> str | None:
    beside = Path(sys.executable).with_name("fastping")  # the one of this environment first
    return str(beside) if beside.exists() else shutil.which("fastping")


def build(name: str, directory: Path) -> Path | str:
    """Compile benchmarks/NAME.c with the system cc; the binary, or why it could not be built."""
    compiler = shutil.which("cc")
    if compiler is None:
        return "no C compiler (cc)"
    binary = directory / name
    build = subprocess.run([compiler, "-O2", "-o", str(binary), str(HERE / f"{name}.c")],
                           capture_output=True, text=True, check=False)
    if build.returncode != 0:
        return f"cc failed: {build.stderr.strip()[-300:]}"
    return binary


def round_contenders(build_dir: Path) -> tuple[list[Contender], list[str]]:
    """Everything installed, and a note for each peer that is not."""
    contenders: list[Contender] = []
    skipped: list[str] = []
    timeout_ms = str(int(TIMEOUT_S * 1000))
    reference = build("reference", build_dir)
    if isinstance(reference, Path):
        contenders.append(Contender(REFERENCE, "command", lambda f: [
            str(reference), "-q", "-t", timeout_ms, str(f)], parse_reference))
        # not -q: the per-host lines are printed, as fping's and oping's are
        contenders.append(Contender(YARDSTICK, "command", lambda f: [
            str(reference), "-b", "1", "-t", timeout_ms, str(f)], parse_reference))
    else:
        skipped.append(f"C reference: {reference}")
    command = fastping_command()
    if command is not None:
        # fastping speaks fping's options and output: the same command, the same parser.
        contenders.append(Contender("fastping -C1 -q [process]", "command", lambda f: [
            command, "-C", "1", "-q", "-t", timeout_ms, "-f", str(f)], parse_fping_vcount))
    else:
        skipped.append("fastping command: not found beside this python or on PATH")
    if importlib.util.find_spec("fastping") is not None:
        contenders.append(Contender("fastping Pinger(hosts).ping() [in-process]", "library",
                                    lambda f: [], worker="fastping-round"))
    else:
        skipped.append("fastping library: not importable from this python")
    fping = shutil.which("fping")
    if fping is not None:
        contenders.append(Contender("fping -C1 -q -i 0 [process]", "command", lambda f: [
            fping, "-C1", "-q", "-i", "0", "-t", timeout_ms, "-f", str(f)], parse_fping_vcount))
    else:
        skipped.append("fping: not installed (apt-get install fping)")
    oping = shutil.which("oping")
    if oping is not None:
        contenders.append(Contender("oping -c 1 -i 0.001 [process]", "command", lambda f: [
            oping, "-c", "1", "-i", "0.001", "-w", str(TIMEOUT_S), "-f", str(f)], parse_oping))
    else:
        skipped.append("oping: not installed (apt-get install oping)")
    if importlib.util.find_spec("icmplib") is not None:
        contenders.append(Contender("icmplib.multiping(count=1) [in-process]", "library",
                                    lambda f: [], worker="icmplib-round"))
    else:
        skipped.append("icmplib: not importable from this python (pip install icmplib)")
    return contenders, skipped


# ---- one-round comparison -----------------------------------------------------------------------


def write_host_file(directory: Path, count: int) -> Path:
    path = directory / f"hosts-{count}.txt"
    path.write_text("".join(f"{FIRST_HOST + offset}\n" for offset in range(count)))
    return path


def compare_rounds(sizes: Sequence[int], repetitions: int, build_dir: Path,
                   progress: Callable[[str], None]) -> tuple[dict[int, dict[str, list[Run]]],
                                                              list[str]]:
    contenders, skipped = round_contenders(build_dir)
    host_files = {size: write_host_file(build_dir, size) for size in sizes}
    runs: dict[int, dict[str, list[Run]]] = {size: {} for size in sizes}
    for repetition in range(repetitions):
        # rotate the order each repetition, so no contender always follows the same one
        shift = repetition % len(contenders)
        order = contenders[shift:] + contenders[:shift]
        for size in sizes:
            for contender in order:
                if contender.kind == "command":
                    measured = [(contender.name, measure_command(contender, host_files[size]))]
                else:
                    measured = measure_library(contender, host_files[size])
                for name, run in measured:
                    runs[size].setdefault(name, []).append(run)
                    progress(f"rep {repetition + 1}/{repetitions} {size} hosts {name}: "
                             f"{run.wall_s:.3f} s wall, {run.cpu_s:.3f} s CPU, "
                             f"{run.answered}/{size}" + (f" FAILED {run.failed}"
                                                         if run.failed else ""))
    return runs, skipped


def round_rows(size: int, by_name: dict[str, list[Run]]) -> list[dict[str, object]]:
    """Medians per contender, with ratios to the C reference and RTT against the yardstick."""
    def summary(runs: list[Run]) -> dict[str, object]:
        done = [run for run in runs if run.failed is None]
        rtts = [run.rtt_median_ms for run in done if run.rtt_median_ms is not None]
        return {
            "wall_s": median_or_none([run.wall_s for run in done]),
            "cpu_s": median_or_none([run.cpu_s for run in done]),
            "peak_rss_mib": median_or_none([run.peak_rss_kib / 1024 for run in done]),
            "answered_worst": min((run.answered for run in done), default=0),
            "answered_median": median_or_none([run.answered for run in done]),
            "rtt_ms": median_or_none(rtts),
            "rtt_is_mean": any(run.rtt_is_mean for run in done),
            "completed": len(done), "repetitions": len(runs),
            "failures": [run.failed for run in runs if run.failed],
        }

    summaries = {name: summary(runs) for name, runs in by_name.items()}
    reference = summaries.get(REFERENCE, {})
    yardstick = summaries.get(YARDSTICK, {})
    rows = []
    for name, row in summaries.items():
        row = {"contender": name, "hosts": size, **row}
        for key in ("wall_s", "cpu_s"):
            base, value = reference.get(key), row[key]
            row[f"{key}_vs_reference"] = (value / base  # type: ignore[operator]
                                          if value is not None and base else None)
        base_rtt = yardstick.get("rtt_ms")
        row["rtt_vs_yardstick"] = (row["rtt_ms"] / base_rtt  # type: ignore[operator]
                                   if row["rtt_ms"] is not None and base_rtt else None)
        rows.append(row)
    return rows


def _number(value: object, digits: int = 3, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{suffix}"


def round_table(size: int, rows: list[dict[str, object]]) -> str:
    lines = [
        f"### One round, {size:,} loopback hosts (medians of {rows[0]['repetitions']})", "",
        "| contender | wall s | vs ref | CPU s | vs ref | peak RSS MiB | answered/N "
        "(worst) | median RTT µs | vs yardstick |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        rtt = row["rtt_ms"]
        rtt_text = _number(rtt * 1000 if rtt is not None else None, 1)  # type: ignore[operator]
        if row["rtt_is_mean"] and rtt is not None:
            rtt_text += " (mean)"
        failures = f" ({len(row['failures'])} failed)" if row["failures"] else ""  # type: ignore[arg-type]
        lines.append(
            f"| {row['contender']}{failures} | {_number(row['wall_s'])} "
            f"| {_number(row['wall_s_vs_reference'], 2, 'x')} | {_number(row['cpu_s'])} "
            f"| {_number(row['cpu_s_vs_reference'], 2, 'x')} | {_number(row['peak_rss_mib'], 1)} "
            f"| {row['answered_worst']:,}/{size:,} | {rtt_text} "
            f"| {_number(row['rtt_vs_yardstick'], 2, 'x')} |")
    return "\n".join(lines)


# ---- heartbeat comparison -----------------------------------------------------------------------


def parse_fping_loop(stdout: str, stderr: str) -> tuple[int, int]:
    # at SIGINT: "127.16.0.1 : xmt/rcv/%loss = 60/60/0%, min/avg/max = ..." per host
    pairs = re.findall(r"xmt/rcv/%loss = (\d+)/(\d+)/", stderr)
    return sum(int(sent) for sent, _ in pairs), sum(int(received) for _, received in pairs)


def parse_oping_loop(stdout: str, stderr: str) -> tuple[int, int]:
    pairs = re.findall(r"(\d+) packets transmitted, (\d+) received", stdout)
    return sum(int(sent) for sent, _ in pairs), sum(int(received) for _, received in pairs)


def parse_reference_loop(stdout: str, stderr: str) -> tuple[int, int]:
    match = re.search(r"sent=(\d+) received=(\d+)", stdout)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def compare_heartbeats(host_count: int, duration: float, build_dir: Path,
                       progress: Callable[[str], None]) -> tuple[list[dict[str, object]],
                                                                 list[str]]:
    host_file = write_host_file(build_dir, host_count)
    skipped: list[str] = []
    commands: list[tuple[str, list[str], Callable[[str, str], tuple[int, int]]]] = []
    rows: list[dict[str, object]] = []

    def add_row(name: str, wall: float, cpu: float, sent: int, received: int,
                rss_kib: int, failed: str | None = None) -> None:
        rows.append({"contender": name, "hosts": host_count, "wall_s": wall, "cpu_s": cpu,
                     "cpu_share_of_core": cpu / wall if wall else None, "sent": sent,
                     "received": received, "cpu_us_per_probe": cpu / sent * 1e6 if sent else None,
                     "peak_rss_mib": rss_kib / 1024, "failed": failed})
        progress(f"heartbeat {name}: {cpu:.2f} s CPU in {wall:.1f} s, {received}/{sent}"
                 + (f" FAILED {failed}" if failed else ""))

    tick_ms = 25  # the Monitor's default send slack for this many hosts, once it has said
    if importlib.util.find_spec("fastping") is not None:
        report = run_worker(["fastping-monitor", str(host_file), str(duration)],
                            limit=duration + RUN_LIMIT_S)
        slack = report.get("send_slack_s")
        if isinstance(slack, float) and slack > 0:
            tick_ms = max(1, round(slack * 1000))
        add_worker_row(add_row, f"fastping.Monitor(period=1.0), {tick_ms} ms send slack "
                       "[in-process, run only]", report)
    reference = build("reference", build_dir)
    if isinstance(reference, Path):
        # The floor for each pattern, in plain C: spread as the Monitor spreads (a send time
        # per probe, a wake-up every tick), and all hosts in one sendmmsg() burst a second.
        commands.append((f"C reference, spread: {tick_ms} ms ticks, -b 1 [process]",
                         [str(reference), "-b", "1", "-l", "1000", "-s", str(tick_ms),
                          str(host_file)], parse_reference_loop))
        commands.append(("C reference, one burst a second, sendmmsg [process]",
                         [str(reference), "-l", "1000", "-s", "1000", str(host_file)],
                         parse_reference_loop))
    else:
        skipped.append(f"C reference: {reference}")
    command = fastping_command()
    if command is not None:
        # A heartbeat spread over the period; SIGINT ends it with fping's summary lines.
        commands.append(("fastping -l -p 1000 -q [process]",
                         [command, "-l", "-p", "1000", "-q", "-f", str(host_file)],
                         parse_fping_loop))
    else:
        skipped.append("fastping command: not found")
    fping = shutil.which("fping")
    if fping is not None:
        for interval in ("0", "1"):
            commands.append((f"fping -l -p 1000 -i {interval} -q [process]",
                             [fping, "-l", "-p", "1000", "-i", interval, "-q", "-f",
                              str(host_file)], parse_fping_loop))
    else:
        skipped.append("fping: not installed (apt-get install fping)")
    oping = shutil.which("oping")
    if oping is not None:
        commands.append(("oping -i 1 [process]", [oping, "-i", "1", "-f", str(host_file)],
                         parse_oping_loop))
    else:
        skipped.append("oping: not installed (apt-get install oping)")

    for name, argv, parse in commands:
        measured = run_command(argv, stop_after=duration, limit=duration + RUN_LIMIT_S)
        sent, received = parse(measured.stdout, measured.stderr)
        add_row(name, measured.wall_s, measured.cpu_s, sent, received, measured.peak_rss_kib,
                None if sent else f"no statistics parsed: {measured.stderr.strip()[-200:]}")
    if importlib.util.find_spec("icmplib") is not None:
        report = run_worker(["icmplib-heartbeat", str(host_file), str(duration)],
                            limit=duration + RUN_LIMIT_S)
        add_worker_row(add_row, "icmplib.multiping once a second [in-process]", report)
    else:
        skipped.append("icmplib: not importable from this python (pip install icmplib)")
    return rows, skipped


STEADY_WARMUP_S = 5.0  # resolution, start-up and the first spread-out period, left out
BARE_MONITOR = """
import sys, time, fastping
hosts = [line.strip() for line in open(sys.argv[1]) if line.strip()]
with fastping.Monitor(hosts, period=1.0) as monitor:
    monitor.start()
    time.sleep(3600)
"""


def process_cpu_s(pid: int) -> float:
    """A live process's CPU time so far (user + system, its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def steady_share(argv: list[str], duration: float) -> float:
    """The CPU share of one core a process takes from STEADY_WARMUP_S after its start, over
    duration seconds; it is then stopped (SIGINT, then SIGKILL)."""
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL)
    try:
        time.sleep(STEADY_WARMUP_S)
        start_cpu, start_wall = process_cpu_s(child.pid), time.monotonic()
        time.sleep(duration)
        cpu, wall = process_cpu_s(child.pid) - start_cpu, time.monotonic() - start_wall
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return cpu / wall


def compare_steady_state(host_count: int, duration: float, build_dir: Path,
                         progress: Callable[[str], None]) -> list[dict[str, object]]:
    """The command's heartbeat against a bare Monitor, steady state, side by side."""
    command = fastping_command()
    if command is None or importlib.util.find_spec("fastping") is None:
        return []
    host_file = write_host_file(build_dir, host_count)
    contenders = [
        ("fastping.Monitor(period=1.0) in a script", [sys.executable, "-c", BARE_MONITOR,
                                                      str(host_file)]),
        ("fastping -l -p 1000 -Q 3600",
         [command, "-l", "-p", "1000", "-Q", "3600", "-f", str(host_file)]),
        ("fastping -l -p 1000 -Q 10", [command, "-l", "-p", "1000", "-Q", "10", "-f",
                                       str(host_file)]),
        ("fastping -l -p 1000 -q (a line a probe)",
         [command, "-l", "-p", "1000", "-q", "-f", str(host_file)]),
    ]
    rows: list[dict[str, object]] = []
    for name, argv in contenders:
        share = steady_share(argv, duration)
        rows.append({"contender": name, "hosts": host_count, "cpu_share_of_core": share,
                     "to_bare_monitor": share / rows[0]["cpu_share_of_core"]  # type: ignore[operator]
                     if rows else 1.0})
        progress(f"steady state {name}: {share * 100:.2f} % of a core")
    return rows


def steady_table(duration: float, rows: list[dict[str, object]]) -> str:
    lines = [
        f"### Steady state: {rows[0]['hosts']:,} loopback hosts every 1 s, CPU over "
        f"{duration:g} s after {STEADY_WARMUP_S:g} s", "",
        "| process | CPU share of one core | to the bare Monitor |", "|---|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['contender']} "
                     f"| {_number(row['cpu_share_of_core'] * 100, 2, ' %')} "  # type: ignore[operator]
                     f"| {_number(row['to_bare_monitor'], 2, 'x')} |")
    return "\n".join(lines)


def add_worker_row(add_row: Callable[..., None], name: str, report: dict[str, object]) -> None:
    if "failed" in report:
        add_row(name, 0.0, 0.0, 0, 0, 0, failed=str(report["failed"]))
        return
    add_row(name, report["wall_s"], report["cpu_s"], report["sent"], report["received"],
            report["peak_rss_kib"])


def heartbeat_table(duration: float, rows: list[dict[str, object]]) -> str:
    lines = [
        f"### Heartbeat: {rows[0]['hosts']:,} loopback hosts every 1 s for {duration:g} s", "",
        "| contender | CPU s | wall s | CPU share of one core | CPU µs per probe "
        "| answered/sent | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        share = row["cpu_share_of_core"]
        failed = f" (FAILED: {row['failed']})" if row["failed"] else ""
        lines.append(
            f"| {row['contender']}{failed} | {_number(row['cpu_s'], 2)} "
            f"| {_number(row['wall_s'], 1)} "
            f"| {_number(share * 100 if share is not None else None, 2, ' %')} "  # type: ignore[operator]
            f"| {_number(row['cpu_us_per_probe'], 1)} "
            f"| {row['received']:,}/{row['sent']:,} | {_number(row['peak_rss_mib'], 1)} |")
    return "\n".join(lines)


# ---- the machine --------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    found: dict[str, str] = {"python": platform.python_version()}
    for module in ("fastping", "icmplib"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version
            found[module] = version(module)
    for command, flag in (("fping", "--version"), ("oping", "-h")):
        path = shutil.which(command)
        if path is not None:
            shown = subprocess.run([path, flag], capture_output=True, text=True, check=False)
            match = re.search(r"\b[Vv]ersion:? ([\d.]+)|oping ([\d.]+)",
                              shown.stdout + shown.stderr)
            found[command] = next((g for g in match.groups() if g), "?") if match else "?"
    return found


def machine() -> dict[str, object]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "cpu": model, "cpus": os.cpu_count(), "kernel": platform.release(),
            "niceness": os.nice(0), "load_average_before": os.getloadavg(),
            "versions": versions()}


# ---- main ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES),
                        metavar="N", help="host counts for one round (default 1000 10000)")
    parser.add_argument("--with-100k", action="store_true", help=f"also {HUNDRED_K:,} hosts")
    parser.add_argument("--repetitions", type=int, default=5, help="runs of each (default 5)")
    parser.add_argument("--heartbeat", action="store_true",
                        help="compare heartbeat CPU instead of one round")
    parser.add_argument("--duration", type=float, default=60.0,
                        help="heartbeat seconds per contender (default 60)")
    parser.add_argument("--heartbeat-hosts", type=int, default=1_000, metavar="N",
                        help="hosts in the heartbeat (default 1000)")
    parser.add_argument("--exporter", action="store_true",
                        help="compare fastping's exporter with prometheus-smokeping-prober "
                        "(compare_exporter.py); --duration is each one's CPU window")
    parser.add_argument("--processes", action="store_true",
                        help="whole processes, start-up included: fastping -C1 -q against "
                             "fping (benchmarks/processes.py)")
    parser.add_argument("--icmplib", action="store_true",
                        help="compare icmplib and fastping.icmplib instead (compare_icmplib.py)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = list(args.sizes) + ([HUNDRED_K] if args.with_100k else [])
    args.sizes = list(dict.fromkeys(sizes))
    if args.worker is None and (args.repetitions < 1 or args.duration <= 0
                                or min(args.sizes) < 1 or args.heartbeat_hosts < 1):
        parser.error("sizes, repetitions, duration and host counts must be positive")
    if max([*args.sizes, args.heartbeat_hosts]) > 1 << 20:
        parser.error("at most 1,048,576 hosts (127.16.0.1 upward stays in 127.0.0.0/8)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        name, *worker_args = args.worker
        converted = [worker_args[0], *map(float, worker_args[1:])]
        print(json.dumps(WORKERS[name](*converted)))
        return 0
    if os.geteuid() != 0:
        print("compare.py: run as root: the C reference, fping and oping use raw sockets",
              file=sys.stderr)
        return 2
    if args.icmplib:
        import compare_icmplib

        return compare_icmplib.main(["--sizes", *map(str, args.sizes), "--repetitions",
                                     str(args.repetitions), *(["--json"] if args.json else [])])

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    report: dict[str, object] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="fastping-compare-") as directory:
        global MEASURE_BINARY
        measure = build("measure", Path(directory))
        if isinstance(measure, str):
            print(f"compare.py: cannot build the measure launcher: {measure}", file=sys.stderr)
            return 2
        MEASURE_BINARY = measure
        if args.exporter:
            from compare_exporter import compare_exporters

            entries, tables = compare_exporters(Path(directory), args.duration, progress)
            report.update(entries)
            skipped: list[str] = []
        elif args.processes:
            import processes

            rows, skipped = processes.compare_processes(
                args.sizes, args.repetitions, fastping_command(), str(int(TIMEOUT_S * 1000)),
                lambda size: write_host_file(Path(directory), size), run_command, progress)
            report["processes"] = rows
            tables = [processes.processes_table(rows)]
        elif args.heartbeat:
            rows, skipped = compare_heartbeats(args.heartbeat_hosts, args.duration,
                                               Path(directory), progress)
            report["heartbeat"] = rows
            tables = [heartbeat_table(args.duration, rows)] if rows else []
            steady = compare_steady_state(args.heartbeat_hosts, args.duration, Path(directory),
                                          progress)
            report["steady_state"] = steady
            tables += [steady_table(args.duration, steady)] if steady else []
        else:
            runs, skipped = compare_rounds(args.sizes, args.repetitions, Path(directory),
                                           progress)
            rounds = {size: round_rows(size, by_name) for size, by_name in runs.items()}
            report["rounds"] = rounds
            report["runs"] = {size: {name: [asdict(run) for run in each]
                                     for name, each in by_name.items()}
                              for size, by_name in runs.items()}
            tables = [round_table(size, rows) for size, rows in rounds.items() if rows]
    report["skipped"] = skipped
    load_after = os.getloadavg()
    report["load_average_after"] = load_after
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    info = report["machine"]
    assert isinstance(info, dict)
    print(f"{info['date']}; {info['cpu']}, {info['cpus']} CPUs; Linux {info['kernel']}; "
          f"nice {info['niceness']}; load average before "
          f"{'/'.join(f'{x:.2f}' for x in info['load_average_before'])}, after "
          f"{'/'.join(f'{x:.2f}' for x in load_after)}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    for note in skipped:
        print(f"skipped: {note}")
    for table in tables:
        print()
        print(table)
    print()
    print("[process]: the whole process from fork to exit (startup included); CPU and peak RSS "
          "from wait4(). [in-process]: around the call only, in a fresh worker interpreter; "
          "peak RSS is that interpreter's.")
    if not (args.heartbeat or args.exporter):
        print("vs ref: against the C reference in bursts of 64. vs yardstick: median RTT against "
              "the C reference with -b 1 (each probe's send time read just before its own "
              "send). fastping -q prints only the mean RTT. RTTs are printed to 1 µs by "
              "fastping's CLI and fping, to 10 µs by oping.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
