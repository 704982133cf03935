"""Soak test: a fastping Monitor's cost per round does not grow with time.

Runs a Monitor over N loopback hosts (127.1.0.1 upwards) at an accelerated period, so that a few
minutes stand for days of 1 s rounds (600 s at 0.05 s = 12,000 rounds, 3.3 hours at 1 s), and
samples the whole process once a window: rounds done, CPU per round, descriptors, RSS, the
engine's resources, replies against probes sent and host health. The first window is warm-up.
After it, descriptors and the engine's tables (scheduled sends, ring, host table) must not grow
at all, and neither CPU per round nor RSS may trend upward beyond noise (least-squares fit
against round number; the criterion is printed). Once stopped the engine must hold nothing in
flight, and once closed the process must hold no more descriptors than before it opened.

    python benchmarks/soak.py                                  # 1,000 hosts, 0.05 s, 600 s
    python benchmarks/soak.py --duration 60 --window-seconds 5 --plot soak.png

Loopback addresses only. Needs ICMP sockets: root, or net.ipv4.ping_group_range for datagrams.
Exit status: 0 PASS, 1 FAIL, 2 bad arguments or --plot without matplotlib, 130 interrupted by
Ctrl-C before a FAIL was seen (the table so far and its verdict are still printed).
"""

from __future__ import annotations

import argparse
import ipaddress
import itertools
import math
import os
import resource
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import fastping

FIRST_HOST = ipaddress.IPv4Address("127.1.0.1")
LAST_LOOPBACK = ipaddress.IPv4Address("127.255.255.254")
STOP_TIMEOUT = 10.0  # seconds the loop gets to end after stop(); it should take one tick
SIGMAS = 3.0  # a trend must also exceed this many standard errors of its slope
MIN_TREND_WINDOWS = 5  # fewer points after warm-up give a slope error too optimistic to trust
LOW_REPLY_RATIO = 0.99  # on loopback every probe should be answered; below this, say so


# ---- sampling ------------------------------------------------------------------------------


class HealthTally:
    """Hosts up, down and unknown, kept from the Monitor's events.

    Health events come only on a change, so counting them costs nothing per round, unlike
    calling states() (which walks every host in the loop thread) once a window.
    """

    def __init__(self, hosts: int) -> None:
        self._lock = threading.Lock()  # events arrive on the loop thread, reads on the main one
        self._counts = {health: 0 for health in fastping.Health}
        self._counts[fastping.Health.UNKNOWN] = hosts
        self._changes = 0

    def on_event(self, event: fastping.MonitorEvent) -> None:
        if event.previous is None:  # a REPLY or LOSS event: not a change of health
            return
        with self._lock:
            self._counts[event.previous] -= 1
            self._counts[event.health] += 1
            self._changes += 1

    def snapshot(self) -> tuple[int, int, int, int]:
        """(up, down, unknown, changes so far)."""
        with self._lock:
            counts = self._counts
            return (counts[fastping.Health.UP], counts[fastping.Health.DOWN],
                    counts[fastping.Health.UNKNOWN], self._changes)


@dataclass(frozen=True)
class Sample:
    """The whole process and the engine at one instant; counters are cumulative."""

    elapsed: float  # wall seconds since the monitor started
    cpu: float  # process CPU seconds (user + system, every thread) since the monitor started
    cpu_system: float  # the system part: syscalls, and on loopback the kernel's echo replies
    counters: dict[str, int]
    resources: dict[str, int]
    descriptors: int
    rss_kib: int
    up: int
    down: int
    unknown: int
    health_changes: int


@dataclass(frozen=True)
class Window:
    """What happened between two samples, plus the state at the end of it."""

    number: int
    start: float  # elapsed seconds
    end: float
    rounds: float  # probes sent in the window / hosts
    rounds_mid: float  # cumulative rounds at the middle of the window: the x of rate fits
    rounds_end: float  # cumulative rounds at its end: the x of fits of the end sample (RSS)
    expected_rounds: float  # window seconds / period
    probes_per_minute: float
    cpu_seconds: float
    cpu_per_round: float  # seconds
    sent: int
    replies: int
    lost: int  # timeouts, ICMP errors and send errors
    foreign: int  # other programs' ICMP that our socket saw and dropped: it costs us CPU
    end_sample: Sample

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def reply_ratio(self) -> float:
        return self.replies / self.sent if self.sent else math.nan


def process_cpu_seconds() -> tuple[float, float]:
    """(user + system, system) CPU seconds of the whole process, every thread."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_stime


def open_descriptors() -> int:
    # listdir itself holds one descriptor while it reads: the same one every time, so it
    # shifts every sample equally and cannot look like growth.
    return len(os.listdir("/proc/self/fd"))


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def take_sample(monitor: fastping.Monitor, tally: HealthTally, started: float,
                cpu_at_start: tuple[float, float]) -> Sample:
    # The engine's numbers first: counters() and resources() are served by the loop thread,
    # and may wait for it up to the Monitor's request timeout (30 s) if it is stuck.
    counters = monitor.counters()
    resources = monitor.resources()
    up, down, unknown, changes = tally.snapshot()
    cpu, cpu_system = process_cpu_seconds()
    return Sample(
        elapsed=time.monotonic() - started, cpu=cpu - cpu_at_start[0],
        cpu_system=cpu_system - cpu_at_start[1],
        counters=counters, resources=resources, descriptors=open_descriptors(),
        rss_kib=rss_kib(), up=up, down=down, unknown=unknown, health_changes=changes)


def lost_probes(counters: dict[str, int]) -> int:
    return counters["timeouts"] + counters["icmp_errors"] + counters["send_errors"]


def make_window(number: int, before: Sample, after: Sample, hosts: int,
                period: float) -> Window:
    sent = after.counters["sent"] - before.counters["sent"]
    rounds = sent / hosts
    cpu_seconds = after.cpu - before.cpu
    seconds = after.elapsed - before.elapsed
    return Window(
        number=number, start=before.elapsed, end=after.elapsed, rounds=rounds,
        rounds_mid=(before.counters["sent"] + after.counters["sent"]) / 2 / hosts,
        rounds_end=after.counters["sent"] / hosts,
        expected_rounds=seconds / period,
        probes_per_minute=sent / seconds * 60 if seconds > 0 else math.nan,
        cpu_seconds=cpu_seconds, cpu_per_round=cpu_seconds / rounds if rounds else math.nan,
        sent=sent, replies=after.counters["replies"] - before.counters["replies"],
        lost=lost_probes(after.counters) - lost_probes(before.counters),
        foreign=after.counters["foreign"] - before.counters["foreign"], end_sample=after)


# ---- analysis ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fit:
    """Least-squares line y = intercept + slope * x, with the standard error of the slope."""

    slope: float
    intercept: float
    slope_error: float
    mean: float


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> Fit | None:
    """None when there are too few points (MIN_TREND_WINDOWS) for a slope and its error."""
    if len(xs) < max(3, MIN_TREND_WINDOWS):
        return None
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread_x = sum((x - mean_x) ** 2 for x in xs)
    if spread_x == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread_x
    intercept = mean_y - slope * mean_x
    residuals = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    slope_error = math.sqrt(residuals / (len(xs) - 2) / spread_x)
    return Fit(slope, intercept, slope_error, mean_y)


@dataclass
class Verdict:
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def fail(self, reason: str) -> None:
        self.failures.append(reason)

    @property
    def passed(self) -> bool:
        return not self.failures


def check_trend(verdict: Verdict, what: str, unit: str, scale: float, fit: Fit | None,
                total_rounds: float, max_growth: float) -> None:
    """Upward beyond noise: growth over the run > max_growth of the mean, and > SIGMAS s.e."""
    if fit is None:
        verdict.notes.append(f"{what}: too few windows after warm-up to judge a trend (need "
                             f"{MIN_TREND_WINDOWS}): not judged")
        return
    growth = fit.slope * total_rounds
    relative = growth / fit.mean if fit.mean else math.inf
    sigmas = fit.slope / fit.slope_error if fit.slope_error else 0.0 if fit.slope == 0 else (
        math.copysign(math.inf, fit.slope))
    print(f"- {what}: slope {fit.slope * scale:+.4g} {unit} per round "
          f"(± {fit.slope_error * scale:.2g}, {sigmas:+.1f} s.e.); "
          f"over {total_rounds:,.0f} rounds that is {growth * scale:+.4g} {unit}, "
          f"{relative:+.2%} of the mean {fit.mean * scale:,.6g} {unit}")
    if relative > max_growth and fit.slope > SIGMAS * fit.slope_error:
        verdict.fail(f"{what} grows: {relative:+.1%} over the run (limit {max_growth:.0%}), "
                     f"{sigmas:.1f} standard errors")


def check_resources(verdict: Verdict, windows: Sequence[Window], hosts: int, period: float,
                    timeout: float) -> None:
    """Nothing the engine or the process holds may grow after the warm-up window."""
    baseline = windows[0].end_sample
    # Every probe times out after `timeout`, and each host sends one per period.
    outstanding_bound = hosts * math.ceil(timeout / period)
    for window in windows[1:]:
        sample = window.end_sample
        label = f"window {window.number} (t={window.end:.0f} s)"
        if sample.descriptors > baseline.descriptors:
            verdict.fail(f"{label}: {sample.descriptors} descriptors open, "
                         f"{baseline.descriptors} after warm-up")
        for name in ("scheduled", "ring_capacity", "host_capacity", "descriptors"):
            if sample.resources[name] > baseline.resources[name]:
                verdict.fail(f"{label}: engine {name} {sample.resources[name]}, "
                             f"{baseline.resources[name]} after warm-up")
        if sample.resources["scheduled"] != hosts:
            verdict.fail(f"{label}: {sample.resources['scheduled']} sends scheduled for "
                         f"{hosts} hosts (each should have exactly one pending)")
        if sample.resources["timer_armed"] != 1:
            verdict.fail(f"{label}: the engine's timer is not armed while running")
        if sample.resources["outstanding"] > outstanding_bound:
            verdict.fail(f"{label}: {sample.resources['outstanding']} probes outstanding, "
                         f"more than the timeout allows ({outstanding_bound})")
    low = [w for w in windows[1:] if w.reply_ratio < LOW_REPLY_RATIO]
    if low:
        verdict.notes.append(
            f"replies/sent below {LOW_REPLY_RATIO:.0%} in windows "
            f"{', '.join(str(w.number) for w in low)}: on loopback this means the loop fell "
            "behind (a busy machine) or replies were lost")


# ---- output --------------------------------------------------------------------------------


def print_table(windows: Sequence[Window]) -> None:
    print("| win | end (s) | rounds | on time | probes/min | CPU/round (ms) | CPU % core "
          "| fds | RSS (MiB) | timer | sched | outst | ring | host cap | replies/sent "
          "| foreign | up/down/unk | changes |")
    print("|" + "---:|" * 18)
    previous_changes = 0
    for window in windows:
        sample = window.end_sample
        resources = sample.resources
        on_time = window.rounds / window.expected_rounds if window.expected_rounds else math.nan
        warm = " (warm-up)" if window.number == 1 else ""
        print(f"| {window.number}{warm} | {window.end:.1f} | {window.rounds:,.1f} "
              f"| {on_time:.1%} | {window.probes_per_minute:,.0f} "
              f"| {window.cpu_per_round * 1e3:.3f} | {window.cpu_seconds / window.seconds:.1%} "
              f"| {sample.descriptors} | {sample.rss_kib / 1024:.1f} "
              f"| {resources['timer_armed']} | {resources['scheduled']} "
              f"| {resources['outstanding']} | {resources['ring_capacity']} "
              f"| {resources['host_capacity']} | {window.reply_ratio:.4%} | {window.foreign:,} "
              f"| {sample.up}/{sample.down}/{sample.unknown} "
              f"| {sample.health_changes - previous_changes} |")
        previous_changes = sample.health_changes


def plot(path: str, samples: Sequence[Sample], windows: Sequence[Window], cpu_fit: Fit | None,
         rss_fit: Fit | None, total_rounds: float, title: str) -> None:
    import matplotlib  # only with --plot; its presence was checked at start-up

    matplotlib.use("Agg")  # a file, never a window
    from matplotlib import pyplot

    # Rates belong to the middle of their window; states to the instant they were sampled,
    # including the one just after start() (t = 0), before warm-up.
    mids = [(w.start + w.end) / 2 for w in windows]
    instants = [s.elapsed for s in samples]
    figure, axes = pyplot.subplots(5, 1, sharex=True, figsize=(10, 13), layout="constrained")
    cpu_axis, rss_axis, fd_axis, engine_axis, reply_axis = axes

    def fit_label(fit: Fit) -> str:
        growth = fit.slope * total_rounds / fit.mean
        sigmas = fit.slope / fit.slope_error if fit.slope_error else 0.0
        return f"fit after warm-up: {growth:+.1%} over the run ({sigmas:+.1f} s.e.)"

    cpu_axis.plot(mids, [w.cpu_per_round * 1e3 for w in windows], "o-", label="measured")
    if cpu_fit is not None:
        cpu_axis.plot(mids[1:], [(cpu_fit.intercept + cpu_fit.slope * w.rounds_mid) * 1e3
                                 for w in windows[1:]], "--", label=fit_label(cpu_fit))
    cpu_axis.set_ylabel("CPU per round (ms)")
    cpu_axis.set_ylim(0, max(w.cpu_per_round * 1e3 for w in windows) * 1.25)

    rss_axis.plot(instants, [s.rss_kib / 1024 for s in samples], "o-", label="measured")
    if rss_fit is not None:
        rss_axis.plot([w.end for w in windows[1:]],
                      [(rss_fit.intercept + rss_fit.slope * w.rounds_end) / 1024
                       for w in windows[1:]], "--", label=fit_label(rss_fit))
    rss_axis.set_ylabel("RSS (MiB)")
    rss_axis.set_ylim(0, max(s.rss_kib for s in samples) / 1024 * 1.25)

    fd_axis.step(instants, [s.descriptors for s in samples], "o-", where="post",
                 label="process")
    fd_axis.step(instants, [s.resources["descriptors"] for s in samples], "s-", where="post",
                 label="engine")
    fd_axis.set_ylabel("open descriptors")
    fd_axis.set_ylim(0, max(s.descriptors for s in samples) * 1.25)

    # Counts from 0 (outstanding at the sampling instant) through 1 (the one timer) to
    # thousands (hosts): a symmetric log scale shows them all.
    for name, marker, size in (("ring_capacity", "^", 9), ("host_capacity", "s", 7),
                               ("scheduled", "o", 5), ("timer_armed", "x", 7),
                               ("outstanding", "v", 6)):
        engine_axis.plot(instants, [s.resources[name] for s in samples], marker + "-",
                         markersize=size, label=name)
    engine_axis.set_yscale("symlog", linthresh=1)
    engine_axis.set_ylim(-0.5, max(s.resources["ring_capacity"] for s in samples) * 8)
    engine_axis.set_ylabel("engine: timer and tables")

    reply_axis.plot(mids, [w.reply_ratio * 100 for w in windows], "o-", label="replies / sent")
    reply_axis.set_ylabel("replies / sent (%)")
    reply_axis.set_ylim(min(95.0, min(w.reply_ratio * 100 for w in windows) - 1), 100.5)
    reply_axis.set_xlabel("elapsed (s)")

    for axis in axes:
        axis.axvspan(windows[0].start, windows[0].end, color="0.9", zorder=0)
        axis.grid(True, alpha=0.3)
        # The engine's series span the whole height; between 1 and 1,000 there is room.
        axis.legend(loc="center right" if axis is engine_axis else "lower right", ncols=3,
                    fontsize="small")
    cpu_axis.annotate("warm-up", (windows[0].start, 0), xytext=(4, 4),
                      textcoords="offset points", color="0.4")
    figure.suptitle(title)
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


# ---- the run -------------------------------------------------------------------------------


def loopback_hosts(count: int) -> list[str]:
    return [str(FIRST_HOST + offset) for offset in range(count)]


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Prove a fastping Monitor's cost per round does not grow with time: run it "
        "over loopback hosts at an accelerated period and check CPU per round, RSS, "
        "descriptors and the engine's tables window by window.",
        epilog="Exit status: 0 PASS, 1 FAIL, 2 usage error or matplotlib missing, "
        "130 interrupted.")
    parser.add_argument("--hosts", type=int, default=1_000,
                        help="loopback hosts, from 127.1.0.1 upwards (default 1000)")
    parser.add_argument("--period", type=float, default=0.05,
                        help="seconds between probes to each host (default 0.05)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds a probe waits for its reply (default: the Monitor's, "
                        "min(1 s, period))")
    parser.add_argument("--duration", type=float, default=600.0,
                        help="seconds to run (default 600)")
    parser.add_argument("--window-seconds", type=float, default=10.0,
                        help="seconds per sample window; the first is warm-up (default 10)")
    parser.add_argument("--max-growth", type=float, default=10.0,
                        help="percent of the mean that a fitted trend over the whole run may "
                        "reach before it counts as growth (default 10)")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="draw the series to this file (needs matplotlib)")
    arguments = parser.parse_args(argv)
    last_host_count = int(LAST_LOOPBACK) - int(FIRST_HOST) + 1
    if not 1 <= arguments.hosts <= last_host_count:
        parser.error(f"--hosts must be 1 to {last_host_count:,} (loopback addresses only)")
    for name in ("period", "duration", "window_seconds", "max_growth"):
        if not getattr(arguments, name) > 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if arguments.timeout is not None and not arguments.timeout > 0:
        parser.error("--timeout must be positive")
    if arguments.window_seconds > arguments.duration:
        parser.error("--window-seconds must not exceed --duration")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.plot:
        try:
            import matplotlib  # noqa: F401  (checked before an hour's run, not after)
        except ImportError:
            print("--plot needs matplotlib: pip install 'fastping[plot]'", file=sys.stderr)
            return 2

    hosts = arguments.hosts
    period = arguments.period
    timeout = min(1.0, period) if arguments.timeout is None else arguments.timeout
    print(f"# fastping soak: {hosts:,} hosts every {period} s (timeout {timeout} s) "
          f"for {arguments.duration:g} s, windows of {arguments.window_seconds:g} s")
    print(f"# {arguments.duration / period:,.0f} rounds, as many as "
          f"{arguments.duration / period / 3600:.1f} hours at a 1 s period\n", flush=True)

    verdict = Verdict()
    descriptors_before = open_descriptors()
    tally = HealthTally(hosts)
    adding_started = time.monotonic()
    monitor = fastping.Monitor(loopback_hosts(hosts), period=period, timeout=timeout,
                               on_event=tally.on_event)
    adding_seconds = time.monotonic() - adding_started
    samples: list[Sample] = []
    interrupted = False
    stopped_cleanly = False
    try:
        cpu_at_start = process_cpu_seconds()
        started = time.monotonic()
        monitor.start()
        samples.append(take_sample(monitor, tally, started, cpu_at_start))
        deadline = started + arguments.duration
        next_sample = started + arguments.window_seconds
        try:
            while True:
                now = time.monotonic()
                if now >= deadline - 1e-3:
                    break
                time.sleep(max(0.0, min(next_sample, deadline) - now))
                if not monitor.running:
                    verdict.fail("the monitor's loop ended on its own")
                    break
                samples.append(take_sample(monitor, tally, started, cpu_at_start))
                next_sample += arguments.window_seconds
        except KeyboardInterrupt:
            interrupted = True
            # A partial last window is worth keeping if it is long enough to mean something.
            if monitor.running and time.monotonic() - started - samples[-1].elapsed > 1.0:
                samples.append(take_sample(monitor, tally, started, cpu_at_start))
        except TimeoutError:
            verdict.fail("the monitor's loop did not answer counters() within 30 s")
        wall_seconds = time.monotonic() - started

        monitor.stop()
        stopped_cleanly = monitor.join(STOP_TIMEOUT)
        if not stopped_cleanly:
            verdict.fail(f"the monitor's loop did not end within {STOP_TIMEOUT:g} s of stop()")
        else:
            # At rest the engine must hold nothing in flight: stop() cancels every send.
            at_rest = monitor.resources()
            for name in ("scheduled", "outstanding", "timer_armed"):
                if at_rest[name]:
                    verdict.fail(f"after stop(): engine {name} is {at_rest[name]}, not 0")
            states = monitor.states()
    finally:
        if stopped_cleanly or not monitor.running:
            monitor.close()

    if stopped_cleanly:
        descriptors_after = open_descriptors()
        if descriptors_after > descriptors_before:
            verdict.fail(f"after close(): {descriptors_after} descriptors open, "
                         f"{descriptors_before} before the Monitor")
        if any(monitor.resources().values()):
            verdict.fail(f"after close(): the engine still holds {monitor.resources()}")

    windows = [make_window(number, before, after, hosts, period)
               for number, (before, after) in enumerate(itertools.pairwise(samples), start=1)]
    if not windows:
        print("No window completed: nothing to judge.")
        print(f"\n{'FAIL' if verdict.failures else 'INCOMPLETE'}")
        for reason in verdict.failures:
            print(f"- {reason}")
        return 1 if verdict.failures else 130
    print_table(windows)

    print("\n## Summary\n")
    final = samples[-1]
    total_rounds = final.counters["sent"] / hosts
    print(f"- {wall_seconds:.1f} s, {total_rounds:,.1f} rounds "
          f"({total_rounds / (final.elapsed / period):.1%} of the schedule), "
          f"{final.counters['sent']:,} probes, {final.counters['replies']:,} replies, "
          f"{lost_probes(final.counters):,} lost, {final.counters['late']:,} late, "
          f"{final.counters['duplicates']:,} duplicates; "
          f"{final.counters['foreign']:,} foreign (other programs' ICMP on the same socket), "
          f"{final.counters['malformed']:,} malformed")
    if stopped_cleanly:
        health_counts = {health: 0 for health in fastping.Health}
        for state in states.values():
            health_counts[state.health] += 1
        print(f"- hosts at the end (states()): {health_counts[fastping.Health.UP]:,} up, "
              f"{health_counts[fastping.Health.DOWN]:,} down, "
              f"{health_counts[fastping.Health.UNKNOWN]:,} unknown; "
              f"{final.health_changes:,} changes of health in all")

    steady = windows[1:]  # after warm-up
    cpu_fit = fit_line([w.rounds_mid for w in steady], [w.cpu_per_round for w in steady])
    rss_fit = fit_line([w.rounds_end for w in steady], [w.end_sample.rss_kib for w in steady])
    print(f"- trends after warm-up ({len(steady)} windows), judged as growth when the fitted "
          f"rise over all {total_rounds:,.0f} rounds exceeds {arguments.max_growth:g}% of the "
          f"mean AND the slope exceeds {SIGMAS:g} standard errors:")
    check_trend(verdict, "CPU per round", "ms", 1e3, cpu_fit, total_rounds,
                arguments.max_growth / 100)
    check_trend(verdict, "RSS", "KiB", 1.0, rss_fit, total_rounds, arguments.max_growth / 100)
    measured = steady or windows
    cpu_seconds = sum(w.cpu_seconds for w in measured)
    system_seconds = measured[-1].end_sample.cpu_system - (
        windows[0].end_sample.cpu_system if steady else 0.0)
    seconds = sum(w.seconds for w in measured)
    probes = sum(w.sent for w in measured)
    print(f"- CPU: {cpu_seconds:.2f} s over {seconds:.1f} s of wall time after warm-up = "
          f"{cpu_seconds / seconds:.1%} of one core (whole process, all threads; "
          f"{system_seconds / cpu_seconds:.0%} of it in the kernel, which on loopback includes "
          "answering our own echoes)")
    if probes:
        per_probe = cpu_seconds / probes
        print(f"- per probe {per_probe * 1e6:.2f} µs of CPU; 1,000 hosts at a 1 s period "
              f"(1,000 probes/s) would cost {per_probe * 1000:.2%} of one core")
    engine = final.resources
    print(f"- memory: the engine keeps {engine['host_bytes']} bytes a host "
          f"({engine['table_bytes'] / 2**20:,.1f} MiB of tables, probe ring included); peak RSS "
          f"{max(w.end_sample.rss_kib for w in windows) / 1024:,.1f} MiB for the whole process, "
          f"with Python's table of names and addresses; {adding_seconds:.1f} s to add the hosts")
    check_resources(verdict, windows, hosts, period, timeout)

    print(f"\n{'PASS' if verdict.passed else 'FAIL'}"
          f"{' (interrupted: the table above is all that ran)' if interrupted else ''}")
    if verdict.passed:
        print("- descriptors, scheduled sends, ring and host table flat after warm-up; "
              "no upward trend in CPU per round or RSS; nothing in flight after stop(), "
              "nothing open after close()")
    for reason in verdict.failures:
        print(f"- {reason}")
    for note in verdict.notes:
        print(f"- note: {note}")

    if arguments.plot:
        result = "PASS" if verdict.passed else "FAIL"
        plot(arguments.plot, samples, windows, cpu_fit, rss_fit, total_rounds,
             f"fastping soak: {hosts:,} hosts every {period:g} s, {total_rounds:,.0f} rounds "
             f"- {result}")
        print(f"\nplot: {arguments.plot}")
    if not verdict.passed:
        return 1
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
