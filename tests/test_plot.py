"""SmokePing-style charts: from a real run's JSON lines to a PNG/SVG, and bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastping import plot

COMMAND = [str(Path(sys.executable).with_name("fastping"))]
pytest.importorskip("matplotlib")


def fastping(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *arguments], capture_output=True, text=True, timeout=120,
                          check=False)


def test_chart_of_a_real_run(tmp_path: Path) -> None:
    lines = tmp_path / "run.jsonl"
    done = fastping("--json", "-c", "40", "-p", "5", "127.0.0.1", "::1")
    assert done.returncode == 0, done.stderr
    lines.write_text(done.stdout)
    chart = tmp_path / "latency.png"
    done = fastping("plot", str(lines), "-o", str(chart), "--title", "loopback")
    assert done.returncode == 0, done.stderr
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert chart.stat().st_size > 10_000


def test_plot_option_of_a_count_run(tmp_path: Path) -> None:
    chart = tmp_path / "latency.svg"
    done = fastping("-q", "-c", "20", "-p", "5", "--plot", str(chart), "127.0.0.1")
    assert done.returncode == 0, done.stderr
    text = chart.read_text()
    assert text.startswith("<?xml") and "127.0.0.1" in text


def test_bins_hold_medians_spread_and_loss() -> None:
    records = []
    for second in range(20):
        lost = second >= 10  # the second half: every probe lost
        for tenth in range(10):
            record = {"type": "loss" if lost else "reply", "host": "a", "time": second + tenth / 10}
            if not lost:
                record["rtt_ms"] = 10 + tenth  # 10..19 ms in every bin
            records.append(json.dumps(record))
    records.append(json.dumps({"type": "summary", "host": "a"}))  # not a probe: skipped
    series = plot.read_records(records)
    bins = plot.bin_probes(series["a"].probes, start=0.0, width=1.0)
    assert len(bins) == 20
    answered, silent = bins[:10], bins[10:]
    assert all(b.loss == 0.0 and len(b.rtts) == 10 for b in answered)
    assert all(b.loss == 1.0 and not b.rtts for b in silent)
    assert plot._percentile(answered[0].rtts, 0.5) == pytest.approx(0.0145)
    assert plot._loss_colour(0.0) == "#26ff00" and plot._loss_colour(1.0) == "#ff0000"


def test_chart_with_losses_draws(tmp_path: Path) -> None:
    series = plot.read_records(
        json.dumps({"type": "reply" if n % 3 else "loss", "host": h, "time": n * 0.1,
                    "rtt_ms": 5.0 + n % 7})
        for h in ("a", "b") for n in range(600))
    chart = tmp_path / "chart.pdf"
    plot.draw(series, str(chart))
    assert chart.read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize(
    ("content", "arguments", "message"),
    [
        ('{"type": "reply"}\nnot json\n', [], "line 1 is not a fastping probe record"),
        ('{"type": "total"}\n\nnot json\n', [], "line 3 is not JSON"),
        ('{"type": "total"}\n', [], "no probe records"),
        ('{"type": "reply", "host": "a", "time": 1, "rtt_ms": 1}\n', ["--host", "b"],
         "no records for b"),
        ('{"type": "reply", "host": "a", "time": 1, "rtt_ms": 1}\n', ["-o", "chart.gif"],
         "must end in .png, .svg or .pdf"),
        ('{"type": "reply", "host": "a", "time": 1, "rtt_ms": 1}\n', ["--bin", "0"],
         "--bin must be > 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_3(tmp_path: Path, content: str, arguments: list[str],
                                          message: str) -> None:
    lines = tmp_path / "run.jsonl"
    lines.write_text(content)
    done = fastping("plot", str(lines), *arguments)
    assert done.returncode == 3
    assert message in done.stderr and "Traceback" not in done.stderr


def test_missing_input_file() -> None:
    done = fastping("plot", "/nonexistent/run.jsonl")
    assert done.returncode == 3 and "cannot read" in done.stderr


def test_plot_option_needs_a_repeating_mode() -> None:
    done = fastping("--plot", "chart.png", "127.0.0.1")
    assert done.returncode == 3 and "--plot goes with" in done.stderr


@pytest.mark.parametrize(("span", "probes", "width"), [
    (1800.0, 1800, 10), (3.0, 300, 0.1), (3.1, 300, 0.2), (86400.0, 86400, 600), (0.5, 5, 0.5),
    (10.0, 2000, 0.05), (4 * 86400.0, 10**6, 1800), (30 * 86400.0, 10**6, 21600)])
def test_bins_are_round_on_the_clock(span: float, probes: int, width: float) -> None:
    assert plot.round_width(span, probes) == width


def test_the_legend_gives_median_average_stddev_and_loss() -> None:
    probes = [(float(n), rtt) for n, rtt in enumerate([0.010, 0.012, None, 0.020, 0.014])]
    summary = plot.HostSummary.of(probes)
    assert (summary.probes, summary.lost, summary.loss) == (5, 1, 0.2)
    assert summary.median == pytest.approx(0.013)
    assert summary.avg == pytest.approx(0.014)
    assert summary.stddev == pytest.approx(0.003741657, rel=1e-6)  # population, as fping's
    assert summary.legend() == ("median 13.0 ms, avg 14.0 ms, stddev 3.74 ms, "
                                "loss 20.0% (1/5)")
    silent = plot.HostSummary.of([(0.0, None), (1.0, None)])
    assert silent.legend() == "no replies, loss 100.0% (2/2)"


def test_chart_has_a_clock_axis_legends_and_a_scale_for_the_silent(tmp_path: Path) -> None:
    start = 1_790_000_000.0  # a fixed wall-clock time: the axis shows it, not seconds since
    records = []
    for n in range(600):
        records.append(json.dumps({"type": "reply", "host": "up", "time": start + n,
                                   "rtt_ms": 20.0 + n % 5}))
        records.append(json.dumps({"type": "loss", "host": "silent", "time": start + n}))
    chart = tmp_path / "chart.svg"
    plot.draw(plot.read_records(records), str(chart))
    text = chart.read_text()
    assert "local time" in text and "10 s per bin" in text and "seconds since" not in text
    # A tick on a round five minutes of the local clock.
    tick = time.strftime("%H:%M", time.localtime(math.ceil(start / 300) * 300))
    assert f"<!-- {tick} -->" in text
    assert "median 22.0 ms, avg 22.0 ms, stddev 1.41 ms, loss 0.0% (0/600)" in text
    assert "no replies, loss 100.0% (600/600)" in text
    assert "no replies: every probe lost" in text
