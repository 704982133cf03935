"""The fastping command: fping's options and fping's output, byte for byte but for RTTs.

Modes, as in fping: by default every target is probed until it answers or
its retries run out, and reported alive or unreachable; ``-c N`` sends N
probes to each and summarises; ``-C N`` does the same and prints every RTT;
``-l`` loops (a heartbeat: every target once per period, spread evenly) until
Ctrl-C, with ``-Q`` summaries. Per-probe lines go to stdout and summaries to
stderr, as fping's do; ``-J`` writes fping's JSON, ``--json`` fastping's own
(the schema is in the README).

Exit status, as fping's: 0 every target answered, 1 some did not, 2 some
name could not be resolved, 3 bad arguments, 4 a system error (e.g. no
permission to open an ICMP socket); with -x/-X, 0 if enough answered, else 1.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence

from .._common import EXIT_SYSTEM, EXIT_USAGE, EngineOptions
from .._typing_lite import TYPE_CHECKING
from . import arguments, modes, targets
from .arguments import UsageError
from .report import EXIT_UNKNOWN, EXIT_UNREACHABLE, Run
from .signals import Interrupted, Signals

if TYPE_CHECKING:
    import argparse
    import signal
    from typing import NoReturn, TextIO
else:
    import _signal as signal  # not signal.py, which builds three enums on import (3 M instructions)

__all__ = ["main", "run"]


def _check_plot(path: str) -> None:
    """UsageError without matplotlib, OSError if path cannot be written (and is left as it was)."""
    from .. import plot

    try:
        plot.load_matplotlib()
    except plot.PlotError as error:
        raise UsageError(str(error)) from None
    existed = os.path.exists(path)
    with open(path, "ab"):
        pass
    if not existed:
        os.unlink(path)


def run(argv: Sequence[str] | None = None, stdout: TextIO = sys.stdout,
        stderr: TextIO = sys.stderr, stdin: TextIO = sys.stdin, *,
        restore_signals: bool = True) -> int:
    """The command, as a function: returns the exit status.

    It handles SIGINT, SIGTERM and SIGQUIT while it runs, and then puts back the handlers
    there were, unless restore_signals is False (main(), which ignores them until it exits).
    """
    argv_list = list(sys.argv[1:] if argv is None else argv)
    if argv_list[:1] == ["plot"]:
        from .. import plot

        return plot.main(argv_list[1:], stdin=stdin, stderr=stderr)
    if argv_list[:1] == ["exporter"]:
        # Imported only when asked for: it needs the optional prometheus_client and PyYAML,
        # and says which one is missing and how to install it.
        import importlib

        try:
            exporter = importlib.import_module("..exporter", __package__)
        except ImportError as error:
            print(f"fastping exporter: {error}", file=stderr)
            return EXIT_SYSTEM
        status: int = exporter.main(argv_list[1:])
        return status
    # Options may come after targets, as fping takes them.
    args = arguments.parse(argv_list)
    signals = Signals()
    previous = signals.install()
    try:
        return _command(args, signals, stdout, stderr, stdin)
    except Interrupted as interrupted:
        # Before the targets were read there is nothing to report: the status a shell gives
        # a command the signal ended.
        return 128 + interrupted.signum
    finally:
        if restore_signals:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _failed(error: Exception, plot_path: str | None, stderr: TextIO) -> int:
    """Says why the command cannot go on; its exit status: 4 for a file that cannot be
    opened or a chart that cannot be written, else 3 (a bad argument)."""
    if isinstance(error, OSError):
        print(f"fastping: cannot write {plot_path!r}: {error.strerror}", file=stderr)
        return EXIT_SYSTEM
    print(f"fastping: {error}", file=stderr)
    return EXIT_SYSTEM if isinstance(error, targets.SystemFailure) else EXIT_USAGE


def _command(args: argparse.Namespace, signals: Signals, stdout: TextIO, stderr: TextIO,
             stdin: TextIO) -> int:
    try:
        settings = arguments.settings(args)
        options = arguments.engine_keywords(args, settings)
        # Check every option now, without opening anything, so that a bad one is a usage
        # error, not a traceback.
        EngineOptions.check(settings.timeout, options)
        if args.plot is not None:  # checked before the first probe, not after -c 100000
            _check_plot(args.plot)
        names = targets.targets(args, stdin)
    except (UsageError, ValueError, TypeError, targets.SystemFailure, OSError) as error:
        return _failed(error, args.plot, stderr)
    signals.reading = False
    signals.snapshot = False  # nothing to report yet
    state = Run(args, settings, names, stdout, stderr, signals)
    mode = modes.loop if args.loop else modes.count if settings.rounds is not None else modes.sweep
    try:
        mode(state, options)
    except OSError as error:
        print(f"fastping: {error.strerror or error}", file=stderr)
        return EXIT_SYSTEM
    if not state.names:  # as fping: nothing probed, nothing to report
        return EXIT_UNKNOWN if state.unknown else EXIT_UNREACHABLE
    if mode is not modes.sweep:
        state.summaries(state.tallies, interval=False)
    if args.stats or args.json:  # (fastping's JSON always ends with its total record)
        state.final_stats()
    if state.plotted:
        from .. import plot

        try:
            plot.draw(state.plotted, args.plot)
        except (plot.PlotError, OSError) as error:
            return _failed(error, args.plot, stderr)
    return state.exit_status()


def main() -> NoReturn:
    # What the imports made lives as long as the process: out of the collector's sight, a
    # collection during the run walks only what the run made (the collector was 11% of the
    # instructions of a 1,000-target -C1 -q, and walked the imports' objects every time).
    gc.freeze()
    status = run(restore_signals=False)
    # Python puts its own handlers' signals back to the default as it shuts down: ignored
    # instead, a late Ctrl-C cannot kill the process between its report and its exit status.
    for signum in Signals.HANDLED:
        signal.signal(signum, signal.SIG_IGN)
    sys.exit(status)
