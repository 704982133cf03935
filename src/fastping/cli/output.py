"""The live table of -l --table (fping's own formats are in fping_formats.py)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TextIO

from .fping_formats import ms

if TYPE_CHECKING:
    from ..monitor import Monitor


class LiveTable:
    """A table of targets redrawn in place on a terminal, about once a second."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.next_draw = 0.0

    def draw(self, monitor: Monitor) -> None:
        now = time.monotonic()
        if now < self.next_draw:
            return
        self.next_draw = now + 1.0
        states = monitor.states()
        lines = [f"{'target':<40} {'state':<8} {'last ms':>9} {'loss':>6} {'sent':>8}"]
        for target, state in list(states.items())[:60]:
            last = "-" if state.last_rtt is None else ms(state.last_rtt)
            lines.append(f"{target:<40} {state.health!s:<8} {last:>9} "
                         f"{state.loss * 100:5.1f}% {state.sent:>8}")
        self.stream.write("\x1b[H\x1b[J" + "\n".join(lines) + "\n")
        self.stream.flush()
