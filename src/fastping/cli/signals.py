"""The command's signals, handled as fping's."""

from __future__ import annotations

from .._typing_lite import TYPE_CHECKING

if TYPE_CHECKING:
    import signal
    from typing import Any

    from ..monitor import Monitor
    from ..pinger import Pinger
else:
    import _signal as signal  # not signal.py: see cli/__init__


class Interrupted(BaseException):
    """SIGINT or SIGTERM while the targets were read (as KeyboardInterrupt, no Exception)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Signals:
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
            raise Interrupted(signum)
        self.finish = True
        if self.owner is not None:
            self.owner.stop()
