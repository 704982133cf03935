"""One invocation's tallies and what it reports of them: probes, progress, summaries, the
-s block and the exit status, as text or as JSON records."""

from __future__ import annotations

import json
import signal
import time
from typing import TYPE_CHECKING, TextIO

from . import output, records
from .signals import Signals
from .tallies import Counts, Totals

if TYPE_CHECKING:
    import argparse

    from .._results import Result
    from ..plot import HostSeries
    from .arguments import Settings

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
        every_rtt = settings.every_rtt
        self.tallies = {target: Counts(rtts=[] if every_rtt else None) for target in targets}
        # Counts since the last interim report: kept from the start with -Q, else only from a
        # first SIGQUIT on (whose report, the first, covers the run so far: the tallies).
        self.interval_tallies: dict[str, Counts] = (
            {target: Counts() for target in targets} if settings.report_every is not None
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
            self.emit(records.unknown(target, error))
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
                from ..plot import HostSeries  # only --plot needs the plot module

                series = self.plotted[result.host] = HostSeries()
            series.probes.append((time.time(), result.rtt if result.ok else None))
        if self.args.json:
            self.emit(records.probe(result, tally.sent - 1))
        elif not self.args.quiet and not self.args.table:
            print(output.probe_line(result, tally, self.args.size), file=self.stdout,
                  flush=True)

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

    def summaries(self, tallies: dict[str, Counts], duplicates: dict[str, int],
                  interval: bool) -> None:
        # One write for all of them: stderr is line-buffered, and 100,000 targets would
        # otherwise be 100,000 system calls.
        lines = [f"[{time.strftime('%H:%M:%S')}]"] if interval and not self.args.json else []
        for target in self.known:
            tally = tallies[target]
            if self.args.json:
                lines.append(json.dumps(
                    records.summary(target, tally, duplicates.get(target, 0), interval)))
            elif self.settings.every_rtt and not interval:
                lines.append(output.rtts_line(target, tally))
            else:
                lines.append(output.summary_line(target, tally, duplicates.get(target, 0)))
        stream = self.stdout if self.args.json else self.stderr
        # Signals wait until the block is out: a large write to a pipe that a handler
        # interrupts midway was seen to lose the rest of the block.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, Signals.HANDLED)
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
        self.interval_tallies = {target: Counts() for target in self.targets}

    def interim_due(self, next_report: float) -> bool:
        """Whether a -Q report is due, or a SIGQUIT asked for one."""
        if self.signals.snapshot:
            self.signals.snapshot = False
            return True
        return time.monotonic() >= next_report

    def alive(self, target: str) -> bool:
        return self.tallies[target].received > 0

    def final_stats(self) -> None:
        """fping's -s block, or with --json the total record."""
        known = self.known
        alive = sum(self.alive(target) for target in known)
        tallies = [self.tallies[target] for target in known]
        totals = Totals(
            targets=len(self.targets), alive=alive, unreachable=len(known) - alive,
            unknown=len(self.unknown), sent=sum(t.sent for t in tallies),
            received=sum(t.received for t in tallies), errors=sum(t.errors for t in tallies),
            duplicates=sum(self.duplicates.values()),
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
