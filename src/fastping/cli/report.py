"""One invocation's targets and what it reports of them, as fping does: per-probe lines,
warnings, progress, summaries, the -s block and the exit status; as fping's text, fping's
JSON (-J) or fastping's own JSON (--json). Every count is the engine's (a Tally per target)."""

from __future__ import annotations

import os
import time

from .. import _engine, _results
from .._results import Tally
from .._typing_lite import TYPE_CHECKING
from ..pinger import Pinger
from . import fping_formats as text
from .signals import Signals
from .tallies import totals

if TYPE_CHECKING:
    import argparse
    import signal
    from array import array
    from collections.abc import Mapping
    from typing import TextIO

    from .._results import Result
    from ..monitor import Monitor
    from ..plot import HostSeries
    from .arguments import Settings
else:
    import _signal as signal  # not signal.py: see cli/__init__

NO_PROBES = Tally()


def _dumps(record: object) -> str:
    """A record as one JSON line. json loads with the first: only --json writes any, and it
    would cost every other start 2 ms."""
    import json

    return json.dumps(record)


EXIT_ALIVE, EXIT_UNREACHABLE, EXIT_UNKNOWN = 0, 1, 2
PROGRESS_EVERY = 0.2  # seconds between progress lines on a terminal


class Run:
    """Everything one invocation reports: its targets, output streams and format."""

    def __init__(self, args: argparse.Namespace, settings: Settings, targets: list[str],
                 stdout: TextIO, stderr: TextIO, signals: Signals) -> None:
        self.args = args
        self.settings = settings
        self.targets = targets
        self.stdout = stdout
        self.stderr = stderr
        # Each target probed, by its key in the engine (its name, or with -m an address):
        # how it is shown, and the name it was given.
        self.names: dict[str, str] = {}
        self.given: dict[str, str] = {}  # (only where it is not the key)
        self.width = 0  # bytes of the longest name shown: fping pads to it
        self.unknown: dict[str, str] = {}  # names that did not resolve, and why
        # Each target's counts are the engine's: read from the counter (the mode's Pinger or
        # Monitor) while the run goes on, kept in tallies once it is over.
        self.counter: Pinger | Monitor | None = None
        self.tallies: dict[str, Tally] = {}
        self.answered_count: int | None = None  # kept in place of tallies, if that is all
        self.marked: dict[str, Tally] = {}  # at the last interval report
        self.shown: dict[str, int] = {}  # outcomes seen per target: each line's [number]
        self.answered: set[str] = set()  # a sweep's targets that answered
        # With -C: every probe's RTT (None for a loss), in order, per target; or, quiet (see
        # rtts_only), each round's RTTs as the engine keeps them (NaN for a loss), a column
        # of doubles a round, each target's at its index in rtt_indexes.
        self.rtts: dict[str, list[float | None]] | None = {} if settings.every_rtt else None
        self.rtt_columns: list[array[float]] = []
        self.rtt_indexes: Mapping[str, int] = {}
        self.signals = signals
        self.snapshot_report = False  # the report due is SIGQUIT's
        self.netdata_started = False
        self.started = time.monotonic()
        self.last_progress = 0.0
        # With --plot: every probe, for the chart.
        self.plotted: dict[str, HostSeries] | None = {} if args.plot is not None else None

    @property
    def known(self) -> list[str]:
        return list(self.names)

    @property
    def outage_period(self) -> float | None:
        return self.settings.period if self.args.outage else None

    def add_name(self, key: str, given: str, shown: str) -> None:
        self.names[key] = shown
        if given != key:
            self.given[key] = given
        self.width = max(self.width, text.byte_length(shown))

    def add_literals(self, literals: list[str]) -> None:
        """add_name() for IPv4 literals, each its own key and shown as given (ASCII: as
        many bytes as characters); one already there stays where it is."""
        self.names.update(zip(literals, literals, strict=True))
        self.width = max(self.width, max(map(len, literals)))

    def emit(self, record: dict[str, object]) -> None:
        print(_dumps(record), file=self.stdout, flush=True)

    def note_unknown(self, name: str, error: str) -> None:
        self.unknown[name] = error
        if self.args.json:
            from . import records  # only --json writes records: loaded by the first
            self.emit(records.unknown(name, error))
        elif not self.settings.quiet:
            print(f"{name}: {error}", file=self.stderr)

    def _padded(self, key: str) -> str:
        return text.pad(self.names[key], self.width)

    # per probe

    @property
    def wants_results(self) -> bool:
        """Whether each probe's outcome is needed here (shown, warned of, or kept for -C or a
        chart); if not, the engine counts it and nothing else happens per probe."""
        return (self.rtts is not None or self.plotted is not None or self.args.json
                or (self.settings.per_probe and not self.args.table)
                or not self.settings.quiet)

    @property
    def rtts_only(self) -> bool:
        """Whether -C's RTTs are all a probe's outcome is needed for, to print as fping's
        text (quiet, no chart, no JSON): the rounds' columns are kept (rtt_columns), with
        no Result made a target, in place of record()'s lists."""
        return (self.rtts is not None and self.plotted is None and not self.args.json
                and not self.args.J and self.settings.quiet and not self.settings.per_probe)

    def record(self, result: Result) -> None:
        """Reports one probe outcome of -c/-C/-l or keeps what -C and --plot need of it (the
        engine has counted it)."""
        key = result.host
        number = self.shown.get(key, 0)
        self.shown[key] = number + 1
        rtt = result.rtt if result.ok else None
        if self.rtts is not None:
            self.rtts.setdefault(key, []).append(rtt)
        if self.plotted is not None:
            series = self.plotted.get(key)
            if series is None:
                from ..plot import HostSeries  # only --plot needs the plot module

                series = self.plotted[key] = HostSeries()
            series.probes.append((time.time(), rtt))
        if self.args.json:
            from . import records
            self.emit(records.probe(result, number))
            return
        if not result.ok:
            self.warn(result)
        # (fping prints nothing for a probe it could not send: it never times out.)
        if (self.settings.per_probe and not self.args.table
                and result.status is not _results.Status.SEND_ERROR):
            print(self._probe_line(result, number), file=self.stdout, flush=True)

    def _probe_line(self, result: Result, number: int) -> str:
        """fping's line for a probe's outcome (its number-th), as text or -J's JSON."""
        key, stamp = result.host, self.settings.timestamps
        size = self.settings.size if result.timestamps is None else text.TIMESTAMP_PAYLOAD
        if self.args.J:
            name = self.names.get(key, key)
            from . import fping_json  # only -J writes fping's JSON
            if result.ok:
                return fping_json.reply(name, number, size, result, stamp, self.args)
            return fping_json.timeout(name, number, stamp)
        # The average and loss so far: the engine has counted this outcome already.
        tally = NO_PROBES if self.counter is None else self.counter.tally(key)
        return self.probe_text(result, number, self._padded(key), tally)

    def probe_text(self, result: Result, number: int, padded: str, tally: Tally) -> str:
        """fping's text line for a probe's outcome, the number-th to its target (whose name
        comes padded), with the target's tally so far."""
        if result.ok and result.rtt is not None:
            size = self.settings.size if result.timestamps is None else text.TIMESTAMP_PAYLOAD
            line = text.reply_line(padded, number, size, result.rtt, tally)
            args = self.args
            if (result.timestamps is not None or args.print_reply_dst or args.print_tos
                    or args.print_ttl):  # (-l: a line a probe)
                line += text.extras(result, args, elapsed=False, comma=True)
        else:
            line = text.timeout_line(padded, number, tally)
        if self.settings.timestamps is not None:
            line = text.timestamp(self.settings.timestamps, time.time()) + line
        return line

    def warn(self, result: Result) -> None:
        """fping's warning on stderr for an ICMP error (but with -q or -Q), or in a sweep's
        default output for a probe that could not be sent."""
        if self.settings.quiet or self.args.json:
            return
        name = self.names.get(result.host, result.host)
        warning = text.icmp_warning(result, name)
        if warning is None and result.errno is not None and self.settings.verbose:
            warning = f"{name}: error while sending ping: {os.strerror(result.errno)}"
        if warning is not None:
            print(warning, file=self.stderr, flush=True)

    def sweep_reply(self, result: Result) -> None:
        """A sweep's target answered (its first reply): its line, as it comes."""
        key, settings = result.host, self.settings
        if key in self.answered:
            return
        self.answered.add(key)
        if not self.args.json and (settings.verbose or settings.alive_only):
            alive = " is alive" if settings.verbose else ""
            print(self.names.get(key, key) + alive
                  + text.extras(result, self.args, self.args.elapsed,
                                comma=not settings.alive_only),
                  file=self.stdout, flush=True)
        if (settings.fast_reachable and len(self.answered) >= settings.min_reachable
                and self.counter is not None):
            self.counter.stop()

    def finish_counting(self, counter: Pinger | Monitor) -> None:
        """The mode's engine is done: every target's counts are read from it, to report; or,
        when all that is reported of them is who answered (a quiet -C's exit status), how
        many answered."""
        self.signals.owner = None
        self.counter = None
        if counter.closed:
            return
        if self.rtts_only and not self.args.stats and isinstance(counter, Pinger):
            self.answered_count = counter._answered()
        else:
            self.tallies.update(counter.tallies())

    def progress(self, done: int, total: int, unit: str = "targets", detail: str = "") -> None:
        """On a terminal, a long run shows how far it is, on one line of stderr (with detail
        after it, if any: it moves while the count does not)."""
        if self.settings.quiet or self.args.json or not self.stderr.isatty():
            return
        now = time.monotonic()
        if now - self.last_progress < PROGRESS_EVERY and done < total and not detail:
            return
        self.last_progress = now
        end = "\n" if done >= total else ""
        detail = f" ({detail})" if detail else ""
        # Cleared to the end of the line: a shorter line leaves none of the last behind.
        print(f"\rfastping: {done:,}/{total:,} {unit} done{detail}\x1b[K", end=end,
              file=self.stderr, flush=True)

    # summaries

    def write_lines(self, stream: TextIO, lines: list[str]) -> None:
        self.write_text(stream, "".join(line + "\n" for line in lines))

    def write_text(self, stream: TextIO, lines: str) -> None:
        # One write for all of them: stderr is line-buffered, and 100,000 targets would
        # otherwise be 100,000 system calls. Signals wait until the block is out: a large
        # write to a pipe that a handler interrupts midway was seen to lose the rest.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, Signals.HANDLED)
        try:
            stream.write(lines)
            stream.flush()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def summaries(self, tallies: dict[str, Tally], interval: bool) -> None:
        """-c/-C/-l's summaries at the end, or an interval's (-Q, SIGQUIT)."""
        args, outage = self.args, self.outage_period
        every_rtt = None if interval else self.rtts
        lines: list[str] = []
        if args.json:
            from . import records

            for key in self.known:
                rtts = None if every_rtt is None else every_rtt.get(key, [])
                lines.append(_dumps(records.summary(key, tallies.get(key, NO_PROBES),
                                                        interval, rtts)))
            self.write_lines(self.stdout, lines)
            return
        if args.J:
            from . import fping_json

            for key in self.known:
                name, tally = self.names[key], tallies.get(key, NO_PROBES)
                if every_rtt is not None:
                    lines.append(fping_json.every_rtt(name, every_rtt.get(key, [])))
                elif interval:
                    lines.append(fping_json.interval(name, tally, outage))
                else:
                    lines.append(fping_json.summary(name, tally, outage))
            self.write_lines(self.stdout, lines)
            return
        if self.settings.per_probe or self.settings.verbose:
            lines.append("")
        if interval:
            lines.append(time.strftime("[%H:%M:%S]"))
        width, pad = self.width, text.pad
        if every_rtt is not None and self.rtts_only:
            self.write_text(self.stderr, "".join(line + "\n" for line in lines)
                            + _engine.fping_rtt_lines(self.names, self.rtt_indexes, width,
                                                      self.rtt_columns))
            return
        if every_rtt is not None:  # (a comprehension: -C over 100,000 targets)
            lines += [text.rtts_line(pad(name, width), every_rtt.get(key, []))
                      for key, name in self.names.items()]
            self.write_lines(self.stderr, lines)
            return
        self.write_text(self.stderr, "".join(line + "\n" for line in lines)
                        + _engine.fping_summary_lines(self.names, tallies, width, outage))

    def interval_report(self, tallies: dict[str, Tally]) -> None:
        """-Q or SIGQUIT: each target's counts since the last report (or with ,cumulative
        since the start), as fping's. tallies are the engine's, read with a mark (so their
        spans start again)."""
        marked, self.marked = self.marked, tallies
        snapshot, self.snapshot_report = self.snapshot_report, False
        if not self.settings.cumulative:
            tallies = {key: tally.since(marked.get(key, NO_PROBES))
                       for key, tally in tallies.items()}
        if self.args.netdata and not snapshot and not (self.args.json or self.args.J):
            lines: list[str] = []
            for key in self.known:
                netdata_key = "".join(c if c.isalnum() else "_"
                                      for c in self.given.get(key, key))
                lines += text.netdata(netdata_key, self.names[key],
                                      tallies.get(key, NO_PROBES),
                                      self.settings.report_every or 0.0,
                                      not self.netdata_started)
            self.netdata_started = True
            self.write_lines(self.stdout, lines)
            return
        self.summaries(tallies, interval=True)

    def interim_due(self, next_report: float) -> bool:
        """Whether a -Q report is due, or a SIGQUIT asked for one."""
        if self.signals.snapshot:
            self.signals.snapshot = False
            self.snapshot_report = True
            return True
        return time.monotonic() >= next_report

    def alive(self, key: str) -> bool:
        return self.tallies.get(key, NO_PROBES).received > 0

    def unreachable_lines(self) -> None:
        """A sweep's end: the targets that never answered, in order."""
        if self.args.json or not (self.settings.verbose or self.settings.unreach_only):
            return
        suffix = " is unreachable" if self.settings.verbose else ""
        lines = [self.names[key] + suffix for key in self.known if not self.alive(key)]
        self.write_lines(self.stdout, lines)

    def final_stats(self) -> None:
        """fping's -s block (-J: its stats record; --json: the total record)."""
        run_totals = totals([self.tallies.get(key, NO_PROBES) for key in self.known],
                            len(self.unknown), time.monotonic() - self.started)
        if self.args.json:
            from . import records

            self.emit(records.total(run_totals))
        elif self.args.J:
            from . import fping_json

            print(fping_json.stats(run_totals), file=self.stdout, flush=True)
        else:
            self.write_lines(self.stderr, text.stats_block(run_totals))

    def reachable(self) -> int:
        """How many targets answered (each is its own host in the engine)."""
        if self.answered_count is not None:
            return self.answered_count
        return sum(self.alive(key) for key in self.known)

    def exit_status(self) -> int:
        required = self.settings.min_reachable
        if required:
            print(text.reachable_line(required, self.reachable()), file=self.stdout,
                  flush=True)
            return EXIT_ALIVE if self.reachable() >= required else EXIT_UNREACHABLE
        if self.unknown:
            return EXIT_UNKNOWN
        return EXIT_ALIVE if self.reachable() == len(self.names) else EXIT_UNREACHABLE
