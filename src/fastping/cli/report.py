"""One invocation's tallies and what it reports of them: probes, progress, summaries, the
-s block and the exit status, as text or as JSON records."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING, TextIO

from .._results import Tally
from . import output, records
from .signals import Signals
from .tallies import Totals

if TYPE_CHECKING:
    import argparse

    from .._results import Result
    from ..monitor import Monitor
    from ..pinger import Pinger
    from ..plot import HostSeries
    from .arguments import Settings

NO_PROBES = Tally()


def _dumps(record: object) -> str:
    """A record as one JSON line. json loads with the first: only --json writes any, and it
    would cost every other start 2 ms."""
    import json

    return json.dumps(record)

EXIT_ALIVE, EXIT_UNREACHABLE, EXIT_UNKNOWN = 0, 1, 2
PROGRESS_EVERY = 0.2  # seconds between progress lines on a terminal


class Run:
    """Everything one invocation reports: per-target tallies, output streams and format."""

    def __init__(self, args: argparse.Namespace, settings: Settings, targets: list[str],
                 stdout: TextIO, stderr: TextIO, signals: Signals) -> None:
        self.args = args
        self.settings = settings
        self.targets = targets
        self.stdout = stdout
        self.stderr = stderr
        self.unknown: dict[str, str] = {}
        # Each target's counts are the engine's: read from the counter (the mode's Pinger or
        # Monitor) while the run goes on, kept in tallies once it is over (a target never
        # added has none).
        self.counter: Pinger | Monitor | None = None
        self.tallies: dict[str, Tally] = {}
        self.marked: dict[str, Tally] = {}  # at the last interval report
        self.shown: dict[str, int] = {}  # outcomes shown per target: each line's [number]
        # With -C: every probe's RTT (None for a loss), in order, per target.
        self.rtts: dict[str, list[float | None]] | None = (
            {target: [] for target in targets} if settings.every_rtt else None)
        self.signals = signals
        self.started = time.monotonic()
        self.last_progress = 0.0
        # With --plot: every probe, for the chart.
        self.plotted: dict[str, HostSeries] | None = {} if args.plot is not None else None

    @property
    def known(self) -> list[str]:
        return [target for target in self.targets if target not in self.unknown]

    def emit(self, record: dict[str, object]) -> None:
        print(_dumps(record), file=self.stdout, flush=True)

    def note_unknown(self, target: str, error: str) -> None:
        self.unknown[target] = error
        if self.args.json:
            self.emit(records.unknown(target, error))
        else:
            print(f"{target}: {error}", file=self.stderr)

    # per probe

    @property
    def wants_results(self) -> bool:
        """Whether each probe's outcome is needed here (shown, or kept for -C or a chart);
        if not, the engine counts it and nothing else happens per probe."""
        return (self.rtts is not None or self.plotted is not None or self.args.json
                or not (self.args.quiet or self.args.table))

    def record(self, result: Result) -> None:
        """Reports one probe outcome or keeps what -C and --plot need of it (the engine has
        counted it)."""
        host = result.host
        number = self.shown.get(host, 0)
        self.shown[host] = number + 1
        rtt = result.rtt if result.ok else None
        if self.rtts is not None:
            self.rtts[host].append(rtt)
        if self.plotted is not None:
            series = self.plotted.get(host)
            if series is None:
                from ..plot import HostSeries  # only --plot needs the plot module

                series = self.plotted[host] = HostSeries()
            series.probes.append((time.time(), rtt))
        if self.args.json:
            self.emit(records.probe(result, number))
        elif not self.args.quiet and not self.args.table:
            tally = NO_PROBES if self.counter is None else self.counter.tally(host)
            print(output.probe_line(result, tally, number, self.args.size), file=self.stdout,
                  flush=True)

    def finish_counting(self, counter: Pinger | Monitor) -> None:
        """The mode's engine is done: every target's counts are read from it, to report."""
        self.signals.owner = None
        self.counter = None
        if not counter.closed:
            self.tallies.update(counter.tallies())

    def progress(self, done: int, total: int, unit: str = "targets", detail: str = "") -> None:
        """On a terminal, a long run shows how far it is, on one line of stderr (with detail
        after it, if any: it moves while the count does not)."""
        if self.args.quiet or self.args.json or not self.stderr.isatty():
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

    def summaries(self, tallies: dict[str, Tally], interval: bool) -> None:
        # One write for all of them: stderr is line-buffered, and 100,000 targets would
        # otherwise be 100,000 system calls.
        lines = [f"[{time.strftime('%H:%M:%S')}]"] if interval and not self.args.json else []
        every_rtt = None if interval else self.rtts
        for target in self.known:
            tally = tallies.get(target, NO_PROBES)
            if self.args.json:
                rtts = None if every_rtt is None else every_rtt[target]
                lines.append(_dumps(records.summary(target, tally, interval, rtts)))
            elif every_rtt is not None:
                lines.append(output.rtts_line(target, every_rtt[target]))
            else:
                lines.append(output.summary_line(target, tally))
        stream = self.stdout if self.args.json else self.stderr
        # Signals wait until the block is out: a large write to a pipe that a handler
        # interrupts midway was seen to lose the rest of the block.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, Signals.HANDLED)
        try:
            stream.write("".join(line + "\n" for line in lines))
            stream.flush()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def interval_report(self, tallies: dict[str, Tally]) -> None:
        """-Q or SIGQUIT: each target's counts since the last report, as fping's. tallies are
        the engine's, read with a mark (so their spans start again)."""
        marked, self.marked = self.marked, tallies
        self.summaries({target: tally.since(marked.get(target, NO_PROBES))
                        for target, tally in tallies.items()}, interval=True)

    def interim_due(self, next_report: float) -> bool:
        """Whether a -Q report is due, or a SIGQUIT asked for one."""
        if self.signals.snapshot:
            self.signals.snapshot = False
            return True
        return time.monotonic() >= next_report

    def alive(self, target: str) -> bool:
        return self.tallies.get(target, NO_PROBES).received > 0

    def final_stats(self) -> None:
        """fping's -s block, or with --json the total record."""
        known = self.known
        alive = sum(self.alive(target) for target in known)
        tallies = [self.tallies.get(target, NO_PROBES) for target in known]
        totals = Totals(
            targets=len(self.targets), alive=alive, unreachable=len(known) - alive,
            unknown=len(self.unknown), sent=sum(t.sent for t in tallies),
            received=sum(t.received for t in tallies), errors=sum(t.errors for t in tallies),
            duplicates=sum(t.duplicates for t in tallies),
            times=[t for tally in tallies for t in (tally.min, tally.max) if t is not None],
            total=sum(t.total for t in tallies), elapsed=time.monotonic() - self.started)
        if self.args.json:
            self.emit(records.total(totals))
            return
        for line in output.stats_block(totals):
            print(line, file=self.stderr)

    def exit_status(self) -> int:
        if self.unknown:
            return EXIT_UNKNOWN
        return EXIT_ALIVE if all(self.alive(t) for t in self.known) else EXIT_UNREACHABLE
