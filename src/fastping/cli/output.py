"""The command's text output, in fping's formats: probe lines, sweep lines, summaries,
the -s block."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._results import Result, Tally
    from .tallies import Totals


def ms(seconds: float) -> str:
    """An RTT in ms with fping's precision: more decimals for smaller times."""
    milliseconds = seconds * 1000
    # (A chain of ifs: a summary of 100,000 targets formats 300,000 of these.)
    if milliseconds < 1:
        return f"{milliseconds:.3f}"
    if milliseconds < 10:
        return f"{milliseconds:.2f}"
    if milliseconds < 100:
        return f"{milliseconds:.1f}"
    return f"{milliseconds:.0f}"


def loss_percent(tally: Tally) -> int:
    return round(100 * tally.loss)


def probe_line(result: Result, tally: Tally, number: int, size: int) -> str:
    """A probe's outcome (the target's number-th, from 0), with the target's average and loss
    so far; size is the payload's."""
    prefix = f"{result.host} : [{number}]"
    average = "NaN" if tally.avg is None else ms(tally.avg)
    so_far = f"({average} avg, {loss_percent(tally)}% loss)"
    stamps = result.timestamps
    if result.ok and result.rtt is not None and stamps is not None:  # 20 bytes, as fping's
        return (f"{prefix}, 20 bytes, {ms(result.rtt)} ms {so_far}, timestamps: "
                f"Originate={stamps.originate} Receive={stamps.receive} "
                f"Transmit={stamps.transmit} Localreceive={stamps.local_receive}")
    if result.ok and result.rtt is not None:
        return f"{prefix}, {size + 8} bytes, {ms(result.rtt)} ms {so_far}"
    if result.status.value == "timeout":
        return f"{prefix}, timed out {so_far}"
    detail = f" from {result.router}" if result.router else ""
    return f"{prefix}, {result.status}{detail} {so_far}"


def sweep_line(target: str, answer: Result | None, elapsed: bool) -> str:
    """A swept target: alive (with its RTT for -e) or unreachable."""
    if answer is None:
        return f"{target} is unreachable"
    rtt = f" ({ms(answer.rtt)} ms)" if elapsed and answer.rtt else ""
    return f"{target} is alive{rtt}"


def summary_line(target: str, tally: Tally) -> str:
    line = f"{target} : xmt/rcv/%loss = {tally.sent}/{tally.received}/{loss_percent(tally)}%"
    if tally.min is not None and tally.avg is not None and tally.max is not None:
        line += f", min/avg/max = {ms(tally.min)}/{ms(tally.avg)}/{ms(tally.max)}"
    if tally.duplicates:
        line += f", {tally.duplicates} duplicates"
    return line


def rtts_line(target: str, rtts: list[float | None]) -> str:
    """-C's summary: every RTT, '-' for a probe lost."""
    return f"{target} : " + " ".join(["-" if rtt is None else ms(rtt) for rtt in rtts])


def stats_block(totals: Totals) -> list[str]:
    """fping's -s block, a line an item."""
    rows = [
        (totals.targets, "targets"), (totals.alive, "alive"),
        (totals.unreachable, "unreachable"), (totals.unknown, "unknown addresses"),
        None, (totals.sent - totals.received - totals.errors,
               "timeouts (waiting for response)"),
        (totals.sent, "ICMP Echos sent"), (totals.received, "ICMP Echo Replies received"),
        (totals.errors, "other ICMP received"), None,
    ]
    lines = ["" if row is None else f" {row[0]:7d} {row[1]}" for row in rows]
    if totals.received:
        for value, name in ((min(totals.times), "min"), (totals.total / totals.received, "avg"),
                            (max(totals.times), "max")):
            lines.append(f" {ms(value)} ms ({name} round trip time)")
    lines.append(f" {totals.elapsed:12.3f} sec (elapsed real time)")
    return lines

