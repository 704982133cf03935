"""The live table of -l --table: every target's health, last RTT and loss, redrawn in place.

It draws on the terminal's alternate screen (as top and less do), so redraws never reach the
scrollback and leaving puts the screen back as it was, with whatever was printed before (an
unknown name's error, say) still there. Each redraw fits the terminal as it is now: lines
cut to its width, as many targets as its height leaves room for, worst first (down, then
most loss, then slowest), and a last line saying how many are not shown. Targets that could
not be resolved stay listed at the bottom, so their errors are seen while the table runs.
"""

from __future__ import annotations

import os
import time

from .._typing_lite import TYPE_CHECKING
from .fping_formats import ms

if TYPE_CHECKING:
    from typing import TextIO

    from ..monitor import HostState, Monitor

ENTER = "\x1b[?1049h\x1b[?25l"  # the alternate screen, cursor hidden
LEAVE = "\x1b[?25h\x1b[?1049l"  # the cursor shown, the main screen back
HOME, CLEAR_LINE, CLEAR_BELOW = "\x1b[H", "\x1b[K", "\x1b[J"
REDRAW_EVERY = 1.0  # seconds
HEALTH_ORDER = {"down": 0, "unknown": 1, "up": 2}
ERROR_LINES = 3  # at most this many unknown targets' errors, then a count of the rest


def worst_first(item: tuple[str, HostState]) -> tuple[int, float, float]:
    """Down before unknown before up; then more loss, then a slower last reply, first."""
    state = item[1]
    last = -1.0 if state.last_rtt is None else state.last_rtt
    return HEALTH_ORDER.get(str(state.health), 1), -state.loss, -last


def table_lines(states: dict[str, HostState], errors: dict[str, str], columns: int,
                rows: int) -> list[str]:
    """The table for a terminal of columns x rows: never more lines than rows, none wider."""
    name_width = max([6, *map(len, states)])
    name_width = min(name_width, max(6, columns - 36))
    header = (f"{'target':<{name_width}} {'state':<7} {'last ms':>9} {'loss':>6} "
              f"{'sent':>8}")
    shown_errors = list(errors.items())[:ERROR_LINES]
    error_lines = [f"{target}: {error}" for target, error in shown_errors]
    if len(errors) > len(shown_errors):
        error_lines.append(f"(and {len(errors) - len(shown_errors)} more unknown targets)")
    # The header, the targets, a line for those not shown, then the errors.
    room = max(rows - 1 - len(error_lines), 1)
    ordered = sorted(states.items(), key=worst_first)
    if len(ordered) > room - 1:
        room -= 1  # the "not shown" line takes one
    lines = [header]
    for target, state in ordered[:max(room - 1, 0)]:
        last = "-" if state.last_rtt is None else ms(state.last_rtt)
        loss = "-" if state.window_probes == 0 else f"{state.loss * 100:5.1f}%"
        name = target if len(target) <= name_width else target[:name_width - 1] + "~"
        lines.append(f"{name:<{name_width}} {state.health!s:<7} {last:>9} {loss:>6} "
                     f"{state.sent:>8}")
    hidden = len(ordered) - (len(lines) - 1)
    if hidden:
        lines.append(f"... {hidden} of {len(ordered)} targets not shown (worst first)")
    lines += error_lines
    # Short of the last column: a line that fills it leaves some terminals about to wrap.
    return [line[:columns - 1] for line in lines[:rows]]


class LiveTable:
    """The table on a terminal, redrawn about once a second; close() leaves it."""

    def __init__(self, stream: TextIO, errors: dict[str, str]) -> None:
        self.stream = stream
        self.errors = errors  # the run's unknown targets and why, kept up to date by it
        self.next_draw = 0.0
        self.entered = False

    def draw(self, monitor: Monitor) -> None:
        now = time.monotonic()
        if now < self.next_draw:
            return
        self.next_draw = now + REDRAW_EVERY
        try:
            size = os.get_terminal_size(self.stream.fileno())
        except (OSError, ValueError):
            return  # no longer a terminal
        lines = table_lines(monitor.states(), self.errors, size.columns, size.lines)
        start = "" if self.entered else ENTER
        self.entered = True
        # Each line is cleared past its end, and everything below the last: what the
        # previous, longer, table left is gone, and nothing scrolls.
        self.stream.write(start + HOME + "\n".join(line + CLEAR_LINE for line in lines)
                          + CLEAR_BELOW)
        self.stream.flush()

    def close(self) -> None:
        """Back to the main screen, as it was. Idempotent."""
        if self.entered:
            self.entered = False
            self.stream.write(LEAVE)
            self.stream.flush()
