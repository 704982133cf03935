"""The command's three modes, as fping's: a sweep (each target until it answers), counts
(-c/-C: rounds to every target) and a loop (-l: a heartbeat until Ctrl-C)."""

from __future__ import annotations

import math
import socket
import time
from typing import TYPE_CHECKING

from .._common import MAX_TIMEOUT
from ..pinger import Pinger
from . import records
from .output import LiveTable, sweep_line
from .tallies import Counts

if TYPE_CHECKING:
    from .._common import EngineKeywords
    from .._results import Result
    from ..monitor import Monitor, MonitorEvent
    from .report import Run

SIGNAL_POLL = 0.2  # seconds: how soon the quiet loop acts on a signal


def add_targets(owner: Pinger | Monitor, run: Run, targets: list[str]) -> None:
    """Adds the targets, until a Ctrl-C: resolving names can take long."""
    run.signals.owner = owner
    for target in targets:
        if run.signals.finish:
            return
        try:
            owner.add(target)
        except (ValueError, socket.gaierror) as error:
            run.note_unknown(target, str(error))
def sweep(run: Run, options: EngineKeywords) -> None:
    """fping's default mode: each target until it answers, with retries and backoff."""
    settings, args = run.settings, run.args
    alive: dict[str, Result] = {}
    attempts: dict[str, int] = {}
    # One engine for every attempt, each name resolved once: a target that answers leaves it,
    # and each retry's round waits backoff times longer than the one before.
    with Pinger(timeout=settings.timeout, **options) as pinger:
        add_targets(pinger, run, run.targets)
        for attempt in range(settings.retries + 1):
            if not pinger.hosts or run.signals.finish:
                break
            timeout = min(settings.timeout * settings.backoff ** attempt, MAX_TIMEOUT)
            # A round of run() ends early at stop(), which is how a Ctrl-C ends it.
            results = next(pinger.run(1, timeout=timeout), {})
            for target, result in results.items():
                attempts[target] = attempts.get(target, 0) + 1
                if result.ok:
                    alive[target] = result
                    pinger.remove(target)
            pending = len(pinger.hosts)
            run.progress(len(alive) + (0 if pending and attempt < settings.retries else
                                       pending), len(run.known))
        run.signals.owner = None
    for target in run.known:
        answer = alive.get(target)
        tally = run.tallies[target]
        # Every attempt was a probe sent; at most the last was answered.
        tally.sent += attempts.get(target, 1) - (answer is not None)
        if answer is not None:
            tally.add(answer)
        if args.json:
            run.emit(records.host(target, answer))
        elif args.alive or args.unreach:
            if (answer is not None) == args.alive:
                print(target, file=run.stdout)
        elif not args.quiet:
            print(sweep_line(target, answer, args.elapsed), file=run.stdout)


def count(run: Run, options: EngineKeywords) -> None:
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
            add_targets(pinger, run, run.targets)
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


def loop(run: Run, options: EngineKeywords) -> None:
    """-l: a heartbeat, each target once per period on a phase of its own, until Ctrl-C."""
    settings, args = run.settings, run.args
    table = LiveTable(run.stdout) if args.table and run.stdout.isatty() else None
    next_report = time.monotonic() + (settings.report_every or math.inf)
    # Quiet, with nothing to report before the end, the loop needs no Python per probe: the
    # engine keeps every count, and the summary is read from it at Ctrl-C.
    per_probe = not (args.quiet and settings.report_every is None and not args.json
                     and args.plot is None and table is None)
    from ..monitor import Monitor  # only -l needs it: the other modes start faster without

    with Monitor(period=settings.period, timeout=min(settings.timeout, settings.period),
                 replies=per_probe, **options) as monitor:
        try:
            add_targets(monitor, run, run.targets)
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
                    run.tallies[target] = Counts.of(state)


def _engine_loop(run: Run, monitor: Monitor) -> None:
    """The quiet loop: the monitor runs on a thread of its own, with no Python per probe, and
    this one waits for signals; a SIGQUIT report covers the run so far (the engine's counts)."""
    monitor.start()
    try:
        while not run.signals.finish:
            time.sleep(SIGNAL_POLL)  # a signal's handler runs once this returns
            if run.signals.snapshot:
                run.signals.snapshot = False
                states = monitor.states()
                run.summaries({target: Counts.of(state) for target, state in states.items()},
                              {target: state.duplicates for target, state in states.items()},
                              interval=True)
    finally:
        monitor.stop()
        monitor.join()


def _loop_event(run: Run, event: MonitorEvent) -> None:
    if event.kind.value in ("reply", "loss"):
        run.record(event.result)
    elif run.args.json:
        run.emit(records.health(event))
