"""The command's loop mode (-l), a module of its own: only it needs the Monitor, and the
other modes start faster without loading it."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from ..monitor import Monitor
from . import records
from .hosts import add_targets
from .modes import SIGNAL_POLL
from .table import LiveTable

if TYPE_CHECKING:
    from .._common import EngineKeywords
    from .._results import Tally
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
            next_report = time.monotonic() + (settings.report_every or math.inf)
            for event in monitor.events():
                _loop_event(run, event)
                if run.interim_due(next_report):
                    run.interval_report(monitor.marked_tallies())
                    next_report = time.monotonic() + (settings.report_every or math.inf)
                if table is not None:
                    table.draw(monitor)
                if run.signals.finish:  # a Ctrl-C before events() began: stop() was undone
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
