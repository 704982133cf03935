"""SmokePing-style latency charts from fastping's JSON lines.

    fastping -l -p 1000 --json HOST... > run.jsonl    # a heartbeat run, one record per probe
    fastping plot run.jsonl -o latency.png             # or .svg

Time is cut into bins (about 200 across the run with at least 10 probes each,
or --bin seconds). In each
bin the RTTs are sorted and their spread is shaded in layers, darker towards
the middle, as SmokePing draws its "smoke"; the median is a line whose colour
says the bin's loss (green none, through blues and violet to magenta up to
half, red above), and bins where every probe was lost are marked with red ticks along
the top. One panel per host. matplotlib is an optional extra:
``pip install 'fastping[plot]'``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from ._common import EXIT_USAGE, UsageParser

DEFAULT_BINS = 200
MIN_PROBES_PER_BIN = 10
MAX_PANELS = 16
# Loss colours, as SmokePing's legend: (upper bound of the loss fraction, colour).
LOSS_COLOURS = ((0.0, "#26ff00"), (0.05, "#00b8ff"), (0.10, "#0059ff"), (0.20, "#7e00ff"),
                (0.50, "#ff00ff"), (1.0, "#ff0000"))
# Shaded layers of the RTT spread: (low, high) percentiles, outermost first.
SMOKE_LAYERS = ((0.0, 1.0), (0.10, 0.90), (0.25, 0.75))


class PlotError(Exception):
    """Input that cannot be plotted: one line on stderr, exit status 3."""


@dataclass
class HostSeries:
    """One host's probes: (time, RTT in seconds or None if lost)."""

    probes: list[tuple[float, float | None]] = field(default_factory=list)


def read_records(lines: Iterable[str]) -> dict[str, HostSeries]:
    """The reply and loss records of JSON lines, by host; other records are skipped."""
    series: dict[str, HostSeries] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise PlotError(f"line {number} is not JSON: {error.msg}") from None
        if not isinstance(record, dict) or record.get("type") not in ("reply", "loss"):
            continue
        try:
            host, when = str(record["host"]), float(record["time"])
            rtt = float(record["rtt_ms"]) / 1000 if record["type"] == "reply" else None
        except (KeyError, TypeError, ValueError):
            raise PlotError(f"line {number} is not a fastping probe record") from None
        series.setdefault(host, HostSeries()).probes.append((when, rtt))
    if not series:
        raise PlotError("no probe records (fastping --json -l or -c writes them)")
    return series


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _loss_colour(loss: float) -> str:
    return next(colour for bound, colour in LOSS_COLOURS if loss <= bound)


@dataclass
class _Bin:
    start: float
    rtts: list[float] = field(default_factory=list)
    lost: int = 0

    @property
    def loss(self) -> float:
        total = len(self.rtts) + self.lost
        return self.lost / total if total else 0.0


def bin_probes(probes: list[tuple[float, float | None]], start: float,
               width: float) -> list[_Bin]:
    bins: dict[int, _Bin] = {}
    for when, rtt in probes:
        index = int((when - start) // width)
        target = bins.setdefault(index, _Bin(start + index * width))
        if rtt is None:
            target.lost += 1
        else:
            target.rtts.append(rtt)
    for target in bins.values():
        target.rtts.sort()
    return [bins[index] for index in sorted(bins)]


def load_matplotlib() -> tuple[Any, Any]:
    """pyplot and Line2D, drawing to files; PlotError without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D
    except ImportError:
        raise PlotError("plotting needs matplotlib: pip install 'fastping[plot]'") from None
    return plt, Line2D


def draw(series: dict[str, HostSeries], output: str, bin_seconds: float | None = None,
         title: str | None = None) -> None:
    """Writes the chart to output (.png, .svg or .pdf)."""
    plt, Line2D = load_matplotlib()
    hosts = list(series)[:MAX_PANELS]
    times = [when for host in hosts for when, _ in series[host].probes]
    start, end = min(times), max(times)
    # About 200 bins, but at least 10 probes a host in each, so there is smoke to draw.
    probes = max(len(series[host].probes) for host in hosts)
    bins = max(1, min(DEFAULT_BINS, probes // MIN_PROBES_PER_BIN))
    width = bin_seconds or max((end - start) / bins, 1e-3)
    figure, axes_list = plt.subplots(len(hosts), 1, figsize=(11, 2.4 * len(hosts) + 0.6),
                                     sharex=True, squeeze=False)
    for axes, host in zip((row[0] for row in axes_list), hosts, strict=True):
        _draw_host(axes, host, bin_probes(series[host].probes, start, width), width, start)
    axes_list[-1][0].set_xlabel(f"seconds since {_clock(start)} ({width:g} s per bin)")
    legend = [Line2D([], [], color=colour, linewidth=2.2, label=f"loss ≤ {bound:.0%}")
              for bound, colour in LOSS_COLOURS]
    axes_list[0][0].legend(handles=legend, title="median, by loss", fontsize=7,
                           title_fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.suptitle(title or f"fastping: round-trip times, {len(hosts)} host(s)")
    figure.tight_layout()
    figure.savefig(output)
    plt.close(figure)


def _clock(when: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))


def _draw_host(axes: Any, host: str, bins: list[_Bin], width: float, start: float) -> None:
    answered = [b for b in bins if b.rtts]
    for (low, high), alpha in zip(SMOKE_LAYERS, (0.18, 0.28, 0.4), strict=True):
        axes.bar([b.start - start for b in answered],
                 [(_percentile(b.rtts, high) - _percentile(b.rtts, low)) * 1000
                  for b in answered],
                 bottom=[_percentile(b.rtts, low) * 1000 for b in answered],
                 width=width, align="edge", color="black", alpha=alpha, linewidth=0)
    for b in answered:
        median = _percentile(b.rtts, 0.5) * 1000
        axes.hlines(median, b.start - start, b.start - start + width,
                    colors=_loss_colour(b.loss), linewidth=2.2)
    silent = [b.start - start + width / 2 for b in bins if not b.rtts]
    if silent:
        axes.plot(silent, [1.0] * len(silent), "v", color="red", markersize=5,
                  transform=axes.get_xaxis_transform(), clip_on=False, label="all lost")
    axes.set_ylabel("RTT ms")
    axes.set_ylim(bottom=0)
    lost = sum(b.lost for b in bins)
    total = lost + sum(len(b.rtts) for b in bins)
    axes.set_title(f"{host}: {total} probes, {100 * lost / total:.1f}% lost", loc="left",
                   fontsize=10)
    axes.grid(axis="y", alpha=0.3)


def _parser() -> argparse.ArgumentParser:
    parser = UsageParser(
        prog="fastping plot",
        description="Draw a SmokePing-style latency chart from fastping's JSON lines.")
    parser.add_argument("input", nargs="?", default="-",
                        help="JSON lines from 'fastping --json -l' or '-c' ('-' for stdin)")
    parser.add_argument("-o", "--output", default="fastping.png",
                        help="the chart: .png, .svg or .pdf (default fastping.png)")
    parser.add_argument("--bin", type=float, metavar="SECONDS",
                        help=f"seconds per bin (default: {DEFAULT_BINS} bins across the run)")
    parser.add_argument("--host", action="append", metavar="HOST",
                        help="plot only this host (repeatable)")
    parser.add_argument("--title", help="the chart's title")
    return parser


def main(argv: Sequence[str], stdin: TextIO = sys.stdin, stderr: TextIO = sys.stderr) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.bin is not None and not (math.isfinite(args.bin) and args.bin > 0):
            raise PlotError(f"--bin must be > 0, not {args.bin:g}")
        if not args.output.lower().endswith((".png", ".svg", ".pdf")):
            raise PlotError(f"--output must end in .png, .svg or .pdf: {args.output!r}")
        if args.input == "-":
            series = read_records(stdin)
        else:
            try:
                with open(args.input, encoding="utf-8") as file:
                    series = read_records(file)
            except OSError as error:
                raise PlotError(f"cannot read {args.input!r}: {error.strerror}") from None
        if args.host:
            missing = [host for host in args.host if host not in series]
            if missing:
                raise PlotError(f"no records for {', '.join(missing)}")
            series = {host: series[host] for host in args.host}
        draw(series, args.output, args.bin, args.title)
    except PlotError as error:
        print(f"fastping plot: {error}", file=stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"fastping plot: cannot write {args.output!r}: {error.strerror}", file=stderr)
        return 4
    return 0
