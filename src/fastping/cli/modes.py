"""The command's three modes, as fping's: a sweep (each target until it answers), counts
(-c/-C: rounds to every target) and a loop (-l: a heartbeat until Ctrl-C)."""

from __future__ import annotations

import _socket as socket  # not socket.py: see fastping._resolve
import math
import time
from typing import TYPE_CHECKING

from .._common import MAX_TIMEOUT
from ..pinger import Pinger
from . import records
from .output import sweep_line

if TYPE_CHECKING:
    from .._common import EngineKeywords
    from .._results import Result
    from ..monitor import Monitor
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
    # One engine for every attempt, each name resolved once: a target that answers leaves it
    # (its counts kept first), and each retry's round waits backoff times longer than the
    # one before.
    with Pinger(timeout=settings.timeout, **options) as pinger:
        add_targets(pinger, run, run.targets)
        for attempt in range(settings.retries + 1):
            if not pinger.hosts or run.signals.finish:
                break
            # Which try goes out, and for how many: the line moves while the count cannot.
            run.progress(len(alive), len(run.known), detail=f"try {attempt + 1} of "
                         f"{settings.retries + 1}: {len(pinger.hosts):,} waiting")
            timeout = min(settings.timeout * settings.backoff ** attempt, MAX_TIMEOUT)
            # A round of run() ends early at stop(), which is how a Ctrl-C ends it.
            results = next(pinger.run(1, timeout=timeout), {})
            for target, result in results.items():
                if result.ok:
                    alive[target] = result
                    run.tallies[target] = pinger.tally(target)
                    pinger.remove(target)
        if not run.signals.finish:  # those still waiting are done with: unreachable
            run.progress(len(alive) + len(pinger.hosts), len(run.known))
        run.finish_counting(pinger)
    for target in run.known:
        answer = alive.get(target)
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
    # Quiet, with nothing to keep per probe, nothing is: the engine counts.
    per_reply = args.json or args.plot is not None or not args.quiet
    per_probe = per_reply or run.wants_results
    with Pinger(timeout=settings.timeout, on_recv=run.record if per_reply else None,
                **options) as pinger:
        run.counter = pinger
        try:
            add_targets(pinger, run, run.targets)
            if pinger.hosts and not run.signals.finish:
                for done, results in enumerate(pinger.run(settings.rounds, settings.period)):
                    for result in results.values() if per_probe else ():
                        if not (per_reply and result.ok):
                            run.record(result)
                    run.progress(done + 1, settings.rounds or 0, "rounds")
                    if run.interim_due(next_report):
                        run.interval_report(pinger.tallies(mark=True))
                        while next_report <= time.monotonic():
                            next_report += settings.report_every or math.inf
                    if run.signals.finish:  # a Ctrl-C before run() began: stop() was undone
                        break
        finally:
            run.finish_counting(pinger)


def loop(run: Run, options: EngineKeywords) -> None:
    """-l: a heartbeat, each target once per period on a phase of its own, until Ctrl-C."""
    from . import heartbeat  # only -l needs the monitor: the other modes start faster without

    heartbeat.loop(run, options)
