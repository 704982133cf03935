"""SmokePing-style latency charts from fastping's JSON lines.

    fastping -l -p 1000 --json HOST... > run.jsonl    # a heartbeat run, one record per probe
    fastping plot run.jsonl -o latency.png             # or .svg

Time runs along the clock (local time) and is cut into bins of a round width
(1, 2, 5, 10, 15 or 30 seconds or minutes...: about 200 across the run with at
least 10 probes each, or --bin seconds), aligned on the clock. In each bin the
RTTs are sorted and their spread is shaded in layers, darker towards the
middle, as SmokePing draws its "smoke"; the median is a line whose colour says
the bin's loss (green none, through blues and violet to magenta up to half, red
above), and bins where every probe was lost are marked with red ticks along the
top. One panel per host, with the host's median, average, standard deviation
and loss over the whole run beside its name, as SmokePing's legend gives them;
a host that never answered gets the other panels' scale and says so.
matplotlib is an optional extra: ``pip install 'fastping[plot]'``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from ._common import EXIT_USAGE
from ._usage import UsageParser

DEFAULT_BINS = 200
MIN_PROBES_PER_BIN = 10
MAX_PANELS = 16
# Loss colours, as SmokePing's legend: (upper bound of the loss fraction, colour).
LOSS_COLOURS = ((0.0, "#26ff00"), (0.05, "#00b8ff"), (0.10, "#0059ff"), (0.20, "#7e00ff"),
                (0.50, "#ff00ff"), (1.0, "#ff0000"))
# Shaded layers of the RTT spread: (low, high) percentiles, outermost first.
SMOKE_LAYERS = ((0.0, 1.0), (0.10, 0.90), (0.25, 0.75))
# Bin widths in seconds that read well on a clock; the first at least as wide as wanted.
ROUND_WIDTHS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30,
                60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
NO_REPLY_SCALE = 1.0  # ms: the RTT axis of a chart where no host ever answered


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


def round_width(span: float, probes: int) -> float:
    """Seconds per bin: about DEFAULT_BINS across span, at least MIN_PROBES_PER_BIN probes
    (of the busiest host) each, rounded up to a width that reads well on a clock."""
    bins = max(1, min(DEFAULT_BINS, probes // MIN_PROBES_PER_BIN))
    wanted = span / bins
    return next((width for width in ROUND_WIDTHS if width >= wanted),
                math.ceil(wanted / 86400) * 86400)


@dataclass
class HostSummary:
    """A host's run as its panel's legend gives it: RTTs in seconds, None without replies."""

    probes: int
    lost: int
    median: float | None
    avg: float | None
    stddev: float | None  # the population's, as fping and ping report it

    @classmethod
    def of(cls, probes: list[tuple[float, float | None]]) -> HostSummary:
        rtts = [rtt for _, rtt in probes if rtt is not None]
        if not rtts:
            return cls(len(probes), len(probes), None, None, None)
        return cls(len(probes), len(probes) - len(rtts), statistics.median(rtts),
                   statistics.fmean(rtts), statistics.pstdev(rtts))

    @property
    def loss(self) -> float:
        return self.lost / self.probes if self.probes else 0.0

    def legend(self) -> str:
        lost = f"loss {self.loss:.1%} ({self.lost}/{self.probes})"
        if self.median is None or self.avg is None or self.stddev is None:
            return f"no replies, {lost}"
        return (f"median {_ms(self.median)}, avg {_ms(self.avg)}, stddev {_ms(self.stddev)}, "
                f"{lost}")


def _ms(seconds: float) -> str:
    """An RTT in milliseconds with three significant digits (at least to the microsecond)."""
    milliseconds = seconds * 1000
    digits = max(0, min(3, 2 - math.floor(math.log10(milliseconds)))) if milliseconds else 3
    return f"{milliseconds:.{digits}f} ms"


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


def load_matplotlib() -> tuple[Any, Any, Any]:
    """pyplot, Line2D and matplotlib.dates, drawing to files; PlotError without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import dates
        from matplotlib.lines import Line2D
    except ImportError:
        raise PlotError("plotting needs matplotlib: pip install 'fastping[plot]'") from None
    return plt, Line2D, dates


def draw(series: dict[str, HostSeries], output: str, bin_seconds: float | None = None,
         title: str | None = None) -> None:
    """Writes the chart to output (.png, .svg or .pdf)."""
    plt, Line2D, dates = load_matplotlib()

    hosts = list(series)[:MAX_PANELS]
    times = [when for host in hosts for when, _ in series[host].probes]
    start, end = min(times), max(times)
    probes = max(len(series[host].probes) for host in hosts)
    width = bin_seconds or round_width(end - start, probes)
    start = math.floor(start / width) * width  # bins on the clock's round times
    binned = {host: bin_probes(series[host].probes, start, width) for host in hosts}
    # A host that never answered is drawn on the scale of those that did.
    tops = [b.rtts[-1] for bins in binned.values() for b in bins if b.rtts]
    scale = max(tops) * 1000 * 1.05 if tops else NO_REPLY_SCALE
    figure, axes_list = plt.subplots(len(hosts), 1, figsize=(11, 2.4 * len(hosts) + 0.6),
                                     sharex=True, squeeze=False)
    to_x = _clock_axis(dates)
    for axes, host in zip((row[0] for row in axes_list), hosts, strict=True):
        _draw_host(axes, host, binned[host], width, to_x, scale)
        axes.set_title(HostSummary.of(series[host].probes).legend(), loc="right", fontsize=8)
    zone = datetime.datetime.fromtimestamp(start).astimezone().tzinfo
    bottom = axes_list[-1][0]
    locator = dates.AutoDateLocator(tz=zone)
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, tz=zone))
    bottom.set_xlabel(f"local time ({datetime.datetime.fromtimestamp(start, zone):%Z}), "
                      f"{_width_text(width)} per bin")
    legend = [Line2D([], [], color=colour, linewidth=2.2, label=f"loss ≤ {bound:.0%}")
              for bound, colour in LOSS_COLOURS]
    axes_list[0][0].legend(handles=legend, title="median, by loss", fontsize=7,
                           title_fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.suptitle(title or f"fastping: round-trip times, {len(hosts)} host(s)")
    figure.tight_layout()
    figure.savefig(output)
    plt.close(figure)


def _clock_axis(dates: Any) -> Any:
    """Seconds since the Unix epoch to matplotlib's date numbers (days since its epoch)."""
    offset = dates.date2num(datetime.datetime.fromtimestamp(0, datetime.timezone.utc))

    def to_x(seconds: float) -> float:
        return float(offset + seconds / 86400)

    return to_x


def _width_text(seconds: float) -> str:
    for unit, size in (("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds * 1000:g} ms"


def _draw_host(axes: Any, host: str, bins: list[_Bin], width: float,
               to_x: Any, scale: float) -> None:
    answered = [b for b in bins if b.rtts]
    days = width / 86400
    for (low, high), alpha in zip(SMOKE_LAYERS, (0.18, 0.28, 0.4), strict=True):
        axes.bar([to_x(b.start) for b in answered],
                 [(_percentile(b.rtts, high) - _percentile(b.rtts, low)) * 1000
                  for b in answered],
                 bottom=[_percentile(b.rtts, low) * 1000 for b in answered],
                 width=days, align="edge", color="black", alpha=alpha, linewidth=0)
    for b in answered:
        median = _percentile(b.rtts, 0.5) * 1000
        axes.hlines(median, to_x(b.start), to_x(b.start + width),
                    colors=_loss_colour(b.loss), linewidth=2.2)
    silent = [to_x(b.start + width / 2) for b in bins if not b.rtts]
    if silent:
        axes.plot(silent, [1.0] * len(silent), "v", color="red", markersize=5,
                  transform=axes.get_xaxis_transform(), clip_on=False, label="all lost")
    axes.set_ylabel("RTT ms")
    if answered:
        axes.set_ylim(bottom=0)
    else:
        axes.set_ylim(0, scale)
        axes.text(0.5, 0.5, "no replies: every probe lost", transform=axes.transAxes,
                  ha="center", va="center", color="red", fontsize=10)
    axes.set_title(host, loc="left", fontsize=10, fontweight="bold")
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
