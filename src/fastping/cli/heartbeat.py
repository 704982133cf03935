"""The command's loop mode (-l), a module of its own: only it needs the Monitor, and the
other modes start faster without loading it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator
from contextlib import closing

from .. import _engine
from .._monitor_records import monitor_events
from .._results import Status
from .._typing_lite import TYPE_CHECKING
from ..monitor import Monitor
from . import fping_formats as text
from . import records
from .hosts import add_targets
from .modes import SIGNAL_POLL
from .table import LiveTable

if TYPE_CHECKING:
    from .._common import EngineKeywords
    from .._results import Event, Tally
    from ..monitor import MonitorEvent
    from .report import Run


class _IntervalMonitor(Monitor):
    """The loop's Monitor: its engine also keeps each target's RTT extremes since the last
    interval report (-Q, SIGQUIT)."""

    _spans = True

    def marked_tallies(self) -> dict[str, Tally]:
        """Every target's tally, then a mark: in one step on the engine's thread."""
        def read() -> dict[str, Tally]:
            tallies = self._read_tallies()
            self._live_engine().track_mark()
            return tallies

        return self._call(read)

    def turns(self) -> Generator[tuple[list[Event], Callable[[int], Tally]], None, None]:
        """Run the loop in this thread, as events() does, but a turn at a time: its engine
        events as they are (fping's lines need no MonitorEvent), and a reader of a host's
        tally by its index. A turn with no events is yielded too (a -Q report may be due),
        but for the last."""
        for _ in self._turns(None):
            events = self._turn(None)
            if events or not self._stop_requested:
                yield events, self._live_engine().track_tally


def loop(run: Run, options: EngineKeywords) -> None:
    """-l (see modes.loop)."""
    settings, args = run.settings, run.args
    table = LiveTable(run.stdout, run.unknown) if args.table and run.stdout.isatty() else None
    # With nothing to show or keep per probe, the loop needs no Python per probe: the engine
    # keeps every count, and the reports read them from it.
    per_probe = run.wants_results or table is not None
    with _IntervalMonitor(period=settings.period, timeout=min(settings.timeout, settings.period),
                          replies=per_probe, **options) as monitor:
        run.counter = monitor
        try:
            add_targets(monitor, run, run.targets)
            if not monitor.hosts or run.signals.finish:
                return
            if not per_probe:
                _engine_loop(run, monitor)
                return
            lines = _ProbeLines(run) if _only_lines(run) else None
            next_report = time.monotonic() + (settings.report_every or math.inf)
            with closing(monitor.turns()) as turns:
                for events, tally in turns:
                    if lines is not None:
                        lines.write(events, tally)
                    else:
                        for event in monitor_events(events, time.time()):
                            _loop_event(run, event)
                    if run.interim_due(next_report):
                        run.interval_report(monitor.marked_tallies())
                        next_report = time.monotonic() + (settings.report_every or math.inf)
                    if table is not None:
                        table.draw(monitor)
                    if run.signals.finish:  # a Ctrl-C before the loop began: stop() was undone
                        break
        finally:
            if table is not None:
                table.close()
            run.finish_counting(monitor)


def _engine_loop(run: Run, monitor: _IntervalMonitor) -> None:
    """The quiet loop: the monitor runs on a thread of its own, with no Python per probe, and
    this one waits for signals and reports' times; a report reads the engine's counts."""
    every = run.settings.report_every
    next_report = time.monotonic() + (every or math.inf)
    monitor.start()
    try:
        while not run.signals.finish:
            # A signal's handler runs once this returns.
            time.sleep(max(0.0, min(SIGNAL_POLL, next_report - time.monotonic())))
            if run.interim_due(next_report):
                run.interval_report(monitor.marked_tallies())
                while next_report <= time.monotonic():
                    next_report += every or math.inf
    finally:
        monitor.stop()
        monitor.join()


def _loop_event(run: Run, event: MonitorEvent) -> None:
    if event.kind.value in ("reply", "loss"):
        run.record(event.result)
    elif run.args.json:
        run.emit(records.health(event))


def _only_lines(run: Run) -> bool:
    """Whether all the loop shows of a probe is fping's text line (and its warning)."""
    return (run.settings.per_probe and not (run.args.json or run.args.J or run.args.table)
            and run.rtts is None and run.plotted is None)


class _ProbeLines:
    """Run.record's text lines for a loop, made cheaper a turn of the engine at a time: no
    MonitorEvent, each target's padded name made once, its tally read by index, and the
    turn's lines in one write (fping flushes each line, even to a pipe; a turn is at most
    the send slack's milliseconds of them)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.padded: dict[str, str] = {}
        self.width = run.width

    def write(self, events: list[Event], tally: Callable[[int], Tally]) -> None:
        run, shown, padded = self.run, self.run.shown, self.padded
        settings = run.settings
        if self.width != run.width:  # a target added since: fping pads to the longest
            padded.clear()
            self.width = run.width
        lines: list[str] = []
        for event in events:
            result = event.result
            if event.kind in _NOT_PROBES or result is None:
                continue
            key = result.host
            number = shown.get(key, 0)
            shown[key] = number + 1
            name = padded.get(key) or self._pad(key)
            if not result.ok:
                if not settings.quiet:  # its warning on stderr before its line
                    self._flush(lines)
                    run.warn(result)
                if result.status is Status.SEND_ERROR:
                    continue  # (fping prints nothing for a probe it could not send)
            lines.append(run.probe_text(result, number, name, tally(event.host_index)))
        self._flush(lines)

    def _pad(self, key: str) -> str:
        padded = self.padded[key] = text.pad(self.run.names.get(key, key), self.width)
        return padded

    def _flush(self, lines: list[str]) -> None:
        if lines:
            self.run.write_lines(self.run.stdout, lines)  # signals held, as a summary
            lines.clear()


_NOT_PROBES = (_engine.DUPLICATE, _engine.HEALTH)
