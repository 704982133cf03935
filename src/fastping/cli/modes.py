"""The command's three modes, as fping's: a sweep (each target until it answers), counts
(-c/-C: rounds to every target) and a loop (-l: a heartbeat until Ctrl-C)."""

from __future__ import annotations

import math
import time

from .. import _results
from .._common import MAX_TIMEOUT
from .._typing_lite import TYPE_CHECKING
from ..pinger import Pinger
from .hosts import add_targets

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .._common import EngineKeywords
    from .._results import Result
    from .report import Run

SIGNAL_POLL = 0.2  # seconds: how soon the quiet loop acts on a signal


def sweep(run: Run, options: EngineKeywords) -> None:
    """fping's default mode: each target until it answers, with retries and backoff. A
    target's line comes as it answers, the unreachable ones' at the end."""
    settings = run.settings
    alive: dict[str, Result] = {}
    # One engine for every attempt, each name resolved once: a target that answers leaves it
    # (its counts kept first), and each retry's round waits backoff times longer than the
    # one before.
    # A reply is handed up as it comes only if its line is printed then, or -X counts it.
    as_it_comes = (settings.verbose or settings.alive_only or settings.fast_reachable) and \
        not run.args.json
    with Pinger(timeout=settings.timeout, on_recv=run.sweep_reply if as_it_comes else None,
                **options) as pinger:
        run.counter = pinger
        add_targets(pinger, run, run.targets)
        for attempt in range(settings.retries + 1):
            if not pinger.hosts or run.signals.finish:
                break
            # Which try goes out, and for how many: the line moves while the count cannot.
            run.progress(len(alive), len(run.known), detail=f"try {attempt + 1} of "
                         f"{settings.retries + 1}: {len(pinger.hosts):,} waiting")
            timeout = min(settings.timeout * settings.backoff ** attempt, MAX_TIMEOUT)
            # A round of run() ends early at stop(), which is how a Ctrl-C (or -X) ends it.
            results = next(pinger.run(1, timeout=timeout), {})
            for key, result in results.items():
                if result.ok:
                    alive[key] = result
                else:
                    run.warn(result)
                # fping retries a probe when it times out: one it could not send has no
                # timeout, and its target is given up.
                if result.ok or result.status is _results.Status.SEND_ERROR:
                    run.tallies[key] = pinger.tally(key)
                    pinger.remove(key)
            if run.interim_due(math.inf):  # SIGQUIT: fping's interim block, here too
                run.interval_report({key: run.tallies.get(key) or pinger.tally(key)
                                     for key in run.known})
            # (-X stops the round at the reply that makes enough: its results are lost, the
            # engine's counts are not.)
            if settings.fast_reachable and len(run.answered) >= settings.min_reachable:
                break
        if not run.signals.finish:  # those still waiting are done with: unreachable
            run.progress(len(alive) + len(pinger.hosts), len(run.known))
        run.finish_counting(pinger)
    if run.args.json:
        from . import records  # only --json writes records

        for key in run.known:
            run.emit(records.host(key, alive.get(key)))
    else:
        run.unreachable_lines()


def count(run: Run, options: EngineKeywords) -> None:
    """-c / -C: a round to every target per period, count times."""
    settings, args = run.settings, run.args
    next_report = (time.monotonic() + settings.report_every
                   if settings.report_every else math.inf)
    # A reply is recorded as it comes only if it is shown as it comes (or timed for --plot);
    # otherwise the round's results are, all at once, and the engine never stops for Python.
    # Quiet, with nothing to keep per probe, no Result is made: the engine counts.
    per_reply = args.json or args.plot is not None or settings.per_probe
    per_probe = per_reply or run.wants_results
    rtts_only = not per_reply and run.rtts_only
    with Pinger(timeout=settings.timeout, on_recv=run.record if per_reply else None,
                **options) as pinger:
        run.counter = pinger
        try:
            add_targets(pinger, run, run.targets)
            if pinger.hosts and not run.signals.finish:
                rounds = (_rtt_rounds(run, pinger, keep=rtts_only)
                          if rtts_only or not per_probe
                          else pinger.run(settings.rounds, settings.period))
                for done, results in enumerate(rounds):
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


def _rtt_rounds(run: Run, pinger: Pinger, keep: bool) -> Iterator[dict[str, Result]]:
    """Rounds that make no Result a target, each an empty round of results: a quiet -c's
    (the engine counts), or a quiet -C's, each round kept as the engine's column of RTTs."""
    run.rtt_indexes = pinger._indexes()
    for column in pinger._run_rtts(run.settings.rounds, run.settings.period):
        if keep:
            run.rtt_columns.append(column)
        yield {}


def loop(run: Run, options: EngineKeywords) -> None:
    """-l: a heartbeat, each target once per period on a phase of its own, until Ctrl-C."""
    from . import heartbeat  # only -l needs the monitor: the other modes start faster without

    heartbeat.loop(run, options)
