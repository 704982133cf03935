"""The fastping command, with fping's letters and output: sweeps, counts and heartbeats.

Modes, as in fping: by default every target is probed until it answers or
its retries run out, and reported alive or unreachable; ``-c N`` sends N
probes to each and summarises; ``-C N`` does the same and prints every RTT;
``-l`` loops (a heartbeat: every target once per period, spread evenly) until
Ctrl-C, with ``-Q`` summaries. Per-probe lines go to stdout and summaries to
stderr, as fping's do; ``--json`` writes one JSON object per line to stdout
instead (the schema is in the README).

Exit status, as fping's: 0 every target answered, 1 some did not, 2 some
name could not be resolved, 3 bad arguments, 4 a system error (e.g. no
permission to open an ICMP socket).
"""

from __future__ import annotations

import argparse
import importlib
import ipaddress
import json
import math
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, TextIO, TypedDict

from ._common import (
    EXIT_SYSTEM,
    EXIT_USAGE,
    MAX_INTERVAL,
    MAX_SIZE,
    MAX_TIMEOUT,
    MIN_SIZE,
    EngineOptions,
    UsageParser,
)
from ._resolve import MIN_SECONDS, check_int, check_seconds
from ._results import Result
from .pinger import Pinger

if TYPE_CHECKING:
    from .monitor import HostState, Monitor, MonitorEvent
    from .plot import HostSeries

EXIT_ALIVE, EXIT_UNREACHABLE, EXIT_UNKNOWN = 0, 1, 2
MAX_GENERATED = 1 << 20  # per -g
MAX_TARGETS = 1 << 20  # per run: -g, -f and arguments together (the engine handles a million)
MAX_LINE = 4096  # characters in a line of -f (fping reads names of up to 255 bytes)
MAX_TIMEOUT_WITH_PERIOD = 2.0  # fping: with -c/-C/-l the timeout is the period, up to 2 s
PROGRESS_EVERY = 0.2  # seconds between progress lines on a terminal
SIGNAL_POLL = 0.2  # seconds: how soon the quiet loop acts on a signal


class UsageError(Exception):
    """A bad argument: one line on stderr, exit status 3."""


def _parser() -> argparse.ArgumentParser:
    parser = UsageParser(
        prog="fastping",
        description="Ping many hosts at once. Times are in milliseconds, as in fping. "
        "Also: 'fastping exporter --help' (Prometheus exporter), "
        "'fastping plot --help' (latency charts).",
        epilog=f"At most {MAX_TARGETS:,} targets in a run (-g, -f and HOSTs together). "
        "Exit status: 0 all alive, 1 some unreachable, 2 some unknown host, "
        "3 bad arguments, 4 system error.",
    )
    parser.add_argument("targets", nargs="*", metavar="HOST", help="host names or IP addresses")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("-c", "--count", type=int, metavar="N",
                      help="send N probes to each target and summarise")
    mode.add_argument("-C", "--vcount", type=int, metavar="N",
                      help="as -c, and report every RTT in fping's format")
    mode.add_argument("-l", "--loop", action="store_true",
                      help="heartbeat every target once per period until Ctrl-C")
    parser.add_argument("-Q", "--squiet", type=float, metavar="SECS",
                        help="with -l, -c or -C: print summaries every SECS seconds")
    parser.add_argument("-p", "--period", type=float, default=1000.0, metavar="MS",
                        help="time between probes to one target, in ms (default 1000)")
    parser.add_argument("-i", "--interval", type=float, default=0.0, metavar="MS",
                        help="least time between any two sends, in ms "
                        "(default 0: as fast as is safe)")
    parser.add_argument("-t", "--timeout", type=float, metavar="MS",
                        help="how long to wait for a reply, in ms (default 500; with "
                        "-c/-C/-l, the period up to 2000)")
    parser.add_argument("-r", "--retry", type=int, default=3, metavar="N",
                        help="retries per target when sweeping (default 3)")
    parser.add_argument("-B", "--backoff", type=float, default=1.5, metavar="F",
                        help="timeout multiplier per retry (default 1.5)")
    parser.add_argument("-b", "--size", type=int, default=56, metavar="BYTES",
                        help=f"ICMP payload size ({MIN_SIZE} to {MAX_SIZE}, default 56)")
    parser.add_argument("-H", "--ttl", type=int, metavar="TTL", help="IP time to live")
    parser.add_argument("-O", "--tos", type=int, metavar="TOS", help="IP type of service")
    parser.add_argument("-S", "--src", metavar="ADDR", help="source address")
    parser.add_argument("-I", "--iface", metavar="IFACE", help="bind to this interface")
    family = parser.add_mutually_exclusive_group()
    family.add_argument("-4", "--ipv4", action="store_const", dest="family", const=4,
                        help="IPv4 only")
    family.add_argument("-6", "--ipv6", action="store_const", dest="family", const=6,
                        help="IPv6 only")
    parser.add_argument("-g", "--generate", action="append", nargs="+", default=[],
                        metavar="CIDR", help="every host of a network (127.0.4.0/22), "
                        "or of a range: -g START END")
    parser.add_argument("-f", "--file", metavar="FILE",
                        help="read targets from FILE, the first word of each line "
                        "('-' for stdin)")
    show = parser.add_mutually_exclusive_group()
    show.add_argument("-a", "--alive", action="store_true", help="list alive targets only")
    show.add_argument("-u", "--unreach", action="store_true",
                      help="list unreachable targets only")
    parser.add_argument("-e", "--elapsed", action="store_true",
                        help="show the RTT of alive targets when sweeping")
    parser.add_argument("-s", "--stats", action="store_true", help="print final statistics")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no per-probe lines, only summaries")
    parser.add_argument("--table", action="store_true",
                        help="with -l on a terminal: a live table of targets, redrawn in place")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per line on stdout (see the README)")
    parser.add_argument("--plot", metavar="FILE",
                        help="with -c, -C or -l: draw a SmokePing-style chart of the run "
                        "(.png, .svg or .pdf; needs matplotlib)")
    return parser


# ---- targets ------------------------------------------------------------------


def _network_hosts(cidr: str) -> tuple[int, Iterator[str]]:
    """How many host addresses a network has, and them; like fping, skips network and
    broadcast addresses."""
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise UsageError(f"-g: not a network in CIDR notation: {cidr!r}") from None
    if network.num_addresses > MAX_GENERATED:
        raise UsageError(f"-g: {cidr} has {network.num_addresses} addresses, "
                         f"more than the {MAX_GENERATED} allowed")
    if network.num_addresses > 2:
        return network.num_addresses - 2, (str(address) for address in network.hosts())
    return network.num_addresses, (str(address) for address in network)


def _range_hosts(start: str, end: str) -> tuple[int, Iterator[str]]:
    try:
        first, last = ipaddress.ip_address(start), ipaddress.ip_address(end)
    except ValueError as error:
        raise UsageError(f"-g: {error}") from None
    if first.version != last.version or int(last) < int(first):
        raise UsageError(f"-g: {start} to {end} is not a range")
    count = int(last) - int(first) + 1
    if count > MAX_GENERATED:
        raise UsageError(f"-g: {start} to {end} has {count} addresses, "
                         f"more than the {MAX_GENERATED} allowed")
    return count, (str(first + offset) for offset in range(count))


def _generated(values: list[str]) -> tuple[int, Iterator[str]]:
    if len(values) == 1:
        return _network_hosts(values[0])
    if len(values) == 2:
        return _range_hosts(*values)
    raise UsageError("-g takes a network (CIDR) or a START END range")


def _too_many() -> UsageError:
    return UsageError(f"more than {MAX_TARGETS} targets: -g, -f and the arguments together "
                      f"give at most {MAX_TARGETS}")


def _read_targets(path: str, stdin: TextIO, room: int) -> list[str]:
    """As fping reads -f: the first word of each line, skipping lines whose first word starts
    with '#'. Read a line at a time, each bounded, and no further than room targets: /dev/zero
    or a huge file is refused, not read into memory."""
    targets: list[str] = []
    try:
        with open(path, encoding="utf-8") if path != "-" else nullcontext(stdin) as file:
            while line := file.readline(MAX_LINE + 1):
                if len(line) > MAX_LINE and not line.endswith("\n"):
                    raise UsageError(f"-f: {path!r} has a line longer than {MAX_LINE} "
                                     f"characters, after {len(targets)} targets")
                words = line.split(None, 1)
                if words and not words[0].startswith("#"):
                    if len(targets) == room:
                        raise _too_many()
                    targets.append(words[0])
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise UsageError(f"-f: cannot read {path!r}: {reason}") from None
    return targets


def _targets(args: argparse.Namespace, stdin: TextIO) -> list[str]:
    # Surrounding whitespace is no part of a name (the engine and the results use it
    # stripped); a target left empty is reported unknown, as any other bad name.
    targets = [target.strip() for target in args.targets]
    # Counted before anything is made: 16 -g /12 would otherwise be 16.7 million strings.
    generated = [_generated(values) for values in args.generate]
    if len(targets) + sum(count for count, _ in generated) > MAX_TARGETS:
        raise _too_many()
    for _, hosts in generated:
        targets.extend(hosts)
    if args.file is not None:
        targets.extend(_read_targets(args.file, stdin, MAX_TARGETS - len(targets)))
    if not targets:
        raise UsageError("no targets: give hosts, -g CIDR or -f FILE")
    return list(dict.fromkeys(targets))


# ---- options --------------------------------------------------------------------


def _milliseconds(flag: str, milliseconds: float, *, maximum: float, allow_zero: bool) -> float:
    """A duration given in ms, checked and returned in seconds; errors speak in ms."""
    try:
        return check_seconds(flag, milliseconds / 1000, maximum=maximum, allow_zero=allow_zero)
    except ValueError:
        zero = "0 or " if allow_zero else ""
        raise UsageError(f"{flag} must be {zero}between {MIN_SECONDS * 1000:g} and "
                         f"{maximum * 1000:g} ms, not {milliseconds:g}") from None


class _Settings(NamedTuple):
    rounds: int | None  # probes per target (-c/-C); None to loop
    every_rtt: bool  # -C
    period: float
    gap: float
    timeout: float
    retries: int
    backoff: float
    report_every: float | None


def _settings(args: argparse.Namespace) -> _Settings:
    count = args.count if args.count is not None else args.vcount
    if count is not None:
        check_int("-c/-C", count, minimum=1, maximum=2**31)
    check_int("-r", args.retry, minimum=0, maximum=100)
    if not (math.isfinite(args.backoff) and 1.0 <= args.backoff <= 5.0):
        raise UsageError(f"-B must be between 1 and 5, not {args.backoff:g}")
    period = _milliseconds("-p/--period", args.period, maximum=MAX_INTERVAL, allow_zero=False)
    gap = _milliseconds("-i/--interval", args.interval, maximum=MAX_INTERVAL, allow_zero=True)
    repeating = count is not None or args.loop
    if args.timeout is not None:
        timeout = _milliseconds("-t/--timeout", args.timeout, maximum=MAX_TIMEOUT,
                                allow_zero=False)
    else:
        timeout = min(period, MAX_TIMEOUT_WITH_PERIOD) if repeating else 0.5
    report_every = None
    if args.squiet is not None:
        if not repeating:
            raise UsageError("-Q goes with -l, -c or -C")
        report_every = check_seconds("-Q", args.squiet, maximum=MAX_INTERVAL, allow_zero=False)
    if args.table and not args.loop:
        raise UsageError("--table goes with -l")
    if args.plot is not None:
        if not repeating:
            raise UsageError("--plot goes with -l, -c or -C")
        if not args.plot.lower().endswith((".png", ".svg", ".pdf")):
            raise UsageError(f"--plot must end in .png, .svg or .pdf: {args.plot!r}")
    return _Settings(count, args.vcount is not None, period, gap, timeout, args.retry,
                     args.backoff, report_every)


# ---- statistics and output --------------------------------------------------------


def _ms(seconds: float) -> str:
    """An RTT in ms with fping's precision: more decimals for smaller times."""
    milliseconds = seconds * 1000
    # (A chain of ifs: a summary of 100,000 targets formats 300,000 of these.)
    if milliseconds < 1:
        return f"{milliseconds:.3f}"
    if milliseconds < 10:
        return f"{milliseconds:.2f}"
    if milliseconds < 100:
        return f"{milliseconds:.1f}"
    return f"{milliseconds:.0f}"


def _json_ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 6)


class _Counts:
    """One target's counts, in constant memory (a list of RTTs only for -C)."""

    __slots__ = ("errors", "max", "min", "received", "rtts", "sent", "squares", "total")

    def __init__(self, *, sent: int = 0, received: int = 0, total: float = 0.0,
                 min: float | None = None, max: float | None = None,
                 rtts: list[float | None] | None = None) -> None:
        self.sent = sent
        self.received = received
        self.total = total
        self.squares = 0.0
        self.min = min
        self.max = max
        self.rtts = rtts
        self.errors = 0

    def add(self, result: Result) -> None:
        self.sent += 1
        rtt = result.rtt if result.ok else None
        if self.rtts is not None:
            self.rtts.append(rtt)
        if rtt is None:
            self.errors += result.status.value not in ("ok", "timeout")
            return
        self.received += 1
        self.total += rtt
        self.squares += rtt * rtt
        self.min = rtt if self.min is None else min(self.min, rtt)
        self.max = rtt if self.max is None else max(self.max, rtt)

    @classmethod
    def of(cls, state: HostState) -> _Counts:
        """A host's tally from what a Monitor's engine kept of it."""
        total = (state.lifetime_avg or 0.0) * state.received
        # (The engine does not tell ICMP errors from timeouts here: all count as lost.)
        return cls(sent=state.sent, received=state.received, total=total,
                   min=state.lifetime_min, max=state.lifetime_max)

    @property
    def avg(self) -> float | None:
        return self.total / self.received if self.received else None

    @property
    def stddev(self) -> float | None:
        if not self.received:
            return None
        mean = self.total / self.received
        return math.sqrt(max(self.squares / self.received - mean * mean, 0.0))

    @property
    def loss_percent(self) -> int:
        return round(100 * (self.sent - self.received) / self.sent) if self.sent else 0


class _Run:
    """Everything one invocation reports: per-target tallies, output streams and format."""

    def __init__(self, args: argparse.Namespace, settings: _Settings, targets: list[str],
                 stdout: TextIO, stderr: TextIO, signals: _Signals) -> None:
        self.args = args
        self.settings = settings
        self.targets = targets
        self.stdout = stdout
        self.stderr = stderr
        self.unknown: dict[str, str] = {}
        every_rtt = settings.every_rtt
        self.tallies = {target: _Counts(rtts=[] if every_rtt else None) for target in targets}
        # Counts since the last interim report: kept from the start with -Q, else only from a
        # first SIGQUIT on (whose report, the first, covers the run so far: the tallies).
        self.interval_tallies: dict[str, _Counts] = (
            {target: _Counts() for target in targets} if settings.report_every is not None
            else {})
        self.signals = signals
        self.duplicates: dict[str, int] = {}  # since the start, per target
        self.reported_duplicates: dict[str, int] = {}  # at the last -Q report
        self.started = time.monotonic()
        self.last_progress = 0.0
        # With --plot: every probe, for the chart.
        self.plotted: dict[str, HostSeries] | None = {} if args.plot is not None else None

    @property
    def known(self) -> list[str]:
        return [target for target in self.targets if target not in self.unknown]

    def emit(self, record: dict[str, object]) -> None:
        print(json.dumps(record), file=self.stdout, flush=True)

    def note_unknown(self, target: str, error: str) -> None:
        self.unknown[target] = error
        if self.args.json:
            self.emit({"type": "unknown", "host": target, "error": error})
        else:
            print(f"{target}: {error}", file=self.stderr)

    # per probe

    def record(self, result: Result) -> None:
        """Counts one probe outcome and, unless quiet, reports it."""
        tally = self.tallies[result.host]
        tally.add(result)
        if self.interval_tallies:
            self.interval_tallies[result.host].add(result)
        if self.plotted is not None:
            series = self.plotted.get(result.host)
            if series is None:
                from .plot import HostSeries  # only --plot needs the plot module

                series = self.plotted[result.host] = HostSeries()
            series.probes.append((time.time(), result.rtt if result.ok else None))
        if self.args.json:
            self.emit(_probe_record(result, tally.sent - 1))
        elif not self.args.quiet and not self.args.table:
            print(self._probe_line(result, tally), file=self.stdout, flush=True)

    def _probe_line(self, result: Result, tally: _Counts) -> str:
        prefix = f"{result.host} : [{tally.sent - 1}]"
        average = "NaN" if tally.avg is None else _ms(tally.avg)
        so_far = f"({average} avg, {tally.loss_percent}% loss)"
        if result.ok and result.rtt is not None:
            size = self.args.size + 8
            return f"{prefix}, {size} bytes, {_ms(result.rtt)} ms {so_far}"
        if result.status.value == "timeout":
            return f"{prefix}, timed out {so_far}"
        detail = f" from {result.router}" if result.router else ""
        return f"{prefix}, {result.status}{detail} {so_far}"

    def progress(self, done: int, total: int, unit: str = "targets") -> None:
        """On a terminal, a long run shows how far it is, on one line of stderr."""
        if self.args.quiet or self.args.json or not self.stderr.isatty():
            return
        now = time.monotonic()
        if now - self.last_progress < PROGRESS_EVERY and done < total:
            return
        self.last_progress = now
        end = "\n" if done >= total else ""
        print(f"\rfastping: {done:,}/{total:,} {unit} done", end=end, file=self.stderr,
              flush=True)

    # summaries

    def summaries(self, tallies: dict[str, _Counts], duplicates: dict[str, int],
                  interval: bool) -> None:
        # One write for all of them: stderr is line-buffered, and 100,000 targets would
        # otherwise be 100,000 system calls.
        lines = [f"[{time.strftime('%H:%M:%S')}]"] if interval and not self.args.json else []
        for target in self.known:
            tally = tallies[target]
            if self.args.json:
                lines.append(json.dumps(
                    _summary_record(target, tally, duplicates.get(target, 0), interval)))
            elif self.settings.every_rtt and not interval:
                rtts = " ".join(["-" if rtt is None else _ms(rtt) for rtt in tally.rtts or []])
                lines.append(f"{target} : {rtts}")
            else:
                lines.append(_summary_line(target, tally, duplicates.get(target, 0)))
        stream = self.stdout if self.args.json else self.stderr
        # Signals wait until the block is out: a large write to a pipe that a handler
        # interrupts midway was seen to lose the rest of the block.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _Signals.HANDLED)
        try:
            stream.write("".join(line + "\n" for line in lines))
            stream.flush()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def interval_report(self, duplicates: dict[str, int]) -> None:
        """-Q or SIGQUIT: each target's counts since the last report, as fping's; duplicates
        are cumulative counts."""
        since_last = {target: count - self.reported_duplicates.get(target, 0)
                      for target, count in duplicates.items()}
        self.reported_duplicates = dict(duplicates)
        self.summaries(self.interval_tallies or self.tallies, since_last, interval=True)
        self.interval_tallies = {target: _Counts() for target in self.targets}

    def interim_due(self, next_report: float) -> bool:
        """Whether a -Q report is due, or a SIGQUIT asked for one."""
        if self.signals.snapshot:
            self.signals.snapshot = False
            return True
        return time.monotonic() >= next_report

    def alive(self, target: str) -> bool:
        return self.tallies[target].received > 0

    def final_stats(self) -> None:
        """fping's -s block."""
        known = self.known
        alive = sum(self.alive(target) for target in known)
        tallies = [self.tallies[target] for target in known]
        sent = sum(t.sent for t in tallies)
        received = sum(t.received for t in tallies)
        times = [t for tally in tallies for t in (tally.min, tally.max) if t is not None]
        total = sum(t.total for t in tallies)
        elapsed = time.monotonic() - self.started
        if self.args.json:
            self.emit({"type": "total", "targets": len(self.targets), "alive": alive,
                       "unreachable": len(known) - alive, "unknown": len(self.unknown),
                       "sent": sent, "received": received,
                       "duplicates": sum(self.duplicates.values()),
                       "min_ms": _json_ms(min(times)) if times else None,
                       "avg_ms": _json_ms(total / received) if received else None,
                       "max_ms": _json_ms(max(times)) if times else None,
                       "elapsed_s": round(elapsed, 6)})
            return
        rows = [
            (len(self.targets), "targets"), (alive, "alive"),
            (len(known) - alive, "unreachable"), (len(self.unknown), "unknown addresses"),
            None, (sent - received - sum(t.errors for t in tallies),
                   "timeouts (waiting for response)"),
            (sent, "ICMP Echos sent"), (received, "ICMP Echo Replies received"),
            (sum(t.errors for t in tallies), "other ICMP received"), None,
        ]
        for row in rows:
            print("" if row is None else f" {row[0]:7d} {row[1]}", file=self.stderr)
        if received:
            for value, name in ((min(times), "min"), (total / received, "avg"),
                                (max(times), "max")):
                print(f" {_ms(value)} ms ({name} round trip time)", file=self.stderr)
        print(f" {elapsed:12.3f} sec (elapsed real time)", file=self.stderr)

    def exit_status(self) -> int:
        if self.unknown:
            return EXIT_UNKNOWN
        return EXIT_ALIVE if all(self.alive(t) for t in self.known) else EXIT_UNREACHABLE


def _probe_record(result: Result, number: int) -> dict[str, object]:
    record: dict[str, object] = {
        "type": "reply" if result.ok else "loss", "host": result.host,
        "address": result.address, "seq": number, "time": round(time.time(), 6),
    }
    if result.ok:
        record.update(rtt_ms=_json_ms(result.rtt), ttl=result.ttl)
    else:
        record.update(status=str(result.status))
        if result.router is not None:
            record.update(router=result.router, icmp_type=result.icmp_type,
                          icmp_code=result.icmp_code)
        if result.errno is not None:
            record.update(errno=result.errno)
    return record


def _summary_line(target: str, tally: _Counts, duplicates: int) -> str:
    line = f"{target} : xmt/rcv/%loss = {tally.sent}/{tally.received}/{tally.loss_percent}%"
    if tally.min is not None and tally.avg is not None and tally.max is not None:
        line += f", min/avg/max = {_ms(tally.min)}/{_ms(tally.avg)}/{_ms(tally.max)}"
    if duplicates:
        line += f", {duplicates} duplicates"
    return line


def _summary_record(target: str, tally: _Counts, duplicates: int,
                    interval: bool) -> dict[str, object]:
    record: dict[str, object] = {
        "type": "summary", "host": target, "interval": interval, "sent": tally.sent,
        "received": tally.received, "duplicates": duplicates,
        "loss": (tally.sent - tally.received) / tally.sent if tally.sent else 0.0,
        "min_ms": _json_ms(tally.min), "avg_ms": _json_ms(tally.avg),
        "max_ms": _json_ms(tally.max), "stddev_ms": _json_ms(tally.stddev),
    }
    if tally.rtts is not None and not interval:
        record["rtts_ms"] = [_json_ms(rtt) for rtt in tally.rtts]
    return record


# ---- the three modes ----------------------------------------------------------------


class _EngineOptions(TypedDict):
    size: int
    ttl: int | None
    tos: int | None
    source: str | None
    interface: str | None
    family: int | None
    gap: float


def _engine_options(args: argparse.Namespace, settings: _Settings) -> _EngineOptions:
    return {"size": args.size, "ttl": args.ttl, "tos": args.tos, "source": args.src,
            "interface": args.iface, "family": args.family, "gap": settings.gap}


def _add_targets(owner: Pinger | Monitor, run: _Run, targets: list[str]) -> None:
    """Adds the targets, until a Ctrl-C: resolving names can take long."""
    run.signals.owner = owner
    for target in targets:
        if run.signals.finish:
            return
        try:
            owner.add(target)
        except (ValueError, socket.gaierror) as error:
            run.note_unknown(target, str(error))


def _sweep(run: _Run, options: _EngineOptions) -> None:
    """fping's default mode: each target until it answers, with retries and backoff."""
    settings, args = run.settings, run.args
    pending = run.targets
    alive: dict[str, Result] = {}
    attempts: dict[str, int] = {}
    for attempt in range(settings.retries + 1):
        timeout = min(settings.timeout * settings.backoff ** attempt, MAX_TIMEOUT)
        with Pinger(timeout=timeout, **options) as pinger:
            _add_targets(pinger, run, pending if attempt else run.targets)
            # A round of run() ends early at stop(), which is how a Ctrl-C ends it.
            rounds = pinger.run(1) if pinger.hosts and not run.signals.finish else iter(())
            results = next(rounds, {})
            run.signals.owner = None
        for target, result in results.items():
            attempts[target] = attempts.get(target, 0) + 1
            if result.ok:
                alive[target] = result
        pending = [target for target in results if target not in alive]
        run.progress(len(alive) + (0 if pending and attempt < settings.retries else
                                   len(pending)), len(run.known))
        if not pending or run.signals.finish:
            break
    for target in run.known:
        answer = alive.get(target)
        tally = run.tallies[target]
        # Every attempt was a probe sent; at most the last was answered.
        tally.sent += attempts.get(target, 1) - (answer is not None)
        if answer is not None:
            tally.add(answer)
        if args.json:
            run.emit({"type": "host", "host": target, "alive": answer is not None,
                      "rtt_ms": _json_ms(answer.rtt) if answer else None})
        elif args.alive or args.unreach:
            if (answer is not None) == args.alive:
                print(target, file=run.stdout)
        elif args.quiet:
            continue
        elif answer is None:
            print(f"{target} is unreachable", file=run.stdout)
        else:
            elapsed = f" ({_ms(answer.rtt)} ms)" if args.elapsed and answer.rtt else ""
            print(f"{target} is alive{elapsed}", file=run.stdout)


def _count(run: _Run, options: _EngineOptions) -> None:
    """-c / -C: a round to every target per period, count times."""
    settings, args = run.settings, run.args
    next_report = (time.monotonic() + settings.report_every
                   if settings.report_every else math.inf)
    # A reply is recorded as it comes only if it is shown as it comes (or timed for --plot);
    # otherwise the round's results are, all at once, and the engine never stops for Python.
    per_reply = args.json or args.plot is not None or not args.quiet
    with Pinger(timeout=settings.timeout, on_recv=run.record if per_reply else None,
                **options) as pinger:
        try:
            _add_targets(pinger, run, run.targets)
            if pinger.hosts and not run.signals.finish:
                for done, results in enumerate(pinger.run(settings.rounds, settings.period)):
                    for result in results.values():
                        if not (per_reply and result.ok):
                            run.record(result)
                    run.progress(done + 1, settings.rounds or 0, "rounds")
                    if run.interim_due(next_report):
                        run.interval_report(pinger.duplicates)
                        while next_report <= time.monotonic():
                            next_report += settings.report_every or math.inf
                    if run.signals.finish:  # a Ctrl-C before run() began: stop() was undone
                        break
        finally:
            run.signals.owner = None
            run.duplicates = pinger.duplicates


def _loop(run: _Run, options: _EngineOptions) -> None:
    """-l: a heartbeat, each target once per period on a phase of its own, until Ctrl-C."""
    settings, args = run.settings, run.args
    table = _LiveTable(run) if args.table and run.stdout.isatty() else None
    next_report = time.monotonic() + (settings.report_every or math.inf)
    # Quiet, with nothing to report before the end, the loop needs no Python per probe: the
    # engine keeps every count, and the summary is read from it at Ctrl-C.
    per_probe = not (args.quiet and settings.report_every is None and not args.json
                     and args.plot is None and table is None)
    from .monitor import Monitor  # only -l needs it: the other modes start faster without

    with Monitor(period=settings.period, timeout=min(settings.timeout, settings.period),
                 replies=per_probe, **options) as monitor:
        try:
            _add_targets(monitor, run, run.targets)
            if not monitor.hosts or run.signals.finish:
                return
            if not per_probe:
                _engine_loop(run, monitor)
                return
            for event in monitor.events():
                _loop_event(run, event)
                if run.interim_due(next_report):
                    run.interval_report({target: state.duplicates
                                         for target, state in monitor.states().items()})
                    next_report = time.monotonic() + (settings.report_every or math.inf)
                if table is not None:
                    table.draw(monitor)
                if run.signals.finish:  # a Ctrl-C before events() began: stop() was undone
                    break
        finally:
            run.signals.owner = None
            states = monitor.states()
            run.duplicates = {target: state.duplicates for target, state in states.items()}
            if not per_probe:
                for target, state in states.items():
                    run.tallies[target] = _Counts.of(state)


def _engine_loop(run: _Run, monitor: Monitor) -> None:
    """The quiet loop: the monitor runs on a thread of its own, with no Python per probe, and
    this one waits for signals; a SIGQUIT report covers the run so far (the engine's counts)."""
    monitor.start()
    try:
        while not run.signals.finish:
            time.sleep(SIGNAL_POLL)  # a signal's handler runs once this returns
            if run.signals.snapshot:
                run.signals.snapshot = False
                states = monitor.states()
                run.summaries({target: _Counts.of(state) for target, state in states.items()},
                              {target: state.duplicates for target, state in states.items()},
                              interval=True)
    finally:
        monitor.stop()
        monitor.join()


def _loop_event(run: _Run, event: MonitorEvent) -> None:
    if event.kind.value in ("reply", "loss"):
        run.record(event.result)
    elif run.args.json:
        run.emit({"type": "health", "host": event.host, "address": event.address,
                  "health": str(event.health), "previous": str(event.previous),
                  "time": round(event.time, 6)})


class _LiveTable:
    """A table of targets redrawn in place on a terminal, about once a second."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.next_draw = 0.0

    def draw(self, monitor: Monitor) -> None:
        now = time.monotonic()
        if now < self.next_draw:
            return
        self.next_draw = now + 1.0
        states = monitor.states()
        lines = [f"{'target':<40} {'state':<8} {'last ms':>9} {'loss':>6} {'sent':>8}"]
        for target, state in list(states.items())[:60]:
            last = "-" if state.last_rtt is None else _ms(state.last_rtt)
            lines.append(f"{target:<40} {state.health!s:<8} {last:>9} "
                         f"{state.loss * 100:5.1f}% {state.sent:>8}")
        self.run.stdout.write("\x1b[H\x1b[J" + "\n".join(lines) + "\n")
        self.run.stdout.flush()


def _check_plot(path: str) -> None:
    """UsageError without matplotlib, OSError if path cannot be written (and is left as it was)."""
    from . import plot

    try:
        plot.load_matplotlib()
    except plot.PlotError as error:
        raise UsageError(str(error)) from None
    existed = os.path.exists(path)
    with open(path, "ab"):
        pass
    if not existed:
        os.unlink(path)


# ---- the command ----------------------------------------------------------------------


class _Interrupted(BaseException):
    """SIGINT or SIGTERM while the targets were read (as KeyboardInterrupt, no Exception)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _Signals:
    """As fping: SIGINT (Ctrl-C) ends the run with its summaries, and so does SIGTERM; SIGQUIT
    (Ctrl-\\) asks for interim summaries and the run goes on.

    The handlers only set flags and stop the engine's owner (stop() is signal-safe): an
    exception raised mid-write would tear a line of output, and one raised in the final
    report would lose it. So once the report begins, further signals change nothing. Only
    while the targets are read (which may block, on stdin) do they interrupt at once.
    """

    HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)

    def __init__(self) -> None:
        self.reading = True
        self.finish = False
        self.snapshot = False
        self.owner: Pinger | Monitor | None = None  # what to stop; None once the run is over

    def install(self) -> dict[int, Any]:
        """Handles the signals, even one started ignored (fping does too, and `fastping -l &`
        in a script starts with SIGINT ignored); returns the handlers there were."""
        previous: dict[int, Any] = {}
        try:
            for signum in self.HANDLED:
                previous[signum] = signal.signal(signum, self._handle)
        except ValueError:
            pass  # run() called from a thread other than the main one: signals are not ours
        return previous

    def _handle(self, signum: int, _frame: object) -> None:
        if signum == signal.SIGQUIT:
            self.snapshot = True
            return
        if self.reading:
            raise _Interrupted(signum)
        self.finish = True
        if self.owner is not None:
            self.owner.stop()


def run(argv: Sequence[str] | None = None, stdout: TextIO = sys.stdout,
        stderr: TextIO = sys.stderr, stdin: TextIO = sys.stdin, *,
        restore_signals: bool = True) -> int:
    """The command, as a function: returns the exit status.

    It handles SIGINT, SIGTERM and SIGQUIT while it runs, and then puts back the handlers
    there were, unless restore_signals is False (main(), which ignores them until it exits).
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["plot"]:
        from . import plot

        return plot.main(arguments[1:], stdin=stdin, stderr=stderr)
    if arguments[:1] == ["exporter"]:
        # Imported only when asked for: it needs the optional prometheus_client.
        exporter = importlib.import_module(".exporter", __package__)
        status: int = exporter.main(arguments[1:])
        return status
    args = _parser().parse_args(arguments)
    signals = _Signals()
    previous = signals.install()
    try:
        return _command(args, signals, stdout, stderr, stdin)
    except _Interrupted as interrupted:
        # Before the targets were read there is nothing to report: the status a shell gives
        # a command the signal ended.
        return 128 + interrupted.signum
    finally:
        if restore_signals:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _command(args: argparse.Namespace, signals: _Signals, stdout: TextIO, stderr: TextIO,
             stdin: TextIO) -> int:
    try:
        settings = _settings(args)
        targets = _targets(args, stdin)
        options = _engine_options(args, settings)
        # Check every option now, without opening anything, so that a bad one is a usage
        # error, not a traceback.
        EngineOptions.check(timeout=settings.timeout, privileged=None, **options)
    except (UsageError, ValueError, TypeError) as error:
        print(f"fastping: {error}", file=stderr)
        return EXIT_USAGE
    if args.plot is not None:
        # Checked before the first probe, not after a run of -c 100000.
        try:
            _check_plot(args.plot)
        except UsageError as error:
            print(f"fastping: {error}", file=stderr)
            return EXIT_USAGE
        except OSError as error:
            print(f"fastping: cannot write {args.plot!r}: {error.strerror}", file=stderr)
            return EXIT_SYSTEM
    signals.reading = False
    signals.snapshot = False  # nothing to report yet
    state = _Run(args, settings, targets, stdout, stderr, signals)
    mode = _loop if args.loop else _count if settings.rounds is not None else _sweep
    try:
        mode(state, options)
    except OSError as error:
        print(f"fastping: {error.strerror or error}", file=stderr)
        return EXIT_SYSTEM
    if mode is not _sweep:
        state.summaries(state.tallies, state.duplicates, interval=False)
    # (In JSON, the per-target summary records say who answered.)
    if (args.alive or args.unreach) and mode is not _sweep and not args.json:
        for target in state.known:
            if state.alive(target) == args.alive:
                print(target, file=stdout)
    if args.stats or args.json:
        state.final_stats()
    if state.plotted:
        from . import plot

        try:
            plot.draw(state.plotted, args.plot)
        except plot.PlotError as error:
            print(f"fastping: {error}", file=stderr)
            return EXIT_USAGE
        except OSError as error:
            print(f"fastping: cannot write {args.plot!r}: {error.strerror}", file=stderr)
            return EXIT_SYSTEM
    return state.exit_status()


def main() -> NoReturn:
    status = run(restore_signals=False)
    # Python puts its own handlers' signals back to the default as it shuts down: ignored
    # instead, a late Ctrl-C cannot kill the process between its report and its exit status.
    for signum in _Signals.HANDLED:
        signal.signal(signum, signal.SIG_IGN)
    sys.exit(status)
